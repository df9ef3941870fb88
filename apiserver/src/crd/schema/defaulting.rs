//! Structural defaulting of custom objects, as upstream's `defaulting` package does it: missing
//! fields (and nulls in non-nullable fields) get a deep copy of their schema's `default`, inside
//! `items` and `additionalProperties` too, and nulls in non-nullable fields without a default are
//! dropped (`PruneNonNullableNullsWithoutDefaults`).
//!
//! ```ignore
//! apply_defaults(&mut obj, &schema); // after pruning, before validation
//! ```
//!
//! Only the structural skeleton counts: `properties`, `items` and `additionalProperties` of each
//! schema node, never those inside `allOf`/`anyOf`/`oneOf`/`not`.

use super::prune::{Additional, additional, default_of, is_true, items_of, property};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;

/// Drops non-nullable nulls that have no default, then applies the schema's defaults: what
/// upstream does to every custom object it decodes (from a request or from storage).
pub fn apply_defaults(obj: &mut Value, schema: &JSONSchemaProps) {
    prune_non_nullable_nulls_without_defaults(obj, Some(schema));
    default(obj, schema);
}

/// Upstream's `Default`: for each object, the properties that are missing, or null while not
/// nullable, get a deep copy of their default; a null item or additionalProperties value that
/// is not nullable gets its schema's default. Parents are defaulted before their children, so a
/// defaulted object is itself defaulted further.
pub fn default(x: &mut Value, s: &JSONSchemaProps) {
    match x {
        Value::Object(m) => {
            if let Some(props) = &s.properties {
                for (k, prop) in props {
                    let Some(d) = default_of(prop) else { continue };
                    let missing_or_null = match m.get(k) {
                        None => true,
                        Some(Value::Null) => !is_true(prop.nullable),
                        Some(_) => false,
                    };
                    if missing_or_null {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
            for (k, v) in m.iter_mut() {
                if let Some(prop) = property(s, k) {
                    default(v, prop);
                } else if let Additional::Schema(a) = additional(s) {
                    if v.is_null() && !is_true(a.nullable) {
                        // Without a default the value stays null, as upstream's copy of nil.
                        *v = default_of(a).cloned().unwrap_or(Value::Null);
                    }
                    default(v, a);
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = items_of(s) else { return };
            for v in a.iter_mut() {
                if v.is_null() && !is_true(items.nullable) {
                    *v = default_of(items).cloned().unwrap_or(Value::Null);
                }
                default(v, items);
            }
        }
        _ => {}
    }
}

/// Upstream's `PruneNonNullableNullsWithoutDefaults`: removes object fields that are null although
/// their schema (a property or additionalProperties) is neither nullable nor defaulted. Nulls
/// that have a default are left for [`default`]; list items are never removed.
pub fn prune_non_nullable_nulls_without_defaults(x: &mut Value, s: Option<&JSONSchemaProps>) {
    match x {
        Value::Object(m) => m.retain(|k, v| {
            let sub = s.and_then(|s| schema_for_field(s, k));
            if v.is_null() && sub.is_some_and(|p| !is_true(p.nullable) && default_of(p).is_none()) {
                return false;
            }
            prune_non_nullable_nulls_without_defaults(v, sub);
            true
        }),
        Value::Array(a) => {
            let items = s.and_then(items_of);
            for v in a.iter_mut() {
                prune_non_nullable_nulls_without_defaults(v, items);
            }
        }
        _ => {}
    }
}

fn schema_for_field<'a>(s: &'a JSONSchemaProps, k: &str) -> Option<&'a JSONSchemaProps> {
    property(s, k).or(match additional(s) {
        Additional::Schema(a) => Some(a),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> JSONSchemaProps {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn missing_fields_get_defaults_and_defaults_are_defaulted_further() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "default": {"replicas": 2},
                    "properties": {
                        "replicas": {"type": "integer", "default": 1},
                        "mode": {"type": "string", "default": "auto"},
                        "nested": {"type": "object", "properties": {"x": {"type": "string", "default": "d"}}}
                    }
                }
            }
        }));
        let mut obj = json!({});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"spec": {"replicas": 2, "mode": "auto"}}));

        let mut obj = json!({"spec": {"nested": {}}});
        apply_defaults(&mut obj, &s);
        assert_eq!(
            obj,
            json!({"spec": {"replicas": 1, "mode": "auto", "nested": {"x": "d"}}})
        );
    }

    #[test]
    fn nulls_get_defaults_unless_nullable() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "a": {"type": "string", "default": "A"},
                "b": {"type": "string", "default": "B", "nullable": true},
                "c": {"type": "string"},
                "d": {"type": "string", "nullable": true}
            }
        }));
        let mut obj = json!({"a": null, "b": null, "c": null, "d": null});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"a": "A", "b": null, "d": null}));
    }

    #[test]
    fn items_and_additional_properties_are_defaulted() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "list": {"type": "array", "items": {"type": "object", "default": {"k": "v"},
                    "properties": {"k": {"type": "string"}, "n": {"type": "integer", "default": 3}}}},
                "map": {"type": "object", "additionalProperties": {"type": "object",
                    "properties": {"p": {"type": "string", "default": "P"}}}},
                "strings": {"type": "array", "items": {"type": "string"}}
            }
        }));
        let mut obj = json!({
            "list": [null, {"k": "x"}],
            "map": {"a": {}, "b": null},
            "strings": ["s", null]
        });
        apply_defaults(&mut obj, &s);
        assert_eq!(
            obj,
            json!({
                "list": [{"k": "v", "n": 3}, {"k": "x", "n": 3}],
                // A null map value without a default is dropped before defaulting.
                "map": {"a": {"p": "P"}},
                // A null item without a default stays: upstream never removes list items.
                "strings": ["s", null]
            })
        );
    }

    #[test]
    fn defaults_are_deep_copies() {
        let s = schema(json!({"type": "object", "properties": {
            "a": {"type": "object", "default": {"l": [1]}, "properties": {"l": {"type": "array", "items": {"type": "integer"}}}},
            "b": {"type": "object", "default": {"l": [1]}, "properties": {"l": {"type": "array", "items": {"type": "integer"}}}}
        }}));
        let mut obj = json!({});
        default(&mut obj, &s);
        if let Some(l) = obj["a"]["l"].as_array_mut() {
            l.push(json!(2));
        }
        assert_eq!(obj["b"], json!({"l": [1]}));
    }

    #[test]
    fn allof_properties_are_not_structural() {
        let s = schema(
            json!({"type": "object", "properties": {"a": {"type": "object"}},
            "allOf": [{"properties": {"a": {"properties": {"x": {"default": 1}}}}}]}),
        );
        let mut obj = json!({"a": {}});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"a": {}}));
    }

    #[test]
    fn unknown_fields_keep_their_nulls() {
        let s = schema(
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"known": {"type": "object", "properties": {"n": {"type": "string"}}}}}),
        );
        let mut obj = json!({"free": null, "known": {"n": null, "other": null}});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"free": null, "known": {"other": null}}));
    }
}
