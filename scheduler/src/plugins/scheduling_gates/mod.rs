//! SchedulingGates (PreEnqueue): a pod with `spec.schedulingGates` stays out of the active
//! queue until its gates are all removed. (The apiserver sets its PodScheduled condition to
//! False, reason SchedulingGated, when such a pod is created.)

use crate::framework::{Code, Plugin, PreEnqueuePlugin, Status};
use k8s_openapi::api::core::v1::Pod;
use std::sync::Arc;

pub const NAME: &str = "SchedulingGates";

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(SchedulingGates)
}

struct SchedulingGates;

impl Plugin for SchedulingGates {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_enqueue(&self) -> Option<&dyn PreEnqueuePlugin> {
        Some(self)
    }
}

impl PreEnqueuePlugin for SchedulingGates {
    fn pre_enqueue(&self, pod: &Pod) -> Status {
        let gates = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_deref())
            .unwrap_or_default();
        if gates.is_empty() {
            return Status::success();
        }
        let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
        // Go prints a []string as `[a b]`.
        Status::new(
            Code::UnschedulableAndUnresolvable,
            [format!(
                "waiting for scheduling gates: [{}]",
                names.join(" ")
            )],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::pod;
    use k8s_openapi::api::core::v1::PodSchedulingGate;

    #[test]
    fn gated_pods_wait() {
        let mut p = pod("p", &[&[]]);
        assert!(SchedulingGates.pre_enqueue(&p).is_success());
        p.spec.as_mut().unwrap().scheduling_gates = Some(vec![
            PodSchedulingGate {
                name: "example.com/a".into(),
            },
            PodSchedulingGate { name: "b".into() },
        ]);
        let s = SchedulingGates.pre_enqueue(&p);
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(
            s.message(),
            "waiting for scheduling gates: [example.com/a b]"
        );
    }
}
