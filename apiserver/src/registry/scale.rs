//! The `scale` subresource's view of an object: an `autoscaling/v1` Scale of `spec.replicas`,
//! the observed `status.replicas`, and the selector, for every built-in kind with replicas.

use apimachinery::labels::Selector;
use serde_json::{Value, json};

/// The Scale of an object with `spec.replicas`.
pub fn to_scale(obj: &Value) -> Value {
    let selector = match obj.pointer("/spec/selector") {
        Some(sel) if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() => {
            Selector::from_label_selector(sel)
                .map(|s| s.to_string())
                .unwrap_or_default()
        }
        // ReplicationControllers select with a plain map.
        Some(Value::Object(m)) => {
            let mut parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            parts.sort();
            parts.join(",")
        }
        _ => String::new(),
    };
    let mut metadata = serde_json::Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = obj.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), v.clone());
        }
    }
    let mut status = json!({
        "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
    });
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": { "replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0) },
        "status": status,
    })
}

/// Sets `spec.replicas`.
pub fn set_replicas(obj: &mut Value, replicas: i64) {
    apimachinery::meta::nested_mut(obj, &["spec"])["replicas"] = json!(replicas);
}
