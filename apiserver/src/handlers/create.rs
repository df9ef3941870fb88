//! POST: create an object.

use super::Scope;
use super::body;
use super::negotiate::negotiate;
use super::params::{dry_run, field_manager, field_validation};
use crate::errors::Result;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;

pub async fn create(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let dry = dry_run(&scope.params, "CreateOptions")?;
    let manager = field_manager(&scope.params, "CreateOptions")?;
    let validation = field_validation(&scope.params)?;
    let mut warnings = Vec::new();
    let obj = body::decode_request(scope, &bytes, validation, &mut warnings)?;
    let ctx = scope.op_context(dry, manager);
    let written = scope.endpoint.store.create(&ctx, obj).await?;
    super::written(scope, StatusCode::CREATED, written, &output, warnings)
}
