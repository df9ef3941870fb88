//! Accessors for the `metadata` of objects held as JSON, so code that handles any kind reads the
//! same fields the same way.

use serde_json::{Map, Value};

/// `metadata.<field>` as a string, or "".
pub fn str_field<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub fn name(obj: &Value) -> &str {
    str_field(obj, "name")
}

pub fn namespace(obj: &Value) -> &str {
    str_field(obj, "namespace")
}

pub fn uid(obj: &Value) -> &str {
    str_field(obj, "uid")
}

pub fn resource_version(obj: &Value) -> &str {
    str_field(obj, "resourceVersion")
}

pub fn labels(obj: &Value) -> Option<&Value> {
    obj.get("metadata").and_then(|m| m.get("labels"))
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn deletion_timestamp(obj: &Value) -> Option<&str> {
    obj.get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .and_then(Value::as_str)
}

/// The `metadata` object, created if missing or not an object.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(map) = obj else {
        unreachable!("just made an object")
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Sets `metadata.<field>`, or removes it when `value` is `None`.
pub fn set(obj: &mut Value, field: &str, value: Option<Value>) {
    let meta = metadata_mut(obj);
    match value {
        Some(v) => {
            meta.insert(field.to_string(), v);
        }
        None => {
            meta.remove(field);
        }
    }
}

/// Reads a nested field by path segments, e.g. `["spec", "nodeName"]`.
pub fn nested<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, k| v.get(k))
}

pub fn nested_str<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    nested(obj, path).and_then(Value::as_str)
}

/// A mutable nested object, creating intermediate objects as needed.
pub fn nested_mut<'a>(obj: &'a mut Value, path: &[&str]) -> &'a mut Value {
    let mut cur = obj;
    for k in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else {
            unreachable!("just made an object")
        };
        cur = m.entry(k.to_string()).or_insert(Value::Null);
    }
    cur
}

/// Sets a default: writes `value` at `path` only when nothing (or null) is there.
pub fn default_at(obj: &mut Value, path: &[&str], value: Value) {
    let slot = nested_mut(obj, path);
    if slot.is_null() {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_metadata() {
        let mut o = json!({"kind": "ConfigMap"});
        set(&mut o, "name", Some(json!("a")));
        assert_eq!(name(&o), "a");
        assert_eq!(namespace(&o), "");
        default_at(&mut o, &["spec", "replicas"], json!(1));
        default_at(&mut o, &["spec", "replicas"], json!(2));
        assert_eq!(o["spec"]["replicas"], 1);
        set(&mut o, "name", None);
        assert_eq!(name(&o), "");
    }
}
