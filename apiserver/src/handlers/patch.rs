//! PATCH with a JSON patch (RFC 6902), a JSON merge patch (RFC 7386), a strategic merge patch
//! or a server-side apply (both driven by the kind's schema), applied to the latest stored
//! object on every try.

use super::apply_yaml;
use super::body::{self, decode_object};
use super::negotiate::{BodyFormat, body_format, negotiate};
use super::params::FieldValidation;
use super::params::{apply_options, dry_run, field_manager, field_validation};
use super::{Scope, subresource};
use crate::apply;
use crate::errors::{ApiError, Result};
use crate::schema::walk::Node;
use crate::strategic;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;

/// Server-side apply types the configuration with the schema before merging; fields the
/// schema does not declare fail that, as upstream's 500 without a reason.
fn refuse_undeclared(scope: &Scope, config: &Value, schema: Option<Node<'_>>) -> Result<()> {
    let undeclared = apply::undeclared(config, schema);
    if undeclared.is_empty() {
        return Ok(());
    }
    let info = &scope.endpoint.info;
    let errors: Vec<String> = undeclared
        .iter()
        .map(|p| format!("{p}: field not declared in schema"))
        .collect();
    let detail = if errors.len() == 1 {
        errors[0].clone()
    } else {
        format!("errors:\n  {}", errors.join("\n  "))
    };
    Err(ApiError::unknown(
        500,
        format!(
            "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {detail}",
            scope.info.namespace,
            scope.name(),
            info.group,
            info.version,
            info.kind
        ),
    ))
}

/// What the patch body says, parsed once before the read-modify-write loop.
enum Change {
    Json(json_patch::Patch),
    Merge(Value),
    Strategic(Value),
    Apply { config: Value, force: bool },
}

pub async fn patch(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let dry = dry_run(&scope.params, "PatchOptions")?;
    let manager = field_manager(&scope.params, "PatchOptions")?;
    let validation = field_validation(&scope.params)?;
    let format = body_format(&scope.headers, true)?;
    let force = apply_options(
        &scope.params,
        format == BodyFormat::ApplyPatch,
        manager.as_deref(),
    )?;
    let info = &scope.endpoint.info;
    let schemas = scope.state.openapi.schemas();
    let schema = Node::kind(&schemas, info.group, info.version, info.kind);
    let mut repeated_keys = Vec::new();
    let change = match format {
        BodyFormat::JsonPatch => {
            let patch = body::parse(&bytes, BodyFormat::Json)?;
            Change::Json(serde_json::from_value(patch).map_err(|e| {
                ApiError::bad_request(format!("json: cannot unmarshal into jsonpatch: {e}"))
            })?)
        }
        BodyFormat::MergePatch => Change::Merge(object(body::parse(&bytes, BodyFormat::Json)?)?),
        // Both need a schema; kinds without one answer as upstream answers for custom
        // resources, which take no strategic merge patch at all.
        BodyFormat::StrategicMergePatch
            if schema.is_some() && scope.endpoint.strategy.takes_strategic_merge_patch() =>
        {
            Change::Strategic(object(body::parse(&bytes, BodyFormat::Json)?)?)
        }
        BodyFormat::ApplyPatch if schema.is_some() => {
            let body = apply_yaml::parse(&bytes).map_err(|e| {
                ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}"))
            })?;
            repeated_keys = body.duplicates;
            Change::Apply {
                config: object(body.config)?,
                force,
            }
        }
        _ => {
            let mut accepted = vec![
                "application/json-patch+json",
                "application/merge-patch+json",
            ];
            if schema.is_some() {
                accepted.push("application/apply-patch+yaml");
            }
            return Err(ApiError::unsupported_media_type("", &accepted));
        }
    };
    // Upstream types the configuration first, then decodes it strictly for fieldValidation.
    if let Change::Apply { config, .. } = &change {
        refuse_undeclared(scope, config, schema)?;
    }
    let mut strict_warnings = Vec::new();
    if !repeated_keys.is_empty() {
        let message = format!(
            "error converting YAML to JSON: yaml: unmarshal errors:\n  {}",
            repeated_keys.join("\n  ")
        );
        match validation {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "error strict decoding YAML: {message}"
                )));
            }
            FieldValidation::Warn => strict_warnings.push(message),
            FieldValidation::Ignore => {}
        }
    }
    let applying = matches!(change, Change::Apply { .. });
    let mut ctx = scope.op_context(dry, manager);
    ctx.applied = applying;
    let mut warnings = Vec::new();
    let name = scope.name().to_string();
    let gr = info.group_resource();
    let sub = subresource(scope);
    let now = crate::clock::now();
    let written = scope
        .endpoint
        .store
        .update(&ctx, &name, sub, applying, |old| {
            let current = match old {
                Some(old) => Some(scope.to_served(old.clone())?),
                None if applying => None,
                None => return Err(ApiError::not_found(&gr, &name)),
            };
            let patched = match (&change, current) {
                (Change::Json(p), Some(mut current)) => {
                    json_patch::patch(&mut current, p)
                        .map_err(|e| ApiError::rejected(e.to_string()))?;
                    current
                }
                (Change::Merge(p), Some(mut current)) => {
                    json_patch::merge(&mut current, p);
                    current
                }
                (Change::Strategic(p), Some(current)) => strategic::apply(current, p, schema)
                    .map_err(|e| match e {
                        strategic::Error::BadPatch(m) => ApiError::bad_request(m),
                        strategic::Error::Unprocessable(m) => ApiError::rejected(m),
                    })?,
                (Change::Apply { config, force }, current) => {
                    let req = apply::Request {
                        manager: &ctx.field_manager,
                        api_version: &ctx.api_version,
                        force: *force,
                        subresource: sub,
                        now: &now,
                        schema,
                    };
                    apply::apply(current.as_ref(), config, &req)
                        .map_err(|c| ApiError::apply_conflict(c.message, c.causes))?
                }
                (_, None) => return Err(ApiError::not_found(&gr, &name)),
            };
            warnings.clear();
            let decoded = decode_object(&scope.endpoint, patched, None, validation, &mut warnings)?;
            scope.to_storage(decoded)
        })
        .await?;
    let code = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    warnings.extend(strict_warnings);
    super::written(scope, code, written, &output, warnings)
}

fn object(patch: Value) -> Result<Value> {
    if patch.is_object() {
        Ok(patch)
    } else {
        Err(ApiError::bad_request(
            "error decoding patch: expected a JSON object",
        ))
    }
}
