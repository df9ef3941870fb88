//! The `networking.k8s.io` group: the ServiceCIDR and IPAddress kinds the Service IP
//! allocator records its state in.

pub mod ipaddresses;
pub mod servicecidrs;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![servicecidrs::resource(), ipaddresses::resource()]
}
