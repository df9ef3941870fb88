//! ValidatingAdmissionPolicy: requests matched by a policy and one of its bindings are
//! judged by the policy's CEL validations, as upstream's plugin of v1.33 judges them.
//!
//! For each binding (in name order) whose policy exists and matches the request (the policy's
//! `matchConstraints`, then the binding's `matchResources`), the policy is evaluated once per
//! parameter object the binding's `paramRef` selects (once with `params` null without one):
//! its matchConditions first (one false skips it), then every validation. A validation that
//! is false, or that cannot be evaluated under `failurePolicy: Fail`, is a failure the
//! binding's `validationActions` turn into a refusal (Deny, the first one is answered,
//! with the validation's `reason` as status: 422 Invalid by default), a warning (Warn), or
//! an audit annotation (Audit: `validation.policy.admission.k8s.io/validation_failure`).
//! The policy's auditAnnotations are written as `<policy>/<key>`, distinct values joined.
//!
//! Not done: converting objects to the version a rule names
//! (matchPolicy Equivalent matches only the served version), cost limits.

mod compiled;

use super::matching::{self, Request};
use super::request;
use super::{Attributes, Source, Validator};
use crate::authz::Authorizer;
use crate::cel::dynamic::{Activation, Outcome};
use crate::errors::{ApiError, Cause, GroupResource, Result};
use crate::registry::catalog::Catalog;
use apimachinery::labels::Selector;
use async_trait::async_trait;
use compiled::{Compilation, CompiledPolicy, Validation};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Upstream's `MaxEvaluatedMessageExpressionSizeBytes`.
const MAX_MESSAGE_BYTES: usize = 5 * 1024;

/// Resources no policy applies to: the policies themselves and the reviews that are never
/// stored.
const EXCLUDED: [(&str, &str); 10] = [
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
    ),
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authentication.k8s.io", "tokenreviews"),
    ("authorization.k8s.io", "localsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
];

pub struct ValidatingAdmissionPolicy {
    policies: Source,
    bindings: Source,
    namespaces: Source,
    catalog: Arc<Catalog>,
    authorizer: Authorizer,
    /// Compiled policies by name, with the resourceVersion they were compiled at.
    compiled: Mutex<HashMap<String, (String, Arc<CompiledPolicy>)>>,
}

/// A failure of one validation (or of evaluating it), before the binding's actions.
struct Failure {
    message: String,
    reason: Option<String>,
    /// The validation's index in `spec.validations`.
    index: usize,
}

/// Upstream's `MaxAuditAnnotationValueLength`... in bytes: longer values are cut.
const MAX_AUDIT_VALUE_BYTES: usize = 10 * 1024;

/// The audit annotation of failures a binding's Audit action records.
const VALIDATION_FAILURE: &str = "validation.policy.admission.k8s.io/validation_failure";

/// Why a policy or a binding could not be applied (refused as it is under
/// `failurePolicy: Fail`, not through the binding's actions).
enum ConfigError {
    Policy(String),
    Binding(String),
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The Status of a refusal: upstream's Forbidden error with the code and reason of the
/// failure (`Invalid`, 422, unless the validation named another).
fn refusal(attrs: &Attributes<'_>, message: String, reason: Option<&str>) -> ApiError {
    let resource = GroupResource::new(attrs.info.group, attrs.info.resource);
    let name = if attrs.name.is_empty() {
        attrs
            .object
            .map(|o| {
                let name = text(o, "/metadata/name");
                if name.is_empty() {
                    text(o, "/metadata/generateName")
                } else {
                    name
                }
            })
            .filter(|n| !n.is_empty())
            .unwrap_or("Unknown")
    } else {
        attrs.name
    };
    let mut err = ApiError::forbidden(&resource, name, &message);
    (err.code, err.reason) = match reason.unwrap_or("Invalid") {
        "Forbidden" => (403, "Forbidden"),
        "Unauthorized" => (401, "Unauthorized"),
        "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
        _ => (422, "Invalid"),
    };
    if let Some(details) = err.details.as_mut() {
        details.causes.push(Cause {
            reason: String::new(),
            message,
            field: String::new(),
        });
    }
    err
}

impl ValidatingAdmissionPolicy {
    pub fn new(
        policies: Source,
        bindings: Source,
        namespaces: Source,
        catalog: Arc<Catalog>,
        authorizer: Authorizer,
    ) -> Self {
        Self {
            policies,
            bindings,
            namespaces,
            catalog,
            authorizer,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The policy named, compiled (once per resourceVersion).
    async fn policy(&self, name: &str) -> Result<Option<Arc<CompiledPolicy>>> {
        let Some(policy) = self.policies.value("", name).await? else {
            return Ok(None);
        };
        let version = text(&policy, "/metadata/resourceVersion").to_string();
        let mut cache = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, compiled)) = cache.get(name)
            && *v == version
        {
            return Ok(Some(compiled.clone()));
        }
        let compiled = Arc::new(CompiledPolicy::new(&policy));
        cache.insert(name.to_string(), (version, compiled.clone()));
        Ok(Some(compiled))
    }

    /// The parameter objects a binding selects for a policy (`[Null]` when the policy takes
    /// none or the binding names none); Err is the configuration error upstream reports.
    async fn params(
        &self,
        policy: &CompiledPolicy,
        binding: &Value,
        attrs: &Attributes<'_>,
    ) -> std::result::Result<Vec<Value>, ConfigError> {
        let Some((api_version, kind)) = &policy.param_kind else {
            return Ok(vec![Value::Null]);
        };
        let Some(param_ref) = binding.pointer("/spec/paramRef") else {
            return Ok(vec![Value::Null]);
        };
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let endpoint =
            self.catalog.endpoints().into_iter().find(|e| {
                e.info.group == group && e.info.version == version && e.info.kind == kind
            });
        let Some(endpoint) = endpoint else {
            return Err(ConfigError::Policy(format!(
                "failed to find resource referenced by paramKind: '{}, Kind={kind}'",
                if group.is_empty() {
                    version.to_string()
                } else {
                    format!("{group}/{version}")
                }
            )));
        };
        let configure = |why: &str| ConfigError::Binding(why.to_string());
        let ref_namespace = text(param_ref, "/namespace");
        let namespace = if endpoint.info.namespaced {
            let ns = if ref_namespace.is_empty() {
                attrs.namespace
            } else {
                ref_namespace
            };
            if ns.is_empty() {
                return Err(configure(
                    "cannot use namespaced paramRef in policy binding that matches cluster-scoped resources",
                ));
            }
            ns
        } else if !ref_namespace.is_empty() {
            return Err(configure(
                "paramRef.namespace must not be provided for a cluster-scoped `paramKind`",
            ));
        } else {
            ""
        };
        let source = Source::of(&endpoint.store);
        let name = text(param_ref, "/name");
        let found = if !name.is_empty() {
            source
                .value(namespace, name)
                .await
                .map_err(|e| configure(&e.message))?
                .into_iter()
                .collect::<Vec<_>>()
        } else {
            let selector = param_ref
                .get("selector")
                .map(Selector::from_label_selector)
                .transpose()
                .map_err(|e| configure(&e.to_string()))?;
            let all = if namespace.is_empty() {
                source.list_all().await
            } else {
                source.list_in(namespace).await
            }
            .map_err(|e| configure(&e.message))?;
            all.into_iter()
                .filter(|o| {
                    selector
                        .as_ref()
                        .is_some_and(|s| s.matches_json(o.pointer("/metadata/labels")))
                })
                .collect()
        };
        if found.is_empty() {
            return match text(param_ref, "/parameterNotFoundAction") {
                "Deny" => Err(configure(
                    "no params found for policy binding with `Deny` parameterNotFoundAction",
                )),
                _ => Ok(Vec::new()),
            };
        }
        Ok(found
            .into_iter()
            .map(|mut p| {
                p["apiVersion"] = Value::String(api_version.clone());
                p["kind"] = Value::String(kind.clone());
                p
            })
            .collect())
    }
}

/// The values of one evaluation: the request's, one parameter object, and `authorizer`
/// asking about the requesting user.
fn activation<'p>(
    policy: &'p CompiledPolicy,
    values: &[(&'static str, &Value)],
    authorizer: &Authorizer,
    attrs: &Attributes<'_>,
) -> std::result::Result<Activation<'p>, String> {
    Ok(Activation::new(values, &policy.variables)?.with_authorizer(
        authorizer.clone(),
        attrs.user.clone(),
        request::resource(attrs),
    ))
}

/// Evaluates a policy; the failures its validations give, None when its match conditions
/// leave the request to others.
fn evaluate(policy: &CompiledPolicy, activation: &Activation<'_>) -> Option<Vec<Failure>> {
    let run = |compiled: &Compilation, source: &str| -> std::result::Result<Outcome, String> {
        match compiled {
            Ok(e) => activation
                .eval(e)
                .map_err(|err| format!("expression '{source}' resulted in error: {err}")),
            Err(e) => Err(e.clone()),
        }
    };
    // Match conditions: any false skips the policy, else errors fail it (as its failure
    // policy says).
    let mut errors = Vec::new();
    for condition in &policy.match_conditions {
        let source = condition.as_ref().map(|e| e.source()).unwrap_or_default();
        match run(condition, source) {
            Ok(Outcome::Bool(true)) => {}
            Ok(Outcome::Bool(false)) => return None,
            Ok(_) => errors.push(format!(
                "expression '{source}' resulted in error: no such overload"
            )),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        if !policy.fail {
            return None;
        }
        let message = if errors.len() == 1 {
            errors.remove(0)
        } else {
            format!("[{}]", errors.join(", "))
        };
        return Some(vec![Failure {
            message,
            reason: None,
            index: 0,
        }]);
    }
    let mut failures = Vec::new();
    for (index, validation) in policy.validations.iter().enumerate() {
        match run(&validation.compiled, validation.expression.trim()) {
            Ok(Outcome::Bool(true)) => {}
            Ok(Outcome::Bool(false)) => failures.push(Failure {
                message: message(validation, activation),
                reason: Some(
                    validation
                        .reason
                        .clone()
                        .unwrap_or_else(|| "Invalid".to_string()),
                ),
                index,
            }),
            Ok(_) | Err(_) if !policy.fail => {}
            Ok(_) => failures.push(Failure {
                message: format!(
                    "expression '{}' resulted in error: no such overload",
                    validation.expression.trim()
                ),
                reason: None,
                index,
            }),
            Err(message) => failures.push(Failure {
                message,
                reason: None,
                index,
            }),
        }
    }
    Some(failures)
}

/// The values of the policy's auditAnnotations (trimmed, cut to upstream's length; null or
/// empty values give none); an expression that fails is a failure under `failurePolicy:
/// Fail`.
fn audit_values(
    policy: &CompiledPolicy,
    activation: &Activation<'_>,
    values: &mut BTreeMap<String, BTreeSet<String>>,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    for (key, compiled) in &policy.audit_annotations {
        let outcome = match compiled {
            Ok(e) => activation
                .eval(e)
                .map_err(|err| format!("expression '{}' resulted in error: {err}", e.source())),
            Err(e) => Err(e.clone()),
        };
        match outcome {
            Ok(Outcome::String(s)) => {
                let mut value = s.trim().to_string();
                if value.len() > MAX_AUDIT_VALUE_BYTES {
                    let mut cut = MAX_AUDIT_VALUE_BYTES;
                    while !value.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    value.truncate(cut);
                }
                if !value.is_empty() {
                    values.entry(key.clone()).or_default().insert(value);
                }
            }
            Ok(Outcome::Null) => {}
            Ok(Outcome::Bool(b)) => failures.push(unsupported_return(compiled, &b.to_string())),
            Ok(Outcome::Other(other)) => failures.push(unsupported_return(compiled, &other)),
            Err(message) => failures.push(Failure {
                message,
                reason: None,
                index: 0,
            }),
        }
    }
    if policy.fail { failures } else { Vec::new() }
}

fn unsupported_return(compiled: &Compilation, got: &str) -> Failure {
    let source = compiled.as_ref().map(|e| e.source()).unwrap_or_default();
    Failure {
        message: format!(
            "valueExpression '{source}' resulted in unsupported return type: {got}. Return type must be either string or null."
        ),
        reason: None,
        index: 0,
    }
}

/// A failed validation's message: its messageExpression's when that gives a usable one, else
/// its message, else the expression.
fn message(validation: &Validation, activation: &Activation<'_>) -> String {
    let evaluated = validation
        .message_expression
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .and_then(|e| match activation.eval(e) {
            Ok(Outcome::String(s)) => {
                let trimmed = s.trim();
                let usable = !trimmed.is_empty()
                    && !trimmed.contains('\n')
                    && trimmed.len() <= MAX_MESSAGE_BYTES;
                usable.then(|| trimmed.to_string())
            }
            _ => None,
        });
    evaluated.unwrap_or_else(|| {
        let message = validation.message.trim();
        if message.is_empty() {
            format!("failed expression: {}", validation.expression.trim())
        } else {
            message.to_string()
        }
    })
}

#[async_trait]
impl Validator for ValidatingAdmissionPolicy {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        if EXCLUDED.contains(&(attrs.info.group, attrs.info.resource)) {
            return Ok(());
        }
        let mut bindings = self.bindings.list_all().await?;
        if bindings.is_empty() {
            return Ok(());
        }
        bindings.sort_by(|a, b| text(a, "/metadata/name").cmp(text(b, "/metadata/name")));
        let namespace = matching::namespace_of(&self.namespaces, attrs).await?;
        let namespace_labels = namespace
            .as_ref()
            .and_then(|n| n.pointer("/metadata/labels"));
        let request = Request {
            attrs,
            namespace_labels,
        };
        let request_value = request::request(attrs);
        let namespace_value = match &namespace {
            Some(ns) if !(attrs.info.group.is_empty() && attrs.info.resource == "namespaces") => {
                request::namespace_object(ns)
            }
            _ => Value::Null,
        };
        let object = attrs.object.cloned().unwrap_or(Value::Null);
        let old = attrs.old.cloned().unwrap_or(Value::Null);
        let mut denied: Option<ApiError> = None;
        // Per policy: each auditAnnotation key's distinct values.
        let mut audit: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for binding in &bindings {
            let binding_name = text(binding, "/metadata/name");
            let Some(policy) = self.policy(text(binding, "/spec/policyName")).await? else {
                continue;
            };
            let refuse = |error: ConfigError| {
                let message = match error {
                    ConfigError::Binding(why) => format!(
                        "ValidatingAdmissionPolicy '{}' with binding '{binding_name}' denied request: failed to configure binding: {why}",
                        policy.name
                    ),
                    ConfigError::Policy(why) => format!(
                        "ValidatingAdmissionPolicy '{}' denied request: failed to configure policy: {why}",
                        policy.name
                    ),
                };
                refusal(attrs, message, None)
            };
            let Some(constraints) = &policy.match_constraints else {
                if policy.fail && denied.is_none() {
                    denied = Some(refuse(ConfigError::Policy(
                        "policy contained no match constraints, a required field".into(),
                    )));
                }
                continue;
            };
            let matched = matching::matches(constraints, &request).and_then(|m| {
                match (m, binding.pointer("/spec/matchResources")) {
                    (true, Some(resources)) => matching::matches(resources, &request),
                    (m, _) => Ok(m),
                }
            });
            let matched = match matched {
                Ok(m) => m,
                Err(e) => {
                    if policy.fail && denied.is_none() {
                        denied = Some(refuse(ConfigError::Binding(e)));
                    }
                    continue;
                }
            };
            if !matched {
                continue;
            }
            let params = match self.params(&policy, binding, attrs).await {
                Ok(p) => p,
                Err(error) => {
                    if policy.fail && denied.is_none() {
                        denied = Some(refuse(error));
                    }
                    continue;
                }
            };
            let actions: Vec<&str> = binding
                .pointer("/spec/validationActions")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for param in &params {
                let values = [
                    ("object", &object),
                    ("oldObject", &old),
                    ("namespaceObject", &namespace_value),
                    ("request", &request_value),
                    ("params", param),
                ];
                let activation = activation(&policy, &values, &self.authorizer, attrs)
                    .map_err(ApiError::internal)?;
                let Some(failures) = evaluate(&policy, &activation) else {
                    continue;
                };
                let annotations = audit.entry(policy.name.clone()).or_default();
                // As upstream, an auditAnnotation that fails refuses whatever the actions.
                if let Some(failure) = audit_values(&policy, &activation, annotations)
                    .into_iter()
                    .next()
                    && denied.is_none()
                {
                    denied = Some(refusal(
                        attrs,
                        format!(
                            "ValidatingAdmissionPolicy '{}' with binding '{binding_name}' denied request: {}",
                            policy.name, failure.message
                        ),
                        None,
                    ));
                }
                for failure in failures {
                    if actions.contains(&"Audit") {
                        let record = serde_json::json!([{
                            "message": failure.message,
                            "policy": policy.name,
                            "binding": binding_name,
                            "expressionIndex": failure.index,
                            "validationActions": actions,
                        }]);
                        attrs
                            .annotations
                            .add(VALIDATION_FAILURE, record.to_string());
                    }
                    if actions.contains(&"Warn") {
                        attrs.warnings.add(format!(
                            "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{binding_name}': {}",
                            policy.name, failure.message
                        ));
                    }
                    if actions.contains(&"Deny") && denied.is_none() {
                        let message = format!(
                            "ValidatingAdmissionPolicy '{}' with binding '{binding_name}' denied request: {}",
                            policy.name, failure.message
                        );
                        denied = Some(refusal(attrs, message, failure.reason.as_deref()));
                    }
                }
            }
        }
        for (policy, keys) in audit {
            for (key, values) in keys {
                let joined: Vec<String> = values.into_iter().collect();
                attrs
                    .annotations
                    .add(format!("{policy}/{key}"), joined.join(", "));
            }
        }
        denied.map_or(Ok(()), Err)
    }
}
