//! Validation and printing pieces the workload kinds share (apps, batch, policy): label
//! selector checks with upstream's messages, int-or-percent fields, and Go's `%#v` rendering
//! of the values upstream puts into some error messages (selectors, label maps, IntOrString),
//! so `kubectl` prints what it prints against a real apiserver.

use crate::registry::strategy::Decoded;
use crate::registry::typed;
use apimachinery::field_errors::{child, index};
use apimachinery::labels::Selector;
use apimachinery::validation::{is_label_value, is_qualified_name, regex_error};
use apimachinery::{FieldError, FieldErrorKind, FieldErrors};
use serde_json::{Map, Value, json};

/// Upstream's `ValidateNonnegativeField` message.
pub const NEGATIVE_MSG: &str = "must be greater than or equal to 0";
/// Upstream's `ValidateImmutableField` message.
pub const IMMUTABLE_MSG: &str = "field is immutable";

/// Decodes through `K` like [`typed::round_trip`], then removes the fields at `pointers` that
/// the body did not set: `k8s-openapi` models some optional upstream pointers (the workloads'
/// `spec.selector`) as required and would otherwise invent an empty value for them.
pub fn decode_keeping_absent<K>(body: Value, pointers: &[&str]) -> Result<Decoded, String>
where
    K: k8s_openapi::Resource + serde::Serialize + serde::de::DeserializeOwned,
{
    let absent: Vec<&str> = pointers
        .iter()
        .copied()
        .filter(|p| body.pointer(p).is_none_or(Value::is_null))
        .collect();
    let mut decoded = typed::round_trip::<K>(body)?;
    for p in absent {
        if let Some((parent, key)) = p.rsplit_once('/')
            && let Some(m) = decoded
                .value
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
        {
            m.remove(key);
        }
    }
    Ok(decoded)
}

/// An `Invalid` error whose value upstream prints with Go's `%#v`; `rendered` is that text.
pub fn invalid_rendered(
    field: impl Into<String>,
    rendered: &str,
    detail: impl AsRef<str>,
) -> FieldError {
    let detail = detail.as_ref();
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: field.into(),
        value: None,
        detail: if detail.is_empty() {
            rendered.to_string()
        } else {
            format!("{rendered}: {detail}")
        },
    }
}

/// The integer at a JSON pointer, if any.
pub fn int_at(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// `ValidateNonnegativeField` for an optional integer at `pointer`, reported at `path`.
pub fn nonnegative(obj: &Value, pointer: &str, path: &str) -> FieldErrors {
    match int_at(obj, pointer) {
        Some(v) if v < 0 => vec![FieldError::invalid(path, v, NEGATIVE_MSG)],
        _ => Vec::new(),
    }
}

/// Go's `%#v` of a `map[string]string`: sorted keys, `(nil)` when absent.
pub fn go_string_map(map: Option<&Value>) -> String {
    let Some(m) = map.and_then(Value::as_object) else {
        return "map[string]string(nil)".to_string();
    };
    let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                go_quote(k),
                go_quote(v.as_str().unwrap_or_default())
            )
        })
        .collect();
    format!("map[string]string{{{}}}", body.join(", "))
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn go_string_slice(values: Option<&Value>) -> String {
    match values.and_then(Value::as_array) {
        None => "[]string(nil)".to_string(),
        Some(a) => {
            let items: Vec<String> = a
                .iter()
                .map(|v| go_quote(v.as_str().unwrap_or_default()))
                .collect();
            format!("[]string{{{}}}", items.join(", "))
        }
    }
}

/// Go's `%#v` of a `metav1.LabelSelector` (what upstream shows for `spec.selector`).
pub fn go_label_selector(sel: Option<&Value>) -> String {
    let empty = json!({});
    let sel = sel.filter(|s| s.is_object()).unwrap_or(&empty);
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(a) => {
            let items: Vec<String> = a
                .iter()
                .map(|e| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(e.get("key").and_then(Value::as_str).unwrap_or_default()),
                        go_quote(
                            e.get("operator")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                        ),
                        go_string_slice(e.get("values"))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        go_string_map(sel.get("matchLabels")),
        exprs
    )
}

/// Go's `%#v` of an `intstr.IntOrString`.
pub fn go_int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            go_quote(s)
        ),
        other => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            other.as_i64().unwrap_or_default()
        ),
    }
}

/// Upstream's `ValidateLabelSelector` (strict label values unless `allow_invalid_values`).
pub fn validate_label_selector(
    sel: Option<&Value>,
    path: &str,
    allow_invalid_values: bool,
) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return errs;
    };
    if let Some(labels) = sel.get("matchLabels") {
        errs.extend(apimachinery::validation::validate_labels(
            labels,
            &child(path, "matchLabels"),
        ));
    }
    let exprs = sel.get("matchExpressions").and_then(Value::as_array);
    for (i, e) in exprs.into_iter().flatten().enumerate() {
        let p = index(&child(path, "matchExpressions"), i);
        let values = e.get("values").and_then(Value::as_array);
        let n = values.map_or(0, Vec::len);
        let op = e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match op {
            "In" | "NotIn" if n == 0 => errs.push(FieldError::required(
                child(&p, "values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if n > 0 => errs.push(FieldError::forbidden(
                child(&p, "values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => errs.push(FieldError::invalid(
                child(&p, "operator"),
                op,
                "not a valid selector operator",
            )),
        }
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(child(&p, "key"), key, msg));
        }
        if !allow_invalid_values {
            for (j, v) in values.into_iter().flatten().enumerate() {
                let v = v.as_str().unwrap_or_default();
                for msg in is_label_value(v) {
                    errs.push(FieldError::invalid(index(&child(&p, "values"), j), v, msg));
                }
            }
        }
    }
    errs
}

/// Whether a selector has neither `matchLabels` nor `matchExpressions` entries.
pub fn selector_is_empty(sel: &Value) -> bool {
    let n = |k: &str| {
        sel.get(k).map_or(0, |v| {
            v.as_object().map_or(0, Map::len) + v.as_array().map_or(0, Vec::len)
        })
    };
    n("matchLabels") + n("matchExpressions") == 0
}

/// The rules apps/v1 workloads share for `spec.selector` against `spec.template`: required,
/// valid, non-empty, and matching the template's labels. `kind` names the kind in the
/// "empty selector" message (upstream says "deployment" for ReplicaSets too).
pub fn validate_selector_and_template(spec: &Value, kind: &str, invalid_msg: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let sel = spec.get("selector").filter(|s| !s.is_null());
    let labels = spec.pointer("/template/metadata/labels");
    match sel {
        None => {
            // A missing selector selects nothing, so upstream also reports the template.
            errs.push(FieldError::required("spec.selector", ""));
            errs.push(template_mismatch("spec.template.metadata.labels", labels));
        }
        Some(s) => {
            errs.extend(validate_label_selector(Some(s), "spec.selector", false));
            if selector_is_empty(s) {
                errs.push(invalid_rendered(
                    "spec.selector",
                    &go_label_selector(Some(s)),
                    format!("empty selector is invalid for {kind}"),
                ));
            }
        }
    }
    match sel.map(Selector::from_label_selector) {
        Some(Err(_)) => errs.push(invalid_rendered(
            "spec.selector",
            &go_label_selector(sel),
            invalid_msg,
        )),
        Some(Ok(s)) if !s.is_empty() && !s.matches_json(labels) => {
            errs.push(template_mismatch("spec.template.metadata.labels", labels))
        }
        _ => {}
    }
    errs
}

/// "`selector` does not match template `labels`" at `path`.
pub fn template_mismatch(path: &str, labels: Option<&Value>) -> FieldError {
    invalid_rendered(
        path,
        &go_string_map(labels),
        "`selector` does not match template `labels`",
    )
}

/// The selector may not change on update (apps/v1 workloads, Jobs).
pub fn immutable_selector(new: &Value, old: &Value, path: &str) -> FieldErrors {
    let n = new.pointer("/spec/selector").filter(|v| !v.is_null());
    let o = old.pointer("/spec/selector").filter(|v| !v.is_null());
    if n == o {
        return Vec::new();
    }
    vec![invalid_rendered(path, &go_label_selector(n), IMMUTABLE_MSG)]
}

const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_MSG: &str =
    "a valid percent string must be a numeric string followed by an ending '%'";

/// The number of a percent string such as `25%`, if it is one.
fn percent_value(s: &str) -> Option<i64> {
    let digits = s.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(i64::MAX))
}

/// Upstream's `getIntOrPercentValue`: the percent number or the integer (0 otherwise).
pub fn int_or_percent_value(v: &Value) -> i64 {
    match v {
        Value::String(s) => percent_value(s).unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

/// Upstream's `ValidatePositiveIntOrPercent`.
pub fn validate_positive_int_or_percent(v: &Value, path: &str) -> FieldErrors {
    match v {
        Value::String(s) if percent_value(s).is_none() => vec![invalid_rendered(
            path,
            &go_int_or_string(v),
            regex_error(PERCENT_MSG, PERCENT_FMT, &["1%", "93%"]),
        )],
        Value::Number(n) if n.as_i64().is_some_and(|i| i < 0) => vec![FieldError::invalid(
            path,
            n.as_i64().unwrap_or_default(),
            NEGATIVE_MSG,
        )],
        _ => Vec::new(),
    }
}

/// Upstream's `IsNotMoreThan100Percent`.
pub fn not_more_than_100_percent(v: &Value, path: &str) -> FieldErrors {
    match v.as_str().and_then(percent_value) {
        Some(p) if p > 100 => vec![invalid_rendered(
            path,
            &go_int_or_string(v),
            "must not be greater than 100%",
        )],
        _ => Vec::new(),
    }
}

/// Upstream's `IntOrString.String()`: the integer or the string as is.
pub fn int_or_string_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.as_i64().unwrap_or_default().to_string(),
    }
}

/// The container names and images of a pod template, comma-joined (`layoutContainerCells`).
pub fn layout_containers(template: Option<&Value>) -> (String, String) {
    let containers = template
        .and_then(|t| t.pointer("/spec/containers"))
        .and_then(Value::as_array);
    let field = |k: &str| -> String {
        containers
            .into_iter()
            .flatten()
            .map(|c| c.get(k).and_then(Value::as_str).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    };
    (field("name"), field("image"))
}

/// Upstream's `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
pub fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    crate::registry::table::join_or_none(&pairs)
}

/// Upstream's `metav1.FormatLabelSelector`: the selector string, `<none>` when empty and
/// `<error>` when it does not parse.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return "<none>".to_string();
    };
    match Selector::from_label_selector(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s.to_string(),
        Err(_) => "<error>".to_string(),
    }
}

/// The `metadata.name: this is used in Pod names...` warning upstream gives for controllers
/// whose names are not DNS labels.
pub fn dns_label_name_warning(obj: &Value) -> Vec<String> {
    let msgs = apimachinery::validation::is_dns1123_label(apimachinery::meta::name(obj));
    if msgs.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: [{}]",
        msgs.join(" ")
    )]
}

/// Sets `status` to the zero value upstream's Go struct serializes to (its non-omitempty
/// fields at 0).
pub fn reset_status(obj: &mut Value, zero_fields: &[&str]) {
    let status: Map<String, Value> = zero_fields
        .iter()
        .map(|f| (f.to_string(), json!(0)))
        .collect();
    obj["status"] = Value::Object(status);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_go_values() {
        assert_eq!(
            go_label_selector(Some(&json!({"matchLabels": {"b": "2", "a": "1"}}))),
            "v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"1\", \"b\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
        assert_eq!(
            go_label_selector(Some(
                &json!({"matchExpressions": [{"key": "k", "operator": "In", "values": ["x"]}]})
            )),
            "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"k\", Operator:\"In\", Values:[]string{\"x\"}}}}"
        );
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        assert_eq!(
            go_int_or_string(&json!("x")),
            "intstr.IntOrString{Type:1, IntVal:0, StrVal:\"x\"}"
        );
    }

    #[test]
    fn selector_rules() {
        let spec = json!({"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}}});
        let errs = validate_selector_and_template(&spec, "deployment", "invalid label selector");
        assert_eq!(
            errs[0].to_string(),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"
        );
        let spec = json!({"template": {}});
        let errs = validate_selector_and_template(&spec, "deployment", "invalid label selector");
        assert_eq!(errs[0].to_string(), "spec.selector: Required value");
        let errs = validate_label_selector(
            Some(&json!({"matchExpressions": [{"key": "k", "operator": "In"}]})),
            "spec.selector",
            false,
        );
        assert_eq!(
            errs[0].to_string(),
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        );
    }

    #[test]
    fn int_or_percent() {
        assert!(validate_positive_int_or_percent(&json!("25%"), "x").is_empty());
        assert_eq!(
            validate_positive_int_or_percent(&json!("abc"), "x")[0].to_string(),
            "x: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"abc\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
        );
        assert_eq!(
            validate_positive_int_or_percent(&json!(-1), "x")[0].to_string(),
            "x: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(not_more_than_100_percent(&json!("101%"), "x").len(), 1);
        assert_eq!(int_or_percent_value(&json!("25%")), 25);
        assert_eq!(int_or_percent_value(&json!(3)), 3);
    }

    #[test]
    fn formats() {
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(
            format_label_selector(Some(&json!({"matchLabels": {"app": "d"}}))),
            "app=d"
        );
        let t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        assert_eq!(layout_containers(Some(&t)), ("a,b".into(), "x,y".into()));
    }
}
