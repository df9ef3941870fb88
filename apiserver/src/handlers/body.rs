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

/// Where each field of a JSON body appears, in document order, and which fields appear twice in
/// one object: what strict decoding needs to report problems in the order upstream does.
#[derive(Debug, Default)]
pub struct FieldScan {
    /// Paths of repeated fields (`metadata.name`), with the position of the repetition.
    pub duplicates: Vec<(usize, String)>,
    /// The position of each path's first occurrence.
    pub positions: std::collections::HashMap<String, usize>,
}

impl FieldScan {
    /// Scans a JSON body; a body that does not parse scans as empty (parsing reports it).
    pub fn of_json(bytes: &[u8]) -> Self {
        Self::scan(bytes, true)
    }

    /// Finds duplicates only; positions are needed only to order several kinds of problems.
    pub fn duplicates_of_json(bytes: &[u8]) -> Self {
        Self::scan(bytes, false)
    }

    fn scan(bytes: &[u8], positions: bool) -> Self {
        let mut scan = Self::default();
        let mut counter = 0;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let _ = ScanSeed {
            path: String::new(),
            scan: &mut scan,
            counter: &mut counter,
            positions,
        }
        .deserialize(&mut de);
        scan
    }

    /// Paths of repeated fields.
    pub fn duplicate_paths(&self) -> Vec<&str> {
        self.duplicates.iter().map(|(_, p)| p.as_str()).collect()
    }
}

struct ScanSeed<'a> {
    path: String,
    scan: &'a mut FieldScan,
    counter: &'a mut usize,
    positions: bool,
}

impl<'de> DeserializeSeed<'de> for ScanSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScanSeed<'_> {
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
            let next = ScanSeed {
                path,
                scan: &mut *self.scan,
                counter: &mut *self.counter,
                positions: self.positions,
            };
            if seq.next_element_seed(next)?.is_none() {
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
            *self.counter += 1;
            if seen.insert(key) {
                if self.positions {
                    self.scan.positions.insert(path.clone(), *self.counter);
                }
            } else {
                self.scan.duplicates.push((*self.counter, path.clone()));
            }
            map.next_value_seed(ScanSeed {
                path,
                scan: &mut *self.scan,
                counter: &mut *self.counter,
                positions: self.positions,
            })?;
        }
        Ok(())
    }
}

/// A create or update body, read in the format its Content-Type names, decoded for the
/// endpoint and converted to the storage version.
pub fn decode_request(
    scope: &super::Scope,
    bytes: &[u8],
    validation: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<Value> {
    let format = super::negotiate::body_format(&scope.headers, false)?;
    let value = parse(bytes, format)?;
    let obj = decode_object(
        &scope.endpoint,
        value,
        (format == BodyFormat::Json).then_some(bytes),
        validation,
        warnings,
    )?;
    scope.to_storage(obj)
}

/// Decodes an object for `endpoint`: the typed round trip, `fieldValidation` on unknown and
/// duplicate fields, then defaulting. Returns the object in the served version.
pub fn decode_object(
    endpoint: &Endpoint,
    value: Value,
    raw_json: Option<&[u8]>,
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
    let cannot = |why: &str| {
        ApiError::bad_request(format!(
            "{body_kind} in version {body_version:?} cannot be handled as a {}: {why}",
            info.kind
        ))
    };
    if body_kind != info.kind {
        // Upstream decodes the body's kind and then fails to convert it to the endpoint's.
        let internal = if info.group.is_empty() {
            "core"
        } else {
            info.group.split('.').next().unwrap_or(info.group)
        };
        return Err(cannot(&format!(
            "converting ({body_version}.{body_kind}) to ({internal}.{}): unknown conversion",
            info.kind
        )));
    }
    if let Some(api_version) = value.get("apiVersion").and_then(Value::as_str) {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        if group != info.group {
            // Upstream's scheme knows no such kind in that group-version.
            return Err(cannot(&format!(
                "no kind {body_kind:?} is registered for version {api_version:?} in scheme \"pkg/api/legacyscheme/scheme.go:30\""
            )));
        }
    }
    let scan = match raw_json {
        Some(raw) if validation != FieldValidation::Ignore => FieldScan::duplicates_of_json(raw),
        _ => FieldScan::default(),
    };
    let decoded = endpoint.strategy.decode(value).map_err(|e| cannot(&e))?;
    // Ordering duplicates among unknown fields needs every field's position.
    let scan = match raw_json {
        Some(raw) if !scan.duplicates.is_empty() && !decoded.unknown_fields.is_empty() => {
            FieldScan::of_json(raw)
        }
        _ => scan,
    };
    // Problems in document order, a duplicate where it repeats, as upstream's decoder meets them.
    let mut problems: Vec<(usize, String)> = scan
        .duplicates
        .iter()
        .map(|(pos, d)| (*pos, format!("duplicate field {d:?}")))
        .collect();
    problems.extend(decoded.unknown_fields.iter().map(|u| {
        let pos = scan.positions.get(u).copied().unwrap_or(usize::MAX);
        (pos, format!("unknown field {u:?}"))
    }));
    problems.sort_by_key(|(pos, _)| *pos);
    let problems: Vec<String> = problems.into_iter().map(|(_, p)| p).collect();
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
        let scan =
            FieldScan::of_json(br#"{"metadata":{"name":"a","name":"b"},"items":[{"x":1,"x":2}]}"#);
        assert_eq!(scan.duplicate_paths(), vec!["metadata.name", "items[0].x"]);
        assert!(
            FieldScan::of_json(br#"{"a":{"b":1},"c":[1,2]}"#)
                .duplicates
                .is_empty()
        );
        let scan =
            FieldScan::of_json(br#"{"spec":{"replicas":1,"unknownField":"x","replicas":2}}"#);
        assert!(
            scan.positions["spec.unknownField"] < scan.duplicates[0].0,
            "{scan:?}"
        );
    }
}
