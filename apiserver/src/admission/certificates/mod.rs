//! The CertificateSigningRequest plugins: approving (CertificateApproval) and signing
//! (CertificateSigning) need the `approve` or `sign` verb on the request's signer, and the
//! kube-apiserver-client signer is not for `system:masters` certificates
//! (CertificateSubjectRestriction).

mod approval;
mod signing;
mod subject_restriction;

pub use approval::CertificateApproval;
pub use signing::CertificateSigning;
pub use subject_restriction::CertificateSubjectRestriction;

/// The signers whose certificates name a node (`CN=system:node:<name>`).
pub(crate) const NODE_SIGNERS: [&str; 2] = [
    "kubernetes.io/kubelet-serving",
    "kubernetes.io/kube-apiserver-client-kubelet",
];

use super::Attributes;
use crate::authn::user::UserInfo;
use crate::authz::{self, Authorizer};
use crate::errors::{ApiError, GroupResource};
use serde_json::Value;

fn is_csr(attrs: &Attributes<'_>) -> bool {
    attrs.info.group == "certificates.k8s.io" && attrs.info.resource == "certificatesigningrequests"
}

pub(crate) fn signer_name(csr: &Value) -> &str {
    csr.pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The subject of the PEM certificate request in a CSR's `spec.request`.
#[derive(Debug, Default)]
pub(crate) struct Subject {
    pub common_name: String,
    pub organizations: Vec<String>,
}

pub(crate) fn request_subject(csr: &Value) -> Result<Subject, String> {
    use base64::Engine;
    use x509_parser::prelude::FromDer;
    let encoded = csr
        .pointer("/spec/request")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| e.to_string())?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| e.to_string())?;
    if block.label != "CERTIFICATE REQUEST" {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    }
    let (_, request) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents)
            .map_err(|e| e.to_string())?;
    let subject = &request.certification_request_info.subject;
    // Go's pkix keeps the last common name when a subject repeats it.
    let common_name = subject
        .iter_common_name()
        .filter_map(|n| n.as_str().ok())
        .last()
        .unwrap_or_default()
        .to_string();
    let organizations = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Ok(Subject {
        common_name,
        organizations,
    })
}

fn forbidden(attrs: &Attributes<'_>, why: &str) -> ApiError {
    ApiError::forbidden(
        &GroupResource::new("certificates.k8s.io", "certificatesigningrequests"),
        attrs.name,
        why,
    )
}

/// Whether `user` may `verb` the signer, by name or through its domain's wildcard
/// (`example.com/*`), as upstream asks.
fn may_use_signer(authorizer: &Authorizer, user: &UserInfo, verb: &str, signer: &str) -> bool {
    let domain = signer.split('/').next().unwrap_or_default();
    [signer.to_string(), format!("{domain}/*")]
        .into_iter()
        .any(|name| {
            authorizer.allowed(&authz::Attributes {
                user: user.clone(),
                verb: verb.to_string(),
                resource_request: true,
                namespace: String::new(),
                api_group: "certificates.k8s.io".to_string(),
                api_version: "*".to_string(),
                resource: "signers".to_string(),
                subresource: String::new(),
                name,
                ..Default::default()
            })
        })
}
