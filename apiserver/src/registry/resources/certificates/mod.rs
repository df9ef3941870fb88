//! `certificates.k8s.io/v1`: CertificateSigningRequests.

pub mod certificatesigningrequests;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![certificatesigningrequests::resource()]
}
