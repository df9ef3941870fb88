//! `/healthz`, `/livez` and `/readyz`, with `?verbose`, `?exclude=` and per-check paths
//! (`/readyz/etcd`), answering as upstream: `ok`, or a list of `[+]`/`[-]` lines.

use super::State;
use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use std::time::Duration;

/// Runs one named check.
async fn check(state: &State, name: &str) -> bool {
    match name {
        "ping" | "log" => true,
        "etcd" | "etcd-readiness" => {
            let mut kv = state.etcd.kv_client();
            matches!(
                tokio::time::timeout(Duration::from_secs(2), kv.get("health", None)).await,
                Ok(Ok(_))
            )
        }
        "informer-sync" => state.hub.synced() > 0,
        "shutdown" => !state.shutting_down(),
        _ => true,
    }
}

fn checks(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "readyz" => &[
            "ping",
            "log",
            "etcd",
            "etcd-readiness",
            "informer-sync",
            "shutdown",
        ],
        _ => &["ping", "log", "etcd"],
    }
}

fn text(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

/// Serves `/<endpoint>` or `/<endpoint>/<check>`; `None` when the path is not a health path.
pub async fn serve(state: &State, path: &str, query: Option<&str>) -> Option<Response> {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let endpoint = parts.next()?;
    if !matches!(endpoint, "healthz" | "livez" | "readyz") {
        return None;
    }
    let all = checks(endpoint);
    if let Some(one) = parts.next() {
        if !all.contains(&one) {
            return Some(text(
                StatusCode::NOT_FOUND,
                "404 page not found\n".to_string(),
            ));
        }
        return Some(if check(state, one).await {
            text(StatusCode::OK, "ok".to_string())
        } else {
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error: check failed\n".to_string(),
            )
        });
    }
    let params = crate::handlers::params::Params::parse(query);
    let verbose = params.get("verbose").is_some();
    let excluded = params.all("exclude");
    let mut lines = String::new();
    let mut ok = true;
    for name in all {
        if excluded.contains(name) {
            lines.push_str(&format!("[+]{name} excluded: ok\n"));
            continue;
        }
        if check(state, name).await {
            lines.push_str(&format!("[+]{name} ok\n"));
        } else {
            ok = false;
            lines.push_str(&format!("[-]{name} failed: reason withheld\n"));
        }
    }
    Some(if ok {
        if verbose {
            text(StatusCode::OK, format!("{lines}{endpoint} check passed\n"))
        } else {
            text(StatusCode::OK, "ok".to_string())
        }
    } else {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{lines}{endpoint} check failed\n"),
        )
    })
}
