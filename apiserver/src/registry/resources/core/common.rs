//! Helpers the core strategies share: reading JSON fields, upstream's common field validators
//! (non-negative numbers, DNS names, immutable fields, resource lists, map selectors), and the
//! label formatting printers use.

use super::quantity::Quantity;
use apimachinery::field_errors::{FieldError, FieldErrors, key};
use apimachinery::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, validate_labels,
};
use serde_json::Value;

/// Upstream's `FieldImmutableErrorMsg`.
pub const IMMUTABLE: &str = "field is immutable";

/// A string at a JSON pointer, or "".
pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// An integer at a JSON pointer.
pub fn int_at(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// A boolean at a JSON pointer, false when unset.
pub fn bool_at(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The array at a JSON pointer (empty when unset).
pub fn array_at<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The strings of an array at a JSON pointer.
pub fn strings_at(obj: &Value, pointer: &str) -> Vec<String> {
    array_at(obj, pointer)
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Upstream's `ValidateNonnegativeField`.
pub fn nonnegative(value: Option<i64>, path: &str) -> FieldErrors {
    match value {
        Some(v) if v < 0 => vec![FieldError::invalid(
            path,
            v,
            "must be greater than or equal to 0",
        )],
        _ => Vec::new(),
    }
}

/// Upstream's `ValidatePositiveField`-style check used for counts that must be at least 1.
pub fn positive(value: Option<i64>, path: &str) -> FieldErrors {
    match value {
        Some(v) if v < 1 => vec![FieldError::invalid(
            path,
            v,
            "must be greater than or equal to 1",
        )],
        _ => Vec::new(),
    }
}

/// A DNS-1123 label check at `path` (empty values are left to `Required` checks).
pub fn dns_label(value: &str, path: &str) -> FieldErrors {
    is_dns1123_label(value)
        .into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// A DNS-1123 subdomain check at `path`.
pub fn dns_subdomain(value: &str, path: &str) -> FieldErrors {
    is_dns1123_subdomain(value)
        .into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// A qualified-name check at `path`.
pub fn qualified_name(value: &str, path: &str) -> FieldErrors {
    is_qualified_name(value)
        .into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// An enum check: `Required` when empty (if `required`), `NotSupported` when unknown.
pub fn one_of(value: Option<&str>, path: &str, supported: &[&str], required: bool) -> FieldErrors {
    match value {
        None | Some("") if required => vec![FieldError::required(path, "")],
        None | Some("") => Vec::new(),
        Some(v) if supported.contains(&v) => Vec::new(),
        Some(v) => vec![FieldError::not_supported(path, v, supported)],
    }
}

/// `field is immutable` when the value at `pointer` differs; the error carries the new value.
pub fn immutable(new: &Value, old: &Value, pointer: &str, path: &str) -> FieldErrors {
    let (n, o) = (new.pointer(pointer), old.pointer(pointer));
    let norm = |v: Option<&Value>| v.filter(|v| !v.is_null()).cloned();
    if norm(n) == norm(o) {
        return Vec::new();
    }
    vec![FieldError::invalid(path, go_value(n), IMMUTABLE)]
}

/// A JSON value as upstream's error messages show it: strings and numbers as they are, other
/// values rendered roughly as Go prints them.
pub fn go_value(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => v.clone(),
        Some(other) => Value::String(other.to_string()),
    }
}

/// An `Invalid` error whose value is shown as Go renders a non-scalar (`[]string{"a"}`);
/// `rendered` is that rendering.
pub fn invalid_raw(path: &str, rendered: &str, detail: &str) -> FieldError {
    FieldError {
        kind: apimachinery::FieldErrorKind::Invalid,
        field: path.to_string(),
        value: None,
        detail: format!("{rendered}: {detail}"),
    }
}

/// A string slice as Go's `%#v` prints it: `[]string{"a", "b"}`.
pub fn go_string_slice(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Is `name` a standard resource name (`cpu`, `memory`, ...) or a domain-prefixed one?
pub fn is_extended_resource_name(name: &str) -> bool {
    if name.starts_with("requests.") || name.contains("kubernetes.io/") {
        return false;
    }
    name.contains('/') && is_qualified_name(name).is_empty()
}

/// Validates a `ResourceList` (`requests`/`limits`/`capacity`): qualified names and
/// non-negative quantities. Decoding already rejected malformed quantities.
pub fn validate_resource_list(list: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    for (name, v) in list.and_then(Value::as_object).into_iter().flatten() {
        let p = key(path, name);
        errs.extend(qualified_name(name, &p));
        if let Ok(q) = Quantity::from_json(v)
            && q.is_negative()
        {
            errs.push(FieldError::invalid(
                p,
                q.canonical(),
                "must be greater than or equal to 0",
            ));
        }
    }
    errs
}

/// Validates a map selector (`spec.selector` of Services and ReplicationControllers).
pub fn validate_map_selector(sel: Option<&Value>, path: &str) -> FieldErrors {
    sel.map(|s| validate_labels(s, path)).unwrap_or_default()
}

/// Upstream's `labels.FormatLabels`: `k=v` pairs sorted by key, `<none>` when empty.
pub fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs.join(",")
}

/// Whether a map selector matches a label map (every selector pair present).
pub fn map_selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    selector.as_object().into_iter().flatten().all(|(k, v)| {
        labels
            .and_then(|l| l.get(k))
            .is_some_and(|lv| lv.as_str() == v.as_str())
    })
}

/// Container names and images joined with commas, as upstream's `layoutContainerCells`.
pub fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c.get("name").and_then(Value::as_str).unwrap_or_default())
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| c.get("image").and_then(Value::as_str).unwrap_or_default())
        .collect();
    (names.join(","), images.join(","))
}

/// Sets `obj[field]` to `value` when missing or null.
pub fn default_field(obj: &mut Value, field: &str, value: Value) {
    if let Some(m) = obj.as_object_mut() {
        let slot = m.entry(field.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// Sets `obj[field]` to `value` when missing, null or an empty string.
pub fn default_str(obj: &mut Value, field: &str, value: &str) {
    if let Some(m) = obj.as_object_mut() {
        let slot = m.entry(field.to_string()).or_insert(Value::Null);
        if slot.is_null() || slot.as_str() == Some("") {
            *slot = Value::String(value.to_string());
        }
    }
}

/// Applies `f` to every element of the array at `obj[field]`.
pub fn each_mut(obj: &mut Value, field: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(items) = obj.get_mut(field).and_then(Value::as_array_mut) {
        items.iter_mut().for_each(&mut f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_labels_sorted() {
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn immutable_reports_new_value() {
        let errs = immutable(
            &json!({"spec": {"x": "b"}}),
            &json!({"spec": {"x": "a"}}),
            "/spec/x",
            "spec.x",
        );
        assert_eq!(
            errs[0].to_string(),
            "spec.x: Invalid value: \"b\": field is immutable"
        );
    }

    #[test]
    fn enums() {
        assert_eq!(
            one_of(Some("X"), "spec.type", &["A", "B"], true)[0].to_string(),
            "spec.type: Unsupported value: \"X\": supported values: \"A\", \"B\""
        );
        assert_eq!(
            one_of(None, "spec.type", &["A"], true)[0].to_string(),
            "spec.type: Required value"
        );
    }
}
