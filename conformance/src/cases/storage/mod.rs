//! `[sig-storage]` cases (upstream `test/e2e/storage/` and `test/e2e/common/storage/`).

pub mod csi_inline;
pub mod csi_node;
pub mod csistoragecapacity;
pub mod immutable;
pub mod storageclass;
pub mod volume_attachment;

use super::Case;

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(csi_inline::cases());
    out.extend(csi_node::cases());
    out.extend(csistoragecapacity::cases());
    out.extend(immutable::cases());
    out.extend(storageclass::cases());
    out.extend(volume_attachment::cases());
    out
}
