//! DELETE of one object, and DELETE of a collection.

use super::list::list_request;
use super::negotiate::{BodyFormat, body_format, negotiate};
use super::params::delete_options;
use super::{Scope, body, response};
use crate::errors::{ApiError, Result, success_status};
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

/// The DeleteOptions in a body, if any: JSON unless the Content-Type says otherwise.
fn options_body(scope: &Scope, bytes: &Bytes) -> Result<Option<Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let format = match scope.headers.get(http::header::CONTENT_TYPE) {
        Some(_) => body_format(&scope.headers, false)?,
        None => BodyFormat::Json,
    };
    body::parse(bytes, format).map(Some)
}

pub async fn delete(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let body = options_body(scope, &bytes)?;
    let (opts, dry) = delete_options(&scope.params, body.as_ref())?;
    let ctx = scope.op_context(dry, None);
    let deleted = scope
        .endpoint
        .store
        .delete(&ctx, scope.name(), &opts)
        .await?;
    if deleted.gone && !scope.endpoint.strategy.returns_deleted_object() {
        let uid = apimachinery::meta::uid(&deleted.object).to_string();
        let status = success_status(&scope.endpoint.info.group_resource(), scope.name(), &uid);
        return Ok(response::plain(StatusCode::OK, &status, &output));
    }
    // Upstream answers 202 only when dependents are deleted in the foreground the legacy way.
    let code = if !deleted.gone && opts.orphan_dependents == Some(false) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let obj = scope.to_served(deleted.object)?;
    Ok(response::object(code, &scope.endpoint, &obj, &output))
}

pub async fn delete_collection(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, true)?;
    let body = options_body(scope, &bytes)?;
    let (opts, dry) = delete_options(&scope.params, body.as_ref())?;
    let req = list_request(scope)?;
    let ctx = scope.op_context(dry, None);
    let deleted = scope
        .endpoint
        .store
        .delete_collection(&ctx, &req, &opts)
        .await?;
    let items = deleted
        .into_iter()
        .map(|o| scope.to_served(o))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let info = &scope.endpoint.info;
    let list = json!({
        "kind": info.list_kind(),
        "apiVersion": info.group_version(),
        "metadata": {},
        "items": items,
    });
    Ok(response::plain(StatusCode::OK, &list, &output))
}
