//! CertificateApproval: approving or denying a request (`certificatesigningrequests/approval`)
//! needs the `approve` verb on its signer.

use super::{forbidden, is_csr, may_use_signer, signer_name};
use crate::admission::{Attributes, Operation, Validator};
use crate::authz::Authorizer;
use crate::errors::Result;
use async_trait::async_trait;

pub struct CertificateApproval {
    authorizer: Authorizer,
}

impl CertificateApproval {
    pub fn new(authorizer: Authorizer) -> Self {
        Self { authorizer }
    }
}

#[async_trait]
impl Validator for CertificateApproval {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let Some(csr) = attrs.object else {
            return Ok(());
        };
        if !is_csr(attrs)
            || attrs.subresource != Some("approval")
            || attrs.operation != Operation::Update
        {
            return Ok(());
        }
        // The signer cannot change, so the new object names the one to check.
        let signer = signer_name(csr);
        if may_use_signer(&self.authorizer, attrs.user, "approve", signer) {
            return Ok(());
        }
        Err(forbidden(
            attrs,
            &format!("user not permitted to approve requests with signerName {signer:?}"),
        ))
    }
}
