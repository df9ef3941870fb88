//! `networking.k8s.io/v1`: Ingresses, IngressClasses and NetworkPolicies, and the ServiceCIDR
//! and IPAddress kinds the Service IP allocator records its state in.

pub mod ingressclasses;
pub mod ingresses;
pub mod ipaddresses;
pub mod networkpolicies;
pub mod servicecidrs;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![
        ingressclasses::resource(),
        ingresses::resource(),
        networkpolicies::resource(),
        servicecidrs::resource(),
        ipaddresses::resource(),
    ]
}
