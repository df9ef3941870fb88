//! The CSR signing controller (upstream `pkg/controller/certificates/signer`): signs approved
//! CertificateSigningRequests of the built-in signers with the cluster CA
//! (`--cluster-signing-cert-file`/`--cluster-signing-key-file`) and writes the certificate to
//! `status.certificate`. A request a signer's rules refuse ([`policy`]) gets the `Failed`
//! condition instead. Without a CA the controller does not run, as upstream.
//!
//! Certificates start five minutes in the past (clock skew), last
//! `--cluster-signing-duration` or the request's `expirationSeconds`, whichever is shorter,
//! and never outlive the CA.

pub mod policy;

use crate::client;
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, feed, process};
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use policy::Signer;
use rcgen::{CertificateParams, CertificateSigningRequestParams, KeyPair, SerialNumber};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The controller's name (upstream `names.CertificateSigningRequestSigningController`).
pub const NAME: &str = "certificatesigningrequest-signing-controller";

/// How far back certificates start (upstream's backdate).
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// The controller's flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// `--cluster-signing-duration` (upstream default 8760h).
    pub duration: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            duration: Duration::from_secs(8760 * 3600),
        }
    }
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the signing CA {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("loading the signing CA: {0}")]
    Ca(String),
    #[error("updating CertificateSigningRequest {name}: {}", client::message(.source))]
    Update {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// The CA that signs.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// When the CA itself expires.
    not_after: i64,
}

fn load(settings: &Settings) -> Result<Option<Ca>, Error> {
    let (Some(cert_file), Some(key_file)) = (&settings.cert_file, &settings.key_file) else {
        return Ok(None);
    };
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|source| Error::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let (cert_pem, key_pem) = (read(cert_file)?, read(key_file)?);
    let key = KeyPair::from_pem(&key_pem).map_err(|e| Error::Ca(e.to_string()))?;
    let params =
        CertificateParams::from_ca_cert_pem(&cert_pem).map_err(|e| Error::Ca(e.to_string()))?;
    let not_after = params.not_after.unix_timestamp();
    // Re-signing the CA's own parameters with its key gives an issuer with its name and key.
    let cert = params
        .self_signed(&key)
        .map_err(|e| Error::Ca(e.to_string()))?;
    Ok(Some(Ca {
        cert,
        key,
        not_after,
    }))
}

/// Whether the request waits for a certificate: approved, not denied or failed, not issued.
pub fn wants_certificate(csr: &CertificateSigningRequest) -> bool {
    let status = csr.status.as_ref();
    let has = |type_: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
    };
    let issued = status
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty());
    has("Approved") && !has("Denied") && !has("Failed") && !issued
}

/// Runs the controller until the process stops (at once when no CA is configured).
pub async fn run(client: kube::Client, informers: Arc<Informers>, settings: Settings) {
    let ca = match load(&settings) {
        Ok(Some(ca)) => Arc::new(ca),
        Ok(None) => {
            tracing::info!(
                "The {NAME} does not run: --cluster-signing-cert-file and --cluster-signing-key-file are not set."
            );
            return;
        }
        Err(e) => {
            tracing::error!("The {NAME} cannot start: {e}.");
            return;
        }
    };
    let informer = informers.get::<CertificateSigningRequest>();
    let changes = informer.changes();
    informer.ready().await;
    let store = informer.store();
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::new("certificate");
    for csr in store.state() {
        if wants_certificate(&csr) {
            queue.add(csr.metadata.name.clone().unwrap_or_default());
        }
    }
    feed(&queue, changes, |change| match change {
        Change::Applied { new, .. } if wants_certificate(&new) => {
            vec![new.metadata.name.clone().unwrap_or_default()]
        }
        _ => Vec::new(),
    });
    let duration = settings.duration;
    process(queue, 5, "the CertificateSigningRequest", move |name| {
        let (client, store, ca) = (client.clone(), store.clone(), ca.clone());
        async move { sync(&client, &store, &ca, duration, &name).await }
    })
    .await;
}

async fn sync(
    client: &kube::Client,
    store: &Store<CertificateSigningRequest>,
    ca: &Ca,
    duration: Duration,
    name: &str,
) -> Result<(), Error> {
    let Some(csr) = store.get(&ObjectRef::new(name)) else {
        return Ok(());
    };
    if !wants_certificate(&csr) {
        return Ok(());
    }
    let spec = &csr.spec;
    let Some(signer) = Signer::from_name(&spec.signer_name) else {
        // Another signer's request: not ours to answer.
        return Ok(());
    };
    let mut updated = (*csr).clone();
    let status = updated.status.get_or_insert_with(Default::default);
    match issue(ca, signer, &csr, duration) {
        Ok(pem) => status.certificate = Some(ByteString(pem.into_bytes())),
        Err(message) => {
            let now = Some(Time(Timestamp::now()));
            status.conditions.get_or_insert_with(Vec::new).push(
                CertificateSigningRequestCondition {
                    type_: "Failed".to_string(),
                    status: "True".to_string(),
                    reason: Some("SignerValidationFailure".to_string()),
                    message: Some(message),
                    last_update_time: now.clone(),
                    last_transition_time: now,
                },
            );
        }
    }
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    match api
        .replace_status(name, &PostParams::default(), &updated)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if client::is_not_found(&e) => Ok(()),
        Err(source) => Err(Error::Update {
            name: name.to_string(),
            source,
        }),
    }
}

/// The PEM certificate for the request, or why the signer refuses it.
fn issue(
    ca: &Ca,
    signer: Signer,
    csr: &CertificateSigningRequest,
    duration: Duration,
) -> Result<String, String> {
    let pem = String::from_utf8(csr.spec.request.0.clone())
        .map_err(|_| "the request is not PEM text".to_string())?;
    let mut request = CertificateSigningRequestParams::from_pem(&pem)
        .map_err(|e| format!("unable to parse csr: {e}"))?;
    let usages = csr.spec.usages.clone().unwrap_or_default();
    policy::check(signer, &request.params, &usages)?;
    let now = Timestamp::now().as_second();
    let mut ttl = duration.as_secs() as i64;
    if let Some(requested) = csr.spec.expiration_seconds {
        ttl = ttl.min(i64::from(requested).max(600));
    }
    let not_after = (now + ttl).min(ca.not_after);
    let at = |secs: i64| {
        time::OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|_| "the certificate's validity is out of range".to_string())
    };
    let params = &mut request.params;
    params.not_before = at(now - BACKDATE.as_secs() as i64)?;
    params.not_after = at(not_after)?;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.serial_number = Some(SerialNumber::from_slice(uuid::Uuid::new_v4().as_bytes()));
    let (key_usages, extended) = policy::key_usages(&usages);
    params.key_usages = key_usages;
    params.extended_key_usages = extended;
    params.use_authority_key_identifier_extension = true;
    let cert = request
        .signed_by(&ca.cert, &ca.key)
        .map_err(|e| format!("signing the certificate: {e}"))?;
    Ok(cert.pem())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::certificates::v1::CertificateSigningRequestStatus;

    fn csr(conditions: &[&str], issued: bool) -> CertificateSigningRequest {
        CertificateSigningRequest {
            status: Some(CertificateSigningRequestStatus {
                conditions: Some(
                    conditions
                        .iter()
                        .map(|t| CertificateSigningRequestCondition {
                            type_: t.to_string(),
                            status: "True".to_string(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                certificate: issued.then(|| ByteString(b"x".to_vec())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_approved_unissued_requests_are_signed() {
        assert!(wants_certificate(&csr(&["Approved"], false)));
        assert!(!wants_certificate(&csr(&[], false)));
        assert!(!wants_certificate(&csr(&["Approved"], true)));
        assert!(!wants_certificate(&csr(&["Approved", "Failed"], false)));
        assert!(!wants_certificate(&csr(&["Denied"], false)));
    }
}
