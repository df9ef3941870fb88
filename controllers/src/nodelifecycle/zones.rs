//! Zones and the pace of tainting (upstream's zone states and `RateLimitedTimedQueue`): nodes
//! are tainted one zone at a time at `--node-eviction-rate` per second, more slowly in a zone
//! where many nodes are down (maybe a network split rather than dead nodes), and not at all
//! when every zone is fully down (the control plane is the likelier culprit).

use k8s_openapi::api::core::v1::{Node, NodeCondition};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// A node with this label does not count toward its zone's state.
pub const EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// The zone key of a node: region and zone labels (the beta ones first, as upstream).
pub fn key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |beta: &str, ga: &str| {
        labels
            .and_then(|l| l.get(beta).or_else(|| l.get(ga)))
            .cloned()
            .unwrap_or_default()
    };
    let region = get(
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/region",
    );
    let zone = get(
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/zone",
    );
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\x00:{zone}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initial,
    Normal,
    PartialDisruption,
    FullDisruption,
}

/// A zone's state from its nodes' Ready conditions (upstream `ComputeZoneState`).
pub fn state(ready: &[Option<&NodeCondition>], unhealthy_threshold: f32) -> State {
    let not_ready = ready
        .iter()
        .filter(|c| c.is_none_or(|c| c.status != "True"))
        .count();
    let total = ready.len();
    if total > 0 && not_ready == total {
        State::FullDisruption
    } else if not_ready > 2 && not_ready as f32 / total as f32 >= unhealthy_threshold {
        State::PartialDisruption
    } else {
        State::Normal
    }
}

/// The tainting rate (nodes per second) for a zone in `state` with `size` nodes.
pub fn rate(state: State, size: usize, primary: f32, secondary: f32, large_cluster: usize) -> f32 {
    match state {
        State::PartialDisruption if size > large_cluster => secondary,
        State::PartialDisruption => 0.0,
        _ => primary,
    }
}

/// A zone's queue of nodes to taint, with a one-token bucket refilled at `qps`.
#[derive(Debug)]
pub struct Queue {
    nodes: VecDeque<String>,
    qps: f32,
    next_token: Instant,
}

impl Queue {
    pub fn new(qps: f32) -> Self {
        Self {
            nodes: VecDeque::new(),
            qps,
            next_token: Instant::now(),
        }
    }

    /// Queues `node`; false when it is queued already.
    pub fn add(&mut self, node: &str) -> bool {
        if self.nodes.iter().any(|n| n == node) {
            return false;
        }
        self.nodes.push_back(node.to_string());
        true
    }

    pub fn remove(&mut self, node: &str) {
        self.nodes.retain(|n| n != node);
    }

    /// Changes the rate; a bucket that was empty stays empty.
    pub fn set_rate(&mut self, qps: f32) {
        self.qps = qps;
    }

    /// The next node, when the token bucket allows one now.
    pub fn take(&mut self, now: Instant) -> Option<String> {
        if self.qps <= 0.0 || now < self.next_token || self.nodes.is_empty() {
            return None;
        }
        self.next_token = now + Duration::from_secs_f32(1.0 / self.qps);
        self.nodes.pop_front()
    }

    /// Puts a node whose handling failed back to be tried again.
    pub fn retry(&mut self, node: String) {
        if !self.nodes.contains(&node) {
            self.nodes.push_back(node);
        }
    }
}

/// Every zone's state and queue.
#[derive(Debug, Default)]
pub struct Zones {
    pub states: BTreeMap<String, State>,
    pub queues: BTreeMap<String, Queue>,
}

impl Zones {
    /// The queue of `zone`, made (at `rate`, the zone in its initial state) if it is new.
    pub fn queue(&mut self, zone: &str, rate: f32) -> &mut Queue {
        self.states
            .entry(zone.to_string())
            .or_insert(State::Initial);
        self.queues
            .entry(zone.to_string())
            .or_insert_with(|| Queue::new(rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    fn ready(status: &str) -> NodeCondition {
        NodeCondition {
            type_: "Ready".to_string(),
            status: status.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn zone_states_follow_the_ready_nodes() {
        let (t, f) = (ready("True"), ready("False"));
        assert_eq!(state(&[Some(&t), Some(&f)], 0.55), State::Normal);
        assert_eq!(state(&[Some(&f), None], 0.55), State::FullDisruption);
        assert_eq!(
            state(&[Some(&f), Some(&f), Some(&f), Some(&t)], 0.55),
            State::PartialDisruption
        );
        assert_eq!(state(&[Some(&f), Some(&f), Some(&t)], 0.55), State::Normal);
        assert_eq!(rate(State::PartialDisruption, 10, 0.1, 0.01, 50), 0.0);
        assert_eq!(rate(State::PartialDisruption, 60, 0.1, 0.01, 50), 0.01);
        assert_eq!(rate(State::FullDisruption, 60, 0.1, 0.01, 50), 0.1);
    }

    #[test]
    fn zone_keys_join_region_and_zone() {
        let mut n = Node::default();
        assert_eq!(key(&n), "");
        n.metadata.labels = Some(Map::from([
            ("topology.kubernetes.io/region".to_string(), "r".to_string()),
            ("topology.kubernetes.io/zone".to_string(), "z".to_string()),
        ]));
        assert_eq!(key(&n), "r:\x00:z");
    }

    #[test]
    fn the_queue_hands_out_nodes_at_its_rate() {
        let mut q = Queue::new(0.1);
        assert!(q.add("a"));
        assert!(!q.add("a"));
        q.add("b");
        let now = Instant::now();
        assert_eq!(q.take(now).as_deref(), Some("a"));
        assert_eq!(q.take(now), None);
        assert_eq!(q.take(now + Duration::from_secs(10)).as_deref(), Some("b"));
        q.add("c");
        q.set_rate(0.0);
        assert_eq!(q.take(now + Duration::from_secs(100)), None);
    }
}
