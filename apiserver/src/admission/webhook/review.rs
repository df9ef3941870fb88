//! The AdmissionReview a webhook is sent (admission.k8s.io/v1, or v1beta1 for webhooks that
//! only accept that) and what its answer must hold.

use crate::admission::Attributes;
use crate::admission::request as policy_request;
use crate::webhook_client::CallError;
use base64::Engine;
use serde_json::{Value, json};

/// The review versions ferrokube sends, most preferred first.
const VERSIONS: [&str; 2] = ["v1", "v1beta1"];

/// The first of the webhook's `admissionReviewVersions`, in its order, that ferrokube speaks.
pub fn version(hook: &Value) -> Option<&'static str> {
    hook.get("admissionReviewVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|v| VERSIONS.iter().find(|known| **known == v).copied())
}

/// The review of a request; `object` is the object as it stands in the mutating chain.
pub fn request(attrs: &Attributes<'_>, object: Option<&Value>, uid: &str, version: &str) -> Value {
    let mut request = policy_request::request(attrs);
    let fields = request.as_object_mut();
    if let Some(fields) = fields {
        fields.insert("uid".into(), json!(uid));
        for (key, empty) in [
            ("subResource", ""),
            ("requestSubResource", ""),
            ("name", ""),
            ("namespace", ""),
        ] {
            if fields.get(key).and_then(Value::as_str) == Some(empty) {
                fields.remove(key);
            }
        }
        if let Some(o) = object {
            fields.insert("object".into(), o.clone());
        }
        if let Some(o) = attrs.old {
            fields.insert("oldObject".into(), o.clone());
        }
        if let Some(user) = fields.get_mut("userInfo").and_then(Value::as_object_mut) {
            user.retain(|_, v| match v {
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            });
        }
    }
    json!({
        "apiVersion": format!("admission.k8s.io/{version}"),
        "kind": "AdmissionReview",
        "request": request,
    })
}

/// What a webhook answered.
#[derive(Debug)]
pub struct Answer {
    pub allowed: bool,
    pub status: Value,
    /// The JSON patch a mutating webhook returned.
    pub patch: Option<json_patch::Patch>,
    pub warnings: Vec<String>,
    /// Annotations for the request's audit event, under the webhook's name.
    pub audit_annotations: Vec<(String, String)>,
}

/// Checks the answer is a review of this request and reads it. v1beta1 answers are taken
/// as they come, as upstream takes them.
pub fn answer(
    review: &Value,
    uid: &str,
    version: &str,
    mutating: bool,
) -> Result<Answer, CallError> {
    let invalid = |why: String| CallError::Response(why);
    let Some(response) = review.get("response").filter(|r| r.is_object()) else {
        return Err(invalid("webhook response was absent".to_string()));
    };
    let field = |name: &str| {
        response
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (patch, patch_type) = (field("patch"), field("patchType"));
    if version == "v1" {
        if field("uid") != uid {
            return Err(invalid(format!(
                "expected response.uid={uid:?}, got {:?}",
                field("uid")
            )));
        }
        let api_version = review
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = review
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if api_version != "admission.k8s.io/v1" || kind != "AdmissionReview" {
            return Err(invalid(format!(
                "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {api_version}, Kind={kind}"
            )));
        }
        match (mutating, patch.is_empty(), patch_type.is_empty()) {
            (false, false, _) => {
                return Err(invalid(
                    "validating webhook may not return response.patch".into(),
                ));
            }
            (false, true, false) => {
                return Err(invalid(
                    "validating webhook may not return response.patchType".into(),
                ));
            }
            (true, false, true) => {
                return Err(invalid(
                    "webhook returned response.patch but not response.patchType".into(),
                ));
            }
            (true, true, false) => {
                return Err(invalid(
                    "webhook returned response.patchType but not response.patch".into(),
                ));
            }
            _ => {}
        }
    }
    let patch = if patch.is_empty() || !mutating {
        None
    } else {
        if version == "v1" && patch_type != "JSONPatch" {
            return Err(CallError::Other(format!(
                "unsupported patch type {patch_type:?}"
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .map_err(|e| CallError::Patch(e.to_string()))?;
        let parsed: json_patch::Patch =
            serde_json::from_slice(&bytes).map_err(|e| CallError::Patch(e.to_string()))?;
        Some(parsed)
    };
    Ok(Answer {
        allowed: response
            .get("allowed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        status: response.get("status").cloned().unwrap_or(Value::Null),
        patch,
        warnings: response
            .get("warnings")
            .and_then(Value::as_array)
            .map(|w| {
                w.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        audit_annotations: response
            .get("auditAnnotations")
            .and_then(Value::as_object)
            .map(|a| {
                a.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}
