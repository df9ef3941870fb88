//! PodTopologySpread: spreads matching pods over topology domains (zones, hostnames, ...).
//!
//! - PreFilter/Filter enforce the pod's `whenUnsatisfiable: DoNotSchedule` constraints: on a
//!   node in domain `d`, `matching pods in d + (1 if the pod matches itself) - global minimum`
//!   must not exceed `maxSkew` (the global minimum counts as 0 while fewer than `minDomains`
//!   domains are eligible). Nodes count only when they have every constraint's topology key and
//!   pass its `nodeAffinityPolicy` (Honor by default: the pod's node selector and required node
//!   affinity) and `nodeTaintsPolicy` (Ignore by default). `matchLabelKeys` add the pod's own
//!   values of those labels to the selector.
//! - PreScore/Score/NormalizeScore prefer the nodes whose domains hold fewer matching pods for
//!   the `ScheduleAnyway` constraints (default weight 2).
//! - Pods without constraints get the default ones: upstream's system defaults (hostname
//!   maxSkew 3, zone maxSkew 5, ScheduleAnyway) with a selector built from the Services,
//!   ReplicationControllers, ReplicaSets and StatefulSets that select or own the pod
//!   ([`default_selector`]), or `pluginConfig` `defaultConstraints` with `defaultingType: List`.

mod default_selector;
mod filtering;
mod scoring;
#[cfg(test)]
mod tests;

use crate::framework::cluster_event::{
    Change, EventResource, EventWithHint, Object, QueueingHint, action,
};
use crate::framework::{
    CycleState, FilterPlugin, NodeScore, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    ScorePlugin, Status,
};
use crate::labels::Selector;
use crate::node_info::{NodeInfo, PodInfo};
use crate::plugins::node_affinity::required_matches;
use crate::plugins::taint_toleration::tolerated;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Node, Pod, ReplicationController, Service, TopologySpreadConstraint,
};
use kube::runtime::reflector::Store;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub use default_selector::default_selector;

pub const NAME: &str = "PodTopologySpread";
/// Upstream's `ErrReasonConstraintsNotMatch`.
pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
/// Upstream's `ErrReasonNodeLabelNotMatch`.
pub const REASON_NODE_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

const DO_NOT_SCHEDULE: &str = "DoNotSchedule";
const SCHEDULE_ANYWAY: &str = "ScheduleAnyway";

/// `PodTopologySpreadArgs`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    #[serde(default)]
    default_constraints: Vec<TopologySpreadConstraint>,
    /// `System` (the default) or `List`.
    #[serde(default)]
    defaulting_type: Option<String>,
}

/// The caches the default constraints' selectors are built from; none in unit tests that do
/// not need them.
#[derive(Clone, Default)]
pub struct Listers {
    pub services: Option<Store<Service>>,
    pub replication_controllers: Option<Store<ReplicationController>>,
    pub replica_sets: Option<Store<ReplicaSet>>,
    pub stateful_sets: Option<Store<StatefulSet>>,
}

/// Builds the plugin from its args (validated as upstream's `ValidatePodTopologySpreadArgs`).
pub fn new(args: Option<&serde_json::Value>, listers: Listers) -> Result<Arc<dyn Plugin>, String> {
    Ok(Arc::new(PodTopologySpread {
        inner: Arc::new(Inner::new(args, listers)?),
    }))
}

struct PodTopologySpread {
    /// Shared with the queueing hints.
    inner: Arc<Inner>,
}

struct Inner {
    system_defaulted: bool,
    default_constraints: Vec<TopologySpreadConstraint>,
    listers: Listers,
}

/// The system default constraints (upstream's `systemDefaultConstraints`).
fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    [(LABEL_HOSTNAME, 3), (LABEL_ZONE, 5)]
        .into_iter()
        .map(|(key, max_skew)| TopologySpreadConstraint {
            topology_key: key.to_string(),
            when_unsatisfiable: SCHEDULE_ANYWAY.to_string(),
            max_skew,
            ..Default::default()
        })
        .collect()
}

impl Inner {
    fn new(args: Option<&serde_json::Value>, listers: Listers) -> Result<Self, String> {
        let args: Args = match args {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| format!("decoding PodTopologySpreadArgs: {e}"))?,
            None => Args::default(),
        };
        let defaulting = args.defaulting_type.as_deref().unwrap_or("System");
        let mut errors = Vec::new();
        match defaulting {
            "System" if !args.default_constraints.is_empty() => errors.push(
                "defaultConstraints: Invalid value: \"...\": when .defaultingType is \"System\", .defaultConstraints must be empty".to_string(),
            ),
            "System" | "List" => {}
            other => errors.push(format!(
                "defaultingType: Unsupported value: {other:?}: supported values: \"System\", \"List\""
            )),
        }
        let mut seen = HashSet::new();
        for (i, c) in args.default_constraints.iter().enumerate() {
            let path = format!("defaultConstraints[{i}]");
            if c.max_skew <= 0 {
                errors.push(format!(
                    "{path}.maxSkew: Invalid value: {}: must be greater than zero",
                    c.max_skew
                ));
            }
            if c.topology_key.is_empty() {
                errors.push(format!(
                    "{path}.topologyKey: Required value: can not be empty"
                ));
            }
            if c.when_unsatisfiable != DO_NOT_SCHEDULE && c.when_unsatisfiable != SCHEDULE_ANYWAY {
                errors.push(format!(
                    "{path}.whenUnsatisfiable: Unsupported value: {:?}: supported values: \"DoNotSchedule\", \"ScheduleAnyway\"",
                    c.when_unsatisfiable
                ));
            }
            if !seen.insert((c.topology_key.clone(), c.when_unsatisfiable.clone())) {
                errors.push(format!(
                    "{path}: Duplicate value: {{{:?}, {:?}}}",
                    c.topology_key, c.when_unsatisfiable
                ));
            }
            if c.label_selector.is_some() {
                errors.push(format!(
                    "{path}.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors.join(", "));
        }
        let system_defaulted = defaulting == "System";
        Ok(Self {
            system_defaulted,
            default_constraints: if system_defaulted {
                system_default_constraints()
            } else {
                args.default_constraints
            },
            listers,
        })
    }

    /// The pod's constraints with `action` (`DoNotSchedule` or `ScheduleAnyway`), or the
    /// default ones when it has none (upstream's `getConstraints` generalized).
    fn constraints(&self, pod: &Pod, action: &str) -> Result<Vec<Constraint>, String> {
        let own = pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .unwrap_or_default();
        if !own.is_empty() {
            return filter_constraints(own, pod.metadata.labels.as_ref(), action);
        }
        let mut defaults = filter_constraints(
            &self.default_constraints,
            pod.metadata.labels.as_ref(),
            action,
        )?;
        if defaults.is_empty() {
            return Ok(defaults);
        }
        let selector = default_selector(pod, &self.listers);
        if selector.is_empty() {
            return Ok(Vec::new());
        }
        for c in &mut defaults {
            c.selector = selector.clone();
        }
        Ok(defaults)
    }

    /// Upstream's `isSchedulableAfterPodChange`.
    fn after_pod_change(&self, pod: &Pod, change: &Change) -> QueueingHint {
        let old = change.old.as_ref().and_then(Object::pod);
        let new = change.new.as_ref().and_then(Object::pod);
        if new.is_some_and(|n| !involved(n, pod)) || old.is_some_and(|o| !involved(o, pod)) {
            return QueueingHint::Skip;
        }
        let Ok(constraints) = self.constraints(pod, DO_NOT_SCHEDULE) else {
            return QueueingHint::Queue;
        };
        let queue_if = |b: bool| {
            if b {
                QueueingHint::Queue
            } else {
                QueueingHint::Skip
            }
        };
        match (old, new) {
            (Some(old), Some(new)) => {
                let tolerations = |p: &Pod| p.spec.as_ref().and_then(|s| s.tolerations.clone());
                if crate::node_info::pod_uid(new) == crate::node_info::pod_uid(pod)
                    && tolerations(old) != tolerations(new)
                    && constraints.iter().any(|c| c.node_taints_policy_honor)
                {
                    return QueueingHint::Queue;
                }
                if old.metadata.labels == new.metadata.labels {
                    return QueueingHint::Skip;
                }
                queue_if(constraints.iter().any(|c| {
                    c.selector.matches(old.metadata.labels.as_ref())
                        != c.selector.matches(new.metadata.labels.as_ref())
                }))
            }
            (None, Some(p)) | (Some(p), None) => queue_if(
                constraints
                    .iter()
                    .any(|c| c.selector.matches(p.metadata.labels.as_ref())),
            ),
            (None, None) => QueueingHint::Queue,
        }
    }

    /// Upstream's `isSchedulableAfterNodeChange`.
    fn after_node_change(&self, pod: &Pod, change: &Change) -> QueueingHint {
        let old = change.old.as_ref().and_then(Object::node);
        let new = change.new.as_ref().and_then(Object::node);
        let Ok(constraints) = self.constraints(pod, DO_NOT_SCHEDULE) else {
            return QueueingHint::Queue;
        };
        let matching = |n: Option<&Node>| n.is_some_and(|n| has_topology_keys(n, &constraints));
        let (was, is) = (matching(old), matching(new));
        let queue = match (old, new) {
            (Some(o), Some(n)) => {
                let taints = |n: &Node| n.spec.as_ref().and_then(|s| s.taints.clone());
                let label =
                    |n: &Node, k: &str| n.metadata.labels.as_ref().and_then(|l| l.get(k).cloned());
                was != is
                    || (is
                        && (constraints
                            .iter()
                            .any(|c| label(o, &c.topology_key) != label(n, &c.topology_key))
                            || taints(o) != taints(n)))
            }
            (None, Some(_)) => is,
            (Some(_), None) => was,
            (None, None) => true,
        };
        if queue {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        }
    }
}

/// Whether a changed pod can matter to the spreading of `pod`: it is `pod` itself, or an
/// assigned pod in its namespace (upstream's `involvedInTopologySpreading`).
fn involved(changed: &Pod, pod: &Pod) -> bool {
    let assigned = changed
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    crate::node_info::pod_uid(changed) == crate::node_info::pod_uid(pod)
        || (assigned && changed.metadata.namespace == pod.metadata.namespace)
}

/// A constraint with its selector parsed (upstream's `topologySpreadConstraint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Constraint {
    pub max_skew: i32,
    pub topology_key: String,
    pub selector: Selector,
    pub min_domains: i32,
    /// `nodeAffinityPolicy: Honor` (the default).
    pub node_affinity_policy_honor: bool,
    /// `nodeTaintsPolicy: Honor` (the default is Ignore).
    pub node_taints_policy_honor: bool,
}

impl Constraint {
    /// Whether `node` counts for this constraint under its node inclusion policies.
    fn includes(&self, pod: &Pod, node: &Node) -> bool {
        if self.node_affinity_policy_honor && !required_matches(pod, node) {
            return false;
        }
        if self.node_taints_policy_honor {
            let untolerated = controllers::taints::of(node).iter().any(|t| {
                (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(pod, t)
            });
            if untolerated {
                return false;
            }
        }
        true
    }
}

/// The constraints with `action`, parsed, with `matchLabelKeys` merged into the selectors
/// (upstream's `filterTopologySpreadConstraints`).
fn filter_constraints(
    constraints: &[TopologySpreadConstraint],
    pod_labels: Option<&BTreeMap<String, String>>,
    action: &str,
) -> Result<Vec<Constraint>, String> {
    let mut out = Vec::new();
    for c in constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == action)
    {
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref())?;
        let keys = c.match_label_keys.as_deref().unwrap_or_default();
        if !keys.is_empty() {
            let set: BTreeMap<String, String> = keys
                .iter()
                .filter_map(|k| Some((k.clone(), pod_labels?.get(k)?.clone())))
                .collect();
            if !set.is_empty() {
                selector = selector.merged_with_set(&set);
            }
        }
        out.push(Constraint {
            max_skew: c.max_skew,
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: c.min_domains.unwrap_or(1),
            node_affinity_policy_honor: c.node_affinity_policy.as_deref() != Some("Ignore"),
            node_taints_policy_honor: c.node_taints_policy.as_deref() == Some("Honor"),
        });
    }
    Ok(out)
}

/// Whether the node has every constraint's topology key (upstream's
/// `nodeLabelsMatchSpreadConstraints`).
fn has_topology_keys(node: &Node, constraints: &[Constraint]) -> bool {
    let labels = node.metadata.labels.as_ref();
    constraints
        .iter()
        .all(|c| labels.is_some_and(|l| l.contains_key(&c.topology_key)))
}

/// The node's value of `key`, if it has the label.
fn label<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

/// Pods in `namespace` that `selector` selects, leaving out terminating ones (upstream's
/// `countPodsMatchSelector`).
fn count_matching(pods: &[PodInfo], selector: &Selector, namespace: Option<&str>) -> i64 {
    pods.iter()
        .filter(|p| {
            p.pod.metadata.deletion_timestamp.is_none()
                && p.pod.metadata.namespace.as_deref() == namespace
                && selector.matches(p.pod.metadata.labels.as_ref())
        })
        .count() as i64
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<EventWithHint> {
        let (pods, nodes) = (self.inner.clone(), self.inner.clone());
        vec![
            EventWithHint::new(
                EventResource::AssignedPod,
                action::ADD | action::UPDATE_POD_LABEL | action::DELETE,
                "AssignedPodAdd|AssignedPodUpdate|AssignedPodDelete",
            )
            .with_hint(move |pod, change| pods.after_pod_change(pod, change)),
            EventWithHint::new(
                EventResource::Node,
                action::ADD
                    | action::DELETE
                    | action::UPDATE_NODE_LABEL
                    | action::UPDATE_NODE_TAINT,
                "NodeAdd|NodeDelete|NodeUpdate",
            )
            .with_hint(move |pod, change| nodes.after_node_change(pod, change)),
        ]
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        self.inner.pre_filter(state, pod, nodes)
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        added: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        filtering::update_with_pod(state, pod, added, node, 1)
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        removed: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        filtering::update_with_pod(state, pod, removed, node, -1)
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        filtering::filter(state, pod, node)
    }
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        self.inner.pre_score(state, pod, nodes)
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        scoring::score(state, pod, node)
    }

    fn normalize(&self, state: &CycleState, _pod: &Pod, scores: &mut [NodeScore]) -> Status {
        scoring::normalize(state, scores)
    }
}
