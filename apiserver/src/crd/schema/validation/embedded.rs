//! Embedded resources (upstream's `objectmeta.Validate` with the root not treated as a
//! resource): objects under an `x-kubernetes-embedded-resource` schema carry their own
//! `apiVersion`, `kind` and `metadata`, which are checked like a top-level object's.

use super::{golang, sorted_keys};
use apimachinery::field_errors::{child, index, key};
use apimachinery::{FieldError, FieldErrors};
use golang::GoKind;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::{Map, Value};

pub(super) fn walk(s: &JSONSchemaProps, x: &Value, path: &str, errs: &mut FieldErrors) {
    match x {
        Value::Object(map) => {
            if s.x_kubernetes_embedded_resource == Some(true) {
                validate_embedded_resource(path, map, errs);
            }
            for k in sorted_keys(map) {
                let Some(v) = map.get(k) else { continue };
                if let Some(prop) = s.properties.as_ref().and_then(|p| p.get(k)) {
                    walk(prop, v, &child(path, k), errs);
                } else if let Some(JSONSchemaPropsOrBool::Schema(extra)) = &s.additional_properties
                {
                    walk(extra, v, &key(path, k), errs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(JSONSchemaPropsOrArray::Schema(item)) = &s.items {
                for (i, v) in items.iter().enumerate() {
                    walk(item, v, &index(path, i), errs);
                }
            }
        }
        _ => {}
    }
}

fn validate_embedded_resource(path: &str, map: &Map<String, Value>, errs: &mut FieldErrors) {
    let api_version_path = child(path, "apiVersion");
    let kind_path = child(path, "kind");
    if !map.contains_key("apiVersion") {
        errs.push(FieldError::required(api_version_path.as_str(), ""));
    }
    if !map.contains_key("kind") {
        errs.push(FieldError::required(kind_path.as_str(), ""));
    }
    for k in sorted_keys(map) {
        let Some(v) = map.get(k) else { continue };
        match (k, v) {
            ("apiVersion", Value::String(s)) if s.is_empty() => {
                errs.push(FieldError::required(api_version_path.as_str(), ""));
            }
            // ParseGroupVersion accepts "/", "v" and "g/v"; more slashes are an error.
            ("apiVersion", Value::String(s)) if s != "/" && s.matches('/').count() > 1 => {
                errs.push(FieldError::invalid(
                    api_version_path.as_str(),
                    s.as_str(),
                    format!("unexpected GroupVersion string: {s}"),
                ));
            }
            ("apiVersion", Value::String(_)) => {}
            ("kind", Value::String(s)) if s.is_empty() => {
                errs.push(FieldError::required(kind_path.as_str(), ""));
            }
            ("kind", Value::String(s)) => {
                let problems = apimachinery::validation::is_dns1035_label(&s.to_lowercase());
                if !problems.is_empty() {
                    errs.push(FieldError::invalid(
                        kind_path.as_str(),
                        s.as_str(),
                        format!(
                            "may have mixed case, but should otherwise match: {}",
                            problems.join(",")
                        ),
                    ));
                }
            }
            ("apiVersion" | "kind", other) => {
                errs.push(FieldError::invalid(
                    child(path, k),
                    golang::canonical(other),
                    "must be a string",
                ));
            }
            ("metadata", meta) => validate_embedded_meta(path, meta, errs),
            _ => {}
        }
    }
}

/// Embedded `metadata`: it must decode as an ObjectMeta, then passes upstream's
/// `ValidateObjectMeta` with path-segment names, namespaced when it names a namespace, and a
/// placeholder name when it has none (an embedded object may be unnamed).
fn validate_embedded_meta(path: &str, meta: &Value, errs: &mut FieldErrors) {
    let meta_path = child(path, "metadata");
    if let Some(problem) = object_meta_decode_error(meta) {
        errs.push(FieldError::invalid(
            meta_path.as_str(),
            golang::canonical(meta),
            problem,
        ));
        return;
    }
    let mut meta = match meta {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        meta.insert("name".to_string(), Value::from("fakename"));
    }
    let namespaced = meta
        .get("namespace")
        .and_then(Value::as_str)
        .is_some_and(|ns| !ns.is_empty());
    let found = apimachinery::validation::validate_object_meta(
        &Value::Object(meta),
        namespaced,
        apimachinery::validation::name_is_path_segment,
    );
    for mut e in found {
        // The shared validator reports under `metadata`; re-root that at this object.
        if let Some(rest) = e.field.strip_prefix("metadata") {
            e.field = format!("{meta_path}{rest}");
        }
        errs.push(e);
    }
}

/// Why `meta` would not decode into an ObjectMeta, checking the JSON type of each known field.
fn object_meta_decode_error(meta: &Value) -> Option<String> {
    let map = match meta {
        Value::Null => return None,
        Value::Object(map) => map,
        other => {
            return Some(format!(
                "json: cannot unmarshal {} into Go value of type v1.ObjectMeta",
                json_type_name(other)
            ));
        }
    };
    let mismatch = |field: &str, v: &Value, want: &str| {
        Some(format!(
            "json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type {want}",
            json_type_name(v)
        ))
    };
    let string_map = |v: &Value| match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(|x| x.is_string() || x.is_null()),
        _ => false,
    };
    let array_of = |v: &Value, ok: fn(&Value) -> bool| match v {
        Value::Null => true,
        Value::Array(a) => a.iter().all(ok),
        _ => false,
    };
    for k in sorted_keys(map) {
        let Some(v) = map.get(k) else { continue };
        let problem = match k {
            "name" | "generateName" | "namespace" | "selfLink" | "uid" | "resourceVersion"
            | "creationTimestamp" | "deletionTimestamp"
                if !(v.is_string() || v.is_null()) =>
            {
                mismatch(k, v, "string")
            }
            "generation" | "deletionGracePeriodSeconds"
                if !(v.is_null() || matches!(golang::kind(v), GoKind::Int(_))) =>
            {
                mismatch(k, v, "int64")
            }
            "labels" | "annotations" if !string_map(v) => mismatch(k, v, "map[string]string"),
            "finalizers" if !array_of(v, |x| x.is_string() || x.is_null()) => {
                mismatch(k, v, "[]string")
            }
            "ownerReferences" if !array_of(v, |x| x.is_object() || x.is_null()) => {
                mismatch(k, v, "[]v1.OwnerReference")
            }
            "managedFields" if !array_of(v, |x| x.is_object() || x.is_null()) => {
                mismatch(k, v, "[]v1.ManagedFieldsEntry")
            }
            _ => None,
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
