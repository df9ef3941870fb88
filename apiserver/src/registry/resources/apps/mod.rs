//! The `apps` group (`/apis/apps/v1`): Deployments, ReplicaSets, StatefulSets, DaemonSets and
//! ControllerRevisions, plus the pieces other workload groups (batch, policy) share with them.

pub mod common;
pub mod controllerrevisions;
pub mod daemonsets;
pub mod deployments;
pub mod pod_template;
pub mod replicasets;
pub mod statefulsets;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![
        deployments::resource(),
        statefulsets::resource(),
        daemonsets::resource(),
        replicasets::resource(),
        controllerrevisions::resource(),
    ]
}
