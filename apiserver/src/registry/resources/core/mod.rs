//! The core group (`/api/v1`): one strategy file per kind, plus the helpers they share
//! (quantities, common validators, printer column descriptions).

pub mod common;
pub mod configmaps;
pub mod docs;
pub mod namespaces;
pub mod pods;
pub mod quantity;
pub mod services;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![
        configmaps::resource(),
        namespaces::resource(),
        pods::resource(),
        services::resource(),
    ]
}
