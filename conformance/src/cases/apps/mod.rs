//! `[sig-apps]` cases (upstream `test/e2e/apps/`).

pub mod cronjob;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(cronjob::cases());
    out
}
