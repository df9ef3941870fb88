//! `networking.k8s.io/v1`: Ingresses, IngressClasses and NetworkPolicies.

pub mod ingressclasses;
pub mod ingresses;
pub mod networkpolicies;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![
        ingressclasses::resource(),
        ingresses::resource(),
        networkpolicies::resource(),
    ]
}
