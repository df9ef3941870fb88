//! `[sig-node]` cases (upstream `test/e2e/common/node/` and `test/e2e/node/`).

pub mod configmap;
pub mod lease;
pub mod node_lifecycle;
pub mod pods;
pub mod podtemplates;
pub mod runtimeclass;
pub mod secrets;
pub mod sysctl;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(configmap::cases());
    out.extend(lease::cases());
    out.extend(node_lifecycle::cases());
    out.extend(pods::cases());
    out.extend(podtemplates::cases());
    out.extend(runtimeclass::cases());
    out.extend(secrets::cases());
    out.extend(sysctl::cases());
    out
}
