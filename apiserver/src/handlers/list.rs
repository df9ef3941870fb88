//! LIST: a collection, from the watch cache or etcd, as a list, a Table, or partial metadata.

use super::Scope;
use super::negotiate::{Format, Output, Target, negotiate};
use super::params::{list_params, predicate};
use super::response;
use crate::errors::{ApiError, Result};
use crate::storage::{ListPage, ListRequest, continue_token};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::StatusCode;
use serde_json::{Value, json};

pub async fn list(scope: &Scope) -> Result<Response> {
    let output = negotiate(&scope.headers, &scope.params, true)?;
    let req = list_request(scope)?;
    let page = scope.endpoint.store.list(&req).await?;
    respond(scope, page, &output)
}

/// The storage request a list's query parameters describe.
pub fn list_request(scope: &Scope) -> Result<ListRequest> {
    let lp = list_params(&scope.params)?;
    let predicate = predicate(
        &scope.params,
        scope.endpoint.strategy.selectable_field_names(),
    )?;
    let continue_from = match &lp.continue_token {
        Some(t) => {
            Some(continue_token::decode(t).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        None => None,
    };
    Ok(ListRequest {
        prefix: scope.endpoint.store.list_prefix(&scope.info.namespace),
        read: lp.read,
        limit: lp.limit,
        continue_from,
        predicate,
    })
}

fn list_meta(page: &ListPage) -> Value {
    let mut meta = json!({ "resourceVersion": page.rv.to_string() });
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    meta
}

fn respond(scope: &Scope, page: ListPage, output: &Output) -> Result<Response> {
    let info = &scope.endpoint.info;
    let meta = list_meta(&page);
    let plain = output.target == Target::Object && output.format == Format::Json && !output.pretty;
    if plain && scope.endpoint.conversion.is_none() {
        // The cached objects are already JSON: splice them into the list unparsed.
        let head = json!({
            "kind": info.list_kind(),
            "apiVersion": info.group_version(),
            "metadata": meta,
        });
        let head = serde_json::to_vec(&head).map_err(ApiError::internal)?;
        let size: usize = page.items.iter().map(|o| o.json.len() + 1).sum();
        let mut out = BytesMut::with_capacity(head.len() + size + 16);
        out.put_slice(&head[..head.len() - 1]);
        out.put_slice(b",\"items\":[");
        for (i, item) in page.items.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            out.put_slice(&item.json);
        }
        out.put_slice(b"]}");
        return Ok(response::raw_json(StatusCode::OK, Bytes::from(out)));
    }
    let items = page
        .items
        .iter()
        .map(|o| {
            o.value()
                .map_err(ApiError::internal)
                .and_then(|v| scope.to_served(v))
        })
        .collect::<Result<Vec<Value>>>()?;
    let body = match output.target {
        Target::Table => response::table(&scope.endpoint, &items, meta, output),
        Target::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": format!("meta.k8s.io/{}", output.meta_version),
            "metadata": meta,
            "items": items.iter().map(|i| response::partial_metadata(i, output.meta_version)).collect::<Vec<_>>(),
        }),
        Target::Object => json!({
            "kind": info.list_kind(),
            "apiVersion": info.group_version(),
            "metadata": meta,
            "items": items,
        }),
    };
    Ok(response::typed(
        StatusCode::OK,
        &output.content_type(),
        response::encode(&body, output.format, output.pretty),
    ))
}
