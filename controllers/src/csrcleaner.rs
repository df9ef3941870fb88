//! The CSR cleaner (upstream "certificatesigningrequest-cleaner-controller"): deletes
//! CertificateSigningRequests once they are done with, so automated requests do not pile up.
//! A request goes when it was issued and approved an hour ago, denied or failed an hour ago,
//! left pending for a day, or when its certificate has expired.
//!
//! Upstream lists every request once an hour; here each request is looked at again when its
//! next deadline passes, so it goes at that time instead of up to an hour later.

use crate::client;
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, feed, process};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use std::time::Duration;

/// The controller's name (upstream `names.CertificateSigningRequestCleanerController`).
pub const NAME: &str = "certificatesigningrequest-cleaner-controller";

/// How long an approved request with its certificate is kept.
const APPROVED_KEPT: SignedDuration = SignedDuration::from_hours(1);
/// How long a denied or failed request is kept.
const DENIED_KEPT: SignedDuration = SignedDuration::from_hours(1);
/// How long a request nobody answered is kept.
const PENDING_KEPT: SignedDuration = SignedDuration::from_hours(24);

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let informer = informers.get::<CertificateSigningRequest>();
    let changes = informer.changes();
    informer.ready().await;
    let store = informer.store();
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::new("csr_cleaner");
    let all = {
        let store = store.clone();
        move || -> Vec<String> {
            store
                .state()
                .iter()
                .map(|csr| csr.metadata.name.clone().unwrap_or_default())
                .collect()
        }
    };
    for name in all() {
        queue.add(name);
    }
    feed(&queue, changes, move |change| match change {
        Change::Applied { new, .. } => vec![new.metadata.name.clone().unwrap_or_default()],
        Change::Deleted(_) => Vec::new(),
        Change::Relisted => all(),
    });
    let ctx = Arc::new((client, store, queue.clone()));
    process(queue, 1, "the CertificateSigningRequest", move |name| {
        let ctx = ctx.clone();
        async move {
            let (client, store, queue) = &*ctx;
            sync(client, store, queue, &name).await
        }
    })
    .await;
}

async fn sync(
    client: &kube::Client,
    store: &Store<CertificateSigningRequest>,
    queue: &Arc<WorkQueue<String>>,
    name: &str,
) -> Result<(), String> {
    let Some(csr) = store.get(&ObjectRef::new(name)) else {
        return Ok(());
    };
    if csr.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let now = Timestamp::now();
    let Some(due) = deadline(&csr) else {
        return Ok(());
    };
    if due > now {
        let left = Duration::try_from(due.duration_since(now)).unwrap_or_default();
        queue.add_after(name.to_string(), left + Duration::from_millis(100));
        return Ok(());
    }
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: csr.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            tracing::info!("The {NAME} deleted the CertificateSigningRequest {name}.");
            Ok(())
        }
        Err(e) if client::is_not_found(&e) || client::is_conflict(&e) => Ok(()),
        Err(e) => Err(format!("deleting {name}: {}", client::message(&e))),
    }
}

/// When the request is to be deleted, if ever (upstream's five criteria, whichever comes
/// first). A condition without a `lastUpdateTime` never expires, as upstream.
pub fn deadline(csr: &CertificateSigningRequest) -> Option<Timestamp> {
    let status = csr.status.as_ref();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let certificate = status
        .and_then(|s| s.certificate.as_ref())
        .filter(|c| !c.0.is_empty());
    let updated = |c: &k8s_openapi::api::certificates::v1::CertificateSigningRequestCondition| {
        c.last_update_time.as_ref().map(|Time(t)| *t)
    };
    let mut due: Vec<Timestamp> = Vec::new();
    if conditions.is_empty() {
        due.extend(
            csr.metadata
                .creation_timestamp
                .as_ref()
                .map(|Time(t)| *t + PENDING_KEPT),
        );
    }
    for c in conditions {
        match c.type_.as_str() {
            "Approved" if certificate.is_some() => {
                due.extend(updated(c).map(|t| t + APPROVED_KEPT));
                due.extend(certificate.and_then(|pem| not_after(&pem.0)));
            }
            "Denied" | "Failed" => due.extend(updated(c).map(|t| t + DENIED_KEPT)),
            _ => {}
        }
    }
    due.into_iter().min()
}

/// When the first certificate of a PEM bundle expires; none when it cannot be read (upstream
/// then keeps the request).
fn not_after(pem: &[u8]) -> Option<Timestamp> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = block.parse_x509().ok()?;
    let seconds = cert.validity().not_after.timestamp();
    // Upstream deletes once the current time is after NotAfter.
    Timestamp::from_second(seconds)
        .ok()?
        .checked_add(SignedDuration::from_secs(1))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn csr(
        created: &str,
        conditions: &[(&str, Option<&str>)],
        cert: Option<String>,
    ) -> CertificateSigningRequest {
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.creation_timestamp = Some(Time(at(created)));
        csr.status = Some(CertificateSigningRequestStatus {
            conditions: Some(
                conditions
                    .iter()
                    .map(|(t, updated)| CertificateSigningRequestCondition {
                        type_: t.to_string(),
                        status: "True".to_string(),
                        last_update_time: updated.map(|u| Time(at(u))),
                        ..Default::default()
                    })
                    .collect(),
            ),
            certificate: cert.map(|c| ByteString(c.into_bytes())),
        });
        csr
    }

    fn certificate(not_after: (i32, u8, u8)) -> String {
        let mut params = rcgen::CertificateParams::new(vec!["node".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn pending_requests_are_kept_a_day() {
        let c = csr("2026-01-01T00:00:00Z", &[], None);
        assert_eq!(deadline(&c), Some(at("2026-01-02T00:00:00Z")));
    }

    #[test]
    fn denied_and_failed_requests_are_kept_an_hour_after_their_update() {
        for kind in ["Denied", "Failed"] {
            let c = csr(
                "2026-01-01T00:00:00Z",
                &[(kind, Some("2026-01-01T05:00:00Z"))],
                None,
            );
            assert_eq!(deadline(&c), Some(at("2026-01-01T06:00:00Z")), "{kind}");
        }
    }

    #[test]
    fn approved_requests_wait_for_their_certificate() {
        let waiting = csr(
            "2026-01-01T00:00:00Z",
            &[("Approved", Some("2026-01-01T05:00:00Z"))],
            None,
        );
        assert_eq!(deadline(&waiting), None);
        let issued = csr(
            "2026-01-01T00:00:00Z",
            &[("Approved", Some("2026-01-01T05:00:00Z"))],
            Some(certificate((2030, 1, 1))),
        );
        assert_eq!(deadline(&issued), Some(at("2026-01-01T06:00:00Z")));
    }

    #[test]
    fn an_expired_certificate_goes_even_without_an_update_time() {
        let c = csr(
            "2001-01-01T00:00:00Z",
            &[("Approved", None)],
            Some(certificate((2001, 6, 1))),
        );
        assert_eq!(deadline(&c), Some(at("2001-06-01T00:00:01Z")));
    }

    #[test]
    fn unreadable_certificates_and_untimed_conditions_keep_the_request() {
        let c = csr(
            "2001-01-01T00:00:00Z",
            &[("Approved", None)],
            Some("not a certificate".to_string()),
        );
        assert_eq!(deadline(&c), None);
    }
}
