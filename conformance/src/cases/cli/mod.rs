//! `[sig-cli]` cases (upstream `test/e2e/kubectl/`): kubectl itself against the cluster.

pub mod kubectl;

use super::Case;

pub fn cases() -> Vec<Case> {
    kubectl::cases()
}
