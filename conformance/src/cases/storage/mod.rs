//! `[sig-storage]` cases (upstream `test/e2e/storage/` and `test/e2e/common/storage/`).

pub mod immutable;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(immutable::cases());
    out
}
