//! `flowcontrol.apiserver.k8s.io/v1`: FlowSchemas and PriorityLevelConfigurations (API
//! Priority and Fairness configuration), plus the mandatory and suggested objects every
//! apiserver creates on start.

pub mod bootstrap;
pub mod flowschemas;
pub mod prioritylevelconfigurations;

use crate::registry::Resource;

pub const GROUP: &str = "flowcontrol.apiserver.k8s.io";

pub fn resources() -> Vec<Resource> {
    vec![
        flowschemas::resource(),
        prioritylevelconfigurations::resource(),
    ]
}
