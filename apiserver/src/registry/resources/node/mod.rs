//! `node.k8s.io/v1`: RuntimeClasses.

pub mod runtimeclasses;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![runtimeclasses::resource()]
}
