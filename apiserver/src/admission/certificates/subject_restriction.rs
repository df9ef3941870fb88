//! CertificateSubjectRestriction: requests to the kube-apiserver-client signer may not ask
//! for the `system:masters` group, which no authorizer could take back.

use super::{forbidden, is_csr, signer_name};
use crate::admission::{Attributes, Operation, Validator};
use crate::errors::{ApiError, Result};
use async_trait::async_trait;
use base64::Engine;
use serde_json::Value;

const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
const MASTERS: &str = "system:masters";

pub struct CertificateSubjectRestriction;

/// The subject organizations (groups) of the PEM request in `spec.request`.
fn organizations(csr: &Value) -> std::result::Result<Vec<String>, String> {
    use x509_parser::prelude::FromDer;
    let encoded = csr
        .pointer("/spec/request")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| e.to_string())?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| e.to_string())?;
    let (_, request) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents)
            .map_err(|e| e.to_string())?;
    Ok(request
        .certification_request_info
        .subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect())
}

#[async_trait]
impl Validator for CertificateSubjectRestriction {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let Some(csr) = attrs.object else {
            return Ok(());
        };
        if !is_csr(attrs)
            || attrs.subresource.is_some()
            || attrs.operation != Operation::Create
            || signer_name(csr) != CLIENT_SIGNER
        {
            return Ok(());
        }
        let groups = organizations(csr)
            .map_err(|e| ApiError::internal(format!("failed to parse CSR: {e}")))?;
        if groups.iter().any(|g| g == MASTERS) {
            return Err(forbidden(
                attrs,
                &format!("use of {CLIENT_SIGNER} signer with {MASTERS} group is not allowed"),
            ));
        }
        Ok(())
    }
}
