//! `apiregistration.k8s.io/v1`: APIServices, and the local APIServices every apiserver
//! registers for the group-versions it serves itself. Upstream serves this group from its
//! aggregator layer; proxying to extension apiservers is not built yet.

pub mod apiservices;
pub mod local;

use crate::registry::Resource;

pub const GROUP: &str = "apiregistration.k8s.io";

pub fn resources() -> Vec<Resource> {
    vec![apiservices::resource()]
}
