//! The HTTP side of OpenAPI publishing: `/openapi/v2` (JSON, or gnostic protobuf for client-go)
//! and `/openapi/v3[/<group-version>]`, with ETags, `If-None-Match`, and upstream's caching of
//! hash-pinned v3 documents.

use super::State;
use crate::errors::ApiError;
use crate::handlers::response;
use crate::openapi::{Document, v2_protobuf};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};

/// The v2 document's JSON form.
const V2_JSON: &str = "application/json";

/// Answers the OpenAPI paths; `None` for every other path.
pub fn serve(
    state: &State,
    path: &str,
    query: Option<&str>,
    req: &Request<Body>,
) -> Option<Response> {
    if path == "/openapi/v2" {
        return Some(v2(state, req));
    }
    if path == "/openapi/v3" {
        let docs = state.openapi.documents();
        return Some(response::typed(
            StatusCode::OK,
            "application/json",
            docs.v3_index.clone(),
        ));
    }
    let key = path.strip_prefix("/openapi/v3/")?;
    let docs = state.openapi.documents();
    let doc = docs.v3.get(key)?;
    let requested = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "hash")
            .map(|(_, v)| v.into_owned())
    });
    let cache = match requested {
        // An outdated pinned URL is sent to the current one, as upstream does.
        Some(h) if h != doc.hash => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(v) = HeaderValue::from_str(&format!("/openapi/v3/{key}?hash={}", doc.hash)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return Some(r);
        }
        Some(_) => "public, immutable",
        None => "no-cache, private",
    };
    let mut r = document(doc, req, "application/json");
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Some(r)
}

fn v2(state: &State, req: &Request<Body>) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let docs = state.openapi.documents();
    let mut r = match v2_format(accept) {
        Some(V2Format::Json) => document(&docs.v2, req, V2_JSON),
        // client-go's `OpenAPISchema()` asks for the protobuf form only.
        Some(V2Format::Protobuf) => match v2_protobuf::cached(&docs.v2) {
            Ok(bytes) => etagged(&docs.v2.hash, bytes, req, v2_protobuf::MEDIA_TYPE),
            Err(e) => {
                tracing::error!(error = %e, "The OpenAPI v2 document cannot be encoded as protobuf.");
                return response::error(&ApiError::service_unavailable(e));
            }
        },
        None => {
            return response::error(&ApiError::not_acceptable(&[
                V2_JSON,
                v2_protobuf::MEDIA_TYPE,
            ]));
        }
    };
    // Both forms share one ETag, as upstream's do.
    r.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept"));
    r
}

#[derive(Clone, Copy)]
enum V2Format {
    Json,
    Protobuf,
}

/// Upstream's negotiation (kube-openapi's handler, with goautoneg): the `Accept` clauses ordered
/// by quality, specific types before wildcards; the first clause matching JSON or either
/// spelling of the protobuf type (tried in that order) wins. No `Accept` means `*/*`.
fn v2_format(accept: &str) -> Option<V2Format> {
    const OFFERED: [(&str, V2Format); 3] = [
        (V2_JSON, V2Format::Json),
        (v2_protobuf::MEDIA_TYPE_DEPRECATED, V2Format::Protobuf),
        (v2_protobuf::MEDIA_TYPE, V2Format::Protobuf),
    ];
    let accept = if accept.trim().is_empty() {
        "*/*"
    } else {
        accept
    };
    let mut clauses: Vec<(f32, &str, &str)> = accept
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';');
            let range = parts.next().unwrap_or("").trim();
            let (ty, sub) = match range.split_once('/') {
                Some((t, s)) if !s.contains('/') => (t.trim(), s.trim()),
                None if range == "*" => ("*", "*"),
                _ => return None,
            };
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim() == "q")
                .map_or(1.0, |(_, v)| v.trim().parse().unwrap_or(0.0));
            Some((q, ty, sub))
        })
        .collect();
    clauses.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then((a.1 == "*").cmp(&(b.1 == "*")))
            .then((a.2 == "*").cmp(&(b.2 == "*")))
    });
    clauses.iter().find_map(|&(_, ty, sub)| {
        OFFERED.iter().find_map(|&(media, format)| {
            let (oty, osub) = media.split_once('/')?;
            ((ty == "*" || ty == oty) && (sub == "*" || sub == osub)).then_some(format)
        })
    })
}

/// The document, or 304 when the client already has this version.
fn document(doc: &Document, req: &Request<Body>, content_type: &str) -> Response {
    etagged(&doc.hash, doc.json.clone(), req, content_type)
}

/// A body tagged with `hash`, or 304 when the client's `If-None-Match` names it.
fn etagged(hash: &str, body: Bytes, req: &Request<Body>, content_type: &str) -> Response {
    let etag = format!("\"{hash}\"");
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        response::typed(StatusCode::OK, content_type, body)
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(accept: &str) -> Option<&'static str> {
        v2_format(accept).map(|f| match f {
            V2Format::Json => "json",
            V2Format::Protobuf => "protobuf",
        })
    }

    #[test]
    fn v2_negotiation() {
        assert_eq!(format(""), Some("json"));
        assert_eq!(format("*/*"), Some("json"));
        assert_eq!(format("application/json, */*"), Some("json"));
        assert_eq!(format("application/*"), Some("json"));
        // client-go's `OpenAPISchema()`, and the current spelling.
        assert_eq!(format(v2_protobuf::MEDIA_TYPE_DEPRECATED), Some("protobuf"));
        assert_eq!(format(v2_protobuf::MEDIA_TYPE), Some("protobuf"));
        // Quality first, then specific types before wildcards.
        assert_eq!(
            format(
                "application/json;q=0.5, application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
            ),
            Some("protobuf")
        );
        assert_eq!(
            format("*/*, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
            Some("protobuf")
        );
        assert_eq!(format("text/html"), None);
        assert_eq!(format("application/yaml, text/*"), None);
    }
}
