//! The OpenAPI definitions of a custom resource version, as upstream publishes them: named
//! by the reversed group (`com.example.v1.Widget` for `example.com/v1`), the CRD's schema with
//! `apiVersion`, `kind` and a `metadata` reference to ObjectMeta filled in, the kind in
//! `x-kubernetes-group-version-kind`, and a `<Kind>List` beside it.

use crate::schema::V2_REF_PREFIX;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::{Map, Value, json};

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DESCRIPTION: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md";

/// The definition name of a custom kind: the group's labels reversed, then version and kind.
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The kind's definition and its list's, by name.
pub fn definitions(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    schema: &JSONSchemaProps,
) -> Vec<(String, Value)> {
    let name = definition_name(group, version, kind);
    let mut def = serde_json::to_value(schema).unwrap_or_else(|_| json!({}));
    if !def.is_object() {
        def = json!({});
    }
    if let Some(obj) = def.as_object_mut() {
        obj.entry("type").or_insert(json!("object"));
        let props = obj
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(props) = props.as_object_mut() {
            props.insert(
                "apiVersion".into(),
                json!({"description": API_VERSION_DESCRIPTION, "type": "string"}),
            );
            props.insert(
                "kind".into(),
                json!({"description": KIND_DESCRIPTION, "type": "string"}),
            );
            props.insert(
                "metadata".into(),
                json!({"$ref": format!("{V2_REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"), "description": METADATA_DESCRIPTION}),
            );
        }
        obj.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": group, "kind": kind, "version": version}]),
        );
    }
    let list = json!({
        "description": format!("{kind}List is a list of {kind}"),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
            "items": {
                "description": format!("List of {plural}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"),
                "type": "array",
                "items": {"$ref": format!("{V2_REF_PREFIX}{name}")},
            },
            "kind": {"description": KIND_DESCRIPTION, "type": "string"},
            "metadata": {"$ref": format!("{V2_REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"), "description": LIST_METADATA_DESCRIPTION},
        },
        "x-kubernetes-group-version-kind": [{"group": group, "kind": format!("{kind}List"), "version": version}],
    });
    vec![(name.clone(), def), (format!("{name}List"), list)]
}

/// The OpenAPI v2 form of a custom kind's definition, as upstream publishes it for kubectl's
/// v2 validation: a root that preserves unknown fields is only `type: object`; elsewhere
/// junctors (`allOf`, `anyOf`, `oneOf`, `not`) go, nullable and unknown-preserving fields lose
/// their type and structure, and nullable fields are no longer required.
pub fn to_v2(definition: &Value) -> Value {
    if preserves_unknown(definition) {
        let mut out = json!({"type": "object"});
        if let Some(gvk) = definition.get("x-kubernetes-group-version-kind") {
            out["x-kubernetes-group-version-kind"] = gvk.clone();
        }
        return out;
    }
    let mut out = definition.clone();
    v2_node(&mut out);
    out
}

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn v2_node(schema: &mut Value) {
    let preserves = preserves_unknown(schema);
    let Some(m) = schema.as_object_mut() else {
        return;
    };
    if m.contains_key("$ref") {
        return;
    }
    for junctor in ["allOf", "anyOf", "oneOf", "not"] {
        m.remove(junctor);
    }
    if m.get("nullable").and_then(Value::as_bool) == Some(true) {
        for k in ["type", "nullable", "items", "properties"] {
            m.remove(k);
        }
    }
    if preserves {
        m.remove("items");
        m.remove("properties");
    }
    if !m.contains_key("items") && m.get("type").and_then(Value::as_str) == Some("array") {
        m.remove("type");
    }
    if preserves && m.get("type").and_then(Value::as_str) == Some("object") {
        m.remove("type");
    }
    let nullable: Vec<String> = m
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, v)| v.get("nullable").and_then(Value::as_bool) == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let additional_nullable = m
        .get("additionalProperties")
        .and_then(|a| a.get("nullable"))
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(Value::Array(required)) = m.get_mut("required") {
        required.retain(|r| !r.as_str().is_some_and(|r| nullable.iter().any(|n| n == r)));
        if additional_nullable {
            required.clear();
        }
    }
    if m.get("required")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        m.remove("required");
    }
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(v2_node);
    }
    if let Some(items) = m.get_mut("items") {
        v2_node(items);
    }
    if let Some(additional) = m.get_mut("additionalProperties")
        && additional.is_object()
    {
        v2_node(additional);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reverse_the_group() {
        assert_eq!(
            definition_name("stable.example.com", "v1", "CronTab"),
            "com.example.stable.v1.CronTab"
        );
        let schema: JSONSchemaProps = serde_json::from_value(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        }))
        .unwrap();
        let defs = definitions("example.com", "v1", "Widget", "widgets", &schema);
        assert_eq!(defs[0].0, "com.example.v1.Widget");
        assert_eq!(
            defs[0].1["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(
            defs[0].1["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(defs[1].0, "com.example.v1.WidgetList");
        assert_eq!(
            defs[1].1["x-kubernetes-group-version-kind"][0]["kind"],
            "WidgetList"
        );
    }

    #[test]
    fn v2_drops_what_kubectl_cannot_read() {
        let open: JSONSchemaProps = serde_json::from_value(json!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        }))
        .unwrap();
        let defs = definitions("example.com", "v1", "Open", "opens", &open);
        assert_eq!(
            to_v2(&defs[0].1),
            json!({"type": "object", "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Open", "version": "v1"}]})
        );
        let v2 = to_v2(&json!({
            "type": "object",
            "required": ["a", "b"],
            "properties": {
                "a": {"type": "string", "nullable": true},
                "b": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"c": {"type": "string"}}},
                "d": {"type": "string", "anyOf": [{"minLength": 1}]},
            },
        }));
        assert_eq!(
            v2,
            json!({
                "type": "object",
                "required": ["b"],
                "properties": {
                    "a": {},
                    "b": {"x-kubernetes-preserve-unknown-fields": true},
                    "d": {"type": "string"},
                },
            })
        );
    }
}
