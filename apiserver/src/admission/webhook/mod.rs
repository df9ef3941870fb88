//! Admission webhooks (MutatingAdmissionWebhook, ValidatingAdmissionWebhook): the webhooks of
//! Mutating- and ValidatingWebhookConfigurations are sent an AdmissionReview of each request
//! their rules, selectors and matchConditions select, and answer whether it is allowed (and,
//! mutating ones, with a JSON patch).
//!
//! Shared here: the webhooks of a configuration kind in order (configurations by name, then
//! as listed) with their match conditions compiled once per stored version, what selects a
//! request, and one call with its failure policy; [`validating`] calls the matching validating
//! webhooks concurrently, [`mutating`] the mutating ones one after the other.

mod mutating;
mod review;
mod validating;

pub use crate::webhook_client::Resolver;
pub use mutating::MutatingWebhooks;
pub use validating::ValidatingWebhooks;

use super::matching::{self, Request};
use super::{Attributes, Source};
use crate::authz::Authorizer;
use crate::cel::dynamic::{Activation, Declarations, Expect, Expression, Outcome};
use crate::errors::{ApiError, Cause, Details, GroupResource, Result};
use crate::webhook_client::CallError;
use review::Answer;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Resources never sent to webhooks: the configurations and policies, so that no webhook can
/// lock an administrator out of fixing them.
const EXEMPT: [&str; 6] = [
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "mutatingadmissionpolicies",
    "mutatingadmissionpolicybindings",
];

/// Upstream's default timeout (validation allows 1 to 30 seconds).
const DEFAULT_TIMEOUT: u64 = 10;

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// One webhook of a configuration.
pub struct Hook {
    pub name: String,
    /// The configuration it belongs to.
    pub configuration: String,
    pub spec: Value,
    conditions: Vec<std::result::Result<Expression, String>>,
}

impl Hook {
    fn new(configuration: &str, spec: &Value) -> Self {
        let decls = Declarations::webhook();
        let conditions = spec
            .get("matchConditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                decls
                    .compile(text(c, "/expression"), Expect::Bool)
                    .map_err(|e| format!("compilation error: {e}"))
            })
            .collect();
        Hook {
            name: text(spec, "/name").to_string(),
            configuration: configuration.to_string(),
            spec: spec.clone(),
            conditions,
        }
    }

    /// `failurePolicy: Fail` (the default) rather than `Ignore`.
    fn fails_closed(&self) -> bool {
        text(&self.spec, "/failurePolicy") != "Ignore"
    }

    fn timeout(&self) -> Duration {
        let seconds = self
            .spec
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_TIMEOUT);
        Duration::from_secs(seconds)
    }

    /// Whether the webhook's rules and selectors select the request.
    fn selects(&self, request: &Request<'_>) -> Result<bool> {
        let rules = self.spec.get("rules").cloned().unwrap_or(json!([]));
        if rules.as_array().is_none_or(Vec::is_empty) {
            return Ok(false);
        }
        let resources = json!({
            "namespaceSelector": self.spec.get("namespaceSelector"),
            "objectSelector": self.spec.get("objectSelector"),
            "resourceRules": rules,
        });
        matching::matches(&resources, request)
            .map_err(|e| ApiError::internal(format!("failed calling webhook {:?}: {e}", self.name)))
    }

    /// The match conditions: Ok(false) when one is false; errors (none false) fail closed or
    /// skip the webhook as its failure policy says.
    fn conditions_hold(
        &self,
        attrs: &Attributes<'_>,
        object: Option<&Value>,
        authorizer: &Authorizer,
    ) -> Result<bool> {
        if self.conditions.is_empty() {
            return Ok(true);
        }
        let null = Value::Null;
        let request = super::request::request(attrs);
        let values = [
            ("object", object.unwrap_or(&null)),
            ("oldObject", attrs.old.unwrap_or(&null)),
            ("request", &request),
        ];
        let activation = Activation::new(&values, &[])
            .map_err(ApiError::internal)?
            .with_authorizer(
                authorizer.clone(),
                attrs.user.clone(),
                super::request::resource(attrs),
            );
        let mut errors = Vec::new();
        for condition in &self.conditions {
            match condition {
                Ok(e) => match activation.eval(e) {
                    Ok(Outcome::Bool(true)) => {}
                    Ok(Outcome::Bool(false)) => return Ok(false),
                    Ok(_) => errors.push(format!(
                        "expression '{}' resulted in error: no such overload",
                        e.source()
                    )),
                    Err(err) => errors.push(format!(
                        "expression '{}' resulted in error: {err}",
                        e.source()
                    )),
                },
                Err(e) => errors.push(e.clone()),
            }
        }
        if errors.is_empty() || !self.fails_closed() {
            return Ok(errors.is_empty());
        }
        let why = if errors.len() == 1 {
            errors.remove(0)
        } else {
            format!("[{}]", errors.join(", "))
        };
        Err(ApiError::forbidden(
            &GroupResource::new(attrs.info.group, attrs.info.resource),
            attrs.name,
            &why,
        ))
    }

    /// Sends the review of the request, with `object` as it stands; Ok(None) when the call
    /// failed and the webhook fails open.
    async fn call(
        &self,
        resolver: &Resolver,
        attrs: &Attributes<'_>,
        object: Option<&Value>,
        mutating: bool,
    ) -> Result<Option<Answer>> {
        let Some(version) = review::version(&self.spec) else {
            return self.failed(CallError::Objects(
                "webhook does not accept known AdmissionReview versions (v1, v1beta1)".to_string(),
            ));
        };
        let uid = uuid::Uuid::new_v4().to_string();
        let body = review::request(attrs, object, &uid, version);
        let client_config = self
            .spec
            .get("clientConfig")
            .cloned()
            .unwrap_or(Value::Null);
        let target = match resolver.target(&client_config).await {
            Ok(t) => t,
            Err(e) => return self.failed(CallError::Call(e)),
        };
        match target.post(&body, self.timeout()).await {
            Ok(answer) => match review::answer(&answer, &uid, version, mutating) {
                Ok(a) => Ok(Some(a)),
                Err(e) => self.failed(e),
            },
            Err(e) => self.failed(e),
        }
    }

    pub(super) fn failed(&self, error: CallError) -> Result<Option<Answer>> {
        let detail = match &error {
            CallError::Objects(e) => format!("could not create admission objects: {e}"),
            CallError::Call(e) => format!("failed to call webhook: {e}"),
            CallError::Response(e) => format!("received invalid webhook response: {e}"),
            CallError::Patch(e) => format!("received undecodable patch in webhook response: {e}"),
            CallError::Other(e) => e.clone(),
        };
        let message = format!("failed calling webhook {:?}: {detail}", self.name);
        if !self.fails_closed() {
            tracing::warn!(webhook = %self.name, "{message} (failurePolicy Ignore)");
            return Ok(None);
        }
        Err(ApiError::internal(message))
    }

    /// Whether calling it on a dry run is allowed (it declares no side effects then).
    fn dry_run_safe(&self) -> bool {
        matches!(text(&self.spec, "/sideEffects"), "None" | "NoneOnDryRun")
    }
}

/// The refusal of a webhook that did not allow the request, as upstream's `ToStatusErr`.
fn denied(hook: &str, status: &Value) -> ApiError {
    let by = format!("admission webhook {hook:?} denied the request");
    let message = text(status, "/message");
    let reason = text(status, "/reason");
    let message = if !message.is_empty() {
        format!("{by}: {message}")
    } else if !reason.is_empty() {
        format!("{by}: {reason}")
    } else {
        format!("{by} without explanation")
    };
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400)
        .unwrap_or(400);
    let details = status.get("details").filter(|d| d.is_object()).map(|d| {
        Box::new(Details {
            name: text(d, "/name").to_string(),
            group: text(d, "/group").to_string(),
            kind: text(d, "/kind").to_string(),
            uid: text(d, "/uid").to_string(),
            causes: d
                .get("causes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| Cause {
                    reason: text(c, "/reason").to_string(),
                    message: text(c, "/message").to_string(),
                    field: text(c, "/field").to_string(),
                })
                .collect(),
            retry_after_seconds: d
                .get("retryAfterSeconds")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok()),
        })
    });
    ApiError {
        code,
        reason: reason_name(reason),
        message,
        details,
        list_continue: None,
    }
}

/// The Status reason a webhook gave, as one of the known reasons (empty for others).
fn reason_name(reason: &str) -> &'static str {
    const KNOWN: [&str; 19] = [
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "AlreadyExists",
        "Conflict",
        "Gone",
        "Invalid",
        "ServerTimeout",
        "StoreReadError",
        "Timeout",
        "TooManyRequests",
        "BadRequest",
        "MethodNotAllowed",
        "NotAcceptable",
        "RequestEntityTooLarge",
        "UnsupportedMediaType",
        "InternalError",
        "Expired",
        "ServiceUnavailable",
    ];
    KNOWN.iter().find(|k| **k == reason).copied().unwrap_or("")
}

/// The webhooks of one configuration, in order.
type Configuration = Arc<Vec<Hook>>;

/// The webhooks of one configuration kind, kept compiled.
pub struct Hooks {
    configurations: Source,
    namespaces: Source,
    resolver: Resolver,
    /// Answers matchConditions' `authorizer` checks.
    authorizer: Authorizer,
    /// Per configuration name: the resourceVersion compiled and its webhooks.
    compiled: Mutex<HashMap<String, (String, Configuration)>>,
}

impl Hooks {
    pub fn new(
        configurations: Source,
        namespaces: Source,
        resolver: Resolver,
        authorizer: Authorizer,
    ) -> Self {
        Self {
            configurations,
            namespaces,
            resolver,
            authorizer,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The webhooks that select the request, in order; Err when one that fails closed
    /// cannot decide whether it does.
    async fn selecting(
        &self,
        attrs: &Attributes<'_>,
        object: Option<&Value>,
    ) -> Result<Vec<(Configuration, usize)>> {
        if attrs.info.group == "admissionregistration.k8s.io"
            && EXEMPT.contains(&attrs.info.resource)
        {
            return Ok(Vec::new());
        }
        let mut configurations = self.configurations.list_all().await?;
        if configurations.is_empty() {
            return Ok(Vec::new());
        }
        configurations.sort_by(|a, b| text(a, "/metadata/name").cmp(text(b, "/metadata/name")));
        let namespace = matching::namespace_of(&self.namespaces, attrs).await?;
        let namespace_labels = namespace
            .as_ref()
            .and_then(|n| n.pointer("/metadata/labels"));
        let request = Request {
            attrs,
            namespace_labels,
        };
        let mut out = Vec::new();
        for configuration in &configurations {
            let hooks = self.compiled_hooks(configuration);
            for (i, hook) in hooks.iter().enumerate() {
                if hook.selects(&request)?
                    && hook.conditions_hold(attrs, object, &self.authorizer)?
                {
                    out.push((hooks.clone(), i));
                }
            }
        }
        Ok(out)
    }

    fn compiled_hooks(&self, configuration: &Value) -> Configuration {
        let name = text(configuration, "/metadata/name");
        let version = text(configuration, "/metadata/resourceVersion");
        let mut cache = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, hooks)) = cache.get(name)
            && v == version
        {
            return hooks.clone();
        }
        let hooks: Configuration = Arc::new(
            configuration
                .get("webhooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|spec| Hook::new(name, spec))
                .collect(),
        );
        cache.insert(name.to_string(), (version.to_string(), hooks.clone()));
        hooks
    }
}

impl Answer {
    /// Passes on what the webhook said beyond its verdict: warnings for the client, audit
    /// annotations (as `<webhook>/<key>`).
    fn pass_on(&self, hook: &Hook, attrs: &Attributes<'_>) {
        for warning in &self.warnings {
            attrs.warnings.add(warning.clone());
        }
        for (key, value) in &self.audit_annotations {
            attrs
                .annotations
                .add(format!("{}/{key}", hook.name), value.clone());
        }
    }
}

/// The refusal of a dry run a webhook with side effects would see.
fn dry_run_unsupported(hook: &str) -> ApiError {
    ApiError::bad_request(format!(
        "admission webhook {hook:?} does not support dry run"
    ))
}
