//! The access reviews of `authorization.k8s.io` (what `kubectl auth can-i` asks):
//! SubjectAccessReview (may this user...?), LocalSubjectAccessReview (the same, within a
//! namespace), SelfSubjectAccessReview (may I...?) and SelfSubjectRulesReview (what may I
//! do here?). Answered by the server's authorizers; nothing is stored.

use super::Scope;
use super::reviews::{answer, decode};
use crate::authn::user::UserInfo;
use crate::authz::{Attributes, Decision};
use crate::errors::{ApiError, Result};
use apimachinery::{FieldError, FieldErrors};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceAttributes {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    verb: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    subresource: String,
    #[serde(default)]
    name: String,
    field_selector: Option<FieldSelectorAttributes>,
}

/// `resourceAttributes.fieldSelector`: a selector as text, or as requirements.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldSelectorAttributes {
    #[serde(default)]
    raw_selector: String,
    #[serde(default)]
    requirements: Vec<FieldRequirement>,
}

#[derive(Debug, Default, Deserialize)]
struct FieldRequirement {
    #[serde(default)]
    key: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

impl FieldSelectorAttributes {
    /// The selector to authorize with: the raw text when given, else the requirements that
    /// are single equalities (`In`/`NotIn` with one value), the only ones a field selector
    /// can say. `None` when it does not parse.
    fn selector(&self) -> Option<apimachinery::fields::Selector> {
        if !self.raw_selector.is_empty() {
            return apimachinery::fields::Selector::parse(&self.raw_selector).ok();
        }
        let requirements = self
            .requirements
            .iter()
            .filter_map(|r| match (r.operator.as_str(), r.values.as_slice()) {
                ("In" | "NotIn", [value]) => Some(apimachinery::fields::Requirement {
                    field: r.key.clone(),
                    value: value.clone(),
                    negated: r.operator == "NotIn",
                }),
                _ => None,
            })
            .collect();
        Some(apimachinery::fields::Selector { requirements })
    }
}

#[derive(Debug, Default, Deserialize)]
struct NonResourceAttributes {
    #[serde(default)]
    path: String,
    #[serde(default)]
    verb: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessReviewSpec {
    resource_attributes: Option<ResourceAttributes>,
    non_resource_attributes: Option<NonResourceAttributes>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    extra: BTreeMap<String, Vec<String>>,
}

impl AccessReviewSpec {
    /// The attributes to authorize for `user`.
    fn attributes(&self, user: UserInfo) -> Attributes {
        match (&self.resource_attributes, &self.non_resource_attributes) {
            (Some(r), _) => Attributes {
                user,
                verb: r.verb.clone(),
                resource_request: true,
                namespace: r.namespace.clone(),
                api_group: r.group.clone(),
                api_version: r.version.clone(),
                resource: r.resource.clone(),
                subresource: r.subresource.clone(),
                name: r.name.clone(),
                path: String::new(),
                field_selector: r.field_selector.as_ref().and_then(|f| f.selector()),
            },
            (None, Some(n)) => Attributes {
                user,
                verb: n.verb.clone(),
                path: n.path.clone(),
                ..Default::default()
            },
            (None, None) => Attributes {
                user,
                ..Default::default()
            },
        }
    }

    /// The user a (Local)SubjectAccessReview asks about.
    fn subject(&self) -> UserInfo {
        UserInfo {
            name: self.user.clone(),
            uid: self.uid.clone(),
            groups: self.groups.clone(),
            extra: self.extra.clone(),
        }
    }

    /// Upstream's checks of a review about another user: the attributes, and someone to
    /// ask about.
    fn subject_errors(&self) -> FieldErrors {
        let mut errs = self.attribute_errors();
        if self.user.is_empty() && self.groups.is_empty() {
            errs.push(FieldError::invalid(
                "spec.user",
                "",
                "at least one of user or group must be specified",
            ));
        }
        errs
    }

    /// Upstream's checks of the attributes every access review shares.
    fn attribute_errors(&self) -> FieldErrors {
        let mut errs = Vec::new();
        match (&self.resource_attributes, &self.non_resource_attributes) {
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                "spec.nonResourceAttributes",
                "",
                "cannot be specified in combination with resourceAttributes",
            )),
            (None, None) => errs.push(FieldError::invalid(
                "spec.resourceAttributes",
                Value::Null,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )),
            _ => {}
        }
        errs
    }
}

/// The status an authorizer's decision gives.
fn status(scope: &Scope, attrs: &Attributes) -> Value {
    let (decision, reason) = scope.state.authz.authorize(attrs);
    let mut status = json!({"allowed": decision == Decision::Allow});
    if decision == Decision::Deny {
        status["denied"] = json!(true);
    }
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    status
}

fn invalid(kind: &str, errs: &FieldErrors) -> ApiError {
    ApiError::invalid("authorization.k8s.io", kind, "", errs)
}

pub async fn subject_access_review(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let kind = "SubjectAccessReview";
    let (request, spec): (_, AccessReviewSpec) = decode(scope, &bytes, kind)?;
    let errs = spec.subject_errors();
    if !errs.is_empty() {
        return Err(invalid(kind, &errs));
    }
    let attrs = spec.attributes(spec.subject());
    answer(scope, &request, kind, status(scope, &attrs))
}

pub async fn local_subject_access_review(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let kind = "LocalSubjectAccessReview";
    let (mut request, spec): (_, AccessReviewSpec) = decode(scope, &bytes, kind)?;
    let namespace = scope.info.namespace.clone();
    let body_namespace = apimachinery::meta::namespace(&request).to_string();
    if !body_namespace.is_empty() && body_namespace != namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut errs = spec.subject_errors();
    if let Some(r) = &spec.resource_attributes
        && r.namespace != namespace
    {
        errs.push(FieldError::invalid(
            "spec.resourceAttributes.namespace",
            r.namespace.clone(),
            "must match metadata.namespace",
        ));
    }
    if spec.non_resource_attributes.is_some() {
        errs.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            "",
            "disallowed on this kind of request",
        ));
    }
    if !errs.is_empty() {
        return Err(invalid(kind, &errs));
    }
    apimachinery::meta::nested_mut(&mut request, &["metadata"])["namespace"] = json!(namespace);
    let attrs = spec.attributes(spec.subject());
    answer(scope, &request, kind, status(scope, &attrs))
}

pub async fn self_subject_access_review(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let kind = "SelfSubjectAccessReview";
    let (request, spec): (_, AccessReviewSpec) = decode(scope, &bytes, kind)?;
    let errs = spec.attribute_errors();
    if !errs.is_empty() {
        return Err(invalid(kind, &errs));
    }
    let attrs = spec.attributes(scope.user.clone());
    answer(scope, &request, kind, status(scope, &attrs))
}

#[derive(Debug, Default, Deserialize)]
struct RulesReviewSpec {
    #[serde(default)]
    namespace: String,
}

pub async fn self_subject_rules_review(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let kind = "SelfSubjectRulesReview";
    let (request, spec): (_, RulesReviewSpec) = decode(scope, &bytes, kind)?;
    let status = scope.state.authz.rules_review(&scope.user, &spec.namespace);
    answer(scope, &request, kind, status)
}
