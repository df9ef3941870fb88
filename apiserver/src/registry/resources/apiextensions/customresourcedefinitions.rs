//! CustomResourceDefinitions: names, scope and versions of a custom resource. The object is
//! named `<plural>.<group>`; exactly one version is the storage version and each version has a
//! schema. Status starts over on create with the storage version recorded in
//! `storedVersions`; the naming and establishing controllers fill in the rest. Spec changes
//! bump the generation.
//!
//! Each version's schema must be structural (`crate::crd::schema::structural`, defaults
//! validated against it) and its CEL rules must compile. Deleting a CRD only marks it: the
//! CRD controller (`crate::crd::controller`) deletes its objects first.

use crate::cel;
use crate::crd::schema::{structural, validation};
use crate::registry::resources::admissionregistration::validate_client_config;
use crate::registry::resources::shared::{arr, has, immutable, invalid_rendered, s};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::{is_dns1035_label, is_dns1123_subdomain};
use apimachinery::{FieldError, FieldErrors, meta};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use serde_json::{Value, json};

use crate::crd::controller::CLEANUP_FINALIZER;

const GROUP: &str = "apiextensions.k8s.io";
const SCOPES: &[&str] = &["Cluster", "Namespaced"];
const CONVERSION_STRATEGIES: &[&str] = &["None", "Webhook"];
const CONVERSION_REVIEW_VERSIONS: &[&str] = &["v1", "v1beta1"];

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(
    GROUP,
    "v1",
    "CustomResourceDefinition",
)];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            GROUP,
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            "customresourcedefinition",
            false,
        )
        .short_names(&["crd", "crds"])
        .categories(&["api-extensions"])
        .subresources(SUBRESOURCES)
        // The apiextensions-apiserver prefixes its keys with the group.
        .storage_path("apiextensions.k8s.io/customresourcedefinitions"),
        CustomResourceDefinitions,
    )
}

pub struct CustomResourceDefinitions;

/// The version marked `storage: true`, if exactly that one is found first.
fn storage_version(obj: &Value) -> Option<&str> {
    arr(obj, "/spec/versions")
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
}

/// Appends the current storage version to `status.storedVersions` when it is new.
fn record_stored_version(obj: &mut Value) {
    let Some(v) = storage_version(obj).map(str::to_string) else {
        return;
    };
    let status = meta::nested_mut(obj, &["status"]);
    let stored = meta::nested_mut(status, &["storedVersions"]);
    if !stored.is_array() {
        *stored = json!([]);
    }
    if let Some(list) = stored.as_array_mut()
        && !list.iter().any(|s| s == v.as_str())
    {
        list.push(json!(v));
    }
}

/// Go's `%#v` of the versions slice is long; upstream prints it in full, we print a short
/// form naming each version.
fn render_versions(versions: &[Value]) -> String {
    if versions.is_empty() {
        return "[]apiextensions.CustomResourceDefinitionVersion(nil)".to_string();
    }
    let items: Vec<String> = versions
        .iter()
        .map(|v| {
            format!(
                "apiextensions.CustomResourceDefinitionVersion{{Name:{:?}, Served:{}, Storage:{}}}",
                s(v, "/name"),
                v.get("served").and_then(Value::as_bool).unwrap_or(false),
                v.get("storage").and_then(Value::as_bool).unwrap_or(false),
            )
        })
        .collect();
    format!(
        "[]apiextensions.CustomResourceDefinitionVersion{{{}}}",
        items.join(", ")
    )
}

fn label_errors(v: &str) -> Option<String> {
    let errs = is_dns1035_label(v);
    (!errs.is_empty()).then(|| errs.join(","))
}

fn validate_names(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let p = "spec.names";
    let plural = s(obj, "/spec/names/plural");
    let singular = s(obj, "/spec/names/singular");
    let kind = s(obj, "/spec/names/kind");
    let list_kind = s(obj, "/spec/names/listKind");
    for (field, value) in [
        ("plural", plural),
        ("singular", singular),
        ("kind", kind),
        ("listKind", list_kind),
    ] {
        if value.is_empty() {
            errs.push(FieldError::required(child(p, field), ""));
        }
    }
    for (field, value) in [("plural", plural), ("singular", singular)] {
        if !value.is_empty()
            && let Some(e) = label_errors(value)
        {
            errs.push(FieldError::invalid(child(p, field), value, e));
        }
    }
    for (field, value) in [("kind", kind), ("listKind", list_kind)] {
        if !value.is_empty()
            && let Some(e) = label_errors(&value.to_lowercase())
        {
            errs.push(FieldError::invalid(
                child(p, field),
                value,
                format!("may have mixed case, but should otherwise match: {e}"),
            ));
        }
    }
    for field in ["shortNames", "categories"] {
        for (i, v) in arr(obj, &format!("/spec/names/{field}")).iter().enumerate() {
            let v = v.as_str().unwrap_or_default();
            if let Some(e) = label_errors(v) {
                errs.push(FieldError::invalid(index(&child(p, field), i), v, e));
            }
        }
    }
    if !kind.is_empty() && kind == list_kind {
        errs.push(FieldError::invalid(
            child(p, "listKind"),
            list_kind,
            "kind and listKind may not be the same",
        ));
    }
    errs
}

fn validate_versions(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let versions = arr(obj, "/spec/versions");
    let mut seen = std::collections::HashSet::new();
    let mut unique = true;
    let mut storage = 0;
    for (i, v) in versions.iter().enumerate() {
        let vp = index("spec.versions", i);
        let name = s(v, "/name");
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage += 1;
        }
        unique &= seen.insert(name);
        if let Some(e) = label_errors(name) {
            errs.push(FieldError::invalid(child(&vp, "name"), name, e));
        }
        let schema_path = child(&vp, "schema.openAPIV3Schema");
        match v
            .pointer("/schema/openAPIV3Schema")
            .filter(|s| !s.is_null())
        {
            None => errs.push(FieldError::required(schema_path, "schemas are required")),
            Some(schema) => match serde_json::from_value::<JSONSchemaProps>(schema.clone()) {
                Ok(schema) => {
                    let structural =
                        structural::validate_schema(&schema, &schema_path, &|s, value, path| {
                            validation::validate_value(s, value, path)
                        });
                    // Rules are compiled only against a schema that is otherwise sound.
                    if structural.is_empty()
                        && let Err(rules) = cel::Validator::new(&schema, &schema_path)
                    {
                        errs.extend(rules);
                    }
                    errs.extend(structural);
                }
                // The typed decode already refused malformed schemas.
                Err(e) => errs.push(FieldError::invalid(schema_path, "", e.to_string())),
            },
        }
    }
    if !unique {
        errs.push(invalid_rendered(
            "spec.versions",
            &render_versions(versions),
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        errs.push(invalid_rendered(
            "spec.versions",
            &render_versions(versions),
            "must have exactly one version marked as storage version",
        ));
    }
    errs
}

fn validate_conversion(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(conv) = obj.pointer("/spec/conversion").filter(|v| !v.is_null()) else {
        return errs;
    };
    let strategy = s(conv, "/strategy");
    if !CONVERSION_STRATEGIES.contains(&strategy) {
        errs.push(FieldError::not_supported(
            "spec.conversion.strategy",
            strategy,
            CONVERSION_STRATEGIES,
        ));
    }
    let webhook = has(conv, "/webhook");
    if strategy == "Webhook" {
        if !webhook || !has(conv, "/webhook/clientConfig") {
            errs.push(FieldError::required(
                "spec.conversion.webhook",
                "required when strategy is set to Webhook",
            ));
        } else if let Some(cc) = conv.pointer("/webhook/clientConfig") {
            errs.extend(validate_client_config(
                cc,
                "spec.conversion.webhook.clientConfig",
            ));
        }
        let versions = arr(conv, "/webhook/conversionReviewVersions");
        if versions.is_empty() {
            errs.push(FieldError::required(
                "spec.conversion.webhook.conversionReviewVersions",
                format!(
                    "must specify one of {}",
                    CONVERSION_REVIEW_VERSIONS.join(", ")
                ),
            ));
        }
    } else if webhook {
        errs.push(FieldError::forbidden(
            "spec.conversion.webhook",
            "should not be set when strategy is not set to Webhook",
        ));
    }
    errs
}

/// `ValidateCustomResourceDefinitionStoredVersions`.
fn validate_stored_versions(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let stored = arr(obj, "/status/storedVersions");
    if stored.is_empty() {
        errs.push(FieldError::invalid(
            "status.storedVersions",
            Value::Array(Vec::new()),
            "must have at least one stored version",
        ));
    }
    let names: Vec<&str> = arr(obj, "/spec/versions")
        .iter()
        .map(|v| s(v, "/name"))
        .collect();
    for (i, v) in stored.iter().enumerate() {
        let v = v.as_str().unwrap_or_default();
        if !names.contains(&v) {
            errs.push(FieldError::invalid(
                index("status.storedVersions", i),
                v,
                "must appear in spec.versions",
            ));
        }
    }
    if let Some(storage) = storage_version(obj)
        && !stored.iter().any(|s| s == storage)
    {
        errs.push(FieldError::invalid(
            "status.storedVersions",
            Value::Array(stored.to_vec()),
            format!("must have the storage version {storage}"),
        ));
    }
    errs
}

impl Strategy for CustomResourceDefinitions {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<CustomResourceDefinition>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
            let kind = names
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let empty = |k: &str, n: &serde_json::Map<String, Value>| {
                n.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .is_empty()
            };
            if empty("singular", names) {
                names.insert("singular".into(), json!(kind.to_lowercase()));
            }
            if empty("listKind", names) && !kind.is_empty() {
                names.insert("listKind".into(), json!(format!("{kind}List")));
            }
        }
        spec.entry("conversion")
            .or_insert(json!({"strategy": "None"}));
        if let Some(svc) = spec
            .get_mut("conversion")
            .and_then(|c| c.pointer_mut("/webhook/clientConfig/service"))
            .and_then(Value::as_object_mut)
        {
            svc.entry("port").or_insert(json!(443));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({
            "acceptedNames": {"kind": "", "plural": ""},
            "storedVersions": [],
        });
        record_stored_version(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        record_stored_version(new);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let name = meta::name(obj);
        let group = s(obj, "/spec/group");
        let required = format!("{}.{group}", s(obj, "/spec/names/plural"));
        if !name.is_empty() && name != required {
            errs.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be spec.names.plural+\".\"+spec.group",
            ));
        }
        if group.is_empty() {
            errs.push(FieldError::required("spec.group", ""));
        } else {
            let msgs = is_dns1123_subdomain(group);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid("spec.group", group, msgs.join(",")));
            } else if !group.contains('.') {
                errs.push(FieldError::invalid(
                    "spec.group",
                    group,
                    "should be a domain with at least one dot",
                ));
            }
        }
        let scope = s(obj, "/spec/scope");
        if scope.is_empty() {
            errs.push(FieldError::required("spec.scope", ""));
        } else if !SCOPES.contains(&scope) {
            errs.push(FieldError::not_supported("spec.scope", scope, SCOPES));
        }
        errs.extend(validate_versions(obj));
        errs.extend(validate_names(obj));
        errs.extend(validate_conversion(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(immutable(new, old, "/spec/group", "spec.group"));
        errs.extend(immutable(
            new,
            old,
            "/spec/names/plural",
            "spec.names.plural",
        ));
        let established = arr(old, "/status/conditions")
            .iter()
            .any(|c| s(c, "/type") == "Established" && s(c, "/status") == "True");
        if established {
            errs.extend(immutable(new, old, "/spec/scope", "spec.scope"));
            errs.extend(immutable(new, old, "/spec/names/kind", "spec.names.kind"));
        }
        errs.extend(validate_stored_versions(new));
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        validate_stored_versions(new)
    }

    /// The first delete only marks the CRD: its objects go first (the CRD controller
    /// deletes them, then removes the cleanup finalizer).
    fn holds_deletion(&self, obj: &Value) -> bool {
        meta::deletion_timestamp(obj).is_none()
    }

    fn prepare_for_delete(&self, obj: &mut Value) {
        let mut finalizers = meta::finalizers(obj);
        if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
            finalizers.push(CLEANUP_FINALIZER.to_string());
        }
        meta::set(obj, "finalizers", Some(json!(finalizers)));
        let conditions = meta::nested_mut(obj, &["status", "conditions"]);
        if !conditions.is_array() {
            *conditions = json!([]);
        }
        if let Some(list) = conditions.as_array_mut() {
            list.retain(|c| s(c, "/type") != "Terminating");
            list.push(json!({
                "type": "Terminating",
                "status": "True",
                "lastTransitionTime": crate::clock::now(),
                "reason": "InstanceDeletionPending",
                "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}},
                ],
            },
            "status": {"conditions": [{"type": "Established", "status": "True"}]},
        })
    }

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_and_create() {
        let mut c = crd();
        CustomResourceDefinitions.default(&mut c);
        assert_eq!(c["spec"]["names"]["singular"], "widget");
        assert_eq!(c["spec"]["names"]["listKind"], "WidgetList");
        assert_eq!(c["spec"]["conversion"], json!({"strategy": "None"}));
        CustomResourceDefinitions.prepare_for_create(&mut c);
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
        assert!(c["status"].get("conditions").is_none());
        assert!(messages(&CustomResourceDefinitions.validate(&c)).is_empty());
    }

    #[test]
    fn name_group_versions_and_schema() {
        let mut c = crd();
        CustomResourceDefinitions.default(&mut c);
        c["metadata"]["name"] = json!("widgets.other.com");
        c["spec"]["versions"][1]["storage"] = json!(true);
        c["spec"]["versions"][1]["schema"] = json!(null);
        c["spec"]["scope"] = json!("Global");
        assert_eq!(
            messages(&CustomResourceDefinitions.validate(&c)),
            vec![
                "metadata.name: Invalid value: \"widgets.other.com\": must be spec.names.plural+\".\"+spec.group",
                "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
                "spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required",
                "spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{apiextensions.CustomResourceDefinitionVersion{Name:\"v1\", Served:true, Storage:true}, apiextensions.CustomResourceDefinitionVersion{Name:\"v1beta1\", Served:true, Storage:true}}: must have exactly one version marked as storage version",
            ]
        );
    }

    #[test]
    fn update_records_new_storage_version_and_keeps_group() {
        let mut old = crd();
        CustomResourceDefinitions.default(&mut old);
        CustomResourceDefinitions.prepare_for_create(&mut old);
        old["status"]["conditions"] = json!([{"type": "Established", "status": "True"}]);
        let mut new = old.clone();
        new["spec"]["versions"][0]["storage"] = json!(false);
        new["spec"]["versions"][1]["storage"] = json!(true);
        new["spec"]["scope"] = json!("Cluster");
        CustomResourceDefinitions.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"]["storedVersions"], json!(["v1", "v1beta1"]));
        assert_eq!(
            messages(&CustomResourceDefinitions.validate_update(&new, &old)),
            vec!["spec.scope: Invalid value: \"Cluster\": field is immutable"]
        );
    }
}
