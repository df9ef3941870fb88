//! Validation and printing pieces several API groups share: label selectors as
//! `metav1validation.ValidateLabelSelector` checks them, immutable fields, IP and CIDR
//! checks, domain-prefixed names, and small JSON accessors.

use apimachinery::field_errors::{child, index};
use apimachinery::validation::{
    is_dns1123_subdomain, is_label_value, is_qualified_name, validate_labels,
};
use apimachinery::{FieldError, FieldErrorKind, FieldErrors};
use serde_json::Value;

/// The string at a JSON pointer, or `""`.
pub fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The array at a JSON pointer, or an empty slice.
pub fn arr<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The strings of the array at a JSON pointer.
pub fn strs<'a>(obj: &'a Value, pointer: &str) -> Vec<&'a str> {
    arr(obj, pointer).iter().filter_map(Value::as_str).collect()
}

/// The object at a path of keys, created (replacing a null or non-object) when missing.
pub fn object_at<'a>(obj: &'a mut Value, path: &[&str]) -> &'a mut serde_json::Map<String, Value> {
    let slot = apimachinery::meta::nested_mut(obj, path);
    if !slot.is_object() {
        *slot = Value::Object(serde_json::Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Whether a JSON pointer names a non-null value.
pub fn has(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer).is_some_and(|v| !v.is_null())
}

/// Upstream's `ValidateImmutableField`: an `Invalid` "field is immutable" when the values differ.
pub fn immutable(new: &Value, old: &Value, pointer: &str, path: &str) -> Option<FieldError> {
    let (n, o) = (new.pointer(pointer), old.pointer(pointer));
    let norm = |v: Option<&Value>| v.filter(|v| !v.is_null()).cloned();
    (norm(n) != norm(o)).then(|| {
        FieldError::invalid(
            path,
            n.cloned().unwrap_or(Value::Null),
            "field is immutable",
        )
    })
}

/// An `Invalid` error whose value upstream prints with Go's `%#v` (structs, slices): the
/// rendering is given as text, since a JSON value would print differently.
pub fn invalid_rendered(path: &str, rendered: &str, detail: &str) -> FieldError {
    FieldError::new(
        FieldErrorKind::Invalid,
        path,
        format!("{rendered}: {detail}"),
    )
}

/// `metav1validation.ValidateLabelSelector` for a selector at `path`.
pub fn validate_label_selector(sel: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(sel) = sel.filter(|v| !v.is_null()) else {
        return errs;
    };
    if let Some(labels) = sel.get("matchLabels") {
        errs.extend(validate_labels(labels, &child(path, "matchLabels")));
    }
    let exprs = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, e) in exprs.iter().enumerate() {
        let p = index(&child(path, "matchExpressions"), i);
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let op = e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        child(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        child(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
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
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or_default();
            for msg in is_label_value(v) {
                errs.push(FieldError::invalid(index(&child(&p, "values"), j), v, msg));
            }
        }
    }
    errs
}

/// Whether `v` parses as an IP address the way Go's `net.ParseIP` accepts it.
pub fn is_ip(v: &str) -> bool {
    v.parse::<std::net::IpAddr>().is_ok()
}

/// Upstream's `IsValidIPv4Address` messages.
pub fn is_valid_ipv4(v: &str) -> Vec<String> {
    if v.parse::<std::net::Ipv4Addr>().is_ok() {
        Vec::new()
    } else {
        vec!["must be a valid IPv4 address".to_string()]
    }
}

/// Upstream's `IsValidIPv6Address` messages.
pub fn is_valid_ipv6(v: &str) -> Vec<String> {
    if v.parse::<std::net::Ipv6Addr>().is_ok() {
        Vec::new()
    } else {
        vec!["must be a valid IPv6 address".to_string()]
    }
}

/// Upstream's `IsValidIP` message.
pub fn is_valid_ip(v: &str) -> Vec<String> {
    if is_ip(v) {
        Vec::new()
    } else {
        vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()]
    }
}

/// Parses a CIDR the way Go's `net.ParseCIDR` does (the address need not be the network).
pub fn parse_cidr(v: &str) -> Option<ipnet::IpNet> {
    v.parse::<ipnet::IpNet>().ok()
}

/// Upstream's `IsValidCIDR` message.
pub fn is_valid_cidr(v: &str) -> Vec<String> {
    if parse_cidr(v).is_some() {
        Vec::new()
    } else {
        vec!["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)".to_string()]
    }
}

/// `IsWildcardDNS1123Subdomain`: `*.` followed by a subdomain.
pub fn is_wildcard_dns1123_subdomain(v: &str) -> Vec<String> {
    const MSG: &str = "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character";
    const FMT: &str = "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
    let mut errs = Vec::new();
    if v.len() > 253 {
        errs.push(apimachinery::validation::max_len_error(253));
    }
    let ok = v
        .strip_prefix("*.")
        .is_some_and(|rest| is_dns1123_subdomain(rest).is_empty());
    if !ok {
        errs.push(apimachinery::validation::regex_error(
            MSG,
            FMT,
            &["*.example.com"],
        ));
    }
    errs
}

/// `IsFullyQualifiedName`: a DNS subdomain with at least three segments.
pub fn validate_fully_qualified_name(name: &str, path: &str) -> FieldErrors {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs: FieldErrors = is_dns1123_subdomain(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, name, m))
        .collect();
    if name.split('.').count() < 3 {
        errs.push(FieldError::invalid(
            path,
            name,
            "should be a domain with at least three segments separated by dots",
        ));
    }
    errs
}

/// `IsDomainPrefixedPath`: `example.com/path`.
pub fn validate_domain_prefixed_path(v: &str, path: &str) -> FieldErrors {
    if v.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let Some((host, rest)) = v.split_once('/') else {
        return vec![FieldError::invalid(
            path,
            v,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs: FieldErrors = is_dns1123_subdomain(host)
        .into_iter()
        .map(|m| FieldError::invalid(path, host, m))
        .collect();
    let ok = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c));
    if !ok {
        errs.push(FieldError::invalid(
            path,
            rest,
            "Invalid path: must consist of alphanumeric characters, '-', '_', '.', '~', '!', '$', '&', ''', '(', ')', '*', '+', ',', ';', '=', ':', '@', '%', or '/'",
        ));
    }
    errs
}

/// `IsValidPortName` errors as field errors.
pub fn port_name_errors(v: &str, path: &str) -> FieldErrors {
    apimachinery::validation::is_valid_port_name(v)
        .into_iter()
        .map(|m| FieldError::invalid(path, v, m))
        .collect()
}

/// Go's `%#v` of a string slice of type `ty` (`[]string{"a", "b"}`, `[]string(nil)`), as
/// upstream prints slices given as a field error's bad value.
pub fn go_slice(ty: &str, items: &[Value]) -> String {
    if items.is_empty() {
        return format!("[]{ty}(nil)");
    }
    let quoted: Vec<String> = items
        .iter()
        .map(|v| format!("{:?}", v.as_str().unwrap_or_default()))
        .collect();
    format!("[]{ty}{{{}}}", quoted.join(", "))
}

/// Upstream's `listWithMoreString`: at most three entries, then `+ N more...`.
pub fn list_with_more(items: &[String], max: usize) -> String {
    if items.len() > max {
        format!("{} + {} more...", items[..max].join(","), items.len() - max)
    } else if items.is_empty() {
        "<unset>".to_string()
    } else {
        items.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_rules() {
        let sel = json!({"matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Bogus"},
        ]});
        let errs: Vec<String> = validate_label_selector(Some(&sel), "spec.podSelector")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.podSelector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.podSelector.matchExpressions[2].operator: Invalid value: \"Bogus\": not a valid selector operator",
            ]
        );
    }

    #[test]
    fn immutability_and_lists() {
        let a = json!({"x": 1});
        let b = json!({"x": 2});
        assert_eq!(
            immutable(&b, &a, "/x", "x").map(|e| e.to_string()),
            Some("x: Invalid value: 2: field is immutable".to_string())
        );
        assert!(immutable(&a, &a, "/x", "x").is_none());
        let items: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
        assert_eq!(list_with_more(&items, 3), "1,2,3 + 2 more...");
        assert_eq!(list_with_more(&[], 3), "<unset>");
        assert!(is_wildcard_dns1123_subdomain("*.example.com").is_empty());
        assert!(!is_wildcard_dns1123_subdomain("*example.com").is_empty());
    }
}
