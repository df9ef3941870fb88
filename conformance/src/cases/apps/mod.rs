//! `[sig-apps]` cases (upstream `test/e2e/apps/`).

pub mod cronjob;
pub mod disruption;
pub mod rc;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(cronjob::cases());
    out.extend(disruption::cases());
    out.extend(rc::cases());
    out
}
