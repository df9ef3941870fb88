//! NodeUnschedulable (Filter): a cordoned node (`spec.unschedulable`) takes only pods that
//! tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{CycleState, FilterPlugin, Plugin, Status};
use crate::node_info::NodeInfo;
use crate::plugins::taint_toleration::tolerated;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use std::sync::Arc;

pub const NAME: &str = "NodeUnschedulable";
/// Upstream's `ErrReasonUnschedulable`.
pub const REASON: &str = "node(s) were unschedulable";
const TAINT: &str = "node.kubernetes.io/unschedulable";

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodeUnschedulable)
}

struct NodeUnschedulable;

fn fits(pod: &Pod, node: &Node) -> bool {
    fits_unschedulable(
        pod,
        node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true),
    )
}

fn fits_unschedulable(pod: &Pod, unschedulable: bool) -> bool {
    if !unschedulable {
        return true;
    }
    let taint = Taint {
        key: TAINT.to_string(),
        effect: "NoSchedule".to_string(),
        value: None,
        time_added: None,
    };
    tolerated(pod, &taint)
}

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<EventWithHint> {
        vec![
            EventWithHint::new(
                EventResource::Node,
                action::ADD | action::UPDATE_NODE_TAINT,
                "NodeAdd|NodeUpdate",
            )
            .with_hint(|pod, change| {
                match change.new.as_ref().and_then(Object::node) {
                    Some(node) if fits(pod, node) => QueueingHint::Queue,
                    _ => QueueingHint::Skip,
                }
            }),
            EventWithHint::new(
                EventResource::UnscheduledPod,
                action::UPDATE_POD_TOLERATION,
                "UpdatePodToleration",
            ),
        ]
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if node.node.is_none() {
            Status::unresolvable("node not found")
        } else if !fits_unschedulable(pod, node.unschedulable) {
            Status::unresolvable(REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::*;
    use k8s_openapi::api::core::v1::Toleration;

    #[test]
    fn cordoned_nodes_take_only_tolerating_pods() {
        let mut n = node("n", "1", "1Gi");
        let plain = pod("p", &[&[]]);
        let info = |n: &Node| NodeInfo::new(Arc::new(n.clone()));
        let state = CycleState::new();
        assert!(
            NodeUnschedulable
                .filter(&state, &plain, &info(&n))
                .is_success()
        );
        n.spec.get_or_insert_default().unschedulable = Some(true);
        let s = NodeUnschedulable.filter(&state, &plain, &info(&n));
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), REASON);
        let mut tolerant = plain.clone();
        tolerant.spec.as_mut().unwrap().tolerations = Some(vec![Toleration {
            key: Some(TAINT.into()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        }]);
        assert!(
            NodeUnschedulable
                .filter(&state, &tolerant, &info(&n))
                .is_success()
        );
    }
}
