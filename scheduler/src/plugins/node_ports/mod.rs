//! NodePorts (Filter): a pod asking for host ports fits only nodes where none of them is in use
//! on the same protocol and address (`0.0.0.0` clashes with every address).

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::{HostPort, NodeInfo, host_ports, port_conflicts};
use k8s_openapi::api::core::v1::Pod;
use std::sync::Arc;

pub const NAME: &str = "NodePorts";
/// Upstream's `ErrReason`.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";
const STATE_KEY: &str = "PreFilterNodePorts";

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodePorts)
}

struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<EventWithHint> {
        vec![
            // A deleted pod frees its ports.
            EventWithHint::new(
                EventResource::AssignedPod,
                action::DELETE,
                "AssignedPodDelete",
            )
            .with_hint(|pod, change| {
                let freed: std::collections::HashSet<HostPort> = change
                    .old
                    .as_ref()
                    .and_then(Object::pod)
                    .map(host_ports)
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                if host_ports(pod).iter().any(|w| port_conflicts(&freed, w)) {
                    QueueingHint::Queue
                } else {
                    QueueingHint::Skip
                }
            }),
            EventWithHint::new(EventResource::Node, action::ADD, "NodeAdd"),
        ]
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let ports = host_ports(pod);
        if ports.is_empty() {
            return (None, Status::skip());
        }
        state.write(STATE_KEY, ports);
        (None, Status::success())
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let computed;
        let wanted = match state.read::<Vec<HostPort>>(STATE_KEY) {
            Some(p) => p,
            None => {
                computed = host_ports(pod);
                &computed
            }
        };
        if wanted.iter().any(|w| port_conflicts(&node.used_ports, w)) {
            Status::unschedulable(REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::PodInfo;
    use crate::node_info::testing::*;

    #[test]
    fn filter_table() {
        let mut state = CycleState::new();
        let mut info = NodeInfo::new(Arc::new(node("n", "1", "1Gi")));
        info.add_pod(PodInfo::new(Arc::new(with_host_port(pod("a", &[&[]]), 80))));
        let same = with_host_port(pod("b", &[&[]]), 80);
        let other = with_host_port(pod("c", &[&[]]), 81);
        let (_, s) = NodePorts.pre_filter(&mut state, &same, &[]);
        assert!(s.is_success());
        let s = NodePorts.filter(&state, &same, &info);
        assert_eq!(s.code(), Code::Unschedulable);
        assert_eq!(s.message(), REASON);
        let mut state = CycleState::new();
        NodePorts.pre_filter(&mut state, &other, &[]);
        assert!(NodePorts.filter(&state, &other, &info).is_success());
        let (_, s) = NodePorts.pre_filter(&mut CycleState::new(), &pod("d", &[&[]]), &[]);
        assert!(s.is_skip());
    }
}
