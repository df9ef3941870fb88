//! The HTTP side of OpenAPI publishing: `/openapi/v2` and `/openapi/v3[/<group-version>]`,
//! with ETags, `If-None-Match`, and upstream's caching of hash-pinned v3 documents.

use super::State;
use crate::errors::ApiError;
use crate::handlers::response;
use crate::openapi::Document;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Request, StatusCode, header};

/// What a v2 client may ask for; only JSON is served.
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
    // client-go asks for the protobuf form only; answering 406 lets it fall back.
    let json_ok = accept.is_empty()
        || accept.split(',').any(|m| {
            let m = m.split(';').next().unwrap_or("").trim();
            m == V2_JSON || m == "*/*" || m == "application/*"
        });
    if !json_ok {
        return response::error(&ApiError::not_acceptable(&[V2_JSON]));
    }
    document(&state.openapi.documents().v2, req, V2_JSON)
}

/// The document, or 304 when the client already has this version.
fn document(doc: &Document, req: &Request<Body>, content_type: &str) -> Response {
    let etag = format!("\"{}\"", doc.hash);
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
        response::typed(StatusCode::OK, content_type, doc.json.clone())
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}
