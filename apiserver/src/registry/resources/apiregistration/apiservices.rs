//! APIServices: which server answers a group-version. A *local* APIService (`spec.service:
//! null`) names a group-version this apiserver serves itself; one with a Service names an
//! extension apiserver the aggregator would proxy to.
//!
//! Upstream's availability controllers write the `Available` condition moments after every
//! change: always `True`/`Local` for local APIServices, and the result of probing the Service
//! for the others. ferrokube has no proxy to extension apiservers yet, so the strategy plays
//! that controller at once on every write: local APIServices are `Available=True` (`Local`),
//! the others `Available=False` with reason [`NOT_SUPPORTED_REASON`]. Other conditions are kept
//! as written.

use super::GROUP;
use crate::registry::resources::shared::s;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::validation::{
    NameValidator, is_dns1035_label, is_dns1123_subdomain, is_path_segment_name, is_valid_port_num,
    name_is_path_segment,
};
use apimachinery::{FieldError, FieldErrors, meta};
use base64::Engine;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use serde_json::{Map, Value, json};

/// Why a non-local APIService is reported unavailable.
pub const NOT_SUPPORTED_REASON: &str = "AggregationNotSupported";
const NOT_SUPPORTED_MESSAGE: &str =
    "ferrokube does not proxy requests to extension API servers yet";
const CONDITION_STATUSES: &[&str] = &["True", "False", "Unknown"];
/// The highest `spec.groupPriorityMinimum`.
const MAX_GROUP_PRIORITY: i64 = 20000;
/// The highest `spec.versionPriority`.
const MAX_VERSION_PRIORITY: i64 = 1000;

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(GROUP, "v1", "APIService")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            GROUP,
            "v1",
            "apiservices",
            "APIService",
            "apiservice",
            false,
        )
        .categories(&["api-extensions"])
        .subresources(SUBRESOURCES)
        .storage_path("apiregistration.k8s.io/apiservices"),
        ApiServices,
    )
}

pub struct ApiServices;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Service",
        "string",
        "The reference to the service that hosts this API endpoint.",
    ),
    Column::new("Available", "string", "Whether this service is available."),
    AGE,
];

/// Whether the APIService is served by this apiserver (no Service to proxy to).
fn is_local(obj: &Value) -> bool {
    obj.pointer("/spec/service").is_none_or(Value::is_null)
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The decoded length of `spec.caBundle` (base64 in JSON).
fn ca_bundle_len(obj: &Value) -> usize {
    let encoded = s(obj, "/spec/caBundle");
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_or(encoded.len(), |b| b.len())
}

/// The `Available` condition this apiserver stands behind for the APIService's spec.
fn available_condition(obj: &Value) -> Value {
    if is_local(obj) {
        json!({
            "type": "Available",
            "status": "True",
            "lastTransitionTime": crate::clock::now(),
            "reason": "Local",
            "message": "Local APIServices are always available",
        })
    } else {
        json!({
            "type": "Available",
            "status": "False",
            "lastTransitionTime": crate::clock::now(),
            "reason": NOT_SUPPORTED_REASON,
            "message": NOT_SUPPORTED_MESSAGE,
        })
    }
}

/// Upstream's `SetAPIServiceCondition`: replace the condition of the same type, keeping its
/// transition time when the status did not change.
fn set_condition(obj: &mut Value, condition: Value) {
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    let status = m
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    if !status.is_object() {
        *status = Value::Object(Map::new());
    }
    let conditions = status
        .as_object_mut()
        .map(|st| st.entry("conditions").or_insert_with(|| json!([])));
    let Some(conditions) = conditions else {
        return;
    };
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|c| c["type"] == condition["type"]) {
        None => list.push(condition),
        Some(existing) => {
            if existing["status"] != condition["status"] {
                existing["status"] = condition["status"].clone();
                existing["lastTransitionTime"] = condition["lastTransitionTime"].clone();
            }
            existing["reason"] = condition["reason"].clone();
            existing["message"] = condition["message"].clone();
        }
    }
}

/// The name rule: a path segment, and exactly `<spec.version>.<spec.group>`.
fn validate_name(obj: &Value) -> FieldErrors {
    let required = format!("{}.{}", s(obj, "/spec/version"), s(obj, "/spec/group"));
    let mut errs = Vec::new();
    // The path-segment rule and a missing name are checked with the rest of the metadata.
    for field in ["generateName", "name"] {
        let value = meta::str_field(obj, field);
        if !value.is_empty() && is_path_segment_name(value).is_empty() && value != required {
            errs.push(FieldError::invalid(
                format!("metadata.{field}"),
                value,
                format!("must be `spec.version+\".\"+spec.group`: {required:?}"),
            ));
        }
    }
    errs
}

impl Strategy for ApiServices {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        // Go decodes a missing spec or priority as zero (which validation then rejects); the
        // typed schema calls the priorities required, so fill them in first.
        if let Some(m) = body.as_object_mut() {
            let spec = m.entry("spec").or_insert_with(|| json!({}));
            if spec.is_null() {
                *spec = json!({});
            }
            if let Some(spec) = spec.as_object_mut() {
                for field in ["groupPriorityMinimum", "versionPriority"] {
                    let v = spec.entry(field).or_insert(json!(0));
                    if v.is_null() {
                        *v = json!(0);
                    }
                }
            }
        }
        let mut decoded = typed::round_trip::<APIService>(body)?;
        // Upstream always writes `spec.service` (null for local APIServices) and `status`.
        if let Some(m) = decoded.value.as_object_mut() {
            if let Some(spec) = m.get_mut("spec").and_then(Value::as_object_mut) {
                spec.entry("service").or_insert(Value::Null);
            }
            m.entry("status").or_insert_with(|| json!({}));
        }
        Ok(decoded)
    }

    fn name_validator(&self) -> NameValidator {
        name_is_path_segment
    }

    fn default(&self, obj: &mut Value) {
        if let Some(service) = obj
            .pointer_mut("/spec/service")
            .and_then(Value::as_object_mut)
        {
            service.entry("port").or_insert(json!(443));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({}));
        }
        let condition = available_condition(obj);
        set_condition(obj, condition);
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        // The store has put the stored status back; the spec may have changed locality.
        let condition = available_condition(new);
        set_condition(new, condition);
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
            let v = old.get("metadata").and_then(|m| m.get(field)).cloned();
            meta::set(new, field, v);
        }
        let condition = available_condition(new);
        set_condition(new, condition);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = validate_name(obj);
        let group = s(obj, "/spec/group");
        let version = s(obj, "/spec/version");
        if group.is_empty() && version != "v1" {
            errs.push(FieldError::required(
                "spec.group",
                "only v1 may have an empty group and it better be legacy kube",
            ));
        }
        if !group.is_empty() {
            for msg in is_dns1123_subdomain(group) {
                errs.push(FieldError::invalid("spec.group", group, msg));
            }
        }
        for msg in is_dns1035_label(version) {
            errs.push(FieldError::invalid("spec.version", version, msg));
        }
        let group_priority = int(obj, "/spec/groupPriorityMinimum");
        if group_priority <= 0 || group_priority > MAX_GROUP_PRIORITY {
            errs.push(FieldError::invalid(
                "spec.groupPriorityMinimum",
                group_priority,
                "must be positive and less than 20000",
            ));
        }
        let version_priority = int(obj, "/spec/versionPriority");
        if version_priority <= 0 || version_priority > MAX_VERSION_PRIORITY {
            errs.push(FieldError::invalid(
                "spec.versionPriority",
                version_priority,
                "must be positive and less than 1000",
            ));
        }
        let ca_bundle = ca_bundle_len(obj);
        let insecure = obj
            .pointer("/spec/insecureSkipTLSVerify")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if is_local(obj) {
            if ca_bundle != 0 {
                errs.push(FieldError::invalid(
                    "spec.caBundle",
                    format!("{ca_bundle} bytes"),
                    "local APIServices may not have a caBundle",
                ));
            }
            if insecure {
                errs.push(FieldError::invalid(
                    "spec.insecureSkipTLSVerify",
                    true,
                    "local APIServices may not have insecureSkipTLSVerify",
                ));
            }
            return errs;
        }
        if s(obj, "/spec/service/namespace").is_empty() {
            errs.push(FieldError::required("spec.service.namespace", ""));
        }
        if s(obj, "/spec/service/name").is_empty() {
            errs.push(FieldError::required("spec.service.name", ""));
        }
        let port = obj
            .pointer("/spec/service/port")
            .and_then(Value::as_i64)
            .unwrap_or(443);
        let port_errs = is_valid_port_num(port);
        if !port_errs.is_empty() {
            errs.push(FieldError::invalid(
                "spec.service.port",
                port,
                format!("port is not valid: {}", port_errs.join(", ")),
            ));
        }
        if insecure && ca_bundle > 0 {
            errs.push(FieldError::invalid(
                "spec.insecureSkipTLSVerify",
                true,
                "may not be true if caBundle is present",
            ));
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let conditions = new
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        conditions
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let status = c.get("status").and_then(Value::as_str).unwrap_or_default();
                (!CONDITION_STATUSES.contains(&status)).then(|| {
                    FieldError::not_supported(
                        format!("status.conditions[{i}].status"),
                        status,
                        CONDITION_STATUSES,
                    )
                })
            })
            .collect()
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let service = if is_local(obj) {
            "Local".to_string()
        } else {
            format!(
                "{}/{}",
                s(obj, "/spec/service/namespace"),
                s(obj, "/spec/service/name")
            )
        };
        let available = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"))
            .map_or_else(
                || "Unknown".to_string(),
                |c| {
                    let status = c["status"].as_str().unwrap_or_default();
                    let reason = c["reason"].as_str().unwrap_or_default();
                    if status == "True" || reason.is_empty() {
                        status.to_string()
                    } else {
                        format!("{status} ({reason})")
                    }
                },
            );
        vec![
            table::name(obj),
            json!(service),
            json!(available),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(body: Value) -> Value {
        let mut obj = ApiServices.decode(body).unwrap().value;
        ApiServices.default(&mut obj);
        obj
    }

    fn local(name: &str, group: &str, version: &str) -> Value {
        decoded(json!({
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": name},
            "spec": {"group": group, "version": version, "groupPriorityMinimum": 100, "versionPriority": 10},
        }))
    }

    fn messages(obj: &Value) -> Vec<String> {
        ApiServices
            .validate(obj)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn decoding_fills_what_go_always_writes() {
        let obj = decoded(json!({"metadata": {"name": "v1.foo"}}));
        assert_eq!(
            obj["spec"],
            json!({"service": null, "groupPriorityMinimum": 0, "versionPriority": 0})
        );
        assert_eq!(obj["status"], json!({}));
        let remote = decoded(json!({"metadata": {"name": "v1.foo"}, "spec": {
            "service": {"namespace": "ns", "name": "api"}, "group": "foo", "version": "v1",
            "groupPriorityMinimum": 1, "versionPriority": 1}}));
        assert_eq!(
            remote["spec"]["service"],
            json!({"namespace": "ns", "name": "api", "port": 443})
        );
        assert!(
            ApiServices
                .decode(json!({"spec": {"groupPriorityMinimum": "high"}}))
                .is_err()
        );
    }

    #[test]
    fn name_must_be_version_dot_group() {
        assert!(messages(&local("v1.foo.example.com", "foo.example.com", "v1")).is_empty());
        assert!(messages(&local("v1.", "", "v1")).is_empty());
        assert_eq!(
            messages(&local("foo", "foo.example.com", "v1")),
            vec![
                "metadata.name: Invalid value: \"foo\": must be `spec.version+\".\"+spec.group`: \"v1.foo.example.com\""
            ]
        );
        // A name that is not a path segment gets only the metadata error, elsewhere.
        assert!(messages(&local("a/b", "foo.example.com", "v1")).is_empty());
    }

    #[test]
    fn group_version_and_priorities() {
        assert_eq!(
            messages(&local("v2.", "", "v2")),
            vec![
                "spec.group: Required value: only v1 may have an empty group and it better be legacy kube"
            ]
        );
        let bad = local("V1.Foo_", "Foo_", "V1");
        let errs = messages(&bad);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0]
                .starts_with("spec.group: Invalid value: \"Foo_\": a lowercase RFC 1123 subdomain")
        );
        assert!(errs[1].starts_with("spec.version: Invalid value: \"V1\": a DNS-1035 label"));
        let mut obj = local("v1.foo", "foo", "v1");
        obj["spec"]["groupPriorityMinimum"] = json!(20001);
        obj["spec"]["versionPriority"] = json!(0);
        assert_eq!(
            messages(&obj),
            vec![
                "spec.groupPriorityMinimum: Invalid value: 20001: must be positive and less than 20000",
                "spec.versionPriority: Invalid value: 0: must be positive and less than 1000",
            ]
        );
        obj["spec"]["groupPriorityMinimum"] = json!(20000);
        obj["spec"]["versionPriority"] = json!(1000);
        assert!(messages(&obj).is_empty());
    }

    #[test]
    fn local_versus_service() {
        let mut obj = local("v1.foo", "foo", "v1");
        obj["spec"]["caBundle"] = json!("YWJj");
        obj["spec"]["insecureSkipTLSVerify"] = json!(true);
        assert_eq!(
            messages(&obj),
            vec![
                "spec.caBundle: Invalid value: \"3 bytes\": local APIServices may not have a caBundle",
                "spec.insecureSkipTLSVerify: Invalid value: true: local APIServices may not have insecureSkipTLSVerify",
            ]
        );
        obj["spec"]["service"] = json!({"port": 0});
        assert_eq!(
            messages(&obj),
            vec![
                "spec.service.namespace: Required value",
                "spec.service.name: Required value",
                "spec.service.port: Invalid value: 0: port is not valid: must be between 1 and 65535, inclusive",
                "spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present",
            ]
        );
        obj["spec"]["service"] = json!({"namespace": "ns", "name": "api", "port": 443});
        obj["spec"]["insecureSkipTLSVerify"] = json!(false);
        assert!(messages(&obj).is_empty());
    }

    #[test]
    fn availability_follows_the_spec() {
        let mut obj = local("v1.foo", "foo", "v1");
        obj["status"] = json!({"conditions": [{"type": "Available", "status": "False"}]});
        ApiServices.prepare_for_create(&mut obj);
        let conditions = obj["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["status"], "True");
        assert_eq!(conditions[0]["reason"], "Local");
        assert_eq!(
            conditions[0]["message"],
            "Local APIServices are always available"
        );
        let since = json!("2020-01-01T00:00:00Z");
        obj["status"]["conditions"][0]["lastTransitionTime"] = since.clone();
        obj["status"]["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "Custom", "status": "True"}));
        let old = obj.clone();
        ApiServices.prepare_for_update(&mut obj, &old);
        assert_eq!(
            obj, old,
            "an unchanged local APIService keeps its condition"
        );
        obj["spec"]["service"] = json!({"namespace": "ns", "name": "api", "port": 443});
        ApiServices.prepare_for_update(&mut obj, &old);
        let available = &obj["status"]["conditions"][0];
        assert_eq!(available["status"], "False");
        assert_eq!(available["reason"], NOT_SUPPORTED_REASON);
        assert_ne!(available["lastTransitionTime"], since);
        assert_eq!(obj["status"]["conditions"][1]["type"], "Custom");
    }

    #[test]
    fn status_updates_keep_metadata_and_check_statuses() {
        let old = local("v1.foo", "foo", "v1");
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"a": "b"});
        new["status"] = json!({"conditions": [{"type": "Available", "status": "False"}]});
        ApiServices.prepare_for_status_update(&mut new, &old);
        assert!(new["metadata"].get("labels").is_none());
        assert_eq!(new["status"]["conditions"][0]["status"], "True");
        new["status"]["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "Custom", "status": "Maybe"}));
        assert_eq!(
            ApiServices
                .validate_status_update(&new, &old)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec![
                "status.conditions[1].status: Unsupported value: \"Maybe\": supported values: \"True\", \"False\", \"Unknown\""
            ]
        );
    }

    #[test]
    fn table_rows_as_upstream_prints_them() {
        let mut obj = local("v1.foo", "foo", "v1");
        ApiServices.prepare_for_create(&mut obj);
        let row = ApiServices.table_row(&obj);
        assert_eq!(row[0], "v1.foo");
        assert_eq!(row[1], "Local");
        assert_eq!(row[2], "True");
        assert_eq!(row.len(), ApiServices.table_columns().len());
        obj["spec"]["service"] = json!({"namespace": "ns", "name": "api"});
        ApiServices.prepare_for_update(&mut obj, &Value::Null);
        let row = ApiServices.table_row(&obj);
        assert_eq!(row[1], "ns/api");
        assert_eq!(row[2], format!("False ({NOT_SUPPORTED_REASON})"));
        obj["status"] = json!({"conditions": [{"type": "Available", "status": "False"}]});
        assert_eq!(ApiServices.table_row(&obj)[2], "False");
        obj["status"] = json!({});
        assert_eq!(ApiServices.table_row(&obj)[2], "Unknown");
    }
}
