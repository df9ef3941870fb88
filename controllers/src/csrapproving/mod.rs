//! The CSR approving controller (upstream `pkg/controller/certificates/approver`,
//! `sarapprove`): approves kubelet client certificate requests (signer
//! `kubernetes.io/kube-apiserver-client-kubelet`, subject `O=system:nodes`,
//! `CN=system:node:<name>`, no SANs, client usages) when a SubjectAccessReview says the
//! requester may: `create certificatesigningrequests/selfnodeclient` for a node renewing its
//! own certificate, `create certificatesigningrequests/nodeclient` for a request on behalf of
//! a node (a bootstrap token's user during TLS bootstrap). Nothing else is approved, and
//! nothing is ever denied.

use crate::client;
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, feed, process};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use rcgen::{CertificateSigningRequestParams, DnType, DnValue};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The controller's name (upstream `names.CertificateSigningRequestApprovingController`).
pub const NAME: &str = "certificatesigningrequest-approving-controller";

const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("asking whether {user} may create certificatesigningrequests/{subresource}: {}", client::message(.source))]
    Review {
        user: String,
        subresource: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("approving CertificateSigningRequest {name}: {}", client::message(.source))]
    Approve {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// A kind of request the controller recognizes, and the permission that approves it.
struct Recognizer {
    subresource: &'static str,
    recognizes: fn(&CertificateSigningRequest, &Subject) -> bool,
    message: &'static str,
}

const RECOGNIZERS: &[Recognizer] = &[
    Recognizer {
        subresource: "selfnodeclient",
        recognizes: is_self_node_client,
        message: "Auto approving self kubelet client certificate after SubjectAccessReview.",
    },
    Recognizer {
        subresource: "nodeclient",
        recognizes: is_node_client,
        message: "Auto approving kubelet client certificate after SubjectAccessReview.",
    },
];

/// What the controller reads from the PKCS#10 request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub has_sans: bool,
}

/// A name attribute as text; the rare BMP and universal strings read as empty, so such
/// requests are not recognized.
fn text(v: &DnValue) -> String {
    match v {
        DnValue::Utf8String(s) => s.clone(),
        DnValue::PrintableString(s) => s.as_str().to_string(),
        DnValue::Ia5String(s) => s.as_str().to_string(),
        DnValue::TeletexString(s) => s.as_str().to_string(),
        _ => String::new(),
    }
}

/// The subject of a PEM request; `None` when it does not parse.
pub fn subject(pem: &[u8]) -> Option<Subject> {
    let pem = std::str::from_utf8(pem).ok()?;
    let request = CertificateSigningRequestParams::from_pem(pem).ok()?;
    let params = &request.params;
    let mut subject = Subject {
        has_sans: !params.subject_alt_names.is_empty(),
        ..Default::default()
    };
    for (ty, value) in params.distinguished_name.iter() {
        match ty {
            DnType::CommonName => subject.common_name = text(value),
            DnType::OrganizationName => subject.organizations.push(text(value)),
            _ => {}
        }
    }
    Some(subject)
}

/// Upstream's `IsKubeletClientCSR` on a kubelet-client signer request.
fn is_node_client(csr: &CertificateSigningRequest, subject: &Subject) -> bool {
    if csr.spec.signer_name != KUBELET_CLIENT_SIGNER {
        return false;
    }
    let usages: BTreeSet<&str> = csr
        .spec
        .usages
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let allowed = |set: &[&str]| usages == set.iter().copied().collect::<BTreeSet<_>>();
    subject.organizations == ["system:nodes"]
        && !subject.has_sans
        && subject.common_name.starts_with("system:node:")
        && (allowed(&["digital signature", "key encipherment", "client auth"])
            || allowed(&["digital signature", "client auth"]))
}

/// A node asking for its own certificate: the requester is the certificate's subject.
fn is_self_node_client(csr: &CertificateSigningRequest, subject: &Subject) -> bool {
    csr.spec.username.as_deref() == Some(subject.common_name.as_str())
        && is_node_client(csr, subject)
}

/// Whether the request still waits for a decision.
fn undecided(csr: &CertificateSigningRequest) -> bool {
    let status = csr.status.as_ref();
    let issued = status
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty());
    let decided = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Approved" || c.type_ == "Denied")
        });
    !issued && !decided
}

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let informer = informers.get::<CertificateSigningRequest>();
    let changes = informer.changes();
    informer.ready().await;
    let store = informer.store();
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::new("csrapproving");
    for csr in store.state() {
        if undecided(&csr) {
            queue.add(csr.metadata.name.clone().unwrap_or_default());
        }
    }
    feed(&queue, changes, |change| match change {
        Change::Applied { new, .. } if undecided(&new) => {
            vec![new.metadata.name.clone().unwrap_or_default()]
        }
        _ => Vec::new(),
    });
    process(queue, 5, "the CertificateSigningRequest", move |name| {
        let (client, store) = (client.clone(), store.clone());
        async move { sync(&client, &store, &name).await }
    })
    .await;
}

async fn sync(
    client: &kube::Client,
    store: &Store<CertificateSigningRequest>,
    name: &str,
) -> Result<(), Error> {
    let Some(csr) = store.get(&ObjectRef::new(name)) else {
        return Ok(());
    };
    if !undecided(&csr) {
        return Ok(());
    }
    let Some(subject) = subject(&csr.spec.request.0) else {
        tracing::debug!("CertificateSigningRequest {name} does not parse; leaving it alone.");
        return Ok(());
    };
    let mut tried = Vec::new();
    for r in RECOGNIZERS {
        if !(r.recognizes)(&csr, &subject) {
            continue;
        }
        tried.push(r.subresource);
        if !authorized(client, &csr, r.subresource).await? {
            continue;
        }
        let mut approved = (*csr).clone();
        let now = Some(Time(Timestamp::now()));
        approved
            .status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new)
            .push(CertificateSigningRequestCondition {
                type_: "Approved".into(),
                status: "True".into(),
                reason: Some("AutoApproved".into()),
                message: Some(r.message.into()),
                last_update_time: now.clone(),
                last_transition_time: now,
            });
        let api: Api<CertificateSigningRequest> = Api::all(client.clone());
        // A PUT of the approval subresource, as upstream's UpdateApproval.
        return match api
            .replace_subresource("approval", name, &PostParams::default(), &approved)
            .await
        {
            Ok(_) => {
                tracing::info!(
                    "Approved CertificateSigningRequest {name} ({}).",
                    r.subresource
                );
                Ok(())
            }
            Err(e) if client::is_not_found(&e) => Ok(()),
            Err(source) => Err(Error::Approve {
                name: name.to_string(),
                source,
            }),
        };
    }
    if !tried.is_empty() {
        tracing::debug!(
            "Recognized CertificateSigningRequest {name} as {tried:?} but the subject access review was not approved."
        );
    }
    Ok(())
}

/// Asks the apiserver whether the requester may create the request kind `subresource`.
async fn authorized(
    client: &kube::Client,
    csr: &CertificateSigningRequest,
    subresource: &'static str,
) -> Result<bool, Error> {
    let spec = &csr.spec;
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: spec.username.clone(),
            uid: spec.uid.clone(),
            groups: spec.groups.clone(),
            extra: spec.extra.clone(),
            resource_attributes: Some(ResourceAttributes {
                group: Some("certificates.k8s.io".into()),
                resource: Some("certificatesigningrequests".into()),
                verb: Some("create".into()),
                subresource: Some(subresource.into()),
                version: Some("*".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answered = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(|source| Error::Review {
            user: spec.username.clone().unwrap_or_default(),
            subresource,
            source,
        })?;
    Ok(answered.status.is_some_and(|s| s.allowed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::certificates::v1::CertificateSigningRequestSpec;

    fn request(cn: &str, orgs: &[&str], sans: &[&str]) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        for o in orgs {
            params.distinguished_name.push(DnType::OrganizationName, *o);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
            .into_bytes()
    }

    fn csr(pem: Vec<u8>, signer: &str, usages: &[&str], user: &str) -> CertificateSigningRequest {
        CertificateSigningRequest {
            spec: CertificateSigningRequestSpec {
                request: ByteString(pem),
                signer_name: signer.into(),
                usages: Some(usages.iter().map(|u| u.to_string()).collect()),
                username: Some(user.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const USAGES: &[&str] = &["digital signature", "client auth"];

    #[test]
    fn kubelet_client_requests_are_recognized() {
        let pem = request("system:node:n1", &["system:nodes"], &[]);
        let s = subject(&pem).unwrap();
        assert_eq!(s.common_name, "system:node:n1");
        let by_bootstrapper = csr(
            pem.clone(),
            KUBELET_CLIENT_SIGNER,
            USAGES,
            "system:bootstrap:abc",
        );
        assert!(is_node_client(&by_bootstrapper, &s));
        assert!(!is_self_node_client(&by_bootstrapper, &s));
        let by_node = csr(pem.clone(), KUBELET_CLIENT_SIGNER, USAGES, "system:node:n1");
        assert!(is_self_node_client(&by_node, &s));
        let rsa = csr(
            pem.clone(),
            KUBELET_CLIENT_SIGNER,
            &["key encipherment", "digital signature", "client auth"],
            "x",
        );
        assert!(is_node_client(&rsa, &s));
    }

    #[test]
    fn anything_else_is_left_alone() {
        let node = request("system:node:n1", &["system:nodes"], &[]);
        let s = subject(&node).unwrap();
        assert!(!is_node_client(
            &csr(
                node.clone(),
                "kubernetes.io/kube-apiserver-client",
                USAGES,
                "x"
            ),
            &s
        ));
        assert!(!is_node_client(
            &csr(node.clone(), KUBELET_CLIENT_SIGNER, &["client auth"], "x"),
            &s
        ));
        assert!(!is_node_client(
            &csr(
                node.clone(),
                KUBELET_CLIENT_SIGNER,
                &["digital signature", "client auth", "server auth"],
                "x"
            ),
            &s
        ));
        for (cn, orgs, sans) in [
            ("alice", &["system:nodes"][..], &[][..]),
            ("system:node:n1", &["system:masters"][..], &[][..]),
            ("system:node:n1", &["system:nodes", "extra"][..], &[][..]),
            (
                "system:node:n1",
                &["system:nodes"][..],
                &["n1.example.com"][..],
            ),
        ] {
            let pem = request(cn, orgs, sans);
            let s = subject(&pem).unwrap();
            assert!(
                !is_node_client(&csr(pem, KUBELET_CLIENT_SIGNER, USAGES, "x"), &s),
                "{cn} {orgs:?} {sans:?}"
            );
        }
    }
}
