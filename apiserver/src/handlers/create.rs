//! POST: create an object.

use super::Scope;
use super::body::{self, decode_object};
use super::negotiate::{BodyFormat, body_format, negotiate};
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
    let format = body_format(&scope.headers, false)?;
    let value = body::parse(&bytes, format)?;
    let mut warnings = Vec::new();
    let obj = decode_object(
        &scope.endpoint,
        value,
        (format == BodyFormat::Json).then_some(&bytes[..]),
        validation,
        &mut warnings,
    )?;
    let obj = scope.to_storage(obj)?;
    let ctx = scope.op_context(dry, manager);
    let written = scope.endpoint.store.create(&ctx, obj).await?;
    super::written(scope, StatusCode::CREATED, written, &output, warnings)
}
