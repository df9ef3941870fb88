//! `[sig-auth]` cases (upstream `test/e2e/auth/`).

pub mod certificates;
pub mod service_accounts;
pub mod subject_review;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(certificates::cases());
    out.extend(service_accounts::cases());
    out.extend(subject_review::cases());
    out
}
