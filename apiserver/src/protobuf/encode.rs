//! JSON to protobuf: writes a JSON object as the message its schema describes, fields in tag
//! order as Go's marshallers write them. Properties without a field (`apiVersion`, `kind`,
//! unknown ones) are not written; `null` is the same as absent.

use super::schema::{Card, Kind, Message, Special, message};
use super::wire::{FIXED64, VARINT, put_bytes, put_int, put_key, put_varint};
use super::{Error, Result, time};
use base64::Engine;
use serde_json::Value;

/// Encodes `value` as `msg` (without the length prefix).
pub fn message_bytes(msg: &'static Message, value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_message(msg, value, &mut out)?;
    Ok(out)
}

fn write_message(msg: &'static Message, value: &Value, out: &mut Vec<u8>) -> Result<()> {
    if msg.special != Special::None {
        return write_special(msg, value, out);
    }
    let Value::Object(obj) = value else {
        return Err(mismatch(msg.name, "an object", value));
    };
    for field in msg.fields {
        if field.inline {
            if let Kind::Msg(idx) = field.kind {
                put_bytes(out, field.tag, &message_bytes(message(idx), value)?);
            }
            continue;
        }
        let Some(v) = obj.get(field.json).filter(|v| !v.is_null()) else {
            continue;
        };
        match field.card {
            Card::One => write_value(out, field.tag, field.kind, v, field.json)?,
            Card::Rep => {
                let Value::Array(items) = v else {
                    return Err(mismatch(field.json, "an array", v));
                };
                for item in items {
                    write_value(out, field.tag, field.kind, item, field.json)?;
                }
            }
            Card::Map => {
                let Value::Object(entries) = v else {
                    return Err(mismatch(field.json, "an object", v));
                };
                // Go's marshallers write map entries sorted by key.
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                for key in keys {
                    let mut entry = Vec::new();
                    put_bytes(&mut entry, 1, key.as_bytes());
                    write_value(
                        &mut entry,
                        2,
                        field.kind,
                        &entries[key.as_str()],
                        field.json,
                    )?;
                    put_bytes(out, field.tag, &entry);
                }
            }
        }
    }
    Ok(())
}

fn mismatch(what: &str, expected: &str, got: &Value) -> Error {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::Value(format!("{what}: expected {expected}, got {got}"))
}

fn integer(v: &Value, what: &str) -> Result<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .ok_or_else(|| mismatch(what, "an integer", v))
}

fn write_value(out: &mut Vec<u8>, tag: u32, kind: Kind, v: &Value, what: &str) -> Result<()> {
    match kind {
        Kind::Str => {
            let s = v.as_str().ok_or_else(|| mismatch(what, "a string", v))?;
            put_bytes(out, tag, s.as_bytes());
        }
        Kind::Bytes => {
            let s = v
                .as_str()
                .ok_or_else(|| mismatch(what, "a base64 string", v))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| Error::Value(format!("{what}: {e}")))?;
            put_bytes(out, tag, &bytes);
        }
        Kind::Bool => {
            let b = v.as_bool().ok_or_else(|| mismatch(what, "a boolean", v))?;
            put_key(out, tag, VARINT);
            put_varint(out, u64::from(b));
        }
        Kind::I32 => put_int(out, tag, i64::from(integer(v, what)? as i32)),
        Kind::I64 => put_int(out, tag, integer(v, what)?),
        Kind::F64 => {
            let f = v.as_f64().ok_or_else(|| mismatch(what, "a number", v))?;
            put_key(out, tag, FIXED64);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Kind::Msg(idx) => put_bytes(out, tag, &message_bytes(message(idx), v)?),
    }
    Ok(())
}

fn sub_message(msg: &'static Message, tag: u32) -> Result<&'static Message> {
    match msg.field(tag).map(|f| f.kind) {
        Some(Kind::Msg(idx)) => Ok(message(idx)),
        _ => Err(Error::Value(format!(
            "{}: no message field {tag}",
            msg.name
        ))),
    }
}

fn write_special(msg: &'static Message, v: &Value, out: &mut Vec<u8>) -> Result<()> {
    match msg.special {
        Special::None => write_message(msg, v, out)?,
        Special::Time | Special::MicroTime => {
            let s = v.as_str().ok_or_else(|| mismatch(msg.name, "a time", v))?;
            let (seconds, nanos) = time::parse_time(s)
                .ok_or_else(|| Error::Value(format!("{}: invalid time {s:?}", msg.name)))?;
            let nanos = if msg.special == Special::Time {
                0
            } else {
                nanos / 1000 * 1000
            };
            put_int(out, 1, seconds);
            put_int(out, 2, nanos);
        }
        Special::Duration => {
            let s = v
                .as_str()
                .ok_or_else(|| mismatch(msg.name, "a duration", v))?;
            let nanos = time::parse_duration(s)
                .ok_or_else(|| Error::Value(format!("{}: invalid duration {s:?}", msg.name)))?;
            put_int(out, 1, nanos);
        }
        Special::Quantity => {
            // Quantities are strings, though JSON clients may send plain numbers.
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(mismatch(msg.name, "a quantity", v)),
            };
            put_bytes(out, 1, s.as_bytes());
        }
        Special::IntOrString => match v {
            Value::String(s) => {
                put_int(out, 1, 1);
                put_int(out, 2, 0);
                put_bytes(out, 3, s.as_bytes());
            }
            _ => {
                put_int(out, 1, 0);
                put_int(out, 2, integer(v, msg.name)?);
                put_bytes(out, 3, b"");
            }
        },
        Special::RawJson => {
            let raw = serde_json::to_vec(v).map_err(Error::Json)?;
            put_bytes(out, 1, &raw);
        }
        Special::StringList => {
            let Value::Array(items) = v else {
                return Err(mismatch(msg.name, "an array", v));
            };
            for item in items {
                write_value(out, 1, Kind::Str, item, msg.name)?;
            }
        }
        Special::SchemaOrArray => match v {
            Value::Array(schemas) => {
                let schema = sub_message(msg, 2)?;
                for s in schemas {
                    put_bytes(out, 2, &message_bytes(schema, s)?);
                }
            }
            _ => put_bytes(out, 1, &message_bytes(sub_message(msg, 1)?, v)?),
        },
        Special::SchemaOrBool => match v {
            Value::Bool(b) => {
                put_key(out, 1, VARINT);
                put_varint(out, u64::from(*b));
            }
            _ => {
                put_key(out, 1, VARINT);
                put_varint(out, 1);
                put_bytes(out, 2, &message_bytes(sub_message(msg, 2)?, v)?);
            }
        },
        Special::SchemaOrStringArray => match v {
            Value::Array(items) => {
                for item in items {
                    write_value(out, 2, Kind::Str, item, msg.name)?;
                }
            }
            _ => put_bytes(out, 1, &message_bytes(sub_message(msg, 1)?, v)?),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::decode::message_value;
    use crate::protobuf::schema::lookup;
    use serde_json::json;

    fn round_trip(api_version: &str, kind: &str, v: Value) -> Value {
        let msg = lookup(api_version, kind).unwrap();
        message_value(msg, &message_bytes(msg, &v).unwrap()).unwrap()
    }

    #[test]
    fn objects_survive_a_round_trip() {
        let deployment = json!({
            "metadata": {
                "name": "web",
                "namespace": "default",
                "labels": {"app": "web"},
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "managedFields": [{
                    "manager": "kubectl",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2024-05-01T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                }],
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "nginx",
                            "image": "nginx",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                        }],
                        "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}],
                    },
                },
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            },
            "status": {},
        });
        assert_eq!(
            round_trip("apps/v1", "Deployment", deployment.clone()),
            deployment
        );
        let crd_schema = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "maximum": 5},
                "list": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": false,
            "enum": [null, "a"],
        });
        assert_eq!(
            round_trip(
                "apiextensions.k8s.io/v1",
                "JSONSchemaProps",
                crd_schema.clone()
            ),
            crd_schema
        );
    }

    #[test]
    fn wrappers_and_explicit_zeros() {
        // ExtraValue is a plain array in JSON; a zero grace period (a pointer) is kept.
        let review = json!({
            "spec": {
                "user": "alice",
                "extra": {"scopes": ["a", "b"]},
                "resourceAttributes": {"verb": "get", "resource": "pods"},
            },
            "status": {"allowed": false},
        });
        assert_eq!(
            round_trip(
                "authorization.k8s.io/v1",
                "SubjectAccessReview",
                review.clone()
            ),
            review
        );
        let options = json!({
            "gracePeriodSeconds": 0,
            "propagationPolicy": "Foreground",
            "preconditions": {"uid": "1234"},
            "dryRun": ["All"],
        });
        assert_eq!(round_trip("v1", "DeleteOptions", options.clone()), options);
        // Go writes non-pointer zeros; JSON drops them unless the field is required.
        let status = json!({"currentReplicas": 0, "desiredReplicas": 0, "currentCPUUtilizationPercentage": 0});
        assert_eq!(
            round_trip(
                "autoscaling/v1",
                "HorizontalPodAutoscalerStatus",
                status.clone()
            ),
            status
        );
        let lease = json!({"holderIdentity": "", "leaseDurationSeconds": 0, "acquireTime": "2024-05-01T10:00:00.123456Z"});
        assert_eq!(
            round_trip("coordination.k8s.io/v1", "LeaseSpec", lease.clone()),
            lease
        );
        let pod_spec = json!({"containers": [{"name": "c", "stdin": false, "ports": [{"containerPort": 0, "hostPort": 0}]}], "hostNetwork": false});
        assert_eq!(
            round_trip("v1", "PodSpec", pod_spec),
            json!({"containers": [{"name": "c", "ports": [{"containerPort": 0}]}]})
        );
    }

    #[test]
    fn rejects_mistyped_values() {
        let msg = lookup("v1", "ConfigMap").unwrap();
        let err = message_bytes(msg, &json!({"data": {"a": 1}})).unwrap_err();
        assert_eq!(err.to_string(), "data: expected a string, got a number");
    }
}
