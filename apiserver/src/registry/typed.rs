//! Decoding through `k8s-openapi` types: the body is deserialized into the kind's struct and
//! serialized back. Wrong types fail as upstream's decoder fails; fields the struct does not
//! know disappear, and comparing input with output names them for `fieldValidation`.
//!
//! `null` is read as Go's decoder reads it: the field keeps its zero value. `k8s-openapi`
//! accepts `null` only for optional fields, so where it refuses one (a required string, a
//! list element, a map value, a required `metav1.Time`), the zero value of the field's type is
//! put in its place and decoding is retried. Go marshals a zero `metav1.Time` as `null`, so a
//! time that was `null` or absent in the body is `null` again in the result.

use super::strategy::Decoded;
use k8s_openapi::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Stands in for a zero `metav1.Time`/`MicroTime` while decoding; never stored.
const ZERO_TIME: &str = "1970-01-01T00:00:00Z";

/// Upper bound on decoding attempts for one body, so a body made of nulls cannot make a
/// request quadratic without end.
const MAX_ATTEMPTS: usize = 512;

/// The zero values tried, in order, where the schema refuses a `null` (or misses a required
/// time): the first one the field's type accepts is what Go's zero value serializes as.
fn zero_candidates() -> [Value; 6] {
    [
        Value::String(String::new()),
        Value::Object(Map::new()),
        Value::from(0),
        Value::Bool(false),
        Value::Array(Vec::new()),
        Value::String(ZERO_TIME.to_string()),
    ]
}

/// Round-trips `body` through `K`.
pub fn round_trip<K>(mut body: Value) -> Result<Decoded, String>
where
    K: Resource + Serialize + DeserializeOwned,
{
    // managedFields are the server's to write and grow with the object (a field set per
    // manager); well-formed ones skip the typed decode, which would only copy them.
    let managed = body
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| match m.get("managedFields") {
            Some(v) if well_formed_managed_fields(v) => m.remove("managedFields"),
            _ => None,
        });
    let (typed, zero_times) = deserialize_like_go::<K>(&body)?;
    let mut value = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    for pointer in zero_times {
        if let Some(v) = value.pointer_mut(&pointer) {
            *v = Value::Null;
        }
    }
    if let Some(entries) = managed
        && let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("managedFields".into(), entries);
    }
    let mut unknown_fields = Vec::new();
    unknown(&body, &value, "", &mut unknown_fields);
    drop_empty_metadata(&mut value);
    Ok(Decoded {
        value,
        unknown_fields,
    })
}

/// Leaves out the empty lists and maps of `metadata`, as upstream's encoding does (they are
/// `omitempty`): a patch removing the last finalizer leaves no `finalizers: []` behind.
fn drop_empty_metadata(value: &mut Value) {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for key in ["finalizers", "ownerReferences", "labels", "annotations"] {
        let empty = match meta.get(key) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            _ => false,
        };
        if empty {
            meta.remove(key);
        }
    }
}

/// Whether `v` is a list of managedFields entries whose fields have the types upstream's
/// decoder expects (strings, and an object for `fieldsV1`), so decoding them would change
/// nothing.
fn well_formed_managed_fields(v: &Value) -> bool {
    let Some(entries) = v.as_array() else {
        return false;
    };
    entries.iter().all(|e| {
        e.as_object().is_some_and(|m| {
            m.iter().all(|(k, v)| match k.as_str() {
                "manager" | "operation" | "apiVersion" | "fieldsType" | "subresource" => {
                    v.is_string()
                }
                "time" => v
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z') && t.len() == 20),
                "fieldsV1" => v.is_object(),
                _ => false,
            })
        })
    })
}

/// Deserializes `body` into `K`, filling refused nulls with zero values. Returns the JSON
/// pointers of the fields that became zero times.
fn deserialize_like_go<K: DeserializeOwned>(body: &Value) -> Result<(K, Vec<String>), String> {
    let mut err = match serde_path_to_error::deserialize::<_, K>(body) {
        Ok(typed) => return Ok((typed, Vec::new())),
        Err(e) => e,
    };
    let candidates = zero_candidates();
    let time_index = candidates.len() - 1;
    // Pointer -> index of the next candidate to try there.
    let mut tried: HashMap<String, usize> = HashMap::new();
    // Pointer -> the error the null itself caused, reported if no zero value fits.
    let mut null_errors: HashMap<String, String> = HashMap::new();
    let mut work = body.clone();
    for _ in 0..MAX_ATTEMPTS {
        let Some(target) = null_target(&work, &err, &tried) else {
            return Err(describe(&err));
        };
        let next = tried.entry(target.clone()).or_insert(0);
        if *next == 0 {
            null_errors.insert(target.clone(), describe(&err));
        }
        let Some(candidate) = candidates.get(*next) else {
            return Err(null_errors
                .remove(&target)
                .unwrap_or_else(|| describe(&err)));
        };
        *next += 1;
        if !set_at(&mut work, &target, candidate.clone()) {
            return Err(describe(&err));
        }
        match serde_path_to_error::deserialize::<_, K>(&work) {
            Ok(typed) => {
                let zero_times = tried
                    .into_iter()
                    .filter(|(_, next)| *next == time_index + 1)
                    .map(|(p, _)| p)
                    .collect();
                return Ok((typed, zero_times));
            }
            Err(e) => err = e,
        }
    }
    Err(describe(&err))
}

/// The JSON pointer a decoding error asks to fill with a zero value: a `null` the schema
/// refused, a required field left out (`missing field`), or a zero value already tried there.
/// `None` for any other error, which is the body's own fault.
fn null_target(
    work: &Value,
    err: &serde_path_to_error::Error<serde_json::Error>,
    tried: &HashMap<String, usize>,
) -> Option<String> {
    let at = pointer_of(err.path());
    let inner = err.inner().to_string();
    if let Some(field) = inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
    {
        let target = format!("{at}/{}", escape_token(field));
        let absent =
            work.pointer(&at).is_some_and(Value::is_object) && work.pointer(&target).is_none();
        return (absent || tried.contains_key(&target)).then_some(target);
    }
    let refused_null = work.pointer(&at).is_some_and(Value::is_null);
    (refused_null || tried.contains_key(&at)).then_some(at)
}

/// A `serde_path_to_error` path as a JSON pointer.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&escape_token(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Puts `value` at `pointer`, adding the last key to its object when absent.
fn set_at(doc: &mut Value, pointer: &str, value: Value) -> bool {
    if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = value;
        return true;
    }
    let Some((parent, token)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = token.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent).and_then(Value::as_object_mut) {
        Some(m) => {
            m.insert(key, value);
            true
        }
        None => false,
    }
}

/// A decoding error as the client sees it: `path: message`.
fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    if path.is_empty() || path == "." {
        inner
    } else {
        format!("{path}: {inner}")
    }
}

/// Collects paths present in `input` (with a non-null value) but absent from `output`.
pub fn unknown(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                if v.is_null() {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match o.get(k) {
                    Some(ov) => unknown(v, ov, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                unknown(iv, ov, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn managed_fields_pass_through_and_malformed_ones_still_fail() {
        let entry = json!({"manager": "m", "operation": "Update", "apiVersion": "v1",
            "time": "2026-11-27T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}});
        let body = json!({"metadata": {"name": "c", "managedFields": [entry.clone()]}});
        let d = round_trip::<ConfigMap>(body).unwrap();
        assert_eq!(d.value["metadata"]["managedFields"], json!([entry]));
        assert!(d.unknown_fields.is_empty());
        let bad = json!({"metadata": {"name": "c", "managedFields": "nope"}});
        assert!(round_trip::<ConfigMap>(bad).is_err());
    }

    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
    use serde_json::json;

    #[test]
    fn empty_metadata_lists_and_maps_are_left_out() {
        let body = json!({"metadata": {"name": "c", "finalizers": [], "labels": {},
            "annotations": {"a": "b"}, "ownerReferences": []}});
        let d = round_trip::<ConfigMap>(body).unwrap();
        assert_eq!(
            d.value["metadata"],
            json!({"name": "c", "annotations": {"a": "b"}})
        );
        assert!(d.unknown_fields.is_empty());
    }

    #[test]
    fn finds_unknown_fields_and_drops_them() {
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "creationTimestamp": null, "bogus": 1},
            "data": {"a": "b"}, "extra": {"x": 1}
        });
        let d = round_trip::<ConfigMap>(body).unwrap();
        assert_eq!(d.unknown_fields, vec!["metadata.bogus", "extra"]);
        assert!(d.value.get("extra").is_none());
        assert_eq!(d.value["data"]["a"], "b");
    }

    #[test]
    fn nested_list_paths() {
        let body = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "c", "image": "i", "foo": 1}]}}}
        });
        let d = round_trip::<Deployment>(body).unwrap();
        assert_eq!(
            d.unknown_fields,
            vec!["spec.template.spec.containers[0].foo"]
        );
    }

    #[test]
    fn wrong_types_fail_with_a_path() {
        let err = round_trip::<ConfigMap>(json!({"data": {"a": 1}})).unwrap_err();
        assert!(
            err.starts_with("data.a: invalid type: integer `1`"),
            "{err}"
        );
        let err = round_trip::<ConfigMap>(json!({"kind": "Secret"})).unwrap_err();
        assert!(err.contains("Secret"), "{err}");
    }

    fn service_with_condition(condition: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80}]},
            "status": {"conditions": [condition]}
        })
    }

    #[test]
    fn null_or_absent_required_time_is_a_zero_time() {
        let condition = json!({"type": "StatusUpdate", "status": "True",
            "lastTransitionTime": null, "reason": "E2E", "message": "m"});
        let d = round_trip::<Service>(service_with_condition(condition)).unwrap();
        let c = &d.value["status"]["conditions"][0];
        assert!(c["lastTransitionTime"].is_null(), "{c}");
        assert!(
            c.as_object()
                .is_some_and(|m| m.contains_key("lastTransitionTime"))
        );
        assert_eq!(c["reason"], "E2E");
        assert!(d.unknown_fields.is_empty(), "{:?}", d.unknown_fields);

        let absent = json!({"type": "A", "status": "True", "reason": "R", "message": ""});
        let d = round_trip::<Service>(service_with_condition(absent)).unwrap();
        assert!(d.value["status"]["conditions"][0]["lastTransitionTime"].is_null());

        let set = json!({"type": "A", "status": "True", "reason": "R", "message": "",
            "lastTransitionTime": "1970-01-01T00:00:00Z"});
        let d = round_trip::<Service>(service_with_condition(set)).unwrap();
        assert_eq!(
            d.value["status"]["conditions"][0]["lastTransitionTime"],
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn nulls_are_go_zero_values() {
        let body = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "creationTimestamp": null, "labels": {"a": null}},
            "spec": {"containers": [{"name": null, "image": "i", "args": ["x", null],
                "ports": [{"containerPort": null}]}, null],
                "nodeSelector": null},
            "bogus": null
        });
        let d = round_trip::<Pod>(body).unwrap();
        assert_eq!(d.value["metadata"]["labels"]["a"], "");
        let c = &d.value["spec"]["containers"];
        assert_eq!(c[0]["name"], "");
        assert_eq!(c[0]["args"], json!(["x", ""]));
        assert_eq!(c[0]["ports"][0]["containerPort"], 0);
        assert_eq!(c[1]["name"], "");
        assert!(d.value["spec"].get("nodeSelector").is_none());
        assert!(d.unknown_fields.is_empty(), "{:?}", d.unknown_fields);
    }

    #[test]
    fn real_type_errors_still_fail_after_nulls() {
        let body = json!({"metadata": {"labels": {"a": null}}, "data": {"a": 1}});
        let err = round_trip::<ConfigMap>(body).unwrap_err();
        assert!(
            err.starts_with("data.a: invalid type: integer `1`"),
            "{err}"
        );
    }
}
