//! CertificateSubjectRestriction: requests to the kube-apiserver-client signer may not ask
//! for the `system:masters` group, which no authorizer could take back.

use super::{forbidden, is_csr, request_subject, signer_name};
use crate::admission::{Attributes, Operation, Validator};
use crate::errors::{ApiError, Result};
use async_trait::async_trait;

const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
const MASTERS: &str = "system:masters";

pub struct CertificateSubjectRestriction;

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
        let subject = request_subject(csr)
            .map_err(|e| ApiError::internal(format!("failed to parse CSR: {e}")))?;
        if subject.organizations.iter().any(|g| g == MASTERS) {
            return Err(forbidden(
                attrs,
                &format!("use of {CLIENT_SIGNER} signer with {MASTERS} group is not allowed"),
            ));
        }
        Ok(())
    }
}
