//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`): the body format client-go and
//! kubectl use for built-in kinds.
//!
//! Objects stay JSON inside ferrokube. This module translates at the edge, generically: an
//! envelope names the apiVersion and kind, and a generated schema table (one entry per upstream
//! protobuf message) says, per field, its tag, JSON name, value kind and whether a zero value
//! survives into JSON. Decoding yields exactly the JSON upstream's Go types would marshal to, so
//! the rest of the request path cannot tell a protobuf body from a JSON one.
//!
//! ```
//! use apiserver::protobuf;
//! let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
//! let bytes = protobuf::encode(&cm).unwrap();
//! assert_eq!(protobuf::decode(&bytes).unwrap(), cm);
//! ```

mod decode;
mod encode;
mod envelope;
pub mod schema;
mod schema_table;
mod time;
mod wire;

pub use envelope::{PREFIX, decode, encode, read_watch_frame, watch_frame};

/// The media type of protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The media type of a protobuf watch stream.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body does not start with the `k8s\0` magic.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NotProtobuf,
    /// The bytes are not a well-formed message.
    #[error("proto: {0}")]
    Malformed(&'static str),
    /// The envelope names no kind.
    #[error("Object 'Kind' is missing in protobuf encoded body")]
    MissingKind,
    /// The envelope names a kind with no protobuf schema.
    #[error("no kind {kind:?} is registered for version {api_version:?}")]
    UnknownKind { api_version: String, kind: String },
    /// The envelope says the object is compressed or otherwise encoded.
    #[error("unsupported content encoding {0:?}")]
    ContentEncoding(String),
    /// A JSON value does not fit its field when encoding.
    #[error("{0}")]
    Value(String),
    /// Embedded JSON (`RawExtension`, `FieldsV1`) is not valid.
    #[error("invalid embedded JSON: {0}")]
    Json(#[source] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether objects of `kind` in `api_version` have a protobuf form (built-in kinds do; custom
/// resources do not).
pub fn supports(api_version: &str, kind: &str) -> bool {
    schema::supports(api_version, kind)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Bodies kubectl 1.32 and 1.33 sent for `kubectl create ...` (`.pb`), beside the JSON the
    /// same commands print with `--dry-run=client -o json` (`.json`).
    const FIXTURES: &[&str] = &[
        "configmap",
        "cronjob",
        "deployment",
        "deployment133",
        "ingress",
        "job",
        "namespace",
        "nodeport",
        "pdb",
        "priorityclass",
        "quota",
        "rolebinding",
        "secret",
        "service",
        "serviceaccount",
        "tlssecret",
    ];

    fn fixture(name: &str, ext: &str) -> Vec<u8> {
        let path = format!(
            "{}/src/protobuf/testdata/kubectl-{name}.{ext}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Go writes a zero `metav1.Time` as `null`; absent is the same to every reader.
    fn without_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, without_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
            v => v,
        }
    }

    #[test]
    fn kubectl_bodies_decode_to_the_json_kubectl_would_send() {
        for name in FIXTURES {
            let decoded = super::decode(&fixture(name, "pb")).unwrap();
            let json: Value = serde_json::from_slice(&fixture(name, "json")).unwrap();
            assert_eq!(decoded, without_nulls(json), "{name}");
        }
    }

    #[test]
    fn kubectl_bodies_survive_encoding() {
        for name in FIXTURES {
            let decoded = super::decode(&fixture(name, "pb")).unwrap();
            let encoded = super::encode(&decoded).unwrap();
            assert_eq!(super::decode(&encoded).unwrap(), decoded, "{name}");
        }
    }
}
