//! WATCH: a chunked stream of watch events served from the watch cache: JSON, one per line, or
//! length-prefixed protobuf `WatchEvent` frames.
//! Ends after `timeoutSeconds` (or a random time between the minimum request timeout and twice
//! it, as upstream), or when the client goes away.

use super::Scope;
use super::list::list_request;
use super::negotiate::{Format, Output, Target, negotiate};
use super::params::watch_params;
use super::response;
use crate::errors::{ApiError, Result};
use crate::protobuf;
use crate::storage::{WatchItem, WatchRequest};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::StatusCode;
use rand::Rng;
use serde_json::{Value, json};
use std::time::Duration;

/// The annotation on the bookmark that ends a `sendInitialEvents` watch's initial state.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

pub async fn watch(scope: &Scope) -> Result<Response> {
    // Each event carries one object, so partial metadata is asked for as
    // `as=PartialObjectMetadata` (what client-go's and kube-rs's metadata watches send), not
    // as the list form.
    let output = negotiate(&scope.headers, &scope.params, false)?;
    let wp = watch_params(&scope.params)?;
    let list = list_request_for_watch(scope)?;
    let req = WatchRequest {
        prefix: list.prefix,
        from: wp.from,
        predicate: list.predicate,
        allow_bookmarks: wp.allow_bookmarks,
        send_initial_events: wp.send_initial_events,
    };
    let timeout = match wp.timeout_seconds {
        Some(t) if t > 0 => Duration::from_secs(t as u64),
        _ => {
            let min = scope.state.min_request_timeout.as_secs().max(1);
            Duration::from_secs(rand::rng().random_range(min..2 * min))
        }
    };
    // Watch streams are JSON lines unless the client takes protobuf frames; upstream has no
    // YAML stream.
    let output = Output {
        format: match output.format {
            Format::Protobuf => Format::Protobuf,
            _ => Format::Json,
        },
        ..output
    };
    let encoder = Encoder::new(scope, output);
    let content_type = encoder.content_type();
    let stream = match scope.endpoint.store.watch(&req).await {
        Ok(s) => s,
        // Past authorization and parameter checks, upstream reports a watch that cannot
        // start as an ERROR event, so clients relist.
        Err(e) if e.code == 410 => {
            let line = error_line(&e, output.format);
            let body = Body::from_stream(futures::stream::once(async move {
                Ok::<_, std::io::Error>(line)
            }));
            return Ok(stream_response(body, &content_type));
        }
        Err(e) => return Err(e),
    };
    let metrics = scope.state.metrics.clone();
    let resource = scope.endpoint.info.resource;
    metrics.watch_started(resource);
    let guard = WatchGuard { metrics, resource };
    let deadline = tokio::time::sleep(timeout);
    let body_stream = futures::stream::unfold(
        (stream, encoder, Box::pin(deadline), false, guard),
        |(mut stream, mut encoder, mut deadline, done, guard)| async move {
            if done {
                return None;
            }
            tokio::select! {
                _ = &mut deadline => None,
                item = stream.next() => match item {
                    None => None,
                    Some(Ok(item)) => {
                        let line = encoder.encode(item);
                        Some((Ok::<_, std::io::Error>(line), (stream, encoder, deadline, false, guard)))
                    }
                    Some(Err(e)) => {
                        let e = ApiError::from_storage(e, &crate::errors::GroupResource::new("", ""), "");
                        let line = error_line(&e, encoder.output.format);
                        Some((Ok(line), (stream, encoder, deadline, true, guard)))
                    }
                },
            }
        },
    );
    Ok(stream_response(
        Body::from_stream(body_stream),
        &content_type,
    ))
}

/// Counts the watch down when its stream is dropped.
struct WatchGuard {
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    resource: &'static str,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.metrics.watch_ended(self.resource);
    }
}

fn list_request_for_watch(scope: &Scope) -> Result<crate::storage::ListRequest> {
    // Watches share the list's selectors and prefix; their resourceVersion rules differ and are
    // checked by `watch_params`.
    let mut params = scope.params.clone();
    params = params.without(&[
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "limit",
        "continue",
    ]);
    let probe = Scope {
        state: scope.state.clone(),
        info: scope.info.clone(),
        endpoint: scope.endpoint.clone(),
        params,
        headers: scope.headers.clone(),
        user: scope.user.clone(),
        annotations: scope.annotations.clone(),
    };
    list_request(&probe)
}

fn stream_response(body: Body, content_type: &str) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

fn error_line(e: &ApiError, format: Format) -> Bytes {
    event(format, "ERROR", &e.to_status())
}

/// One event of the stream: a JSON line, or a protobuf frame holding the enveloped object.
fn event(format: Format, typ: &str, object: &Value) -> Bytes {
    if format == Format::Protobuf {
        let object = response::encode(object, Format::Protobuf, false);
        return Bytes::from(protobuf::watch_frame(typ, &object));
    }
    let mut out = serde_json::to_vec(&json!({"type": typ, "object": object})).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// Turns watch items into lines in the negotiated representation.
struct Encoder {
    endpoint: std::sync::Arc<crate::registry::catalog::Endpoint>,
    conversion: bool,
    output: Output,
    /// Tables carry their column definitions in the first event only.
    sent_columns: bool,
}

impl Encoder {
    fn new(scope: &Scope, output: Output) -> Self {
        Self {
            endpoint: scope.endpoint.clone(),
            conversion: scope.endpoint.conversion.is_some(),
            output,
            sent_columns: false,
        }
    }

    fn content_type(&self) -> String {
        match self.output.format {
            Format::Protobuf => protobuf::WATCH_MEDIA_TYPE.to_string(),
            _ => self.output.content_type(),
        }
    }

    fn fast(&self) -> bool {
        self.output.target == Target::Object
            && self.output.format == Format::Json
            && !self.conversion
    }

    fn line(&self, typ: &str, object: Value) -> Bytes {
        event(self.output.format, typ, &object)
    }

    fn bookmark(&self, rv: i64, end_of_initial: bool) -> Bytes {
        let info = &self.endpoint.info;
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if end_of_initial {
            meta["annotations"] = json!({ INITIAL_EVENTS_END: "true" });
        }
        self.line(
            "BOOKMARK",
            json!({"kind": info.kind, "apiVersion": info.group_version(), "metadata": meta}),
        )
    }

    fn encode(&mut self, item: WatchItem) -> Bytes {
        match item {
            WatchItem::Bookmark(rv) => self.bookmark(rv, false),
            WatchItem::InitialEventsEnd(rv) => self.bookmark(rv, true),
            WatchItem::Event(ev) => {
                if self.fast() {
                    return ev.json_line().clone();
                }
                let value = match ev.object.value() {
                    Ok(v) => v,
                    Err(e) => return error_line(&ApiError::internal(e), self.output.format),
                };
                let value = match &self.endpoint.conversion {
                    Some(c) => match c.to_served(value) {
                        Ok(v) => v,
                        Err(e) => return error_line(&ApiError::internal(e), self.output.format),
                    },
                    None => value,
                };
                let object = match self.output.target {
                    Target::Object => value,
                    Target::Metadata => {
                        response::partial_metadata(&value, self.output.meta_version)
                    }
                    Target::Table => {
                        let rv = value
                            .pointer("/metadata/resourceVersion")
                            .cloned()
                            .unwrap_or(Value::Null);
                        let mut t = response::table(
                            &self.endpoint,
                            std::slice::from_ref(&value),
                            json!({"resourceVersion": rv}),
                            &self.output,
                        );
                        if self.sent_columns {
                            t["columnDefinitions"] = Value::Null;
                        }
                        self.sent_columns = true;
                        t
                    }
                };
                self.line(ev.typ.as_str(), object)
            }
        }
    }
}
