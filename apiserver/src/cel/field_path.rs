//! A rule's `fieldPath`: a JSON path of field selections (`.spec.foo`, `['a.b']`) that must
//! lead through declared properties or map keys of the rule's schema (upstream's
//! `ValidFieldPath`). It is normalized to the field path errors are reported at.

use super::types::{additional_properties, properties};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;

/// The normalized path (`spec.foo`, `[key]`) if `json_path` is valid for `schema`, or why not.
pub(super) fn valid_field_path(
    json_path: &str,
    schema: &JSONSchemaProps,
) -> Result<String, String> {
    let tokens = tokenize(json_path);
    let mut tokens = tokens.into_iter();
    let mut path = String::new();
    let mut schema = schema;
    while let Some(tok) = tokens.next() {
        let (name, quoted) = match tok {
            "[" => {
                let tok = tokens.next().ok_or("unexpected end of JSON path")?;
                if tok.len() < 2 || !tok.starts_with('\'') || !tok.ends_with('\'') {
                    return Err(format!("expected single quoted string but got {tok}"));
                }
                let name = unescape_single_quote(&tok[1..tok.len() - 1])
                    .map_err(|e| format!("invalid string literal: {e}"))?;
                (name, true)
            }
            "." => {
                let tok = tokens.next().ok_or("unexpected end of JSON path")?;
                (tok.to_string(), false)
            }
            other => return Err(format!("expected [ or . but got: {other}")),
        };
        if let Some(props) = properties(schema) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&name);
            schema = props.get(&name).ok_or("does not refer to a valid field")?;
        } else if let Some(ap) = additional_properties(schema) {
            path.push_str(&format!("[{name}]"));
            schema = ap;
        } else {
            return Err("does not refer to a valid field".to_string());
        }
        if quoted {
            match tokens.next() {
                Some("]") => {}
                Some(other) => return Err(format!("expected ] but got {other}")),
                None => return Err("unexpected end of JSON path".to_string()),
            }
        }
    }
    Ok(path)
}

/// Splits at `.`, `[` and `]`, which are tokens of their own, keeping single-quoted strings
/// (with their quotes) whole, as upstream's scanner does.
fn tokenize(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        if bytes[0] == b'\'' {
            let end = (1..bytes.len())
                .find(|&i| bytes[i] == b'\'' && bytes[i - 1] != b'\\')
                .map_or(bytes.len(), |i| i + 1);
            out.push(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let n = match bytes.iter().position(|c| matches!(c, b'.' | b'[' | b']')) {
            Some(0) => 1,
            Some(i) => i,
            None => bytes.len(),
        };
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

fn unescape_single_quote(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('v') => out.push('\u{b}'),
            Some('\'') => out.push('\''),
            Some('\\') => out.push('\\'),
            Some(other) => return Err(format!("invalid escape char \\{other}")),
            None => out.push('\\'),
        }
    }
    Ok(out)
}
