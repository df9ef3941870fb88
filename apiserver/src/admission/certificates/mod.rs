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

use super::Attributes;
use crate::authn::user::UserInfo;
use crate::authz::{self, Authorizer};
use crate::errors::{ApiError, GroupResource};
use serde_json::Value;

fn is_csr(attrs: &Attributes<'_>) -> bool {
    attrs.info.group == "certificates.k8s.io" && attrs.info.resource == "certificatesigningrequests"
}

fn signer_name(csr: &Value) -> &str {
    csr.pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or_default()
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
