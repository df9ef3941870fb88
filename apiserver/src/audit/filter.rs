//! The request side of auditing: the filter around the handler chain and the hooks the chain
//! calls as it learns who is asking and what it decided, as upstream's audit, impersonation and
//! authorization filters feed one audit event per request.
//!
//! A [`Recorder`] travels in the request's extensions only when auditing is on; every hook
//! starts by looking for it, so a server without an audit policy pays one empty-map lookup.
//! Bodies are captured only when the policy asks for them for this request: the request body
//! is teed as the handler reads it, the response body read back once the handler is done.

use super::Auditor;
use super::event::{Event, Level, MicroTime, ObjectReference, ResponseStatus, Stage};
use super::log::{Delivery, Sink};
use super::policy::{Decision, Stages};
use crate::authn::user::UserInfo;
use crate::authz::Attributes;
use crate::handlers::body::MAX_BODY_BYTES;
use crate::handlers::negotiate::BodyFormat;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// The response header carrying the audit ID (upstream's `Audit-ID`).
pub const AUDIT_ID_HEADER: &str = "audit-id";
const MAX_USER_AGENT: usize = 1024;

/// The client's address, for `sourceIPs`; the server puts it in the request's extensions
/// when auditing is on.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// One request's audit state, shared by the filter and the hooks.
#[derive(Clone)]
pub struct Recorder(Arc<Shared>);

struct Shared {
    auditor: Arc<Auditor>,
    audit_id: String,
    received: MicroTime,
    method: Method,
    path: String,
    query: Option<String>,
    request_uri: String,
    user_agent: String,
    source_ips: Vec<String>,
    /// Upstream's description of the credentials a refused request brought.
    auth_methods: String,
    // Locked only briefly and never across an await.
    progress: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    authenticated: bool,
    /// The event, once the policy asked for one.
    event: Option<Event>,
    decision: Option<Decision>,
    long_running: bool,
    resource_request: bool,
    capture: Option<Capture>,
    panic: Option<String>,
}

/// A request body being teed, and how to read it.
struct Capture {
    body: oneshot::Receiver<Bytes>,
    format: Option<BodyFormat>,
}

impl Recorder {
    /// The recorder of an audited request.
    pub fn of<B>(req: &Request<B>) -> Option<Recorder> {
        req.extensions().get::<Recorder>().cloned()
    }

    fn new(auditor: Arc<Auditor>, req: &Request<Body>, client_certificate: bool) -> Self {
        let headers = req.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let audit_id = match header("audit-id") {
            "" => uuid::Uuid::new_v4().to_string(),
            given => given.to_string(),
        };
        let mut user_agent = header("user-agent").to_string();
        if user_agent.len() > MAX_USER_AGENT {
            let mut cut = MAX_USER_AGENT;
            while !user_agent.is_char_boundary(cut) {
                cut -= 1;
            }
            user_agent.truncate(cut);
            user_agent.push_str("...TRUNCATED");
        }
        let remote = req.extensions().get::<ClientAddr>().map(|a| a.0.ip());
        Recorder(Arc::new(Shared {
            auditor,
            audit_id,
            received: MicroTime::now(),
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            query: req.uri().query().map(String::from),
            request_uri: req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| req.uri().path().to_string()),
            user_agent,
            source_ips: source_ips(header("x-forwarded-for"), header("x-real-ip"), remote),
            auth_methods: auth_methods(
                header("authorization"),
                req.uri().query(),
                client_certificate,
            ),
            progress: Mutex::new(Progress::default()),
        }))
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.0.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sink(&self) -> &dyn Sink {
        self.0.auditor.sink.as_ref()
    }

    /// An event at `level` with what the request itself says.
    fn event(&self, level: Level, attrs: &Attributes) -> Event {
        let s = &self.0;
        let mut ev = Event::new(level, s.audit_id.clone());
        ev.request_uri = s.request_uri.clone();
        ev.verb = attrs.verb.clone();
        ev.source_ips = s.source_ips.clone();
        ev.user_agent = s.user_agent.clone();
        ev.request_received_timestamp = s.received;
        ev.stage_timestamp = s.received;
        if attrs.resource_request {
            ev.object_ref = Some(ObjectReference {
                resource: attrs.resource.clone(),
                namespace: attrs.namespace.clone(),
                name: attrs.name.clone(),
                api_group: attrs.api_group.clone(),
                api_version: attrs.api_version.clone(),
                subresource: attrs.subresource.clone(),
                ..Default::default()
            });
        }
        ev
    }

    /// Writes `ev` at `stage` unless the policy omits that stage.
    fn emit(&self, ev: &mut Event, stage: Stage, omit: Stages) -> Option<Delivery> {
        if omit.contains(stage) {
            return None;
        }
        ev.stage = stage;
        ev.stage_timestamp = if stage == Stage::RequestReceived {
            ev.request_received_timestamp
        } else {
            MicroTime::now()
        };
        Some(self.sink().process(ev))
    }

    async fn on_authenticated(
        &self,
        req: &mut Request<Body>,
        user: &UserInfo,
    ) -> Result<(), Response> {
        let attrs = attributes(req.method(), req.uri().path(), req.uri().query());
        let decision = self.0.auditor.policy.evaluate(Some(user), &attrs);
        if decision.level == Level::None {
            self.progress().authenticated = true;
            return Ok(());
        }
        let mut ev = self.event(decision.level, &attrs);
        ev.user = user.into();
        let long_running = is_long_running(&attrs);
        let method = req.method().clone();
        let has_body = matches!(
            method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        // Creates and updates name their object in the body, which upstream reads into
        // objectRef even at Metadata; other bodies matter only when they are logged.
        let names_object = matches!(attrs.verb.as_str(), "create" | "update");
        let capture = (attrs.resource_request
            && !long_running
            && has_body
            && (decision.level >= Level::Request || names_object))
            .then(|| {
                let (tx, rx) = oneshot::channel();
                let inner = std::mem::take(req.body_mut());
                *req.body_mut() = Body::new(Tee {
                    inner,
                    seen: Vec::new(),
                    len: 0,
                    overflow: false,
                    tx: Some(tx),
                });
                Capture {
                    body: rx,
                    format: crate::handlers::negotiate::body_format(
                        req.headers(),
                        method == Method::PATCH,
                    )
                    .ok(),
                }
            });
        let delivery = self.emit(&mut ev, Stage::RequestReceived, decision.omit_stages);
        {
            let mut p = self.progress();
            p.authenticated = true;
            p.event = Some(ev);
            p.decision = Some(decision);
            p.long_running = long_running;
            p.resource_request = attrs.resource_request;
            p.capture = capture;
        }
        let Some(delivery) = delivery else {
            return Ok(());
        };
        let stored = delivery.outcome().await;
        if !stored && self.0.auditor.strict {
            // As upstream's blocking-strict: the request fails and nothing more is recorded.
            self.progress().event = None;
            tracing::error!(audit_id = %self.0.audit_id, "Storing an audit event failed; refusing the request (blocking-strict).");
            return Err(plain_internal_error(
                &self.0.request_uri,
                "failed to store audit event",
            ));
        }
        Ok(())
    }

    /// Finishes the event once the handler chain answered: the response stages, the bodies
    /// the policy asked for, and the `Audit-Id` header.
    async fn finish(self, mut resp: Response) -> Response {
        if !resp.headers().contains_key(AUDIT_ID_HEADER)
            && let Ok(v) = HeaderValue::from_str(&self.0.audit_id)
        {
            resp.headers_mut().insert(AUDIT_ID_HEADER, v);
        }
        let (event, decision, long_running, resource_request, capture, panic, authenticated) = {
            let mut p = self.progress();
            (
                p.event.take(),
                p.decision,
                p.long_running,
                p.resource_request,
                p.capture.take(),
                p.panic.take(),
                p.authenticated,
            )
        };
        let (Some(mut ev), Some(decision)) = (event, decision) else {
            if !authenticated && resp.status() == http::StatusCode::UNAUTHORIZED {
                self.failed_authentication().await;
            }
            return resp;
        };
        let omit = decision.omit_stages;
        if let Some(message) = panic {
            ev.response_status = Some(ResponseStatus {
                status: "Failure".into(),
                reason: "InternalError".into(),
                message: format!("APIServer panic'd: {message}"),
                ..ResponseStatus::code(500)
            });
            if let Some(d) = self.emit(&mut ev, Stage::Panic, omit) {
                d.outcome().await;
            }
            return resp;
        }
        // The handler chain has dropped the request by now, so the tee has handed its copy
        // over; a body something still holds is not waited for.
        if let Some(mut c) = capture
            && let Ok(bytes) = c.body.try_recv()
        {
            record_request(&mut ev, &bytes, c.format, decision.omit_managed_fields);
        }
        let code = resp.status().as_u16();
        ev.response_status = Some(ResponseStatus::code(code));
        if long_running {
            // Refusals of long-running requests are small Status bodies; a stream is never
            // read here.
            if code >= 400 {
                resp = read_response(resp, &mut ev, resource_request, decision).await;
            }
            if let Some(d) = self.emit(&mut ev, Stage::ResponseStarted, omit) {
                d.outcome().await;
            }
            let (parts, body) = resp.into_parts();
            let body = Body::new(Completing {
                inner: body,
                finish: Some(Finish {
                    recorder: self,
                    event: ev,
                    omit,
                }),
            });
            return Response::from_parts(parts, body);
        }
        let wants_object = ev.level >= Level::RequestResponse;
        let may_be_status = matches!(ev.verb.as_str(), "delete" | "deletecollection");
        if code >= 400 || wants_object || may_be_status {
            resp = read_response(resp, &mut ev, resource_request, decision).await;
        }
        if let Some(d) = self.emit(&mut ev, Stage::ResponseComplete, omit) {
            d.outcome().await;
        }
        resp
    }

    /// Upstream's event for a request whose credentials were refused: no user, the methods
    /// it tried, `ResponseStarted` only.
    async fn failed_authentication(&self) {
        let s = &self.0;
        let attrs = attributes(&s.method, &s.path, s.query.as_deref());
        let decision = s.auditor.policy.evaluate(None, &attrs);
        if decision.level == Level::None {
            return;
        }
        let mut ev = self.event(decision.level, &attrs);
        ev.response_status = Some(ResponseStatus {
            message: s.auth_methods.clone(),
            ..ResponseStatus::code(401)
        });
        if let Some(d) = self.emit(&mut ev, Stage::ResponseStarted, decision.omit_stages) {
            d.outcome().await;
        }
    }
}

impl Auditor {
    /// Audits one request around `next` (the rest of the handler chain). `client_certificate`:
    /// whether the connection presented a verified client certificate.
    pub async fn filter<F, Fut>(
        self: Arc<Self>,
        client_certificate: bool,
        mut req: Request<Body>,
        next: F,
    ) -> Response
    where
        F: FnOnce(Request<Body>) -> Fut,
        Fut: Future<Output = Response>,
    {
        let recorder = Recorder::new(self, &req, client_certificate);
        req.extensions_mut().insert(recorder.clone());
        let resp = next(req).await;
        recorder.finish(resp).await
    }
}

/// Hook: the request's user is known (before impersonation). Evaluates the policy and writes
/// `RequestReceived`. `Err` is the answer to send instead (blocking-strict could not write).
pub async fn authenticated(req: &mut Request<Body>, user: &UserInfo) -> Result<(), Response> {
    match Recorder::of(req) {
        Some(r) => r.on_authenticated(req, user).await,
        None => Ok(()),
    }
}

/// Hook: the request runs as `user` from now on (impersonation).
pub fn impersonated<B>(req: &Request<B>, user: &UserInfo) {
    if let Some(r) = Recorder::of(req)
        && let Some(ev) = r.progress().event.as_mut()
    {
        ev.impersonated_user = Some(user.into());
    }
}

/// Hook: the authorizers' decision, as upstream's authorization filter annotates it.
pub fn authorized<B>(req: &Request<B>, decision: crate::authz::Decision, reason: &str) {
    if let Some(r) = Recorder::of(req)
        && let Some(ev) = r.progress().event.as_mut()
    {
        let d = if decision == crate::authz::Decision::Allow {
            "allow"
        } else {
            "forbid"
        };
        ev.annotations
            .insert("authorization.k8s.io/decision".into(), d.into());
        ev.annotations
            .insert("authorization.k8s.io/reason".into(), reason.into());
    }
}

impl Recorder {
    /// Adds annotations (admission's) to the request's event.
    pub fn annotate(&self, annotations: std::collections::BTreeMap<String, String>) {
        if annotations.is_empty() {
            return;
        }
        if let Some(ev) = self.progress().event.as_mut() {
            for (k, v) in annotations {
                ev.annotations.entry(k).or_insert(v);
            }
        }
    }
}

/// Hook: the handler panicked with `payload`; the event ends at the `Panic` stage.
pub fn panicked(recorder: Option<&Recorder>, payload: &(dyn std::any::Any + Send)) {
    if let Some(r) = recorder {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        r.progress().panic = Some(message);
    }
}

/// What a request asks to do, as the policy sees it (upstream's authorizer attributes,
/// without the user).
pub(super) fn attributes(method: &Method, path: &str, query: Option<&str>) -> Attributes {
    let watch = crate::handlers::params::Params::parse(query).is_watch();
    match crate::handlers::request_info::parse(method, path, watch) {
        Some(info) => {
            // Upstream's RequestInfo puts a namespace's own name in its namespace.
            let namespace = if info.group.is_empty()
                && info.resource == "namespaces"
                && info.namespace.is_empty()
            {
                info.name.clone()
            } else {
                info.namespace
            };
            Attributes {
                verb: info.verb.as_str().to_string(),
                resource_request: true,
                namespace,
                api_group: info.group,
                api_version: info.version,
                resource: info.resource,
                subresource: info.subresource,
                name: info.name,
                path: path.to_string(),
                ..Default::default()
            }
        }
        None => Attributes {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_string(),
            ..Default::default()
        },
    }
}

/// Upstream's long-running check: watches, and the streaming subresources.
fn is_long_running(attrs: &Attributes) -> bool {
    attrs.verb == "watch"
        || (attrs.resource_request
            && matches!(
                attrs.subresource.as_str(),
                "attach" | "exec" | "proxy" | "log" | "portforward"
            ))
}

/// `sourceIPs` as upstream lists them: X-Forwarded-For, X-Real-Ip if not already there, then
/// the connection's address unless it repeats the last one.
fn source_ips(forwarded_for: &str, real_ip: &str, remote: Option<std::net::IpAddr>) -> Vec<String> {
    let mut ips: Vec<std::net::IpAddr> = forwarded_for
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    if let Ok(ip) = real_ip.trim().parse()
        && !ips.contains(&ip)
    {
        ips.push(ip);
    }
    if let Some(ip) = remote
        && ips.last() != Some(&ip)
    {
        ips.push(ip);
    }
    ips.iter().map(|ip| ip.to_string()).collect()
}

/// Upstream's message for a refused request: which credentials it brought.
fn auth_methods(authorization: &str, query: Option<&str>, client_certificate: bool) -> String {
    let mut methods = Vec::new();
    let auth = authorization.trim();
    let scheme = auth.split(' ').next().unwrap_or_default();
    if scheme.eq_ignore_ascii_case("basic") {
        methods.push("basic");
    }
    if auth.split(' ').count() > 1 && scheme.eq_ignore_ascii_case("bearer") {
        methods.push("bearer");
    }
    let access_token = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "access_token" && !v.trim().is_empty());
    if access_token {
        methods.push("access_token");
    }
    if client_certificate {
        methods.push("x509");
    }
    if methods.is_empty() {
        "Authentication failed, no credentials provided".into()
    } else {
        format!("Authentication failed, attempted: {}", methods.join(", "))
    }
}

/// The object metadata a request body names, for objectRef.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Named {
    metadata: NamedMeta,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NamedMeta {
    namespace: String,
    name: String,
    uid: String,
    resource_version: String,
}

/// Fills `requestObject` (at Request and above) and the objectRef fields the body names.
fn record_request(ev: &mut Event, bytes: &[u8], format: Option<BodyFormat>, omit_managed: bool) {
    let Some(format) = format.filter(|_| !bytes.is_empty()) else {
        return;
    };
    // Upstream names the object from the body, but patches are not objects.
    let names = ev.verb != "patch";
    if ev.level < Level::Request {
        // Only the names are wanted: skip building the whole object when it is JSON.
        let meta = if format == BodyFormat::Json {
            serde_json::from_slice::<Named>(bytes).ok()
        } else {
            crate::handlers::body::parse(bytes, format)
                .ok()
                .and_then(|v| serde_json::from_value::<Named>(v).ok())
        };
        if let Some(n) = meta.filter(|_| names) {
            fill_object_ref(ev, n.metadata);
        }
        return;
    }
    let Ok(mut obj) = crate::handlers::body::parse(bytes, format) else {
        return;
    };
    if names
        && let Some(meta) = obj.get("metadata")
        && let Ok(meta) = NamedMeta::deserialize(meta)
    {
        fill_object_ref(ev, meta);
    }
    if omit_managed {
        super::event::omit_managed_fields(&mut obj);
    }
    ev.request_object = Some(obj);
}

/// Sets the objectRef fields the request did not already say.
fn fill_object_ref(ev: &mut Event, meta: NamedMeta) {
    let Some(r) = ev.object_ref.as_mut() else {
        return;
    };
    for (slot, value) in [
        (&mut r.namespace, meta.namespace),
        (&mut r.name, meta.name),
        (&mut r.uid, meta.uid),
        (&mut r.resource_version, meta.resource_version),
    ] {
        if slot.is_empty() {
            *slot = value;
        }
    }
}

/// Reads a finished response back: its `Status` into `responseStatus`, and at
/// RequestResponse the object into `responseObject`.
async fn read_response(
    resp: Response,
    ev: &mut Event,
    resource_request: bool,
    decision: Decision,
) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(audit_id = %ev.audit_id, error = %e, "Reading a response for the audit log failed.");
            return Response::from_parts(parts, Body::empty());
        }
    };
    if let Some(mut obj) = parse_response(&parts.headers, &bytes) {
        let is_status = obj.get("kind").and_then(Value::as_str) == Some("Status");
        if is_status {
            ev.response_status = Some(ResponseStatus::from_status_object(
                &obj,
                parts.status.as_u16(),
            ));
        }
        if ev.level >= Level::RequestResponse && (resource_request || is_status) {
            if decision.omit_managed_fields {
                super::event::omit_managed_fields(&mut obj);
            }
            ev.response_object = Some(obj);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn parse_response(headers: &http::HeaderMap, bytes: &[u8]) -> Option<Value> {
    let (_, mime) = crate::handlers::negotiate::content_type(headers);
    match mime.as_str() {
        "application/json" => serde_json::from_slice(bytes).ok(),
        m if m.ends_with("+json") => serde_json::from_slice(bytes).ok(),
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(bytes).ok(),
        "application/yaml" => serde_yaml::from_slice(bytes).ok(),
        _ => None,
    }
}

/// Upstream's plain-text internal error of its filters.
fn plain_internal_error(request_uri: &str, why: &str) -> Response {
    let mut resp = Response::new(Body::from(format!(
        "Internal Server Error: {request_uri:?}: {why}\n"
    )));
    *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// A request body that keeps a copy of what the handler reads, handed over when it ends or
/// is dropped.
struct Tee {
    inner: Body,
    seen: Vec<Bytes>,
    len: usize,
    /// More than the handlers accept: not recorded.
    overflow: bool,
    tx: Option<oneshot::Sender<Bytes>>,
}

impl Tee {
    fn hand_over(&mut self) {
        if let Some(tx) = self.tx.take() {
            let bytes = if self.overflow {
                Bytes::new()
            } else if self.seen.len() == 1 {
                self.seen.remove(0)
            } else {
                Bytes::from(self.seen.concat())
            };
            let _ = tx.send(bytes);
        }
    }
}

impl HttpBody for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if self.len + data.len() > MAX_BODY_BYTES {
                        self.overflow = true;
                        self.seen.clear();
                    } else if !self.overflow {
                        self.len += data.len();
                        self.seen.push(data.clone());
                    }
                }
            }
            Poll::Ready(None) => self.hand_over(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        self.hand_over();
    }
}

/// What is left to write when a long-running response ends.
struct Finish {
    recorder: Recorder,
    event: Event,
    omit: Stages,
}

/// A long-running response body that writes `ResponseComplete` when it ends or the client
/// goes away.
struct Completing {
    inner: Body,
    finish: Option<Finish>,
}

impl Completing {
    fn complete(&mut self) {
        if let Some(mut f) = self.finish.take() {
            // Not awaited: the response is over, nobody waits for it.
            let _ = f
                .recorder
                .emit(&mut f.event, Stage::ResponseComplete, f.omit);
        }
    }
}

impl HttpBody for Completing {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.complete();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Completing {
    fn drop(&mut self) {
        self.complete();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ips_as_upstream() {
        let remote = Some("10.0.0.9".parse().unwrap());
        assert_eq!(source_ips("", "", remote), vec!["10.0.0.9"]);
        assert_eq!(
            source_ips("1.1.1.1, bogus, 2.2.2.2", "3.3.3.3", remote),
            vec!["1.1.1.1", "2.2.2.2", "3.3.3.3", "10.0.0.9"]
        );
        // X-Real-Ip already in the chain, and a remote equal to the last one, are not repeated.
        assert_eq!(
            source_ips("1.1.1.1,10.0.0.9", "1.1.1.1", remote),
            vec!["1.1.1.1", "10.0.0.9"]
        );
        assert!(source_ips("", "", None).is_empty());
    }

    #[test]
    fn auth_methods_as_upstream() {
        assert_eq!(
            auth_methods("", None, false),
            "Authentication failed, no credentials provided"
        );
        assert_eq!(
            auth_methods("Bearer abc", Some("access_token=x"), true),
            "Authentication failed, attempted: bearer, access_token, x509"
        );
        assert_eq!(
            auth_methods("Basic YTpi", None, false),
            "Authentication failed, attempted: basic"
        );
        assert_eq!(
            auth_methods("Bearer", None, false),
            "Authentication failed, no credentials provided"
        );
    }

    #[test]
    fn attributes_and_long_running() {
        let a = attributes(
            &Method::GET,
            "/api/v1/namespaces/ns/pods",
            Some("watch=true"),
        );
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("watch", "ns"));
        assert!(is_long_running(&a));
        let a = attributes(&Method::GET, "/api/v1/namespaces/ns/pods/p/log", None);
        assert_eq!((a.verb.as_str(), a.subresource.as_str()), ("get", "log"));
        assert!(is_long_running(&a));
        let a = attributes(
            &Method::POST,
            "/apis/apps/v1/namespaces/ns/deployments",
            None,
        );
        assert_eq!(
            (
                a.verb.as_str(),
                a.api_group.as_str(),
                a.api_version.as_str()
            ),
            ("create", "apps", "v1")
        );
        assert!(!is_long_running(&a));
        let a = attributes(&Method::GET, "/api/v1/namespaces/kube-system", None);
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        let a = attributes(&Method::POST, "/healthz", None);
        assert_eq!((a.verb.as_str(), a.resource_request), ("post", false));
    }

    #[test]
    fn request_bodies_fill_object_ref_and_request_object() {
        let body = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"ns","resourceVersion":"7","managedFields":[{}]}}"#;
        let attrs = attributes(&Method::POST, "/api/v1/namespaces/ns/secrets", None);
        let rec_event = |level| {
            let mut ev = Event::new(level, "id".into());
            ev.verb = attrs.verb.clone();
            ev.object_ref = Some(ObjectReference {
                resource: "secrets".into(),
                namespace: "ns".into(),
                api_version: "v1".into(),
                ..Default::default()
            });
            ev
        };
        let mut meta = rec_event(Level::Metadata);
        record_request(&mut meta, body, Some(BodyFormat::Json), false);
        let r = meta.object_ref.as_ref().unwrap();
        assert_eq!((r.name.as_str(), r.resource_version.as_str()), ("s", "7"));
        assert!(meta.request_object.is_none(), "no body at Metadata");
        let mut req = rec_event(Level::Request);
        record_request(&mut req, body, Some(BodyFormat::Json), true);
        let obj = req.request_object.unwrap();
        assert_eq!(obj["metadata"]["name"], "s");
        assert!(obj["metadata"].get("managedFields").is_none());
        // Not a body the handler could read either: nothing recorded.
        let mut bad = rec_event(Level::Request);
        record_request(&mut bad, b"{", Some(BodyFormat::Json), false);
        assert!(bad.request_object.is_none());
    }

    /// A sink that keeps events in memory: the fake of the log backend.
    #[derive(Default)]
    struct Memory(Mutex<Vec<Value>>);

    impl Sink for Memory {
        fn process(&self, event: &Event) -> Delivery {
            let v = serde_json::from_slice(&event.to_line()).unwrap();
            self.0.lock().unwrap().push(v);
            Delivery::Done(true)
        }
    }

    impl Memory {
        fn stages(&self) -> Vec<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|e| e["stage"].as_str().unwrap().to_string())
                .collect()
        }

        fn last(&self) -> Value {
            self.0.lock().unwrap().last().cloned().unwrap()
        }
    }

    fn auditor() -> (Arc<Auditor>, Arc<Memory>) {
        let policy = super::super::policy::Policy::parse(
            br#"{"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitManagedFields": true,
                "rules": [
                  {"level": "RequestResponse", "resources": [{"resources": ["configmaps"]}]},
                  {"level": "None", "nonResourceURLs": ["/healthz*"]},
                  {"level": "Metadata"}]}"#,
        )
        .unwrap();
        let sink = Arc::new(Memory::default());
        (Arc::new(Auditor::new(policy, sink.clone(), false)), sink)
    }

    fn admin() -> UserInfo {
        UserInfo {
            name: "admin".into(),
            groups: vec!["system:masters".into()],
            ..Default::default()
        }
    }

    fn request(method: Method, uri: &str, body: &'static str) -> Request<Body> {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        req.extensions_mut()
            .insert(ClientAddr("192.0.2.7:40000".parse().unwrap()));
        req
    }

    fn json_response(code: u16, body: &Value) -> Response {
        let mut resp = Response::new(Body::from(serde_json::to_vec(body).unwrap()));
        *resp.status_mut() = http::StatusCode::from_u16(code).unwrap();
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }

    #[tokio::test]
    async fn records_bodies_the_handler_read_and_answered() {
        let (auditor, sink) = auditor();
        let req = request(
            Method::POST,
            "/api/v1/namespaces/ns/configmaps?fieldManager=x",
            r#"{"kind":"ConfigMap","metadata":{"name":"c","managedFields":[{}]}}"#,
        );
        let resp = auditor
            .filter(false, req, |mut req| async move {
                authenticated(&mut req, &admin()).await.unwrap();
                authorized(&req, crate::authz::Decision::Allow, "");
                let body = axum::body::to_bytes(req.into_body(), usize::MAX)
                    .await
                    .unwrap();
                let mut obj: Value = serde_json::from_slice(&body).unwrap();
                obj["metadata"]["uid"] = "u1".into();
                json_response(201, &obj)
            })
            .await;
        let id = resp.headers()[AUDIT_ID_HEADER]
            .to_str()
            .unwrap()
            .to_string();
        // The body reaches the client untouched.
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["metadata"]["uid"],
            "u1"
        );
        assert_eq!(sink.stages(), ["RequestReceived", "ResponseComplete"]);
        let e = sink.last();
        assert_eq!(e["auditID"], id);
        assert_eq!(e["sourceIPs"], serde_json::json!(["192.0.2.7"]));
        assert_eq!(e["objectRef"]["name"], "c");
        assert_eq!(
            e["requestObject"],
            serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "c"}})
        );
        assert_eq!(e["responseObject"]["metadata"]["uid"], "u1");
        assert!(
            e["responseObject"]["metadata"]
                .get("managedFields")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_panic_ends_the_event_at_the_panic_stage() {
        let (auditor, sink) = auditor();
        let req = request(Method::GET, "/api/v1/namespaces/ns/pods", "");
        auditor
            .filter(false, req, |mut req| async move {
                authenticated(&mut req, &admin()).await.unwrap();
                let payload: Box<dyn std::any::Any + Send> = Box::new("boom");
                panicked(Recorder::of(&req).as_ref(), payload.as_ref());
                json_response(500, &serde_json::json!({"kind": "Status", "code": 500}))
            })
            .await;
        assert_eq!(sink.stages(), ["RequestReceived", "Panic"]);
        assert_eq!(
            sink.last()["responseStatus"],
            serde_json::json!({"metadata": {}, "status": "Failure",
                "message": "APIServer panic'd: boom", "reason": "InternalError", "code": 500})
        );
    }

    #[tokio::test]
    async fn long_running_requests_complete_when_the_stream_ends() {
        let (auditor, sink) = auditor();
        let req = request(Method::GET, "/api/v1/namespaces/ns/pods?watch=1", "");
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let resp = auditor
            .filter(false, req, |mut req| async move {
                authenticated(&mut req, &admin()).await.unwrap();
                Response::new(Body::from_stream(
                    tokio_stream::wrappers::ReceiverStream::new(rx),
                ))
            })
            .await;
        assert_eq!(sink.stages(), ["RequestReceived", "ResponseStarted"]);
        tx.send(Ok(Bytes::from_static(b"{}\n"))).await.unwrap();
        drop(tx);
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"{}\n");
        assert_eq!(
            sink.stages(),
            ["RequestReceived", "ResponseStarted", "ResponseComplete"]
        );
        assert_eq!(sink.last()["verb"], "watch");
    }

    #[tokio::test]
    async fn unaudited_and_refused_requests() {
        let (auditor, sink) = auditor();
        // Level None: nothing recorded, the header still sent.
        let req = request(Method::GET, "/healthz/etcd", "");
        let resp = auditor
            .clone()
            .filter(false, req, |mut req| async move {
                authenticated(&mut req, &admin()).await.unwrap();
                json_response(200, &serde_json::json!({}))
            })
            .await;
        assert!(resp.headers().contains_key(AUDIT_ID_HEADER));
        assert!(sink.stages().is_empty());
        // Refused credentials: ResponseStarted, without a user.
        let mut req = request(Method::GET, "/api/v1/pods", "");
        req.headers_mut()
            .insert("authorization", HeaderValue::from_static("Bearer nope"));
        auditor
            .filter(true, req, |_| async {
                json_response(401, &serde_json::json!({"kind": "Status", "code": 401}))
            })
            .await;
        assert_eq!(sink.stages(), ["ResponseStarted"]);
        let e = sink.last();
        assert_eq!(e["user"], serde_json::json!({}));
        assert_eq!(
            e["responseStatus"]["message"],
            "Authentication failed, attempted: bearer, x509"
        );
    }
}
