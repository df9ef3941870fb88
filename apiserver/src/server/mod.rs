//! The server: connects to etcd, builds the catalog and its watch caches, bootstraps the
//! system objects, and serves HTTPS until shut down.
//!
//! Timeline: connect to etcd (retrying until it answers) → build stores and load the caches →
//! bootstrap (default namespaces, the `kubernetes` Service, system PriorityClasses) → listen.
//! `/readyz` is ok from the first accepted connection on.

pub mod bootstrap;
mod health;
mod oidc;
mod openapi;
mod rbac_bootstrap;
pub mod tls;

use crate::admission;
use crate::authn::service_account::Tokens;
use crate::authn::{Authenticator, Outcome, Peer, impersonation, keys, token_file};
use crate::authz::{Attributes, Authorizer};
use crate::discovery::{Discovery, wants_aggregated};
use crate::errors::ApiError;
use crate::handlers::{self, response};
use crate::metrics::{METRICS, Metrics, RequestLabels};
use crate::options::Options;
use crate::registry::catalog::Catalog;
use crate::registry::resources;
use crate::storage::cacher::Hub;
use crate::storage::compactor;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The Kubernetes version this server speaks.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";
pub const GIT_VERSION: &str = concat!("v1.33.0+ferrokube-", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connecting to etcd at {servers}: {source}")]
    Etcd {
        servers: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("loading the watch cache from etcd: {0}")]
    Cache(#[source] crate::storage::Error),
    #[error(transparent)]
    Tls(#[from] tls::Error),
    #[error(transparent)]
    Tokens(#[from] token_file::Error),
    #[error(transparent)]
    Keys(#[from] keys::Error),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid flag: {0}")]
    Flag(String),
    #[error("bootstrapping system objects: {0}")]
    Bootstrap(ApiError),
    #[error("generating a self-signed serving certificate: {0}")]
    SelfSigned(String),
    #[error("--encryption-provider-config: {0}")]
    Encryption(#[from] crate::storage::encryption::ConfigError),
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),
}

/// The service account token issuer and validator the `--service-account-*` flags describe.
/// As upstream: the verification keys default to the signing key's public half, and a
/// signing key needs an issuer.
fn service_account_tokens(opts: &Options) -> Result<Tokens, Error> {
    let signer = match &opts.service_account_signing_key_file {
        Some(path) => Some(keys::SigningKey::load(path)?),
        None => None,
    };
    let mut public = Vec::new();
    for path in &opts.service_account_key_file {
        public.extend(keys::load_public(path)?);
    }
    if public.is_empty()
        && let Some(s) = &signer
    {
        public.push(s.public().clone());
    }
    let issuers: Vec<String> = opts
        .service_account_issuer
        .iter()
        .filter(|i| !i.is_empty())
        .cloned()
        .collect();
    if signer.is_some() && issuers.is_empty() {
        return Err(Error::Flag(
            "--service-account-signing-key-file and --service-account-issuer are required flags"
                .into(),
        ));
    }
    if !issuers.is_empty() && public.is_empty() {
        return Err(Error::Flag(
            "--service-account-key-file or --service-account-signing-key-file is required with --service-account-issuer".into(),
        ));
    }
    let audiences = if opts.api_audiences.is_empty() {
        issuers.clone()
    } else {
        opts.api_audiences.clone()
    };
    Ok(Tokens::new(
        signer,
        issuers,
        public,
        audiences,
        opts.service_account_max_token_expiration.as_secs() as i64,
        opts.service_account_extend_token_expiration,
    ))
}

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// What every request can reach.
pub struct State {
    pub catalog: Arc<Catalog>,
    pub hub: Arc<Hub>,
    pub admission: admission::Chain,
    pub authn: Authenticator,
    pub authz: Authorizer,
    /// Rebuilt when custom resources change (see [`State::refresh_discovery`]).
    discovery: std::sync::RwLock<Arc<Discovery>>,
    /// `serverAddressByClientCIDRs` of `/api`.
    server_address: String,
    /// `--service-account-jwks-uri`.
    jwks_uri: Option<String>,
    pub openapi: Arc<crate::openapi::OpenApi>,
    pub metrics: Arc<Metrics>,
    pub etcd: etcd_client::Client,
    pub min_request_timeout: Duration,
    pub version: Value,
    shutting_down: AtomicBool,
    /// In-flight limits for reads and for writes (`--max-requests-inflight`,
    /// `--max-mutating-requests-inflight`); long-running requests do not count.
    inflight_reads: tokio::sync::Semaphore,
    inflight_writes: tokio::sync::Semaphore,
    request_timeout: Duration,
    /// `--audit-policy-file` with `--audit-log-path`; `None` when auditing is off.
    pub audit: Option<Arc<crate::audit::Auditor>>,
}

impl State {
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// The discovery documents of the moment.
    pub fn discovery(&self) -> Arc<Discovery> {
        self.discovery
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Rebuilds discovery and forgets the OpenAPI documents, after the served resources
    /// changed.
    pub fn refresh_discovery(&self) {
        let discovery = Arc::new(discovery_of(&self.catalog, &self.server_address));
        *self.discovery.write().unwrap_or_else(|p| p.into_inner()) = discovery;
        self.openapi.invalidate();
    }
}

fn discovery_of(catalog: &Catalog, server_address: &str) -> Discovery {
    let mut discovery = Discovery::build(catalog);
    discovery.api_versions["serverAddressByClientCIDRs"] =
        json!([{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]);
    discovery
}

async fn connect_etcd(opts: &Options) -> Result<etcd_client::Client, Error> {
    let mut connect = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10));
    if opts.etcd_cafile.is_some() || opts.etcd_certfile.is_some() {
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &opts.etcd_cafile {
            let pem = std::fs::read(ca).map_err(|source| tls::Error::Read {
                path: ca.display().to_string(),
                source,
            })?;
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(pem));
        }
        if let (Some(cert), Some(key)) = (&opts.etcd_certfile, &opts.etcd_keyfile) {
            let c = std::fs::read(cert).map_err(|source| tls::Error::Read {
                path: cert.display().to_string(),
                source,
            })?;
            let k = std::fs::read(key).map_err(|source| tls::Error::Read {
                path: key.display().to_string(),
                source,
            })?;
            tls = tls.identity(etcd_client::Identity::from_pem(c, k));
        }
        connect = connect.with_tls(tls);
    }
    let servers = opts.etcd_servers.join(",");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = async {
            let mut client =
                etcd_client::Client::connect(opts.etcd_servers.clone(), Some(connect.clone()))
                    .await?;
            client.status().await?;
            Ok::<_, etcd_client::Error>(client)
        };
        match attempt.await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() < deadline => {
                tracing::info!(%servers, error = %e, "Waiting for etcd.");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(source) => return Err(Error::Etcd { servers, source }),
        }
    }
}

fn version_info() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "emulationMajor": KUBE_MAJOR,
        "emulationMinor": KUBE_MINOR,
        "minCompatibilityMajor": KUBE_MAJOR,
        "minCompatibilityMinor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

/// A serving certificate for a server started without one: self-signed, in memory, as
/// upstream generates one when no `--tls-cert-file` is given.
fn self_signed(
    dir: &std::path::Path,
    advertise: std::net::IpAddr,
) -> Result<(std::path::PathBuf, std::path::PathBuf), Error> {
    let err = |e: &dyn std::fmt::Display| Error::SelfSigned(e.to_string());
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).map_err(|e| err(&e))?;
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(advertise));
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([
            127, 0, 0, 1,
        ])));
    let key = rcgen::KeyPair::generate().map_err(|e| err(&e))?;
    let cert = params.self_signed(&key).map_err(|e| err(&e))?;
    std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    let (c, k) = (dir.join("apiserver.crt"), dir.join("apiserver.key"));
    std::fs::write(&c, cert.pem()).map_err(|e| err(&e))?;
    std::fs::write(&k, key.serialize_pem()).map_err(|e| err(&e))?;
    Ok((c, k))
}

/// Runs the apiserver until `shutdown` resolves.
pub async fn run(
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), Error> {
    let started = Instant::now();
    let service_accounts = Arc::new(service_account_tokens(&opts)?);
    let authorizer = Authorizer::new(&opts.authorization_mode).map_err(Error::Flag)?;
    // Before etcd: a bad encryption config must stop the server before it reads or writes.
    let encryption = match &opts.encryption_provider_config {
        Some(path) => {
            let config = crate::storage::encryption::ResourceTransformers::load(path)?;
            tracing::info!(
                path = %path.display(),
                rules = %config.describe(),
                "Encrypting resources at rest."
            );
            Some(Arc::new(config))
        }
        None => None,
    };
    // Before etcd, as the encryption config: a bad audit policy stops the server at once.
    let audit = crate::audit::Auditor::from_options(&opts)?;
    let client = connect_etcd(&opts).await?;
    let hub = Hub::with_encryption(client.clone(), &opts.etcd_prefix, encryption);
    let catalog = Arc::new(Catalog::build(
        resources::configured(&opts),
        &client,
        &hub,
        &opts.etcd_prefix,
    ));
    let service_config = resources::ServiceConfig::from_options(&opts).map_err(Error::Flag)?;
    resources::install_hooks(&catalog, &service_config, &client, &opts.etcd_prefix);
    hub.start().await.map_err(Error::Cache)?;
    let admission =
        admission::built_in(&catalog, &hub, &opts.disable_admission_plugins, &authorizer);
    let tokens = match &opts.token_auth_file {
        Some(path) => token_file::load(path)?,
        None => Default::default(),
    };
    let advertise = opts.advertise_address.unwrap_or_else(|| {
        if opts.bind_address.is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            opts.bind_address
        }
    });
    let server_address = format!("{advertise}:{}", opts.secure_port);
    let discovery = discovery_of(&catalog, &server_address);
    let state = Arc::new(State {
        catalog: catalog.clone(),
        hub: hub.clone(),
        admission,
        authn: Authenticator::new(
            tokens,
            service_accounts,
            opts.enable_bootstrap_token_auth,
            Some(catalog.clone()),
        )
        // Upstream turns anonymous requests off when everything is allowed anyway.
        .with_anonymous(opts.anonymous_auth && !authorizer.always_allows()),
        authz: authorizer,
        discovery: std::sync::RwLock::new(Arc::new(discovery)),
        server_address,
        jwks_uri: opts.service_account_jwks_uri.clone(),
        openapi: Arc::new(crate::openapi::OpenApi::new(catalog.clone())),
        metrics: METRICS.clone(),
        etcd: client.clone(),
        min_request_timeout: Duration::from_secs(opts.min_request_timeout),
        version: version_info(),
        shutting_down: AtomicBool::new(false),
        inflight_reads: tokio::sync::Semaphore::new(opts.max_requests_inflight),
        inflight_writes: tokio::sync::Semaphore::new(opts.max_mutating_requests_inflight),
        request_timeout: opts.request_timeout,
        audit,
    });
    if !opts.etcd_compaction_interval.is_zero() {
        tokio::spawn(compactor::run(
            client.clone(),
            hub.clone(),
            opts.etcd_compaction_interval,
        ));
    }
    {
        // Build the OpenAPI documents off the request path, so the first `kubectl explain`
        // or `apply` finds them ready.
        let openapi = state.openapi.clone();
        tokio::task::spawn_blocking(move || {
            openapi.documents();
        });
    }
    bootstrap::run(&state, &service_config, advertise, opts.secure_port)
        .await
        .map_err(Error::Bootstrap)?;
    rbac_bootstrap::run(&state)
        .await
        .map_err(Error::Bootstrap)?;
    if state.authz.uses_rbac() {
        use crate::authz::feed;
        let index = state.authz.rbac().clone();
        feed::start(catalog.clone(), feed::RBAC_RESOURCES, index, "RBAC").await;
    }
    if let Some(graph) = state.authz.node_graph() {
        use crate::authz::{feed, node};
        feed::start(
            catalog.clone(),
            node::graph::RESOURCES,
            graph.clone(),
            "Node",
        )
        .await;
    }
    crate::crd::controller::Controller::start(state.clone(), &opts.etcd_prefix).await;
    let (cert, key) = match (&opts.tls_cert_file, &opts.tls_private_key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => self_signed(
            &std::env::temp_dir().join(format!("ferrokube-apiserver-{}", std::process::id())),
            advertise,
        )?,
    };
    let config = tls::server_config(&cert, &key, opts.client_ca_file.as_deref())?;
    let addr = SocketAddr::new(opts.bind_address, opts.secure_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })?;
    tracing::info!(%addr, took = ?started.elapsed(), "Serving the Kubernetes API.");
    serve(listener, Arc::new(config), state, shutdown).await;
    Ok(())
}

/// Accepts connections until `shutdown`, then lets in-flight requests finish (watches are cut).
async fn serve(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    state: Arc<State>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // A client that sends its request headers slower than this is cut off (upstream's
    // ReadHeaderTimeout), so slow writers cannot hold connections open for ever.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            _ = &mut shutdown => break,
            conn = listener.accept() => match conn {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "Accepting a connection failed.");
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    _ => return,
                };
            let peer = Arc::new(tls::peer_of(tls.get_ref().1));
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let state = state.clone();
                let peer = peer.clone();
                async move {
                    let mut req = req.map(Body::new);
                    if state.audit.is_some() {
                        req.extensions_mut()
                            .insert(crate::audit::ClientAddr(remote));
                    }
                    Ok::<_, std::convert::Infallible>(handle(state, peer, req).await)
                }
            });
            let conn =
                builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service);
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    state.shutting_down.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

fn json_response(status: StatusCode, value: &Value, content_type: &str) -> Response {
    response::typed(
        status,
        content_type,
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    )
}

/// Whether a request streams for long (watches): no timeout, no in-flight slot.
fn long_running(req: &Request<Body>) -> bool {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or_default();
    path.contains("/watch/")
        || query
            .split('&')
            .any(|kv| matches!(kv, "watch=1" | "watch=true" | "watch=True" | "watch=t"))
}

/// Serves the request, audited when auditing is on. The audit filter wraps the timeout and
/// panic recovery so that timeouts (504) and panics reach the log.
pub async fn handle(state: Arc<State>, peer: Arc<Peer>, req: Request<Body>) -> Response {
    match state.audit.clone() {
        Some(audit) => {
            let certificate = peer.certificate_user.is_some();
            audit
                .filter(certificate, req, |req| handle_unaudited(state, peer, req))
                .await
        }
        None => handle_unaudited(state, peer, req).await,
    }
}

/// The filters every request passes, as upstream's handler chain: in-flight limits (429),
/// the request timeout (504), and panic recovery (500), around [`route`].
async fn handle_unaudited(state: Arc<State>, peer: Arc<Peer>, req: Request<Body>) -> Response {
    use futures::FutureExt;
    let long = long_running(&req);
    let _permit = if long {
        None
    } else {
        let mutating = !matches!(
            *req.method(),
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        );
        let sem = if mutating {
            &state.inflight_writes
        } else {
            &state.inflight_reads
        };
        match sem.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => return response::error(&ApiError::too_many_requests()),
        }
    };
    let audit = crate::audit::Recorder::of(&req);
    let routed = std::panic::AssertUnwindSafe(route(state.clone(), peer, req)).catch_unwind();
    let result = if long {
        routed.await
    } else {
        match tokio::time::timeout(state.request_timeout, routed).await {
            Ok(r) => r,
            Err(_) => {
                return response::error(&ApiError::timeout(
                    "Timeout: request did not complete within the allotted timeout",
                    0,
                ));
            }
        }
    };
    result.unwrap_or_else(|panic| {
        crate::audit::panicked(audit.as_ref(), panic.as_ref());
        tracing::error!("A request handler panicked; answered 500.");
        response::error(&ApiError::internal(
            "the server has encountered an unexpected error",
        ))
    })
}

/// The user a request runs as: authenticated, then impersonated if it asks and may. `Err`
/// is the answer to send instead (401, 403, or 500 for malformed impersonation).
async fn authenticate(
    state: &State,
    peer: &Peer,
    req: &mut Request<Body>,
) -> Result<crate::authn::user::UserInfo, Response> {
    let user = match state.authn.authenticate(req.headers(), peer).await {
        Outcome::User(user) => user,
        Outcome::Anonymous if state.authn.anonymous_allowed() => crate::authn::anonymous(),
        Outcome::Anonymous => return Err(response::error(&ApiError::unauthorized())),
        Outcome::Refused(why) => {
            tracing::debug!("Unable to authenticate the request: {why}");
            return Err(response::error(&ApiError::unauthorized()));
        }
    };
    crate::audit::authenticated(req, &user).await?;
    let asked = match impersonation::requested(req.headers()) {
        Ok(Some(asked)) => asked,
        Ok(None) => return Ok(user),
        Err(why) => return Err(response::error(&ApiError::internal(why))),
    };
    for check in asked.checks(&user) {
        let (decision, reason) = state.authz.authorize(&check);
        if decision != crate::authz::Decision::Allow {
            return Err(response::error(&crate::authz::forbidden(&check, &reason)));
        }
    }
    impersonation::strip(req.headers_mut());
    let impersonated = asked.user();
    crate::audit::impersonated(req, &impersonated);
    Ok(impersonated)
}

/// What a request asks to do, for the authorizer: a resource request's verb, group,
/// resource, subresource, namespace and name, or a path and lower-case method.
fn request_attributes(
    user: &crate::authn::user::UserInfo,
    method: &http::Method,
    path: &str,
    query: Option<&str>,
) -> Attributes {
    let params = handlers::params::Params::parse(query);
    match handlers::request_info::parse(method, path, params.is_watch()) {
        Some(info) => {
            let verb = info.verb.as_str().to_string();
            let mut name = info.name;
            let mut field_selector = None;
            if matches!(verb.as_str(), "list" | "watch") {
                field_selector = params
                    .get("fieldSelector")
                    .and_then(|s| apimachinery::fields::Selector::parse(s).ok());
                // As upstream: a list or watch of one object by `metadata.name` is authorized
                // as a request for that name (so RBAC's resourceNames and the Node
                // authorizer's own-object rules apply).
                if name.is_empty()
                    && let Some(only) = field_selector.as_ref().and_then(exact_name)
                {
                    name = only;
                }
            }
            Attributes {
                user: user.clone(),
                verb,
                resource_request: true,
                namespace: info.namespace,
                api_group: info.group,
                api_version: info.version,
                resource: info.resource,
                subresource: info.subresource,
                name,
                path: path.to_string(),
                field_selector,
            }
        }
        None => Attributes {
            user: user.clone(),
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_string(),
            ..Default::default()
        },
    }
}

/// The name a field selector requires with `metadata.name=` (or `==`), if it is a valid
/// path segment.
fn exact_name(selector: &apimachinery::fields::Selector) -> Option<String> {
    let value = &selector
        .requirements
        .iter()
        .find(|r| r.field == "metadata.name" && !r.negated)?
        .value;
    let valid = !value.is_empty()
        && value != "."
        && value != ".."
        && !value.contains('/')
        && !value.contains('%');
    valid.then(|| value.clone())
}

/// Routes one request: public endpoints, authentication, discovery, then resources.
async fn route(state: Arc<State>, peer: Arc<Peer>, req: Request<Body>) -> Response {
    let start = Instant::now();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    if let Some(r) = health::serve(&state, &path, query.as_deref()).await {
        return r;
    }
    if path == "/version" || path == "/version/" {
        return json_response(StatusCode::OK, &state.version, "application/json");
    }
    let mut req = req;
    let user = match authenticate(&state, &peer, &mut req).await {
        Ok(user) => user,
        Err(resp) => return resp,
    };
    let attrs = request_attributes(&user, req.method(), &path, query.as_deref());
    let (decision, reason) = state.authz.authorize(&attrs);
    crate::audit::authorized(&req, decision, &reason);
    if decision != crate::authz::Decision::Allow {
        return response::error(&crate::authz::forbidden(&attrs, &reason));
    }
    if let Some(r) = oidc::serve(&state, &path) {
        return r;
    }
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let trimmed = path.trim_end_matches('/');
    let discovery = state.discovery();
    match trimmed {
        "/metrics" => {
            let mut r = Response::new(Body::from(state.metrics.render()));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return r;
        }
        "/api" | "/apis" => {
            let core = trimmed == "/api";
            if let Some(v) = wants_aggregated(&accept) {
                let ct = format!(
                    "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
                );
                let mut r = json_response(StatusCode::OK, &discovery.aggregated(core, v), &ct);
                r.headers_mut()
                    .insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
                return r;
            }
            let doc = if core {
                &discovery.api_versions
            } else {
                &discovery.group_list
            };
            return json_response(StatusCode::OK, doc, "application/json");
        }
        _ => {}
    }
    if let Some(r) = openapi::serve(&state, trimmed, query.as_deref(), &req) {
        return r;
    }
    let rel = trimmed.trim_start_matches('/');
    if let Some(list) = discovery.resource_lists.get(rel) {
        return json_response(StatusCode::OK, list, "application/json");
    }
    if let Some(group) = rel
        .strip_prefix("apis/")
        .and_then(|g| discovery.groups.get(g))
    {
        return json_response(StatusCode::OK, group, "application/json");
    }
    match handlers::serve(state.clone(), req, user).await {
        Some((resp, info)) => {
            let scope = if !info.namespace.is_empty() {
                "namespace"
            } else if info.name.is_empty() {
                "cluster"
            } else {
                "resource"
            };
            let verb = match info.verb {
                handlers::request_info::Verb::Watch => "WATCH".to_string(),
                v => v.as_str().to_ascii_uppercase(),
            };
            state.metrics.observe_request(
                &RequestLabels {
                    verb: &verb,
                    group: &info.group,
                    version: &info.version,
                    resource: &info.resource,
                    subresource: &info.subresource,
                    scope,
                },
                resp.status().as_u16(),
                start.elapsed(),
            );
            resp
        }
        None => response::error(&ApiError::not_found_path()),
    }
}
