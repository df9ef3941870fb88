//! The stored form of objects and the resourceVersion splice.
//!
//! Objects are stored as JSON with `apiVersion`, `kind` and `metadata` first and without
//! `metadata.resourceVersion` (which is the etcd revision). Keeping `metadata` at a known place
//! lets reads add the revision by splicing `"resourceVersion":"N"` into the stored bytes instead
//! of parsing and re-serializing the object: one serialization per write, none per read.
//! Bytes written by others (or by older versions) fall back to parse-and-serialize.

use super::{Error, Result};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

/// An object serialized for storage, with the offset where its metadata's fields begin.
pub struct Encoded {
    pub bytes: Vec<u8>,
    /// Offset just after the `{` of the top-level `metadata`, and whether metadata is empty.
    metadata: Option<(usize, bool)>,
}

fn write_pair(out: &mut Vec<u8>, first: &mut bool, key: &str, value: &Value) -> Result<()> {
    if !*first {
        out.push(b',');
    }
    *first = false;
    serde_json::to_writer(&mut *out, key).map_err(encode_error)?;
    out.push(b':');
    serde_json::to_writer(&mut *out, value).map_err(encode_error)
}

fn encode_error(e: serde_json::Error) -> Error {
    Error::Internal(format!("encoding object: {e}"))
}

/// Serializes an object in the stored form.
pub fn encode(obj: &Value) -> Result<Encoded> {
    let Value::Object(map) = obj else {
        return Err(Error::Internal(
            "only JSON objects can be stored".to_string(),
        ));
    };
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    let mut first = true;
    for key in ["apiVersion", "kind"] {
        if let Some(v) = map.get(key) {
            write_pair(&mut out, &mut first, key, v)?;
        }
    }
    let mut metadata = None;
    if let Some(Value::Object(meta)) = map.get("metadata") {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(b"\"metadata\":{");
        let at = out.len();
        let mut first_field = true;
        for (k, v) in meta {
            if k == "resourceVersion" || k == "selfLink" {
                continue;
            }
            write_pair(&mut out, &mut first_field, k, v)?;
        }
        out.push(b'}');
        metadata = Some((at, first_field));
    }
    for (k, v) in map {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        write_pair(&mut out, &mut first, k, v)?;
    }
    out.push(b'}');
    Ok(Encoded {
        bytes: out,
        metadata,
    })
}

/// Reads one JSON string token starting at `i` (which must be `"`); returns its end.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Finds the top-level metadata of bytes in the stored form: apiVersion and kind (strings),
/// then `"metadata":{`. `None` for anything else.
fn locate_metadata(b: &[u8]) -> Option<(usize, bool)> {
    let mut i = 1;
    if b.first() != Some(&b'{') {
        return None;
    }
    for _ in 0..3 {
        let end = skip_string(b, i)?;
        let key = &b[i + 1..end - 1];
        if b.get(end) != Some(&b':') {
            return None;
        }
        let value = end + 1;
        match key {
            b"apiVersion" | b"kind" => {
                i = skip_string(b, value)?;
                if b.get(i) != Some(&b',') {
                    return None;
                }
                i += 1;
            }
            b"metadata" => {
                if b.get(value) != Some(&b'{') {
                    return None;
                }
                return Some((value + 1, b.get(value + 1) == Some(&b'}')));
            }
            _ => return None,
        }
    }
    None
}

fn splice(bytes: &[u8], (at, empty): (usize, bool), rv: i64) -> Bytes {
    let field = format!("\"resourceVersion\":\"{rv}\"");
    let mut out = BytesMut::with_capacity(bytes.len() + field.len() + 1);
    out.put_slice(&bytes[..at]);
    out.put_slice(field.as_bytes());
    if !empty {
        out.put_u8(b',');
    }
    out.put_slice(&bytes[at..]);
    out.freeze()
}

impl Encoded {
    /// The object as clients see it: the stored bytes with `metadata.resourceVersion` set.
    pub fn with_rv(&self, rv: i64) -> Result<Bytes> {
        match self.metadata {
            Some(m) => Ok(splice(&self.bytes, m, rv)),
            None => reencode(&self.bytes, rv),
        }
    }
}

/// Stored bytes as clients see them, with `metadata.resourceVersion` set to `rv`.
pub fn stored_with_rv(raw: &[u8], rv: i64) -> Result<Bytes> {
    match locate_metadata(raw) {
        Some(m) => Ok(splice(raw, m, rv)),
        None => reencode(raw, rv),
    }
}

fn reencode(raw: &[u8], rv: i64) -> Result<Bytes> {
    let mut value: Value = serde_json::from_slice(raw)
        .map_err(|e| Error::Internal(format!("decoding object: {e}")))?;
    apimachinery::meta::set(
        &mut value,
        "resourceVersion",
        Some(Value::String(rv.to_string())),
    );
    Ok(Bytes::from(
        serde_json::to_vec(&value).map_err(encode_error)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_metadata_first_without_resource_version_and_splices_it_back() {
        let obj = json!({"data": {"k": "v"}, "kind": "ConfigMap", "apiVersion": "v1",
                         "metadata": {"name": "a", "resourceVersion": "9"}});
        let enc = encode(&obj).unwrap();
        assert_eq!(
            std::str::from_utf8(&enc.bytes).unwrap(),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}"#
        );
        let with = enc.with_rv(42).unwrap();
        let v: Value = serde_json::from_slice(&with).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "42");
        assert_eq!(v["metadata"]["name"], "a");
        let again = stored_with_rv(&enc.bytes, 43).unwrap();
        let v: Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "43");
    }

    #[test]
    fn empty_metadata_and_foreign_layouts() {
        let enc = encode(&json!({"apiVersion": "v1", "kind": "X", "metadata": {}})).unwrap();
        let v: Value = serde_json::from_slice(&enc.with_rv(1).unwrap()).unwrap();
        assert_eq!(v["metadata"], json!({"resourceVersion": "1"}));
        // A value stored by someone else, with metadata last and an escaped kind.
        let raw = br#"{"kind":"We\"ird","data":{"metadata":{"x":1}},"metadata":{"name":"n"}}"#;
        let v: Value = serde_json::from_slice(&stored_with_rv(raw, 7).unwrap()).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "7");
        assert!(v["data"]["metadata"].get("resourceVersion").is_none());
    }
}
