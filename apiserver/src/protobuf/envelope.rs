//! The envelope of every Kubernetes protobuf body: the magic `k8s\0` and a `runtime.Unknown`
//! naming the object's apiVersion and kind around the object's own message; and the
//! length-prefixed `WatchEvent` frames of a protobuf watch stream.

use super::schema::{self, Message};
use super::wire::{Reader, put_bytes};
use super::{Error, Result, decode as message, encode as fields};
use serde_json::{Map, Value};

/// The magic prefix; its last byte names the encoding of what follows (0: `runtime.Unknown`).
pub const PREFIX: &[u8] = b"k8s\0";

/// The parts of a `runtime.Unknown`.
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

fn parse_unknown(buf: &[u8]) -> Result<Unknown<'_>> {
    let mut unknown = Unknown {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
        content_encoding: String::new(),
    };
    let mut r = Reader::new(buf);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    while let Some((tag, wire_type)) = r.key()? {
        match (tag, wire_type) {
            (1, 2) => {
                let mut type_meta = Reader::new(r.bytes()?);
                while let Some((tag, wire_type)) = type_meta.key()? {
                    match (tag, wire_type) {
                        (1, 2) => unknown.api_version = text(type_meta.bytes()?),
                        (2, 2) => unknown.kind = text(type_meta.bytes()?),
                        _ => type_meta.skip(wire_type)?,
                    }
                }
            }
            (2, 2) => unknown.raw = r.bytes()?,
            (3, 2) => unknown.content_encoding = text(r.bytes()?),
            _ => r.skip(wire_type)?,
        }
    }
    Ok(unknown)
}

/// Decodes an enveloped object into the JSON object upstream's JSON encoding would give,
/// `apiVersion` and `kind` first.
pub fn decode(bytes: &[u8]) -> Result<Value> {
    let Some(body) = bytes.strip_prefix(PREFIX) else {
        return Err(Error::NotProtobuf);
    };
    if body.is_empty() {
        return Err(Error::Malformed("empty body"));
    }
    let unknown = parse_unknown(body)?;
    if !unknown.content_encoding.is_empty() {
        return Err(Error::ContentEncoding(unknown.content_encoding));
    }
    if unknown.kind.is_empty() {
        return Err(Error::MissingKind);
    }
    let msg =
        schema::lookup(&unknown.api_version, &unknown.kind).ok_or_else(|| Error::UnknownKind {
            api_version: unknown.api_version.clone(),
            kind: unknown.kind.clone(),
        })?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String(unknown.api_version));
    obj.insert("kind".into(), Value::String(unknown.kind));
    match message::message_value(msg, unknown.raw)? {
        Value::Object(fields) => obj.extend(fields),
        _ => return Err(Error::Malformed("the object is not a message")),
    }
    Ok(Value::Object(obj))
}

/// The message for an object's own `apiVersion` and `kind`.
fn message_of(value: &Value) -> Result<(&str, &str, &'static Message)> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let msg = schema::lookup(api_version, kind).ok_or_else(|| Error::UnknownKind {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
    })?;
    Ok((api_version, kind, msg))
}

/// Encodes an object (with `apiVersion` and `kind`) in its envelope.
pub fn encode(value: &Value) -> Result<Vec<u8>> {
    let (api_version, kind, msg) = message_of(value)?;
    let raw = fields::message_bytes(msg, value)?;
    let mut type_meta = Vec::with_capacity(api_version.len() + kind.len() + 4);
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = Vec::with_capacity(raw.len() + type_meta.len() + 16);
    out.extend_from_slice(PREFIX);
    put_bytes(&mut out, 1, &type_meta);
    put_bytes(&mut out, 2, &raw);
    // Go writes the (empty) contentEncoding and contentType too.
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    Ok(out)
}

/// One frame of a protobuf watch: a big-endian length, then a `metav1.WatchEvent` whose
/// object is a `RawExtension` holding the enveloped object.
pub fn watch_frame(event_type: &str, object: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(object.len() + 6);
    put_bytes(&mut raw, 1, object);
    let mut event = Vec::with_capacity(raw.len() + event_type.len() + 8);
    put_bytes(&mut event, 1, event_type.as_bytes());
    put_bytes(&mut event, 2, &raw);
    let mut out = Vec::with_capacity(event.len() + 4);
    out.extend_from_slice(&(event.len() as u32).to_be_bytes());
    out.extend_from_slice(&event);
    out
}

/// A decoded watch event: its type and object.
pub type WatchEvent = (String, Value);

/// Splits one frame off a watch stream: the event, and the rest of the stream.
pub fn read_watch_frame(stream: &[u8]) -> Result<Option<(WatchEvent, &[u8])>> {
    if stream.len() < 4 {
        return Ok(None);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&stream[..4]);
    let len = u32::from_be_bytes(len) as usize;
    let Some(frame) = stream.get(4..4 + len) else {
        return Ok(None);
    };
    let event = message::message_value(
        schema::lookup("meta.k8s.io/v1", "WatchEvent").ok_or(Error::Malformed("no WatchEvent"))?,
        frame,
    )?;
    let typ = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let object = event.get("object").cloned().unwrap_or(Value::Null);
    Ok(Some(((typ, object), &stream[4 + len..])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_round_trip() {
        let cm = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "default"},
            "data": {"a": "b"},
            "immutable": false,
        });
        let bytes = encode(&cm).unwrap();
        assert!(bytes.starts_with(PREFIX));
        assert_eq!(decode(&bytes).unwrap(), cm);
        assert!(matches!(decode(b"{}"), Err(Error::NotProtobuf)));
        let err = encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no kind \"Widget\" is registered for version \"example.com/v1\""
        );
    }

    #[test]
    fn watch_frames_carry_enveloped_objects() {
        let status = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": 410});
        let mut stream = watch_frame("ERROR", &encode(&status).unwrap());
        stream.extend(watch_frame("ERROR", &encode(&status).unwrap()));
        let ((typ, object), rest) = read_watch_frame(&stream).unwrap().unwrap();
        assert_eq!(typ, "ERROR");
        assert_eq!(object, status);
        assert!(read_watch_frame(rest).unwrap().is_some());
        assert!(read_watch_frame(&rest[..5]).unwrap().is_none());
    }
}
