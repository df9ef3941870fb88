//! Definitions in OpenAPI v3 form, written while serializing (no converted copy is built):
//! references point into `components/schemas`, a reference with siblings (a property's
//! description) is wrapped in `allOf` as upstream publishes it, and IntOrString and Quantity
//! are a choice of types rather than strings (so `kubectl explain` names them).

use crate::schema::V2_REF_PREFIX;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A schema (or any part of one) in v3 form.
pub struct V3<'a>(pub &'a Value);

struct Reference<'a>(&'a str);

impl Serialize for Reference<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("$ref", &format!("#/components/schemas/{}", self.0))?;
        m.end()
    }
}

impl Serialize for V3<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let reference = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(V2_REF_PREFIX));
                match reference {
                    Some(name) if map.len() == 1 => Reference(name).serialize(s),
                    Some(name) => {
                        let mut m = s.serialize_map(None)?;
                        for (k, v) in map.iter().filter(|(k, _)| *k != "$ref") {
                            m.serialize_entry(k, &V3(v))?;
                        }
                        m.serialize_entry("allOf", &[Reference(name)])?;
                        m.end()
                    }
                    None => {
                        let mut m = s.serialize_map(Some(map.len()))?;
                        for (k, v) in map {
                            m.serialize_entry(k, &V3(v))?;
                        }
                        m.end()
                    }
                }
            }
            Value::Array(items) => s.collect_seq(items.iter().map(V3)),
            other => other.serialize(s),
        }
    }
}

/// The `components.schemas` of one document: the named definitions, converted as written.
pub struct Components<'a> {
    pub names: Vec<&'a str>,
    pub definitions: &'a BTreeMap<String, Value>,
}

impl Serialize for Components<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for name in &self.names {
            let Some(schema) = self.definitions.get(*name) else {
                continue;
            };
            match choice_of_types(name) {
                Some(types) => {
                    let mut v = schema.clone();
                    if let Some(obj) = v.as_object_mut() {
                        obj.remove("type");
                        obj.insert(
                            "oneOf".into(),
                            json!([{"type": types[0]}, {"type": types[1]}]),
                        );
                    }
                    m.serialize_entry(name, &v)?;
                }
                None => m.serialize_entry(name, &V3(schema))?,
            }
        }
        m.end()
    }
}

/// The types upstream's v3 documents offer for the definitions that are either of two.
fn choice_of_types(name: &str) -> Option<[&'static str; 2]> {
    match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => Some(["integer", "string"]),
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => Some(["string", "number"]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_with_siblings_are_wrapped_in_all_of() {
        let v2 = json!({"properties": {
            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec", "description": "d"},
            "items": {"type": "array", "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Pod"}},
        }});
        let v3 = serde_json::to_value(V3(&v2)).unwrap();
        assert_eq!(
            v3["properties"]["spec"],
            json!({"description": "d", "allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}]})
        );
        assert_eq!(
            v3["properties"]["items"]["items"],
            json!({"$ref": "#/components/schemas/io.k8s.api.core.v1.Pod"})
        );
    }

    #[test]
    fn enums_and_their_descriptions_pass_through() {
        let v2 = json!({"properties": {"dnsPolicy": {
            "description": "d\n\nPossible enum values:\n - `\"None\"` n",
            "enum": ["ClusterFirst", "None"],
            "type": "string",
        }}});
        let v3 = serde_json::to_value(V3(&v2)).unwrap();
        assert_eq!(v3, v2);
    }

    #[test]
    fn int_or_string_is_a_choice_of_types() {
        let defs = BTreeMap::from([(
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString".to_string(),
            json!({"type": "string", "format": "int-or-string"}),
        )]);
        let c = Components {
            names: vec!["io.k8s.apimachinery.pkg.util.intstr.IntOrString"],
            definitions: &defs,
        };
        let v = serde_json::to_value(&c).unwrap();
        let ios = &v["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
        assert!(ios.get("type").is_none());
        assert_eq!(
            ios["oneOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
    }
}
