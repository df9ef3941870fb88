//! `scheduling.k8s.io/v1`: PriorityClasses.

pub mod priorityclasses;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![priorityclasses::resource()]
}
