//! PUT: replace an object, its status, or (for namespaces) its finalizers.

use super::body;
use super::negotiate::negotiate;
use super::params::{dry_run, field_manager, field_validation};
use super::{Scope, subresource};
use crate::errors::Result;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;

pub async fn update(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let dry = dry_run(&scope.params, "UpdateOptions")?;
    let manager = field_manager(&scope.params, "UpdateOptions")?;
    let validation = field_validation(&scope.params)?;
    let mut warnings = Vec::new();
    let obj = body::decode_request(scope, &bytes, validation, &mut warnings)?;
    let ctx = scope.op_context(dry, manager);
    let written = scope
        .endpoint
        .store
        .update(&ctx, scope.name(), subresource(scope), false, |_| {
            Ok(obj.clone())
        })
        .await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    super::written(scope, status, written, &output, warnings)
}
