//! Calling a webhook (admission webhooks, CRD conversion webhooks): at its
//! `clientConfig.url`, or at its Service as
//! `https://<name>.<namespace>.svc:<port><path>` dialled at a ready endpoint the Service's
//! EndpointSlices list (the apiserver's own view, as upstream's endpoint routing), trusting
//! only its `caBundle` (the system roots when it has none), within its timeout.

use crate::admission::Source;
use crate::registry::catalog::Catalog;
use base64::Engine;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Where a webhook is called.
pub struct Target {
    /// The URL the request goes to (without the `timeout` parameter).
    pub url: String,
    /// For services: the host name of the URL and the endpoint address it is dialled at
    /// (the Service's port in `url`, the endpoint's in the request actually sent).
    resolve: Option<(String, SocketAddr)>,
    ca_bundle: Option<Vec<u8>>,
}

/// Finds the endpoints of Services.
#[derive(Clone)]
pub struct Resolver {
    services: Source,
    slices: Source,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Resolver {
    pub fn new(services: Source, slices: Source) -> Self {
        Self { services, slices }
    }

    /// The resolver over a catalog's Services and EndpointSlices.
    pub fn from_catalog(catalog: &Catalog) -> Option<Self> {
        let services = catalog.store("services/specs")?;
        let slices = catalog.store("endpointslices")?;
        Some(Self::new(Source::of(&services), Source::of(&slices)))
    }

    pub async fn target(&self, client_config: &Value) -> Result<Target, String> {
        let ca_bundle = match client_config.get("caBundle").and_then(Value::as_str) {
            Some(encoded) if !encoded.is_empty() => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| format!("invalid caBundle: {e}"))?,
            ),
            _ => None,
        };
        if let Some(url) = client_config.get("url").and_then(Value::as_str) {
            // Validation refuses other schemes; this guards configurations stored before.
            if !url.starts_with("https://") {
                return Err("'https' is the only allowed URL scheme".to_string());
            }
            return Ok(Target {
                url: url.to_string(),
                resolve: None,
                ca_bundle,
            });
        }
        let Some(service) = client_config.get("service") else {
            return Err("neither url nor service is set".to_string());
        };
        let (namespace, name) = (text(service, "/namespace"), text(service, "/name"));
        let port = service.get("port").and_then(Value::as_i64).unwrap_or(443);
        let host = format!("{name}.{namespace}.svc");
        let path = text(service, "/path");
        let address = self.endpoint(namespace, name, port).await?;
        Ok(Target {
            url: format!("https://{host}:{port}{path}"),
            resolve: Some((host, address)),
            ca_bundle,
        })
    }

    /// A ready endpoint of the Service's port `port`: the address and target port its
    /// EndpointSlices give for the port's name.
    async fn endpoint(&self, namespace: &str, name: &str, port: i64) -> Result<SocketAddr, String> {
        let service = self
            .services
            .value(namespace, name)
            .await
            .map_err(|e| e.message)?
            .ok_or_else(|| format!("services {name:?} not found"))?;
        let ports = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let service_port = ports
            .iter()
            .find(|p| p.get("port").and_then(Value::as_i64) == Some(port))
            .ok_or_else(|| format!("no service port {port} found for service {name:?}"))?;
        let port_name = text(service_port, "/name");
        let slices = self
            .slices
            .list_in(namespace)
            .await
            .map_err(|e| e.message)?;
        for slice in slices.iter().filter(|s| {
            s.pointer("/metadata/labels/kubernetes.io~1service-name")
                .and_then(Value::as_str)
                == Some(name)
        }) {
            let Some(target_port) = slice
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|p| text(p, "/name") == port_name)
                .and_then(|p| p.get("port").and_then(Value::as_u64))
                .and_then(|p| u16::try_from(p).ok())
            else {
                continue;
            };
            let ready = slice
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|e| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false));
            for endpoint in ready {
                let address = endpoint
                    .pointer("/addresses/0")
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse::<IpAddr>().ok());
                if let Some(ip) = address {
                    return Ok(SocketAddr::new(ip, target_port));
                }
            }
        }
        Err(format!("service {namespace}/{name} has no ready endpoints"))
    }
}

/// Go's text for a failed POST: `Post "<url>": <cause>`, with the dialer's and TLS's wording
/// where the causes are the same.
fn post_error(url: &str, dialled: &str, e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let detail = if e.is_timeout() {
        "context deadline exceeded".to_string()
    } else if let Some(io) = cause.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::ConnectionRefused
    {
        format!("dial tcp {dialled}: connect: connection refused")
    } else if cause.to_string().contains("certificate") {
        format!("tls: failed to verify certificate: {cause}")
    } else {
        cause.to_string()
    };
    format!("Post {url:?}: {detail}")
}

impl Target {
    /// POSTs `body` (an AdmissionReview) and returns the decoded answer; the error is the
    /// failure as upstream words it after `failed to call webhook: `, or why the answer
    /// could not be used.
    pub async fn post(&self, body: &Value, timeout: Duration) -> Result<Value, CallError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .use_rustls_tls()
            .no_proxy();
        if let Some(pem) = &self.ca_bundle {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| CallError::Call(format!("invalid caBundle: {e}")))?;
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((host, address)) = &self.resolve {
            builder = builder.resolve(host, *address);
        }
        let client = builder
            .build()
            .map_err(|e| CallError::Call(e.to_string()))?;
        let mut url = reqwest::Url::parse(&self.url)
            .map_err(|e| CallError::Call(format!("parse {:?}: {e}", self.url)))?;
        url.query_pairs_mut()
            .append_pair("timeout", &format!("{}s", timeout.as_secs()));
        let shown = url.to_string();
        let dialled = match &self.resolve {
            Some((_, address)) => {
                // reqwest dials a resolved name at the URL's port, not the address's.
                url.set_port(Some(address.port()))
                    .map_err(|()| CallError::Call(format!("cannot set the port of {shown:?}")))?;
                address.to_string()
            }
            None => format!(
                "{}:{}",
                url.host_str().unwrap_or_default(),
                url.port_or_known_default().unwrap_or(443)
            ),
        };
        let response = client
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| CallError::Call(post_error(&shown, &dialled, &e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Call(post_error(&shown, &dialled, &e)))?;
        if !status.is_success() {
            // As client-go words a failed request.
            let detail = if status == reqwest::StatusCode::NOT_FOUND {
                "the server could not find the requested resource".to_string()
            } else {
                format!(
                    "an error on the server ({:?}) has prevented the request from succeeding",
                    String::from_utf8_lossy(&bytes).trim()
                )
            };
            return Err(CallError::Call(detail));
        }
        serde_json::from_slice(&bytes).map_err(|e| CallError::Response(e.to_string()))
    }
}

/// Why calling a webhook gave no usable answer (each fails open or closed as the webhook's
/// failure policy says).
#[derive(Debug)]
pub enum CallError {
    /// No review could be made for it.
    Objects(String),
    /// The request failed.
    Call(String),
    /// The answer is not a usable AdmissionReview.
    Response(String),
    /// The answer's patch is not a JSON patch.
    Patch(String),
    /// Anything else, as it is worded.
    Other(String),
}
