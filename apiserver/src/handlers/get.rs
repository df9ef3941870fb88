//! GET of one object (and of its status subresource).

use super::Scope;
use super::negotiate::{Format, Target, negotiate};
use super::params::parse_rv;
use super::response;
use crate::errors::{ApiError, Result};
use crate::storage::ReadAt;
use axum::response::Response;
use http::StatusCode;

pub async fn get(scope: &Scope) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let read = match scope.params.get("resourceVersion").unwrap_or_default() {
        "" => ReadAt::Latest,
        rv => ReadAt::NotOlderThan(parse_rv(rv)?),
    };
    let obj = scope
        .endpoint
        .store
        .get(&scope.info.namespace, scope.name(), read)
        .await?;
    let plain = output.target == Target::Object && output.format == Format::Json && !output.pretty;
    if plain && scope.endpoint.conversion.is_none() {
        return Ok(response::raw_json(StatusCode::OK, obj.json));
    }
    let value = scope.to_served(obj.value().map_err(ApiError::internal)?)?;
    Ok(response::object(
        StatusCode::OK,
        &scope.endpoint,
        &value,
        &output,
    ))
}
