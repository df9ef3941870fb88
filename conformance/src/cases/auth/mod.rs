//! `[sig-auth]` cases (upstream `test/e2e/auth/`).

pub mod service_accounts;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(service_accounts::cases());
    out
}
