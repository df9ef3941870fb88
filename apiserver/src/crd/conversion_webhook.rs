//! `conversion: Webhook`: objects of a custom resource move between a served version and the
//! storage version through the CRD's conversion webhook (a ConversionReview, v1 or v1beta1 as
//! the CRD's `conversionReviewVersions` accept first), checked as upstream checks the answer:
//! the same kind, name, namespace and uid in the desired version, metadata other than labels
//! and annotations restored from the original. Objects already in the desired version are
//! not sent.
//!
//! The registry's conversions are synchronous (they run inside storage updates and watch
//! streams), so the call blocks its thread: with `block_in_place` on the multi-threaded
//! runtime the apiserver runs on, else on a thread of its own.

use super::schema_ops::VersionSchema;
use crate::registry::Conversion;
use crate::webhook_client::{CallError, Resolver};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Upstream's conversion webhook client timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct WebhookConversion {
    pub group: String,
    pub kind: String,
    pub storage_version: String,
    pub served_version: String,
    /// `spec.conversion.webhook`: `clientConfig` and `conversionReviewVersions`.
    pub webhook: Value,
    pub resolver: Resolver,
    /// The served version's schema, whose defaults reads get.
    pub schema: Arc<VersionSchema>,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Runs `f` to completion from synchronous code inside or outside a runtime; Err says why it
/// could not run.
fn block_on<F>(f: F) -> Result<F::Output, String>
where
    F: Future + Send,
    F::Output: Send,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Ok(tokio::task::block_in_place(|| handle.block_on(f)))
        }
        // A single-threaded runtime (tests) is blocked while the call runs on a thread of
        // its own; the call cannot depend on that runtime's tasks.
        _ => std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map(|rt| rt.block_on(f))
                })
                .join()
        })
        .map_err(|_| "the conversion thread panicked".to_string())
        .and_then(|built| built.map_err(|e| e.to_string())),
    }
}

/// Upstream's `validateConvertedObject` and `restoreObjectMeta`: the converted object keeps
/// the original's identity and metadata, except its labels and annotations.
fn restore_metadata(original: &Value, converted: &mut Value) -> Result<(), String> {
    for (what, pointer) in [
        ("kind", "/kind"),
        ("name", "/metadata/name"),
        ("namespace", "/metadata/namespace"),
        ("UID", "/metadata/uid"),
    ] {
        let (want, got) = (text(original, pointer), text(converted, pointer));
        if want != got {
            return Err(format!("must have the same {what}: {want} != {got}"));
        }
    }
    let Some(returned) = converted
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
    else {
        return Err("missing metadata in converted object".to_string());
    };
    let mut metadata = original
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for field in ["labels", "annotations"] {
        match returned.get(field) {
            None | Some(Value::Null) => {
                metadata.remove(field);
            }
            Some(Value::Object(map)) => {
                if let Some((k, v)) = map.iter().find(|(_, v)| !v.is_string()) {
                    return Err(format!(
                        "metadata.{field}[{k}] must be a string, but is {} in converted object",
                        go_type(v)
                    ));
                }
                metadata.insert(field.to_string(), Value::Object(map.clone()));
            }
            Some(other) => {
                return Err(format!(
                    "invalid metadata.{field} of type {} in converted object",
                    go_type(other)
                ));
            }
        }
    }
    converted["metadata"] = Value::Object(metadata);
    Ok(())
}

/// How Go's `%T` names a decoded JSON value.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

impl WebhookConversion {
    fn gvk(&self, api_version: &str) -> String {
        format!("{api_version}, Kind={}", self.kind)
    }

    /// Converts `obj` to `version` through the webhook.
    fn convert(&self, obj: Value, version: &str) -> Result<Value, String> {
        let desired = format!("{}/{version}", self.group);
        let from = text(&obj, "/apiVersion").to_string();
        if from == desired {
            return Ok(obj);
        }
        let failed =
            |why: String| format!("conversion webhook for {} failed: {why}", self.gvk(&from));
        let review_version = self
            .webhook
            .get("conversionReviewVersions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|v| matches!(*v, "v1" | "v1beta1"))
            .ok_or_else(|| "no supported conversion review versions".to_string())?;
        let uid = uuid::Uuid::new_v4().to_string();
        let review = json!({
            "apiVersion": format!("apiextensions.k8s.io/{review_version}"),
            "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": [obj]},
        });
        let client_config = self
            .webhook
            .get("clientConfig")
            .cloned()
            .unwrap_or(Value::Null);
        let answer = block_on(async {
            let target = self
                .resolver
                .target(&client_config)
                .await
                .map_err(CallError::Call)?;
            target.post(&review, TIMEOUT).await
        })
        .map_err(CallError::Other)
        .and_then(|answer| answer)
        .map_err(|e| {
            failed(match e {
                CallError::Call(e) | CallError::Objects(e) | CallError::Other(e) => e,
                CallError::Response(e) | CallError::Patch(e) => e,
            })
        })?;
        let converted = self
            .converted_objects(&answer, &uid, review_version)
            .map_err(failed)?;
        let [mut converted] = <[Value; 1]>::try_from(converted).map_err(|all| {
            format!(
                "conversion webhook for {} returned {} objects, expected 1",
                self.gvk(&from),
                all.len()
            )
        })?;
        let got = text(&converted, "/apiVersion");
        if got != desired {
            return Err(format!(
                "conversion webhook for {} returned invalid object at index 0: invalid groupVersion (expected {desired}, received {got})",
                self.gvk(&from)
            ));
        }
        if text(&converted, "/kind") != self.kind {
            return Err(format!(
                "conversion webhook for {} returned invalid object at index 0: invalid kind (expected {}, received {})",
                self.gvk(&from),
                self.kind,
                text(&converted, "/kind")
            ));
        }
        restore_metadata(&obj, &mut converted).map_err(|e| {
            format!(
                "conversion webhook for {} returned invalid object: {e}",
                self.gvk(&from)
            )
        })?;
        Ok(converted)
    }

    /// Upstream's `getConvertedObjectsFromResponse`.
    fn converted_objects(
        &self,
        review: &Value,
        uid: &str,
        version: &str,
    ) -> Result<Vec<Value>, String> {
        if version == "v1" {
            let got = format!(
                "{}, Kind={}",
                text(review, "/apiVersion"),
                text(review, "/kind")
            );
            if got != "apiextensions.k8s.io/v1, Kind=ConversionReview" {
                return Err(format!(
                    "expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got {got}"
                ));
            }
        }
        let Some(response) = review.get("response").filter(|r| r.is_object()) else {
            return Err("no response provided".to_string());
        };
        if version == "v1" && text(response, "/uid") != uid {
            return Err(format!(
                "expected response.uid={uid:?}, got {:?}",
                text(response, "/uid")
            ));
        }
        let status = text(response, "/result/status");
        if status != "Success" {
            let message = text(response, "/result/message");
            return Err(if message.is_empty() {
                format!("response.result.status was '{status}', not 'Success'")
            } else {
                message.to_string()
            });
        }
        Ok(response
            .get("convertedObjects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }
}

impl Conversion for WebhookConversion {
    fn to_storage(&self, obj: Value) -> Result<Value, String> {
        self.convert(obj, &self.storage_version)
    }

    fn to_served(&self, obj: Value) -> Result<Value, String> {
        let mut served = self.convert(obj, &self.served_version)?;
        self.schema.default(&mut served);
        Ok(served)
    }
}
