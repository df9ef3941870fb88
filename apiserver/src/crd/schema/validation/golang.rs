//! How upstream's Go code sees and prints JSON values: which numbers are `int64` and which
//! `float64` after decoding, `reflect.DeepEqual`, the enum comparison with Go conversions, and the
//! `%v`, `%q` and `encoding/json` spellings that end up in error messages.

pub(super) use crate::crd::schema::go::{format_float, quote};
use serde_json::{Map, Number, Value};

/// A JSON value classified the way the apiserver's decoder types it: integers that fit an
/// `int64` stay integers, every other number becomes a `float64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum GoKind<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(&'a str),
    Array(&'a [Value]),
    Object(&'a Map<String, Value>),
}

pub(super) fn kind(v: &Value) -> GoKind<'_> {
    match v {
        Value::Null => GoKind::Null,
        Value::Bool(b) => GoKind::Bool(*b),
        Value::Number(n) => number_kind(n),
        Value::String(s) => GoKind::String(s),
        Value::Array(a) => GoKind::Array(a),
        Value::Object(o) => GoKind::Object(o),
    }
}

fn number_kind(n: &Number) -> GoKind<'static> {
    match n.as_i64() {
        Some(i) => GoKind::Int(i),
        None => GoKind::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// `reflect.DeepEqual` on decoded JSON: an `int64` never equals a `float64`.
pub(super) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (kind(a), kind(b)) {
        (GoKind::Null, GoKind::Null) => true,
        (GoKind::Bool(x), GoKind::Bool(y)) => x == y,
        (GoKind::Int(x), GoKind::Int(y)) => x == y,
        (GoKind::Float(x), GoKind::Float(y)) => x == y,
        (GoKind::String(x), GoKind::String(y)) => x == y,
        (GoKind::Array(x), GoKind::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_equal(p, q))
        }
        (GoKind::Object(x), GoKind::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => false,
    }
}

/// Whether `data` matches one enum member the way kube-openapi's common validator decides it:
/// the data is converted to the member's Go type when Go allows that conversion, then compared.
/// So `1.5` matches an integer member `1` (truncation) and `65` matches the string member `"A"`
/// (integer to string yields a rune); a `null` member never matches anything.
pub(super) fn enum_member_matches(data: &Value, member: &Value) -> bool {
    match (kind(data), kind(member)) {
        (_, GoKind::Null) | (GoKind::Null, _) => false,
        (GoKind::String(d), GoKind::String(m)) => d == m,
        (GoKind::Int(d), GoKind::String(m)) => rune_string(d) == m,
        (GoKind::Int(d), GoKind::Int(m)) => d == m,
        (GoKind::Float(d), GoKind::Int(m)) => float_to_int(d) == m,
        (GoKind::Int(d), GoKind::Float(m)) => d as f64 == m,
        (GoKind::Float(d), GoKind::Float(m)) => d == m,
        (GoKind::Bool(d), GoKind::Bool(m)) => d == m,
        (GoKind::Array(_), GoKind::Array(_)) | (GoKind::Object(_), GoKind::Object(_)) => {
            deep_equal(data, member)
        }
        _ => false,
    }
}

/// Go's `int64(f)`: truncation toward zero (out-of-range values are unspecified in Go; this
/// saturates).
pub(super) fn float_to_int(f: f64) -> i64 {
    f as i64
}

/// Go's `string(rune(i))`: the code point, or U+FFFD when `i` is not one.
fn rune_string(i: i64) -> String {
    u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}')
        .to_string()
}

/// `swag.IsFloat64AJSONInteger`: whether a float is close enough to an integer (within 1e-9
/// relative error, inside ±2^53) to pass as a JSON integer. Only non-negative floats get the
/// tolerance: upstream measures the distance to `uint64(f)`, which for a negative float lands
/// nowhere near it, so a negative float must be exactly integral.
pub(super) fn is_float_a_json_integer(f: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_992.0; // 1 << 53
    const EPSILON: f64 = 1e-9;
    // Go's math.SmallestNonzeroFloat64, the smallest subnormal.
    let smallest = f64::from_bits(1);
    if f.is_nan() || f.is_infinite() || !(-MAX_JSON_FLOAT..=MAX_JSON_FLOAT).contains(&f) {
        return false;
    }
    let g = f.trunc();
    if f == g {
        return true;
    }
    if f < 0.0 {
        return false;
    }
    let diff = f - g;
    if g == 0.0 || diff < smallest {
        return diff < EPSILON * smallest;
    }
    diff / (f + g).min(f64::MAX) < EPSILON
}

/// `%v` of a number the way the Go validators print bounds and factors: integers plainly,
/// floats with [`format_float`].
pub(super) fn format_number_v(v: &Value) -> String {
    match kind(v) {
        GoKind::Int(i) => i.to_string(),
        GoKind::Float(f) => format_float(f),
        _ => v.to_string(),
    }
}

/// `encoding/json.Marshal` of a decoded value: keys sorted, floats spelled as Go spells them,
/// and `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub(super) fn marshal(v: &Value) -> String {
    let mut out = String::new();
    marshal_into(v, &mut out);
    out
}

fn marshal_into(v: &Value, out: &mut String) {
    match kind(v) {
        GoKind::Null => out.push_str("null"),
        GoKind::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        GoKind::Int(i) => out.push_str(&i.to_string()),
        GoKind::Float(f) => out.push_str(&marshal_float(f)),
        GoKind::String(s) => marshal_string(s, out),
        GoKind::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                marshal_into(item, out);
            }
            out.push(']');
        }
        GoKind::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                marshal_string(k, out);
                out.push(':');
                if let Some(item) = o.get(k) {
                    marshal_into(item, out);
                }
            }
            out.push('}');
        }
    }
}

fn marshal_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Exponent form, with Go's minimal exponent digits (`1e-07` becomes `1e-7`).
        let sci = format!("{f:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{esign}{}", exp.abs());
    }
    if f.fract() == 0.0 {
        return format!("{f:.0}");
    }
    format!("{f}")
}

fn marshal_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A value as the Go side holds it, ready to be printed in a field error: object keys sorted
/// (Go marshals maps sorted) and integral floats as integers (Go prints `float64(2)` as `2`).
pub(super) fn canonical(v: &Value) -> Value {
    match v {
        Value::Number(n) => match number_kind(n) {
            GoKind::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                Value::from(float_to_int(f))
            }
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                if let Some(item) = o.get(k) {
                    out.insert(k.clone(), canonical(item));
                }
            }
            Value::Object(out)
        }
        _ => v.clone(),
    }
}

/// The identity a Go `map[interface{}]int` keyed by a scalar, or by the JSON of a compound
/// value, gives an element: what `x-kubernetes-list-type: set` and list-map keys compare.
pub(super) fn set_key(v: &Value) -> String {
    match kind(v) {
        GoKind::Null => "null".to_string(),
        GoKind::Bool(b) => format!("bool:{b}"),
        GoKind::Int(i) => format!("int:{i}"),
        GoKind::Float(f) => format!("float:{}", f.to_bits()),
        GoKind::String(s) => format!("string:{s}"),
        GoKind::Array(_) | GoKind::Object(_) => format!("json:{}", marshal(v)),
    }
}
