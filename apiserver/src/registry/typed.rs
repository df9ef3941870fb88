//! Decoding through `k8s-openapi` types: the body is deserialized into the kind's struct and
//! serialized back. Wrong types fail as upstream's decoder fails; fields the struct does not
//! know disappear, and comparing input with output names them for `fieldValidation`.

use super::strategy::Decoded;
use k8s_openapi::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Round-trips `body` through `K`.
pub fn round_trip<K>(body: Value) -> Result<Decoded, String>
where
    K: Resource + Serialize + DeserializeOwned,
{
    let typed: K = serde_path_to_error::deserialize(&body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path.is_empty() || path == "." {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })?;
    let value = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut unknown_fields = Vec::new();
    unknown(&body, &value, "", &mut unknown_fields);
    Ok(Decoded {
        value,
        unknown_fields,
    })
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
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

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
}
