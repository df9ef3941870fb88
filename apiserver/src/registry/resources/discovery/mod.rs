//! `discovery.k8s.io/v1`: EndpointSlices.

pub mod endpointslices;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![endpointslices::resource()]
}
