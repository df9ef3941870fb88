//! `coordination.k8s.io/v1`: Leases (node heartbeats and leader election).

pub mod leases;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![leases::resource()]
}
