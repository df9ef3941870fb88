//! The asked-and-answered kinds of `authentication.k8s.io`: TokenReview (who is this token?)
//! and SelfSubjectReview (who am I?). Nothing is stored; the answer is the request with its
//! status filled in, as upstream returns it (201).

use super::negotiate::{body_format, negotiate};
use super::{Scope, body, response};
use crate::authn::user::UserInfo;
use crate::errors::{ApiError, Result};
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

/// A `UserInfo` as the authentication API writes it (empty fields left out).
pub fn user_json(user: &UserInfo) -> Value {
    let mut m = Map::new();
    m.insert("username".into(), json!(user.name));
    if !user.uid.is_empty() {
        m.insert("uid".into(), json!(user.uid));
    }
    if !user.groups.is_empty() {
        m.insert("groups".into(), json!(user.groups));
    }
    if !user.extra.is_empty() {
        m.insert("extra".into(), json!(user.extra));
    }
    Value::Object(m)
}

/// The request body and its `spec` as `S`, with upstream's message when the spec is not one.
/// (The spec alone: the generated types insist on the status fields a request leaves out.)
pub fn decode<S: serde::de::DeserializeOwned + Default>(
    scope: &Scope,
    bytes: &Bytes,
    kind: &str,
) -> Result<(Value, S)> {
    let value = body::parse(bytes, body_format(&scope.headers, false)?)?;
    let version = &scope.info.version;
    let spec = match value.get("spec") {
        None | Some(Value::Null) => return Ok((value, S::default())),
        Some(spec) => spec.clone(),
    };
    let typed = serde_json::from_value(spec).map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}"
        ))
    })?;
    Ok((value, typed))
}

/// The answer: the request's metadata and spec with `status`, in the negotiated format.
/// `kind` is in `authentication.k8s.io/v1` or `authorization.k8s.io/v1`, the group of the
/// endpoint or (for TokenRequest) of its subresource.
pub fn answer(scope: &Scope, request: &Value, kind: &str, status: Value) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let api_version = match scope
        .endpoint
        .info
        .subresources
        .iter()
        .find(|s| s.name == scope.info.subresource)
    {
        Some(s) => format!("{}/{}", s.group, s.version),
        None => scope.endpoint.info.group_version(),
    };
    let mut obj = json!({
        "kind": kind,
        "apiVersion": api_version,
        "metadata": request.get("metadata").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(spec) = request.get("spec") {
        obj["spec"] = spec.clone();
    }
    obj["status"] = status;
    Ok(response::object(
        StatusCode::CREATED,
        &scope.endpoint,
        &obj,
        &output,
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
struct TokenReviewSpec {
    token: Option<String>,
    audiences: Option<Vec<String>>,
}

pub async fn token_review(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let (request, spec): (_, TokenReviewSpec) = decode(scope, &bytes, "TokenReview")?;
    let token = spec.token.unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    let authn = &scope.state.authn;
    let audiences = spec
        .audiences
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| authn.service_accounts.api_audiences.clone());
    let status = match authn.authenticate_token(&token, Some(&audiences)).await {
        Ok(Some(t)) => json!({
            "authenticated": true,
            "user": user_json(&t.user),
            "audiences": t.audiences,
        }),
        Ok(None) => json!({"user": {}, "error": "invalid bearer token"}),
        Err(why) => json!({"user": {}, "error": why}),
    };
    answer(scope, &request, "TokenReview", status)
}

pub async fn self_subject_review(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let (mut request, ()) = decode(scope, &bytes, "SelfSubjectReview")?;
    request["metadata"]["creationTimestamp"] = json!(crate::clock::now());
    answer(
        scope,
        &request,
        "SelfSubjectReview",
        json!({"userInfo": user_json(&scope.user)}),
    )
}
