//! `[sig-network]` cases (upstream `test/e2e/network/`).

pub mod endpointslice;
pub mod endpointslicemirroring;
pub mod ingress;
pub mod service;
pub mod service_cidrs;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(endpointslice::cases());
    out.extend(endpointslicemirroring::cases());
    out.extend(ingress::cases());
    out.extend(service::cases());
    out.extend(service_cidrs::cases());
    out
}
