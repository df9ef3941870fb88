//! The controller manager's HTTPS endpoint (`--secure-port`, upstream's 10257): `/healthz`,
//! `/livez` and `/readyz` answer `ok`, `/metrics` the [`metrics`](crate::metrics). Without
//! `--tls-cert-file` a self-signed certificate is made at start, as upstream does. Other
//! components (kube-scheduler) serve their own metrics through [`serve_with`].
//!
//! Upstream authorizes `/metrics` through the apiserver (delegated SubjectAccessReview); that
//! delegation comes with the security work, and until then `/metrics` is served to anyone who
//! can reach the port, like the health endpoints.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the serving certificate: {0}")]
    Certificate(String),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A self-signed certificate and key (PEM) for `localhost` and this host.
fn self_signed() -> Result<(Vec<u8>, Vec<u8>), Error> {
    let names = vec!["localhost".to_string(), crate::leaderelection::hostname()];
    let cert =
        rcgen::generate_simple_self_signed(names).map_err(|e| Error::Certificate(e.to_string()))?;
    Ok((
        cert.cert.pem().into_bytes(),
        cert.key_pair.serialize_pem().into_bytes(),
    ))
}

fn tls_config(cert: &[u8], key: &[u8]) -> Result<rustls::ServerConfig, Error> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut &cert[..])
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Certificate(e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut &key[..])
        .map_err(|e| Error::Certificate(e.to_string()))?
        .ok_or_else(|| Error::Certificate("no private key found".to_string()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Certificate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Certificate(e.to_string()))
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Renders a metrics registry in the Prometheus text format.
pub type Render = fn() -> String;

fn controller_metrics() -> String {
    crate::metrics::global().render()
}

async fn respond(
    req: http::Request<hyper::body::Incoming>,
    render: Render,
) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let (status, body, content_type) = match req.uri().path() {
        "/healthz" | "/livez" | "/readyz" => (200, "ok".to_string(), "text/plain; charset=utf-8"),
        "/metrics" => (200, render(), "text/plain; version=0.0.4; charset=utf-8"),
        _ => (
            404,
            "404 page not found\n".to_string(),
            "text/plain; charset=utf-8",
        ),
    };
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap_or_default()
}

/// Binds `addr` and serves the controller manager's metrics until the process stops.
pub async fn serve(
    addr: SocketAddr,
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
) -> Result<(), Error> {
    serve_with(addr, cert_file, key_file, controller_metrics).await
}

/// Binds `addr` and serves, with `render` answering `/metrics`, until the process stops.
pub async fn serve_with(
    addr: SocketAddr,
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
    render: Render,
) -> Result<(), Error> {
    let (cert, key) = match (cert_file, key_file) {
        (Some(c), Some(k)) => (read(c)?, read(k)?),
        _ => self_signed()?,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&cert, &key)?));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })?;
    tracing::info!("Serving securely on {addr}.");
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, builder) = (acceptor.clone(), builder.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = hyper::service::service_fn(move |req| async move {
                Ok::<_, std::convert::Infallible>(respond(req, render).await)
            });
            let _ = builder
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}
