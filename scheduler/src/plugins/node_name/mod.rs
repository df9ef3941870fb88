//! NodeName (Filter): a pod that names a node (`spec.nodeName`) fits only that node.

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{CycleState, FilterPlugin, Plugin, Status};
use crate::node_info::NodeInfo;
use k8s_openapi::api::core::v1::Pod;
use std::sync::Arc;

pub const NAME: &str = "NodeName";
/// Upstream's `ErrReason`.
pub const REASON: &str = "node(s) didn't match the requested node name";

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodeName)
}

struct NodeName;

fn wanted(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<EventWithHint> {
        vec![
            EventWithHint::new(EventResource::Node, action::ADD, "NodeAdd").with_hint(
                |pod, change| {
                    let name = change
                        .new
                        .as_ref()
                        .and_then(Object::node)
                        .and_then(|n| n.metadata.name.as_deref());
                    if wanted(pod).is_empty() || name == Some(wanted(pod)) {
                        QueueingHint::Queue
                    } else {
                        QueueingHint::Skip
                    }
                },
            ),
        ]
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let want = wanted(pod);
        if want.is_empty() || want == node.name() {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::*;

    #[test]
    fn only_the_named_node_fits() {
        let state = CycleState::new();
        let a = NodeInfo::new(Arc::new(node("a", "1", "1Gi")));
        let b = NodeInfo::new(Arc::new(node("b", "1", "1Gi")));
        let free = pod("p", &[&[]]);
        assert!(NodeName.filter(&state, &free, &a).is_success());
        let named = on_node(free, "a");
        assert!(NodeName.filter(&state, &named, &a).is_success());
        assert_eq!(NodeName.filter(&state, &named, &b).message(), REASON);
    }
}
