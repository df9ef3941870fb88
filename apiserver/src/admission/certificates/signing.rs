//! CertificateSigning: setting a request's certificate (`certificatesigningrequests/status`)
//! needs the `sign` verb on its signer.

use super::{forbidden, is_csr, may_use_signer, signer_name};
use crate::admission::{Attributes, Operation, Validator};
use crate::authz::Authorizer;
use crate::errors::Result;
use async_trait::async_trait;

pub struct CertificateSigning {
    authorizer: Authorizer,
}

impl CertificateSigning {
    pub fn new(authorizer: Authorizer) -> Self {
        Self { authorizer }
    }
}

#[async_trait]
impl Validator for CertificateSigning {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let (Some(csr), Some(old)) = (attrs.object, attrs.old) else {
            return Ok(());
        };
        if !is_csr(attrs)
            || attrs.subresource != Some("status")
            || attrs.operation != Operation::Update
            || csr.pointer("/status/certificate") == old.pointer("/status/certificate")
        {
            return Ok(());
        }
        let signer = signer_name(old);
        if may_use_signer(&self.authorizer, attrs.user, "sign", signer) {
            return Ok(());
        }
        Err(forbidden(
            attrs,
            &format!("user not permitted to sign requests with signerName {signer:?}"),
        ))
    }
}
