//! `[sig-instrumentation]` cases (upstream `test/e2e/instrumentation/`).

pub mod core_events;
pub mod events;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(core_events::cases());
    out.extend(events::cases());
    out
}
