//! Request bodies: reading them (at most 3 MiB), parsing JSON, YAML or Kubernetes protobuf into
//! JSON, finding duplicate fields, and decoding objects through the served kind's schema with
//! `fieldValidation`.

use super::negotiate::BodyFormat;
use super::params::FieldValidation;
use crate::errors::{ApiError, Result};
use crate::registry::catalog::Endpoint;
use axum::body::Body;
use bytes::Bytes;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// Upstream's limit on request bodies.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`].
pub async fn read(body: Body) -> Result<Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))
}

/// Parses a body in JSON, YAML or protobuf into a JSON value.
pub fn parse(bytes: &[u8], format: BodyFormat) -> Result<Value> {
    match format {
        BodyFormat::Protobuf => {
            crate::protobuf::decode(bytes).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        BodyFormat::Yaml | BodyFormat::ApplyPatch => {
            let yaml: serde_yaml::Value = serde_yaml::from_slice(bytes).map_err(|e| {
                ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}"))
            })?;
            serde_json::to_value(yaml)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
        }
        _ => serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        }),
    }
}

/// Paths of fields that appear twice in one JSON object, as `metadata.name`.
pub fn duplicate_fields(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = DupSeed {
        path: String::new(),
        out: &mut out,
    }
    .deserialize(&mut de);
    out
}

struct DupSeed<'a> {
    path: String,
    out: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for DupSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let path = format!("{}[{i}]", self.path);
            if seq
                .next_element_seed(DupSeed {
                    path,
                    out: &mut *self.out,
                })?
                .is_none()
            {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                self.out.push(path.clone());
            }
            map.next_value_seed(DupSeed {
                path,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
}

/// Decodes an object for `endpoint`: the typed round trip, `fieldValidation` on unknown and
/// duplicate fields, then defaulting. Returns the object in the served version.
pub fn decode_object(
    endpoint: &Endpoint,
    value: Value,
    duplicates: &[String],
    validation: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<Value> {
    let info = &endpoint.info;
    let body_kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(info.kind)
        .to_string();
    let body_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|v| v.rsplit('/').next().unwrap_or(v).to_string())
        .unwrap_or_else(|| info.version.to_string());
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: expected an object",
            info.kind
        )));
    }
    if let Some(api_version) = value.get("apiVersion").and_then(Value::as_str) {
        let gv = info.group_version();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        if api_version != gv && group != info.group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({gv})"
            )));
        }
    }
    let cannot = |why: &str| {
        ApiError::bad_request(format!(
            "{body_kind} in version {body_version:?} cannot be handled as a {}: {why}",
            info.kind
        ))
    };
    let decoded = endpoint.strategy.decode(value).map_err(|e| cannot(&e))?;
    let mut problems: Vec<String> = duplicates
        .iter()
        .map(|d| format!("duplicate field {d:?}"))
        .collect();
    problems.extend(
        decoded
            .unknown_fields
            .iter()
            .map(|u| format!("unknown field {u:?}")),
    );
    if !problems.is_empty() {
        match validation {
            FieldValidation::Strict => {
                return Err(cannot(&format!(
                    "strict decoding error: {}",
                    problems.join(", ")
                )));
            }
            FieldValidation::Warn => warnings.extend(problems),
            FieldValidation::Ignore => {}
        }
    }
    let mut obj = decoded.value;
    endpoint.strategy.default(&mut obj);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates() {
        let d =
            duplicate_fields(br#"{"metadata":{"name":"a","name":"b"},"items":[{"x":1,"x":2}]}"#);
        assert_eq!(d, vec!["metadata.name", "items[0].x"]);
        assert!(duplicate_fields(br#"{"a":{"b":1},"c":[1,2]}"#).is_empty());
    }
}
