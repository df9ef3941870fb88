//! What a CustomResourceDefinition serves: one endpoint description per served version
//! (names, scope, subresources, printer columns, selectable fields, schema), built from the
//! CRD object, and the conversion between served versions (`conversion: None`: only
//! `apiVersion` changes) with defaulting of what is read from storage.

use super::conversion_webhook::WebhookConversion;
use super::custom_resource::{
    CustomResource, PrinterColumn, ScalePaths, default_printer_columns, printer_column,
};
use super::jsonpath::JsonPath;
use super::schema_ops::VersionSchema;
use crate::intern::{intern, intern_list, intern_subresources};
use crate::registry::catalog::compare_versions;
use crate::registry::resources::shared::{arr, s};
use crate::registry::table;
use crate::registry::{Conversion, ResourceInfo, SubresourceInfo};
use crate::webhook_client::Resolver;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;
use std::sync::Arc;

/// One served version of a custom resource.
pub struct ServedVersion {
    pub info: ResourceInfo,
    pub strategy: Arc<CustomResource>,
    /// Present unless this is the storage version and reads need no defaulting.
    pub conversion: Option<Arc<dyn Conversion>>,
}

/// The storage path of a custom resource (`<group>/<plural>`, upstream's key layout).
pub fn storage_path(crd: &Value) -> String {
    format!("{}/{}", s(crd, "/spec/group"), s(crd, "/spec/names/plural"))
}

/// Whether a condition of the CRD is `True`.
pub fn condition_true(crd: &Value, type_: &str) -> bool {
    arr(crd, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == type_ && s(c, "/status") == "True")
}

/// The versions a CRD serves, storage version first. Versions whose schema does not parse
/// are skipped (validation refuses such CRDs; this guards stored ones). `resolver` finds
/// conversion webhooks served by Services; without one, a CRD converting by webhook serves
/// only its storage version.
pub fn served_versions(crd: &Value, resolver: Option<&Resolver>) -> Vec<ServedVersion> {
    let group = intern(s(crd, "/spec/group"));
    let names = crd.pointer("/status/acceptedNames").unwrap_or(&Value::Null);
    let plural = intern(s(names, "/plural"));
    let kind = intern(s(names, "/kind"));
    let singular = match s(names, "/singular") {
        "" => intern(&kind.to_lowercase()),
        other => intern(other),
    };
    let namespaced = s(crd, "/spec/scope") == "Namespaced";
    let short_names: Vec<String> = arr(names, "/shortNames")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let categories: Vec<String> = arr(names, "/categories")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let storage_version = arr(crd, "/spec/versions")
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .map(|v| s(v, "/name").to_string())
        .unwrap_or_default();
    let path = intern(&storage_path(crd));
    let mut out = Vec::new();
    let webhook = (s(crd, "/spec/conversion/strategy") == "Webhook")
        .then(|| crd.pointer("/spec/conversion/webhook").cloned())
        .flatten();
    for v in arr(crd, "/spec/versions") {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let version = intern(s(v, "/name"));
        if webhook.is_some() && resolver.is_none() && version != storage_version {
            tracing::warn!(crd = %s(crd, "/metadata/name"), version, "Not serving a version that needs a conversion webhook.");
            continue;
        }
        let schema: JSONSchemaProps = match v
            .pointer("/schema/openAPIV3Schema")
            .map(|s| serde_json::from_value(s.clone()))
        {
            Some(Ok(schema)) => schema,
            Some(Err(e)) => {
                tracing::warn!(crd = %s(crd, "/metadata/name"), version, error = %e, "Skipping a version whose schema does not parse.");
                continue;
            }
            None => JSONSchemaProps::default(),
        };
        let schema = Arc::new(VersionSchema::new(schema));
        let mut subresources = Vec::new();
        let status = v
            .pointer("/subresources/status")
            .is_some_and(Value::is_object);
        if status {
            subresources.push(SubresourceInfo::status(group, version, kind));
        }
        let scale = v
            .pointer("/subresources/scale")
            .filter(|s| s.is_object())
            .and_then(scale_paths);
        if scale.is_some() {
            subresources.push(SubresourceInfo::scale());
        }
        let mut info = ResourceInfo::new(group, version, plural, kind, singular, namespaced)
            .short_names(intern_list(&short_names))
            .categories(intern_list(&categories))
            .subresources(intern_subresources(subresources))
            .storage_path(path);
        if v.get("deprecated").and_then(Value::as_bool) == Some(true) {
            let warning = match v.get("deprecationWarning").and_then(Value::as_str) {
                Some(w) => w.to_string(),
                None => default_deprecation_warning(crd, version),
            };
            // An empty deprecationWarning silences the warning.
            if !warning.is_empty() {
                info = info.deprecated(intern(&warning));
            }
        }
        let printer_columns = printer_columns(v);
        let mut columns = vec![table::NAME];
        columns.extend(printer_columns.iter().map(|c| c.column));
        let selectable: Vec<(String, JsonPath)> = arr(v, "/selectableFields")
            .iter()
            .filter_map(|f| {
                let p = s(f, "/jsonPath");
                JsonPath::parse(p)
                    .ok()
                    .map(|jp| (p.trim_start_matches('.').to_string(), jp))
            })
            .collect();
        let names: Vec<String> = selectable.iter().map(|(n, _)| n.clone()).collect();
        let strategy = Arc::new(CustomResource {
            schema: schema.clone(),
            status,
            scale,
            columns,
            printer_columns,
            selectable_names: intern_list(&names),
            selectable_paths: selectable
                .into_iter()
                .map(|(n, p)| (intern(&n), p))
                .collect(),
        });
        let is_storage = version == storage_version;
        let conversion: Option<Arc<dyn Conversion>> = match (&webhook, resolver) {
            // Objects stored in an older version reach the storage version's readers
            // through the webhook too.
            (Some(hook), Some(resolver)) => Some(Arc::new(WebhookConversion {
                group: group.to_string(),
                kind: kind.to_string(),
                storage_version: storage_version.clone(),
                served_version: version.to_string(),
                webhook: hook.clone(),
                resolver: resolver.clone(),
                schema: schema.clone(),
            })),
            _ => (!is_storage || schema.has_defaults()).then(|| {
                Arc::new(CustomConversion {
                    storage_api_version: format!("{group}/{storage_version}"),
                    served_api_version: format!("{group}/{version}"),
                    schema: schema.clone(),
                }) as Arc<dyn Conversion>
            }),
        };
        out.push(ServedVersion {
            info,
            strategy,
            conversion,
        });
    }
    // The storage version's endpoint creates the store the others share.
    out.sort_by_key(|sv| sv.info.version != storage_version);
    out
}

/// Upstream's warning for a deprecated version: it names the newest served version that is
/// not deprecated and newer than this one, when there is such a version.
fn default_deprecation_warning(crd: &Value, deprecated: &str) -> String {
    let group = s(crd, "/spec/group");
    let kind = s(crd, "/spec/names/kind");
    let mut msg = format!("{group}/{deprecated} {kind} is deprecated");
    let newest = arr(crd, "/spec/versions")
        .iter()
        .filter(|v| {
            v.get("served").and_then(Value::as_bool) == Some(true)
                && v.get("deprecated").and_then(Value::as_bool) != Some(true)
        })
        .map(|v| s(v, "/name"))
        .filter(|name| compare_versions(deprecated, name) == std::cmp::Ordering::Greater)
        .min_by(|a, b| compare_versions(a, b));
    if let Some(newer) = newest {
        msg.push_str(&format!("; use {group}/{newer} {kind}"));
    }
    msg
}

fn scale_paths(scale: &Value) -> Option<ScalePaths> {
    let spec_replicas = JsonPath::parse(s(scale, "/specReplicasPath")).ok()?;
    let status_replicas = JsonPath::parse(s(scale, "/statusReplicasPath")).ok()?;
    let label_selector = match s(scale, "/labelSelectorPath") {
        "" => None,
        p => JsonPath::parse(p).ok(),
    };
    Some(ScalePaths {
        spec_replicas,
        status_replicas,
        label_selector,
    })
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    let declared = arr(version, "/additionalPrinterColumns");
    if declared.is_empty() {
        return default_printer_columns();
    }
    declared
        .iter()
        .filter_map(|c| {
            let json_path = s(c, "/jsonPath");
            let path = JsonPath::parse(json_path).ok()?;
            Some(printer_column(
                s(c, "/name"),
                s(c, "/type"),
                s(c, "/format"),
                s(c, "/description"),
                c.get("priority")
                    .and_then(Value::as_i64)
                    .and_then(|p| i32::try_from(p).ok())
                    .unwrap_or(0),
                path,
                json_path,
            ))
        })
        .collect()
}

/// Between a served version and the storage version with `conversion: None`: the
/// `apiVersion` changes, nothing else; reads get the served version's defaults.
pub struct CustomConversion {
    storage_api_version: String,
    served_api_version: String,
    schema: Arc<VersionSchema>,
}

impl Conversion for CustomConversion {
    fn to_storage(&self, mut obj: Value) -> Result<Value, String> {
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                Value::String(self.storage_api_version.clone()),
            );
        }
        Ok(obj)
    }

    fn to_served(&self, mut obj: Value) -> Result<Value, String> {
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                Value::String(self.served_api_version.clone()),
            );
        }
        self.schema.default(&mut obj);
        Ok(obj)
    }
}
