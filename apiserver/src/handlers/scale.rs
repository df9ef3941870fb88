//! The `scale` subresource: an `autoscaling/v1` Scale view of `spec.replicas`, the observed
//! `status.replicas`, and the selector, for every kind with replicas.

use super::body;
use super::negotiate::{BodyFormat, Format, body_format, negotiate};
use super::params::{dry_run, field_manager};
use super::request_info::Verb;
use super::{Scope, response};
use crate::admission::{Attributes, Operation};
use crate::errors::{ApiError, Result};
use crate::storage::{self, ReadAt};
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
    let mut ctx = scope.op_context(dry, manager);
    let admission = std::mem::take(&mut ctx.admission);
    for _ in 0..storage::MAX_UPDATE_TRIES {
        // Admission judges the Scale, as a `<resource>/scale` update, against the object as
        // read; the write below then applies it only to that same object.
        let current = store
            .get(&scope.info.namespace, &name, ReadAt::Latest)
            .await?;
        let old = current.value().map_err(ApiError::internal)?;
        let old_scale = scope.endpoint.strategy.to_scale(&old);
        let mut scale = changed_scale(&old_scale, &input, patch_format, &name)?;
        let attrs = Attributes {
            operation: Operation::Update,
            info: &scope.endpoint.info,
            subresource: Some("scale"),
            namespace: &scope.info.namespace,
            name: &name,
            object: None,
            old: Some(&old_scale),
            user: &ctx.user,
            dry_run: dry,
            warnings: &ctx.warnings,
            annotations: &ctx.annotations,
        };
        admission.admit(&attrs, &mut scale).await?;
        admission
            .validate(&Attributes {
                object: Some(&scale),
                ..attrs
            })
            .await?;
        let replicas = replicas_of(&scale, &name)?;
        let read_version = meta::resource_version(&old).to_string();
        let requested_version = scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let moved_on = std::sync::atomic::AtomicBool::new(false);
        let written = store
            .update(&ctx, &name, None, false, |stored| {
                moved_on.store(false, std::sync::atomic::Ordering::Relaxed);
                let Some(stored) = stored else {
                    return Err(ApiError::not_found(&gr, &name));
                };
                if meta::resource_version(stored) != read_version {
                    moved_on.store(true, std::sync::atomic::Ordering::Relaxed);
                    return Err(ApiError::conflict(&gr, &name, "the object changed"));
                }
                let mut new = stored.clone();
                scope.endpoint.strategy.set_replicas(&mut new, replicas);
                meta::set(
                    &mut new,
                    "resourceVersion",
                    (!requested_version.is_empty()).then(|| json!(requested_version)),
                );
                Ok(new)
            })
            .await;
        match written {
            Err(_) if moved_on.load(std::sync::atomic::Ordering::Relaxed) => continue,
            Err(e) => return Err(e),
            Ok(written) => {
                return Ok(scale_response(
                    StatusCode::OK,
                    &scope.endpoint.strategy.to_scale(&written.object),
                    output.format,
                    output.pretty,
                ));
            }
        }
    }
    Err(ApiError::internal(format!(
        "too many conflicting writes scaling {name}"
    )))
}

/// The Scale the request asks for: `input` put, JSON-patched or merge-patched over `old`.
fn changed_scale(
    old: &Value,
    input: &Value,
    patch_format: Option<BodyFormat>,
    name: &str,
) -> Result<Value> {
    let mut scale = old.clone();
    match patch_format {
        Some(BodyFormat::JsonPatch) => {
            let p: json_patch::Patch = serde_json::from_value(input.clone())
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            json_patch::patch(&mut scale, &p).map_err(|e| ApiError::rejected(e.to_string()))?;
        }
        Some(_) => json_patch::merge(&mut scale, input),
        None => scale = input.clone(),
    }
    replicas_of(&scale, name)?;
    Ok(scale)
}

/// The replicas a Scale asks for, which must be a Scale and not negative.
fn replicas_of(scale: &Value, name: &str) -> Result<i64> {
    let typed: k8s_openapi::api::autoscaling::v1::Scale = serde_json::from_value(scale.clone())
        .map_err(|e| {
            ApiError::bad_request(format!(
                "Scale in version \"v1\" cannot be handled as a Scale: {e}"
            ))
        })?;
    let replicas = typed.spec.and_then(|s| s.replicas).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            &vec![FieldError::invalid(
                "spec.replicas",
                replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    Ok(i64::from(replicas))
}
