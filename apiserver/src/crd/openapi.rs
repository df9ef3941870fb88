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
}
