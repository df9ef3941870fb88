//! `[sig-scheduling]` cases (upstream `test/e2e/scheduling/`).

pub mod limit_range;
pub mod pause_pods;
pub mod predicates;
pub mod preemption;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = limit_range::cases();
    out.extend(predicates::cases());
    out.extend(preemption::cases());
    out
}
