//! Object comparison the way upstream's `apiequality.Semantic.DeepEqual` compares: empty and
//! absent maps, lists and strings are equal, quantities compare by value, everything else
//! compares exactly. Objects are compared through their JSON form, which is what the server
//! stores and returns.

use super::quantity;
use serde::Serialize;
use serde_json::Value;

/// Whether `a` and `b` are semantically equal.
pub fn semantic_eq<A: Serialize, B: Serialize>(a: &A, b: &B) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => values_eq(&normalize(a), &normalize(b)),
        _ => false,
    }
}

/// A short description of where `a` and `b` first differ, for failure messages.
pub fn diff<A: Serialize, B: Serialize>(a: &A, b: &B) -> String {
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return "the objects cannot be serialized".into();
    };
    let (a, b) = (normalize(a), normalize(b));
    first_difference(&a, &b, "").unwrap_or_else(|| "no difference".into())
}

/// Drops nulls, empty objects, empty arrays and empty strings, which Go's zero values make
/// indistinguishable from absent fields.
fn normalize(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        v => v,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn values_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_eq(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| values_eq(v, w))
        }
        (Value::String(x), Value::String(y)) => x == y || quantity::equal(x, y),
        (x, y) => x == y,
    }
}

fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    None => return Some(format!("{p}: {v} vs absent")),
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &p) {
                            return Some(d);
                        }
                    }
                }
            }
            y.iter()
                .find(|(k, _)| !x.contains_key(*k))
                .map(|(k, w)| format!("{path}.{k}: absent vs {w}"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]"))),
        (x, y) if values_eq(x, y) => None,
        (x, y) => Some(format!(
            "{}: {x} vs {y}",
            if path.is_empty() { "." } else { path }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_and_absent_are_equal() {
        assert!(semantic_eq(
            &json!({"a": {}, "b": [], "c": null, "d": "", "e": 1}),
            &json!({"e": 1})
        ));
    }

    #[test]
    fn differences_are_found() {
        let (a, b) = (json!({"a": {"b": [1, 2]}}), json!({"a": {"b": [1, 3]}}));
        assert!(!semantic_eq(&a, &b));
        assert_eq!(diff(&a, &b), ".a.b[1]: 2 vs 3");
        assert_eq!(diff(&json!({"a": 1}), &json!({"b": 1})), ".a: 1 vs absent");
    }

    #[test]
    fn quantities_compare_by_value() {
        assert!(semantic_eq(&json!({"cpu": "1000m"}), &json!({"cpu": "1"})));
        assert!(!semantic_eq(&json!({"cpu": "100m"}), &json!({"cpu": "1"})));
    }
}
