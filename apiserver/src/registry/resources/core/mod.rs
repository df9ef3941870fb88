//! The core group (`/api/v1`).

pub mod configmaps;
pub mod namespaces;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![configmaps::resource(), namespaces::resource()]
}
