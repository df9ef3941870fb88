//! Building responses: objects, lists and tables in the negotiated representation (JSON, YAML
//! or Kubernetes protobuf), warnings, and errors as `Status` objects.

use super::negotiate::{Format, IncludeObject, Output, Target};
use crate::errors::ApiError;
use crate::protobuf;
use crate::registry::catalog::Endpoint;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// Serializes a value in the negotiated format (pretty JSON indented by two spaces, plain JSON
/// ending in a newline, as upstream's encoders write them; protobuf in its envelope, by the
/// value's own `apiVersion` and `kind`).
pub fn encode(value: &Value, format: Format, pretty: bool) -> Bytes {
    let bytes = match format {
        Format::Json if pretty => serde_json::to_vec_pretty(value),
        Format::Json => serde_json::to_vec(value).map(|mut v| {
            v.push(b'\n');
            v
        }),
        Format::Yaml => return Bytes::from(serde_yaml::to_string(value).unwrap_or_default()),
        Format::Protobuf => return encode_protobuf(value),
    };
    Bytes::from(bytes.unwrap_or_default())
}

/// Protobuf encoding only fails for objects that do not fit their kind's schema: a stored
/// object some code wrote wrongly. The client then gets an internal-error `Status`.
fn encode_protobuf(value: &Value) -> Bytes {
    match protobuf::encode(value) {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) => {
            let kind = value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            tracing::error!(error = %e, kind, "a response does not fit its protobuf schema");
            let status = ApiError::internal(format!("cannot encode {kind} as protobuf: {e}"));
            Bytes::from(protobuf::encode(&status.to_status()).unwrap_or_default())
        }
    }
}

fn with_body(status: StatusCode, content_type: &str, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// An error as a `Status` in JSON.
pub fn error(e: &ApiError) -> Response {
    error_as(e, Format::Json)
}

/// An error as a `Status` in `format` (YAML clients get JSON errors, as from upstream).
pub fn error_as(e: &ApiError, format: Format) -> Response {
    let format = if format == Format::Yaml {
        Format::Json
    } else {
        format
    };
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = with_body(
        status,
        format.content_type(),
        encode(&e.to_status(), format, false),
    );
    if let Some(r) = e.details.as_ref().and_then(|d| d.retry_after_seconds) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(r));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(&self)
    }
}

/// Adds `Warning: 299 - "..."` headers.
pub fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
}

/// The `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value, meta_version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{meta_version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `items` with the endpoint's columns.
pub fn table(endpoint: &Endpoint, items: &[Value], list_meta: Value, output: &Output) -> Value {
    let strategy = &endpoint.strategy;
    let columns: Vec<Value> = strategy
        .table_columns()
        .iter()
        .map(|c| c.to_json())
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut row = json!({ "cells": strategy.table_row(item) });
            match output.include_object {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = partial_metadata(item, output.meta_version)
                }
                IncludeObject::Object => row["object"] = item.clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{}", output.meta_version),
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// One object in the negotiated representation.
pub fn object(status: StatusCode, endpoint: &Endpoint, obj: &Value, output: &Output) -> Response {
    let body = match output.target {
        Target::Object => {
            return with_body(
                status,
                &output.content_type(),
                encode(obj, output.format, output.pretty),
            );
        }
        Target::Metadata => partial_metadata(obj, output.meta_version),
        Target::Table => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            table(
                endpoint,
                std::slice::from_ref(obj),
                json!({ "resourceVersion": rv }),
                output,
            )
        }
    };
    with_body(
        status,
        &output.content_type(),
        encode(&body, output.format, output.pretty),
    )
}

/// Pre-encoded JSON, sent as is.
pub fn raw_json(status: StatusCode, body: Bytes) -> Response {
    with_body(status, "application/json", body)
}

/// A value in the negotiated format, without Table or metadata conversion (Status objects,
/// discovery documents).
pub fn plain(status: StatusCode, value: &Value, output: &Output) -> Response {
    with_body(
        status,
        output.format.content_type(),
        encode(value, output.format, output.pretty),
    )
}

/// A response with an explicit content type.
pub fn typed(status: StatusCode, content_type: &str, body: Bytes) -> Response {
    with_body(status, content_type, body)
}
