//! Cluster events that may make an unschedulable pod schedulable, as upstream's
//! `framework.ClusterEvent`: a resource and what happened to it (an [`action`] bit set). Each
//! plugin registers the events that could undo its rejections, each with an optional
//! queueing hint that looks at the pod and the changed object to decide whether requeueing is
//! worth it; the queue moves a pod only on an event a plugin that rejected it registered.

use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use std::sync::Arc;

/// What happened, as bits (upstream's `ActionType`).
pub mod action {
    pub const ADD: u32 = 1;
    pub const DELETE: u32 = 1 << 1;
    pub const UPDATE_NODE_ALLOCATABLE: u32 = 1 << 2;
    pub const UPDATE_NODE_LABEL: u32 = 1 << 3;
    pub const UPDATE_NODE_TAINT: u32 = 1 << 4;
    pub const UPDATE_NODE_CONDITION: u32 = 1 << 5;
    pub const UPDATE_NODE_ANNOTATION: u32 = 1 << 6;
    pub const UPDATE_POD_LABEL: u32 = 1 << 7;
    pub const UPDATE_POD_SCALE_DOWN: u32 = 1 << 8;
    pub const UPDATE_POD_TOLERATION: u32 = 1 << 9;
    pub const UPDATE_POD_SCHEDULING_GATES_ELIMINATED: u32 = 1 << 10;
    /// Any change of an object whose updates are not told apart (claims, volumes, classes,
    /// CSI objects: upstream's plain `Update`).
    pub const UPDATE_OBJECT: u32 = 1 << 11;
    pub const UPDATE_NODE: u32 = UPDATE_NODE_ALLOCATABLE
        | UPDATE_NODE_LABEL
        | UPDATE_NODE_TAINT
        | UPDATE_NODE_CONDITION
        | UPDATE_NODE_ANNOTATION;
    pub const UPDATE: u32 = UPDATE_NODE
        | UPDATE_POD_LABEL
        | UPDATE_POD_SCALE_DOWN
        | UPDATE_POD_TOLERATION
        | UPDATE_POD_SCHEDULING_GATES_ELIMINATED
        | UPDATE_OBJECT;
    pub const ALL: u32 = ADD | DELETE | UPDATE;
}

/// The kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventResource {
    Node,
    /// A pod bound to a node (or assumed on one).
    AssignedPod,
    /// The unscheduled pod itself (its own updates).
    UnscheduledPod,
    /// Storage objects the volume plugins wait for.
    PersistentVolumeClaim,
    PersistentVolume,
    StorageClass,
    CSINode,
    CSIDriver,
    CSIStorageCapacity,
    /// Anything: the 5-minute flush of pods left unschedulable, or a forced move.
    Wildcard,
}

/// What a plugin registers for, and what the queue announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterEvent {
    pub resource: EventResource,
    pub actions: u32,
    /// The name upstream's metrics and logs use (`NodeAdd`, `AssignedPodDelete`, ...).
    pub label: &'static str,
}

impl ClusterEvent {
    pub const fn new(resource: EventResource, actions: u32, label: &'static str) -> Self {
        Self {
            resource,
            actions,
            label,
        }
    }

    /// Whether a registration for `self` covers the `incoming` event.
    pub fn covers(&self, incoming: &ClusterEvent) -> bool {
        incoming.resource == EventResource::Wildcard
            || (self.resource == incoming.resource && self.actions & incoming.actions != 0)
    }
}

/// Pods left unschedulable for longer than the flush interval (upstream's
/// `UnschedulableTimeout`).
pub const UNSCHEDULABLE_TIMEOUT: ClusterEvent =
    ClusterEvent::new(EventResource::Wildcard, action::ALL, "UnschedulableTimeout");

/// An object an event carries.
#[derive(Debug, Clone)]
pub enum Object {
    Node(Arc<Node>),
    Pod(Arc<Pod>),
    Claim(Arc<PersistentVolumeClaim>),
}

impl Object {
    pub fn node(&self) -> Option<&Node> {
        match self {
            Object::Node(n) => Some(n),
            _ => None,
        }
    }

    pub fn pod(&self) -> Option<&Pod> {
        match self {
            Object::Pod(p) => Some(p),
            _ => None,
        }
    }

    pub fn claim(&self) -> Option<&PersistentVolumeClaim> {
        match self {
            Object::Claim(c) => Some(c),
            _ => None,
        }
    }
}

/// One event with the objects before and after.
#[derive(Debug, Clone)]
pub struct Change {
    pub event: ClusterEvent,
    pub old: Option<Object>,
    pub new: Option<Object>,
}

/// A queueing hint's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueingHint {
    /// The change may make the pod schedulable: move it to the active (or backoff) queue.
    Queue,
    /// The change does not help this pod.
    Skip,
}

/// Decides, for a pod a plugin rejected, whether a change is worth another attempt.
pub type QueueingHintFn = Arc<dyn Fn(&Pod, &Change) -> QueueingHint + Send + Sync>;

/// A registration: the event and, optionally, its hint (without one, every such event
/// requeues).
#[derive(Clone)]
pub struct EventWithHint {
    pub event: ClusterEvent,
    pub hint: Option<QueueingHintFn>,
}

impl std::fmt::Debug for EventWithHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWithHint")
            .field("event", &self.event)
            .field("hint", &self.hint.is_some())
            .finish()
    }
}

impl EventWithHint {
    pub fn new(resource: EventResource, actions: u32, label: &'static str) -> Self {
        Self {
            event: ClusterEvent::new(resource, actions, label),
            hint: None,
        }
    }

    pub fn with_hint(
        mut self,
        hint: impl Fn(&Pod, &Change) -> QueueingHint + Send + Sync + 'static,
    ) -> Self {
        self.hint = Some(Arc::new(hint));
        self
    }

    /// Whether `change` should requeue `pod` under this registration.
    pub fn requeues(&self, pod: &Pod, change: &Change) -> bool {
        if !self.event.covers(&change.event) {
            return false;
        }
        if change.event.resource == EventResource::Wildcard {
            return true;
        }
        self.hint
            .as_ref()
            .is_none_or(|hint| hint(pod, change) == QueueingHint::Queue)
    }
}

/// What changed between two versions of a Node, as the event upstream derives
/// (`nodeSchedulingPropertiesChange`); `None` when nothing that matters to scheduling did.
pub fn node_update(old: &Node, new: &Node) -> Option<ClusterEvent> {
    let mut actions = 0;
    let allocatable = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
    if allocatable(old) != allocatable(new) {
        actions |= action::UPDATE_NODE_ALLOCATABLE;
    }
    if old.metadata.labels != new.metadata.labels {
        actions |= action::UPDATE_NODE_LABEL;
    }
    let taints = |n: &Node| n.spec.as_ref().and_then(|s| s.taints.clone());
    let unschedulable = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    // A cordon is a taint as far as scheduling goes.
    if taints(old) != taints(new) || unschedulable(old) != unschedulable(new) {
        actions |= action::UPDATE_NODE_TAINT;
    }
    let conditions = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect::<Vec<_>>()
            })
    };
    if conditions(old) != conditions(new) {
        actions |= action::UPDATE_NODE_CONDITION;
    }
    if old.metadata.annotations != new.metadata.annotations {
        actions |= action::UPDATE_NODE_ANNOTATION;
    }
    (actions != 0).then(|| ClusterEvent::new(EventResource::Node, actions, "NodeUpdate"))
}

pub const NODE_ADD: ClusterEvent = ClusterEvent::new(EventResource::Node, action::ADD, "NodeAdd");
pub const ASSIGNED_POD_ADD: ClusterEvent =
    ClusterEvent::new(EventResource::AssignedPod, action::ADD, "AssignedPodAdd");
pub const ASSIGNED_POD_DELETE: ClusterEvent = ClusterEvent::new(
    EventResource::AssignedPod,
    action::DELETE,
    "AssignedPodDelete",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::*;

    #[test]
    fn node_updates_name_what_changed() {
        let old = node("n", "1", "1Gi");
        assert!(node_update(&old, &old).is_none());
        let bigger = node("n", "2", "1Gi");
        let e = node_update(&old, &bigger).unwrap();
        assert_eq!(e.actions, action::UPDATE_NODE_ALLOCATABLE);
        let mut cordoned = old.clone();
        cordoned.spec.get_or_insert_default().unschedulable = Some(true);
        assert_eq!(
            node_update(&cordoned, &old).unwrap().actions,
            action::UPDATE_NODE_TAINT
        );
        let labelled = with_labels(old.clone(), &[("zone", "a")]);
        assert_eq!(
            node_update(&old, &labelled).unwrap().actions,
            action::UPDATE_NODE_LABEL
        );
    }

    #[test]
    fn registrations_cover_events_and_consult_hints() {
        let reg = EventWithHint::new(
            EventResource::Node,
            action::ADD | action::UPDATE_NODE_TAINT,
            "",
        )
        .with_hint(|_, c| {
            if c.new.as_ref().and_then(Object::node).is_some() {
                QueueingHint::Queue
            } else {
                QueueingHint::Skip
            }
        });
        let p = pod("p", &[&[]]);
        let n = Arc::new(node("n", "1", "1Gi"));
        let add = Change {
            event: NODE_ADD,
            old: None,
            new: Some(Object::Node(n)),
        };
        assert!(reg.requeues(&p, &add));
        let delete = Change {
            event: ASSIGNED_POD_DELETE,
            old: None,
            new: None,
        };
        assert!(!reg.requeues(&p, &delete));
        let flush = Change {
            event: UNSCHEDULABLE_TIMEOUT,
            old: None,
            new: None,
        };
        assert!(reg.requeues(&p, &flush));
    }
}
