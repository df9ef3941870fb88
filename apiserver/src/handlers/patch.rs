//! PATCH with a JSON patch (RFC 6902) or a JSON merge patch (RFC 7386), applied to the latest
//! stored object on every try. Strategic merge patch and server-side apply need the schemas
//! and are answered with 415 until they land.

use super::body::{self, decode_object};
use super::negotiate::{BodyFormat, body_format, negotiate};
use super::params::{dry_run, field_manager, field_validation};
use super::{Scope, subresource};
use crate::errors::{ApiError, Result};
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;

pub async fn patch(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let dry = dry_run(&scope.params, "PatchOptions")?;
    let manager = field_manager(&scope.params, "PatchOptions")?;
    let validation = field_validation(&scope.params)?;
    let format = body_format(&scope.headers, true)?;
    let patch = match format {
        BodyFormat::JsonPatch | BodyFormat::MergePatch => body::parse(&bytes, BodyFormat::Json)?,
        _ => {
            return Err(ApiError::unsupported_media_type(
                "",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                ],
            ));
        }
    };
    let json_patch = if format == BodyFormat::JsonPatch {
        Some(
            serde_json::from_value::<json_patch::Patch>(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!("json: cannot unmarshal into jsonpatch: {e}"))
            })?,
        )
    } else {
        if !patch.is_object() {
            return Err(ApiError::bad_request(
                "error decoding patch: expected a JSON object",
            ));
        }
        None
    };
    let ctx = scope.op_context(dry, manager);
    let mut warnings = Vec::new();
    let name = scope.name().to_string();
    let gr = scope.endpoint.info.group_resource();
    let written = scope
        .endpoint
        .store
        .update(&ctx, &name, subresource(scope), false, |old| {
            let Some(old) = old else {
                return Err(ApiError::not_found(&gr, &name));
            };
            let mut current = scope.to_served(old.clone())?;
            match &json_patch {
                Some(p) => json_patch::patch(&mut current, p)
                    .map_err(|e| ApiError::rejected(e.to_string()))?,
                None => json_patch::merge(&mut current, &patch),
            }
            warnings.clear();
            let decoded = decode_object(&scope.endpoint, current, None, validation, &mut warnings)?;
            scope.to_storage(decoded)
        })
        .await?;
    super::written(scope, StatusCode::OK, written, &output, warnings)
}
