//! Value validation of a custom object against its CRD version's structural schema, with the
//! field errors upstream's apiextensions-apiserver returns for it. This module owns three
//! checks, run in upstream's order by [`validate`]:
//!
//! 1. OpenAPI value validation ([`validate_value`]): kube-openapi's `SchemaValidator` (type,
//!    nullable, format, enum, bounds, lengths, pattern, item and property counts, uniqueness,
//!    required, properties, additionalProperties, items, allOf/anyOf/oneOf/not), with its errors
//!    converted to field errors the way `kubeOpenAPIResultToFieldErrors` does;
//! 2. embedded resources ([`validate_embedded_resources`]): objects marked
//!    `x-kubernetes-embedded-resource` need `apiVersion` and `kind` and valid `metadata`;
//! 3. list types ([`validate_list_sets_and_maps`]): no duplicate elements in a
//!    `x-kubernetes-list-type: set`, no duplicate keys in a `map` list.
//!
//! ```ignore
//! let errs = validate(&schema, &serde_json::json!({"spec": {"replicas": "two"}}));
//! assert_eq!(
//!     errs[0].to_string(),
//!     r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
//! );
//! ```
//!
//! Upstream walks Go maps, whose order is random; here object keys and schema properties are
//! visited in sorted order so the same input always yields the same error list.

mod embedded;
mod formats;
mod golang;
mod list_type;
mod openapi;
mod regexp;
#[cfg(test)]
mod tests;

use apimachinery::FieldErrors;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::{Map, Value};

/// Validates a whole custom object (root included: apiVersion, kind, metadata are skipped as
/// upstream does at the root)
///
/// This is what the custom resource strategy checks on create and update: the OpenAPI errors,
/// then the embedded-resource errors, then the list-type errors. The root itself is not treated
/// as an embedded resource (its `apiVersion`, `kind` and `metadata` are the object's own and are
/// checked by the object-meta validation elsewhere), though its schema still applies to them.
pub fn validate(schema: &JSONSchemaProps, obj: &serde_json::Value) -> FieldErrors {
    let mut errs = validate_value(schema, obj, "");
    errs.extend(validate_embedded_resources(schema, obj, ""));
    errs.extend(validate_list_sets_and_maps(schema, obj, ""));
    errs
}

/// Validates a value at `path` (dotted path as printed in field errors, "" for the root) — used
/// for defaults and embedded values.
///
/// Only the OpenAPI checks run here, as upstream's `ValidateCustomResource` does. Messages name
/// fields relative to the value (`replicas in body ...`) while the error's field is prefixed
/// with `path`; an error on the value itself at the root (`path` empty) is reported on the field
/// `<nil>`, as upstream prints a nil field path.
pub fn validate_value(
    schema: &JSONSchemaProps,
    value: &serde_json::Value,
    path: &str,
) -> FieldErrors {
    openapi::validate_schema(schema, "", value)
        .failures
        .into_iter()
        .map(|f| f.into_field_error(path))
        .collect()
}

/// The embedded-resource checks (upstream's `objectmeta.Validate` with the root not treated as a
/// resource): every object under an `x-kubernetes-embedded-resource` schema needs a string
/// `apiVersion` that parses as a group/version, a string `kind` that is a DNS-1035 label up to
/// case, and `metadata` that passes object-meta validation (a missing name is allowed).
pub fn validate_embedded_resources(
    schema: &JSONSchemaProps,
    value: &serde_json::Value,
    path: &str,
) -> FieldErrors {
    let mut errs = FieldErrors::new();
    embedded::walk(schema, value, path, &mut errs);
    errs
}

/// The list-type checks (upstream's `listtype.ValidateListSetsAndMaps`): a duplicate in a
/// `set` is reported at its second occurrence with its value, a duplicate key in a `map` list at
/// the second element carrying it, with the key fields as the value.
pub fn validate_list_sets_and_maps(
    schema: &JSONSchemaProps,
    value: &serde_json::Value,
    path: &str,
) -> FieldErrors {
    let mut errs = FieldErrors::new();
    list_type::walk(schema, value, path, &mut errs);
    errs
}

/// Object keys in sorted order: upstream ranges over Go maps, whose order is random, and a
/// fixed order keeps error lists stable.
fn sorted_keys(map: &Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}
