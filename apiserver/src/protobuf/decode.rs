//! Protobuf to JSON: walks a message's bytes with its schema and builds the JSON object upstream
//! would produce by unmarshalling into the Go struct and marshalling that as JSON.

use super::schema::{Card, Kind, Message, Special, message};
use super::wire::{FIXED64, LEN, Reader, VARINT};
use super::{Error, Result, envelope, time};
use base64::Engine;
use serde_json::{Map, Value};

/// Decodes one message into its JSON form.
pub fn message_value(msg: &'static Message, buf: &[u8]) -> Result<Value> {
    match msg.special {
        Special::None => {
            let mut obj = Map::new();
            fields_into(msg, buf, &mut obj)?;
            Ok(Value::Object(obj))
        }
        special => decode_special(msg, special, buf),
    }
}

/// Decodes the fields of `msg` into `obj` (shared with inline fields, whose JSON form is
/// embedded in the parent object).
fn fields_into(msg: &'static Message, buf: &[u8], obj: &mut Map<String, Value>) -> Result<()> {
    let mut r = Reader::new(buf);
    while let Some((tag, wire_type)) = r.key()? {
        let Some(field) = msg.field(tag) else {
            r.skip(wire_type)?;
            continue;
        };
        match field.card {
            Card::One if field.inline => {
                let Kind::Msg(idx) = field.kind else {
                    return Err(Error::Malformed("inline field is not a message"));
                };
                let bytes = len_value(&mut r, wire_type)?;
                fields_into(message(idx), bytes, obj)?;
            }
            Card::One => {
                let v = value(&mut r, wire_type, field.kind)?;
                // A zero Time is `null`, as good as absent.
                if !v.is_null() && (field.keep_zero || !is_zero(&v)) {
                    obj.insert(field.json.to_string(), v);
                } else {
                    obj.remove(field.json);
                }
            }
            Card::Rep => {
                let slot = obj
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(items) = slot else {
                    return Err(Error::Malformed("repeated field decoded twice"));
                };
                if wire_type == LEN && is_numeric(field.kind) {
                    // Packed encoding: accepted as proto2 parsers must, though Go never writes it.
                    let mut packed = Reader::new(r.bytes()?);
                    while !packed.is_empty() {
                        items.push(value(
                            &mut packed,
                            numeric_wire_type(field.kind),
                            field.kind,
                        )?);
                    }
                } else {
                    let v = value(&mut r, wire_type, field.kind)?;
                    items.push(v);
                }
            }
            Card::Map => {
                let (key, v) = map_entry(len_value(&mut r, wire_type)?, field.kind)?;
                let slot = obj
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(entries) = slot {
                    entries.insert(key, v);
                }
            }
        }
    }
    Ok(())
}

fn map_entry(buf: &[u8], kind: Kind) -> Result<(String, Value)> {
    let mut r = Reader::new(buf);
    let mut key = String::new();
    let mut v = None;
    while let Some((tag, wire_type)) = r.key()? {
        match tag {
            1 => key = string(len_value(&mut r, wire_type)?),
            2 => v = Some(value(&mut r, wire_type, kind)?),
            _ => r.skip(wire_type)?,
        }
    }
    let v = match v {
        Some(v) => v,
        // An absent value is the zero value, as Go unmarshals it.
        None => zero(kind)?,
    };
    Ok((key, v))
}

fn zero(kind: Kind) -> Result<Value> {
    Ok(match kind {
        Kind::Str | Kind::Bytes => Value::String(String::new()),
        Kind::Bool => Value::Bool(false),
        Kind::I32 | Kind::I64 | Kind::F64 => Value::from(0),
        Kind::Msg(idx) => message_value(message(idx), &[])?,
    })
}

fn is_numeric(kind: Kind) -> bool {
    matches!(kind, Kind::Bool | Kind::I32 | Kind::I64 | Kind::F64)
}

fn numeric_wire_type(kind: Kind) -> u8 {
    if kind == Kind::F64 { FIXED64 } else { VARINT }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
    }
}

fn len_value<'a>(r: &mut Reader<'a>, wire_type: u8) -> Result<&'a [u8]> {
    if wire_type != LEN {
        return Err(Error::Malformed(
            "wrong wire type for a length-delimited field",
        ));
    }
    r.bytes()
}

fn string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One value of `kind`.
fn value(r: &mut Reader<'_>, wire_type: u8, kind: Kind) -> Result<Value> {
    let varint = |r: &mut Reader<'_>| {
        if wire_type != VARINT {
            return Err(Error::Malformed("wrong wire type for a varint field"));
        }
        r.varint()
    };
    Ok(match kind {
        Kind::Str => Value::String(string(len_value(r, wire_type)?)),
        Kind::Bytes => Value::String(
            base64::engine::general_purpose::STANDARD.encode(len_value(r, wire_type)?),
        ),
        Kind::Bool => Value::Bool(varint(r)? != 0),
        Kind::I32 => Value::from(varint(r)? as i32),
        Kind::I64 => Value::from(varint(r)? as i64),
        Kind::F64 => {
            if wire_type != FIXED64 {
                return Err(Error::Malformed("wrong wire type for a double field"));
            }
            float(f64::from_bits(r.fixed64()?))
        }
        Kind::Msg(idx) => message_value(message(idx), len_value(r, wire_type)?)?,
    })
}

/// A double as Go's encoding/json writes it: integral values without a fraction.
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// Every field of a message by tag, zero values included (repeated fields as arrays).
fn raw_fields(msg: &'static Message, buf: &[u8]) -> Result<Vec<(u32, Value)>> {
    let mut out: Vec<(u32, Value)> = Vec::new();
    let mut r = Reader::new(buf);
    while let Some((tag, wire_type)) = r.key()? {
        let Some(field) = msg.field(tag) else {
            r.skip(wire_type)?;
            continue;
        };
        let v = value(&mut r, wire_type, field.kind)?;
        match (field.card, out.iter_mut().find(|(t, _)| *t == tag)) {
            (Card::Rep, Some((_, Value::Array(items)))) => items.push(v),
            (Card::Rep, _) => out.push((tag, Value::Array(vec![v]))),
            (_, Some((_, slot))) => *slot = v,
            (_, None) => out.push((tag, v)),
        }
    }
    Ok(out)
}

fn decode_special(msg: &'static Message, special: Special, buf: &[u8]) -> Result<Value> {
    let fields = raw_fields(msg, buf)?;
    let get = |tag: u32| fields.iter().find(|(t, _)| *t == tag).map(|(_, v)| v);
    let int = |tag: u32| get(tag).and_then(Value::as_i64).unwrap_or(0);
    let present = |v: Option<&Value>| v.filter(|v| !v.is_null()).cloned();
    Ok(match special {
        Special::None => message_value(msg, buf)?,
        // A zero time marshals to no bytes and is `null` in JSON.
        Special::Time if buf.is_empty() => Value::Null,
        Special::Time => time::format_time(int(1)),
        Special::MicroTime if buf.is_empty() => Value::Null,
        Special::MicroTime => time::format_micro_time(int(1), int(2)),
        Special::Duration => Value::String(time::format_duration(int(1))),
        Special::Quantity => get(1).cloned().unwrap_or_else(|| Value::from("0")),
        Special::IntOrString => {
            if int(1) == 1 {
                get(3).cloned().unwrap_or_else(|| Value::from(""))
            } else {
                Value::from(int(2))
            }
        }
        Special::RawJson => raw_json(buf)?,
        Special::StringList => get(1).cloned().unwrap_or_else(|| Value::Array(Vec::new())),
        Special::SchemaOrArray => match get(2) {
            Some(Value::Array(schemas)) if !schemas.is_empty() => Value::Array(schemas.clone()),
            _ => present(get(1)).unwrap_or(Value::Null),
        },
        Special::SchemaOrBool => match present(get(2)) {
            Some(schema) => schema,
            None => Value::Bool(get(1).and_then(Value::as_bool).unwrap_or(false)),
        },
        Special::SchemaOrStringArray => match get(2) {
            Some(Value::Array(items)) if !items.is_empty() => Value::Array(items.clone()),
            _ => present(get(1)).unwrap_or(Value::Null),
        },
    })
}

/// The embedded JSON of a `RawExtension`-like message (field 1, bytes). An embedded object
/// may itself be protobuf, as in watch events.
fn raw_json(buf: &[u8]) -> Result<Value> {
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(buf);
    while let Some((tag, wire_type)) = r.key()? {
        if tag == 1 {
            raw = len_value(&mut r, wire_type)?;
        } else {
            r.skip(wire_type)?;
        }
    }
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(envelope::PREFIX) {
        return envelope::decode(raw);
    }
    serde_json::from_slice(raw).map_err(Error::Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::schema::lookup;
    use crate::protobuf::wire::{put_bytes, put_int, put_key};
    use serde_json::json;

    fn msg(api_version: &str, kind: &str) -> &'static Message {
        lookup(api_version, kind).unwrap()
    }

    #[test]
    fn zero_values_follow_go_pointers() {
        // DeploymentSpec: replicas (*int32) 0, minReadySeconds (int32, omitempty) 0,
        // paused (bool, omitempty) false.
        let mut spec = Vec::new();
        put_int(&mut spec, 1, 0);
        put_int(&mut spec, 5, 0);
        put_int(&mut spec, 7, 0);
        let v = message_value(msg("apps/v1", "DeploymentSpec"), &spec).unwrap();
        assert_eq!(v, json!({"replicas": 0}));
    }

    #[test]
    fn special_messages() {
        // IntOrString as a string and as a number.
        let mut b = Vec::new();
        put_int(&mut b, 1, 1);
        put_int(&mut b, 2, 0);
        put_bytes(&mut b, 3, b"25%");
        assert_eq!(
            message_value(msg("intstr", "IntOrString"), &b).unwrap(),
            json!("25%")
        );
        let mut b = Vec::new();
        put_int(&mut b, 1, 0);
        put_int(&mut b, 2, 8080);
        put_bytes(&mut b, 3, b"");
        assert_eq!(
            message_value(msg("intstr", "IntOrString"), &b).unwrap(),
            json!(8080)
        );
        // Time drops its nanoseconds; MicroTime keeps microseconds.
        let mut b = Vec::new();
        put_int(&mut b, 1, 1_700_000_000);
        put_int(&mut b, 2, 123_456_789);
        assert_eq!(
            message_value(msg("meta.k8s.io/v1", "Time"), &b).unwrap(),
            json!("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            message_value(msg("meta.k8s.io/v1", "MicroTime"), &b).unwrap(),
            json!("2023-11-14T22:13:20.123456Z")
        );
        assert_eq!(
            message_value(msg("meta.k8s.io/v1", "Time"), &[]).unwrap(),
            Value::Null
        );
        // FieldsV1 and RawExtension embed JSON.
        let mut b = Vec::new();
        put_bytes(&mut b, 1, br#"{"f:data":{}}"#);
        assert_eq!(
            message_value(msg("meta.k8s.io/v1", "FieldsV1"), &b).unwrap(),
            json!({"f:data": {}})
        );
        // JSONSchemaPropsOrBool: `false` when there is no schema.
        let mut b = Vec::new();
        put_int(&mut b, 1, 0);
        assert_eq!(
            message_value(msg("apiextensions.k8s.io/v1", "JSONSchemaPropsOrBool"), &b).unwrap(),
            json!(false)
        );
    }

    #[test]
    fn maps_bytes_and_inline_fields() {
        // Secret: data {"k": "v"} as bytes, type "Opaque".
        let mut entry = Vec::new();
        put_bytes(&mut entry, 1, b"k");
        put_bytes(&mut entry, 2, b"v");
        let mut b = Vec::new();
        put_bytes(&mut b, 2, &entry);
        put_bytes(&mut b, 3, b"Opaque");
        assert_eq!(
            message_value(msg("v1", "Secret"), &b).unwrap(),
            json!({"data": {"k": "dg=="}, "type": "Opaque"})
        );
        // Volume: name plus an inline VolumeSource holding emptyDir {}.
        let mut source = Vec::new();
        put_bytes(&mut source, 2, &[]);
        let mut b = Vec::new();
        put_bytes(&mut b, 1, b"data");
        put_bytes(&mut b, 2, &source);
        assert_eq!(
            message_value(msg("v1", "Volume"), &b).unwrap(),
            json!({"name": "data", "emptyDir": {}})
        );
        // Unknown fields are skipped.
        let mut b = Vec::new();
        put_key(&mut b, 99, VARINT);
        b.push(1);
        put_bytes(&mut b, 1, b"x");
        assert_eq!(
            message_value(msg("v1", "LocalObjectReference"), &b).unwrap(),
            json!({"name": "x"})
        );
    }
}
