//! API errors and the one place they become `metav1.Status` objects.
//!
//! Every failure a client can see is an [`ApiError`]: an HTTP code, upstream's `reason`, the
//! message kubectl prints after `Error from server (<reason>):`, and optional details (the
//! object's name, group, kind, and field causes).

use crate::storage;
use apimachinery::FieldErrors;
use serde_json::{Value, json};
use std::fmt;

/// Names a resource in messages as upstream does: `configmaps`, `deployments.apps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// One `StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// `StatusDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub uid: String,
    pub causes: Vec<Cause>,
    pub retry_after_seconds: Option<u32>,
}

/// An error answered with a `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Box<Details>>,
    /// `metadata.continue` of the Status: how to go on after an expired continue token.
    pub list_continue: Option<String>,
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

fn details(gr: &GroupResource, name: &str) -> Option<Box<Details>> {
    Some(Box::new(Details {
        name: name.to_string(),
        group: gr.group.clone(),
        kind: gr.resource.clone(),
        ..Default::default()
    }))
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            list_continue: None,
        }
    }

    /// An error without a reason (`StatusReasonUnknown`): what upstream answers for errors
    /// that are not API errors, such as server-side apply refusing a configuration.
    pub fn unknown(code: u16, message: impl Into<String>) -> Self {
        Self::new(code, "", message)
    }

    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self {
            details: details(gr, name),
            ..Self::new(404, "NotFound", format!("{gr} {name:?} not found"))
        }
    }

    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self {
            details: details(gr, name),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{gr} {name:?} already exists"),
            )
        }
    }

    pub fn conflict(gr: &GroupResource, name: &str, why: &str) -> Self {
        Self {
            details: details(gr, name),
            ..Self::new(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {gr} {name:?}: {why}"),
            )
        }
    }

    /// The optimistic-concurrency conflict kubectl users know.
    pub fn modified(gr: &GroupResource, name: &str) -> Self {
        Self::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 with one cause per field error; `kind` is the qualified kind (`Deployment.apps`).
    pub fn invalid(group: &str, kind: &str, name: &str, errs: &FieldErrors) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let list = match errs.as_slice() {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Self {
            details: Some(Box::new(Details {
                name: name.to_string(),
                group: group.to_string(),
                kind: kind.to_string(),
                causes: errs
                    .iter()
                    .map(|e| Cause {
                        reason: e.kind.reason().to_string(),
                        message: e.body(),
                        field: e.field.clone(),
                    })
                    .collect(),
                ..Default::default()
            })),
            ..Self::new(
                422,
                "Invalid",
                format!("{qualified} {name:?} is invalid: {list}"),
            )
        }
    }

    /// 422 for a request the server could not apply (a JSON patch whose operations fail), as
    /// upstream's generic server response.
    pub fn rejected(server_message: impl Into<String>) -> Self {
        Self {
            details: Some(Box::new(Details {
                causes: vec![Cause {
                    reason: "UnexpectedServerResponse".to_string(),
                    message: server_message.into(),
                    field: String::new(),
                }],
                ..Default::default()
            })),
            ..Self::new(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(gr: &GroupResource, name: &str, why: &str) -> Self {
        let msg = if gr.group.is_empty() && gr.resource.is_empty() {
            format!("forbidden: {why}")
        } else if name.is_empty() {
            format!("{gr} is forbidden: {why}")
        } else {
            format!("{gr} {name:?} is forbidden: {why}")
        };
        Self {
            details: details(gr, name),
            ..Self::new(403, "Forbidden", msg)
        }
    }

    pub fn method_not_supported(gr: &GroupResource, action: &str) -> Self {
        Self {
            details: details(gr, ""),
            ..Self::new(
                405,
                "MethodNotAllowed",
                format!(
                    "{action} is not supported on resources of kind {:?}",
                    gr.to_string()
                ),
            )
        }
    }

    /// 405 for a method the path does not route at all (PUT or PATCH of a collection).
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 409 for a server-side apply that would change fields other managers own; one
    /// `FieldManagerConflict` cause per field.
    pub fn apply_conflict(message: String, causes: Vec<(String, String)>) -> Self {
        let mut e = Self::new(409, "Conflict", message);
        e.details = Some(Box::new(Details {
            causes: causes
                .into_iter()
                .map(|(field, message)| Cause {
                    reason: "FieldManagerConflict".into(),
                    message,
                    field,
                })
                .collect(),
            ..Details::default()
        }));
        e
    }

    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: {}",
                accepted.join(", ")
            ),
        )
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        let _ = content_type;
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 410 Gone with reason Expired: a watch or list asked for history that is gone.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn internal(message: impl fmt::Display) -> Self {
        Self {
            details: Some(Box::new(Details {
                causes: vec![Cause {
                    reason: String::new(),
                    message: message.to_string(),
                    field: String::new(),
                }],
                ..Default::default()
            })),
            ..Self::new(
                500,
                "InternalError",
                format!("Internal error occurred: {message}"),
            )
        }
    }

    /// 429 when the in-flight limit is reached.
    pub fn too_many_requests() -> Self {
        Self {
            details: Some(Box::new(Details {
                retry_after_seconds: Some(1),
                ..Default::default()
            })),
            ..Self::new(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            )
        }
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    pub fn timeout(message: impl Into<String>, retry_after: u32) -> Self {
        Self {
            details: Some(Box::new(Details {
                retry_after_seconds: Some(retry_after),
                ..Default::default()
            })),
            ..Self::new(504, "Timeout", message)
        }
    }

    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// Maps a storage error for `name` of resource `gr`.
    pub fn from_storage(e: storage::Error, gr: &GroupResource, name: &str) -> Self {
        use storage::Error as E;
        match e {
            E::NotFound { .. } => Self::not_found(gr, name),
            E::AlreadyExists { .. } => Self::already_exists(gr, name),
            E::Conflict { .. } => Self::modified(gr, name),
            E::PreconditionFailed { message, .. } => Self::conflict(gr, name, &message),
            E::TooOldResourceVersion { requested, oldest } => {
                Self::expired(format!("too old resource version: {requested} ({oldest})"))
            }
            E::ContinueExpired {
                inconsistent_continue: None,
            } => Self::expired(
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter.",
            ),
            E::ContinueExpired {
                inconsistent_continue: Some(token),
            } => Self {
                list_continue: Some(token),
                ..Self::expired(
                    "The provided continue parameter is too old to display a consistent list result. \
                     You can start a new list without the continue parameter, or use the continue token \
                     in this response to retrieve the remainder of the results. Continuing with the \
                     provided token results in an inconsistent list - objects that were created, \
                     modified, or deleted between the time the first chunk was returned and now may \
                     show up in the list.",
                )
            },
            E::InvalidContinue(m) => Self::bad_request(m),
            E::TooLargeResourceVersion { requested, current } => {
                let mut err = Self::timeout(
                    format!("Too large resource version: {requested}, current: {current}"),
                    1,
                );
                if let Some(d) = err.details.as_mut() {
                    d.causes.push(Cause {
                        reason: "ResourceVersionTooLarge".to_string(),
                        message: "Too large resource version".to_string(),
                        field: String::new(),
                    });
                }
                err
            }
            E::Unavailable(m) => Self::internal(format!("etcd: {m}")),
            E::Corrupt { key, reason } => {
                Self::internal(format!("stored object at {key} is corrupt: {reason}"))
            }
            E::Internal(m) => Self::internal(m),
        }
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let metadata = match &self.list_continue {
            Some(c) => json!({ "continue": c }),
            None => json!({}),
        };
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty()
            && let Some(m) = status.as_object_mut()
        {
            // metav1.Status omits an empty reason.
            m.remove("reason");
        }
        if let Some(d) = &self.details {
            let mut det = serde_json::Map::new();
            if !d.name.is_empty() {
                det.insert("name".into(), d.name.clone().into());
            }
            if !d.group.is_empty() {
                det.insert("group".into(), d.group.clone().into());
            }
            if !d.kind.is_empty() {
                det.insert("kind".into(), d.kind.clone().into());
            }
            if !d.uid.is_empty() {
                det.insert("uid".into(), d.uid.clone().into());
            }
            if !d.causes.is_empty() {
                let causes: Vec<Value> = d
                    .causes
                    .iter()
                    .map(|c| {
                        let mut m = serde_json::Map::new();
                        if !c.reason.is_empty() {
                            m.insert("reason".into(), c.reason.clone().into());
                        }
                        if !c.message.is_empty() {
                            m.insert("message".into(), c.message.clone().into());
                        }
                        if !c.field.is_empty() {
                            m.insert("field".into(), c.field.clone().into());
                        }
                        Value::Object(m)
                    })
                    .collect();
                det.insert("causes".into(), causes.into());
            }
            if let Some(r) = d.retry_after_seconds {
                det.insert("retryAfterSeconds".into(), r.into());
            }
            status["details"] = Value::Object(det);
        }
        status
    }
}

/// The `Status` a successful delete answers with when it does not return the object.
pub fn success_status(gr: &GroupResource, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": gr.resource});
    if !gr.group.is_empty() {
        details["group"] = gr.group.clone().into();
    }
    if !uid.is_empty() {
        details["uid"] = uid.into();
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::FieldError;

    #[test]
    fn messages_match_upstream() {
        let cm = GroupResource::new("", "configmaps");
        assert_eq!(
            ApiError::not_found(&cm, "x").message,
            "configmaps \"x\" not found"
        );
        let dep = GroupResource::new("apps", "deployments");
        assert_eq!(
            ApiError::already_exists(&dep, "web").message,
            "deployments.apps \"web\" already exists"
        );
        assert_eq!(
            ApiError::modified(&cm, "x").message,
            "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let errs = vec![FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )];
        let e = ApiError::invalid("", "ConfigMap", "", &errs);
        assert_eq!(
            e.message,
            "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required"
        );
        let s = e.to_status();
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(s["code"], 422);
    }
}
