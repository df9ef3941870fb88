//! The `scale` subresource: an `autoscaling/v1` Scale view of `spec.replicas`, the observed
//! `status.replicas`, and the selector, for every kind with replicas.

use super::body;
use super::negotiate::{BodyFormat, Format, body_format, negotiate};
use super::params::{dry_run, field_manager};
use super::request_info::Verb;
use super::{Scope, response};
use crate::errors::{ApiError, Result};
use crate::storage::ReadAt;
use apimachinery::{FieldError, meta};
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

fn scale_response(status: StatusCode, scale: &Value, format: Format, pretty: bool) -> Response {
    response::typed(
        status,
        format.content_type(),
        response::encode(scale, format, pretty),
    )
}

pub async fn scale(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let store = &scope.endpoint.store;
    let name = scope.name().to_string();
    let gr = scope.endpoint.info.group_resource();
    if scope.info.verb == Verb::Get {
        let obj = store
            .get(&scope.info.namespace, &name, ReadAt::Latest)
            .await?;
        let value = obj.value().map_err(ApiError::internal)?;
        return Ok(scale_response(
            StatusCode::OK,
            &scope.endpoint.strategy.to_scale(&value),
            output.format,
            output.pretty,
        ));
    }
    let dry = dry_run(&scope.params, "UpdateOptions")?;
    let manager = field_manager(&scope.params, "UpdateOptions")?;
    let patch_format = if scope.info.verb == Verb::Patch {
        Some(body_format(&scope.headers, true)?)
    } else {
        None
    };
    let input = match patch_format {
        Some(BodyFormat::JsonPatch | BodyFormat::MergePatch) => {
            body::parse(&bytes, BodyFormat::Json)?
        }
        Some(_) => {
            return Err(ApiError::unsupported_media_type(
                "",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                ],
            ));
        }
        None => {
            let format = body_format(&scope.headers, false)?;
            body::parse(&bytes, format)?
        }
    };
    let ctx = scope.op_context(dry, manager);
    let written = store
        .update(&ctx, &name, None, false, |old| {
            let Some(old) = old else {
                return Err(ApiError::not_found(&gr, &name));
            };
            let mut scale = scope.endpoint.strategy.to_scale(old);
            match patch_format {
                Some(BodyFormat::JsonPatch) => {
                    let p: json_patch::Patch = serde_json::from_value(input.clone())
                        .map_err(|e| ApiError::bad_request(e.to_string()))?;
                    json_patch::patch(&mut scale, &p)
                        .map_err(|e| ApiError::rejected(e.to_string()))?;
                }
                Some(_) => json_patch::merge(&mut scale, &input),
                None => scale = input.clone(),
            }
            let typed: k8s_openapi::api::autoscaling::v1::Scale =
                serde_json::from_value(scale.clone()).map_err(|e| {
                    ApiError::bad_request(format!(
                        "Scale in version \"v1\" cannot be handled as a Scale: {e}"
                    ))
                })?;
            let replicas = typed.spec.and_then(|s| s.replicas).unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    &name,
                    &vec![FieldError::invalid(
                        "spec.replicas",
                        replicas,
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            let mut new = old.clone();
            scope
                .endpoint
                .strategy
                .set_replicas(&mut new, i64::from(replicas));
            let rv = typed.metadata.resource_version.unwrap_or_default();
            meta::set(
                &mut new,
                "resourceVersion",
                (!rv.is_empty()).then(|| json!(rv)),
            );
            Ok(new)
        })
        .await?;
    Ok(scale_response(
        StatusCode::OK,
        &scope.endpoint.strategy.to_scale(&written.object),
        output.format,
        output.pretty,
    ))
}
