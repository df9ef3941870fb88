//! `[sig-scheduling]` cases (upstream `test/e2e/scheduling/`).

pub mod limit_range;

use super::Case;

pub fn cases() -> Vec<Case> {
    limit_range::cases()
}
