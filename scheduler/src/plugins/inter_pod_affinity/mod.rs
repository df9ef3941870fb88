//! InterPodAffinity: places pods relative to other pods by their labels, per topology domain.
//!
//! - PreFilter/Filter enforce required terms: the pod's affinity (a domain of the node must
//!   hold a pod matching every term; the first pod of a group that matches its own terms may
//!   go anywhere with the topology labels while no pod matches yet), its anti-affinity (no
//!   matching pod in the node's domain), and the required anti-affinity of pods already
//!   placed (the pod must not enter a domain whose pods keep it out). Terms select pods by
//!   label selector within `namespaces` and the namespaces `namespaceSelector` selects (a
//!   Namespace lister), with `matchLabelKeys`/`mismatchLabelKeys` (see [`crate::affinity`]).
//! - PreScore/Score/NormalizeScore weigh preferred terms, the pod's own and, unless
//!   `ignorePreferredTermsOfExistingPods`, those of placed pods (their required affinity
//!   counts `hardPodAffinityWeight`, default 1). Default weight 2.

mod filtering;
mod scoring;
#[cfg(test)]
mod tests;

use crate::affinity::{AffinityTerm, PodAffinityTerms, pod_matches_all_terms};
use crate::framework::cluster_event::{
    Change, EventResource, EventWithHint, Object, QueueingHint, action,
};
use crate::framework::{
    CycleState, FilterPlugin, NodeScore, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    ScorePlugin, Status,
};
use crate::labels::Selector;
use crate::node_info::{NodeInfo, PodInfo};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::runtime::reflector::{ObjectRef, Store};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const NAME: &str = "InterPodAffinity";
/// Upstream's `ErrReasonAffinityRulesNotMatch`.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream's `ErrReasonAntiAffinityRulesNotMatch`.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Upstream's `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// `InterPodAffinityArgs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    #[serde(default = "default_hard_pod_affinity_weight")]
    hard_pod_affinity_weight: i32,
    #[serde(default)]
    ignore_preferred_terms_of_existing_pods: bool,
}

fn default_hard_pod_affinity_weight() -> i32 {
    1
}

impl Default for Args {
    fn default() -> Self {
        Self {
            hard_pod_affinity_weight: default_hard_pod_affinity_weight(),
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

/// Builds the plugin from its args; `namespaces` is the Namespace lister (none in unit tests
/// that need no namespace labels).
pub fn new(
    args: Option<&serde_json::Value>,
    namespaces: Option<Store<Namespace>>,
) -> Result<Arc<dyn Plugin>, String> {
    let args: Args = match args {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| format!("decoding InterPodAffinityArgs: {e}"))?,
        None => Args::default(),
    };
    if !(0..=100).contains(&args.hard_pod_affinity_weight) {
        return Err(format!(
            "hardPodAffinityWeight: Invalid value: {}: not in valid range [0, 100]",
            args.hard_pod_affinity_weight
        ));
    }
    Ok(Arc::new(InterPodAffinity { args, namespaces }))
}

struct InterPodAffinity {
    args: Args,
    namespaces: Option<Store<Namespace>>,
}

/// A topology domain: (key, value).
type TopologyPair = (String, String);

impl InterPodAffinity {
    /// The labels of `namespace`, none when it is not known (upstream's
    /// `GetNamespaceLabelsSnapshot`).
    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .as_ref()?
            .get(&ObjectRef::new(namespace))?
            .metadata
            .labels
            .clone()
    }

    /// Folds a term's namespace selector into its namespaces, so that matching no longer
    /// needs namespace labels (upstream's `mergeAffinityTermNamespacesIfNotEmpty`). An empty
    /// selector (every namespace) stays as it is.
    fn merge_namespaces(&self, term: &mut AffinityTerm) {
        if term.namespace_selector.is_empty() {
            return;
        }
        for ns in self.namespaces.iter().flat_map(Store::state) {
            if term.namespace_selector.matches(ns.metadata.labels.as_ref())
                && let Some(name) = &ns.metadata.name
            {
                term.namespaces.insert(name.clone());
            }
        }
        term.namespace_selector = Selector::Nothing;
    }

    /// The incoming pod's terms with their namespace selectors merged.
    fn incoming_terms(&self, pod: &Pod) -> Result<PodAffinityTerms, String> {
        let mut terms = PodAffinityTerms::of(pod);
        if let Some(e) = terms.parse_error.take() {
            return Err(e);
        }
        for t in terms
            .required_affinity
            .iter_mut()
            .chain(terms.required_anti_affinity.iter_mut())
        {
            self.merge_namespaces(t);
        }
        for t in terms
            .preferred_affinity
            .iter_mut()
            .chain(terms.preferred_anti_affinity.iter_mut())
        {
            self.merge_namespaces(&mut t.term);
        }
        Ok(terms)
    }
}

/// The pod's required affinity and anti-affinity terms as upstream's hints parse them (no
/// namespace selector merged).
fn required_terms(pod: &Pod) -> (Vec<AffinityTerm>, Vec<AffinityTerm>) {
    let t = PodAffinityTerms::of(pod);
    (t.required_affinity, t.required_anti_affinity)
}

/// Upstream's `isSchedulableAfterPodChange`.
fn after_pod_change(pod: &Pod, change: &Change) -> QueueingHint {
    let old = change.old.as_ref().and_then(Object::pod);
    let new = change.new.as_ref().and_then(Object::pod);
    let unassigned = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_none_or(str::is_empty)
    };
    if new.is_some_and(unassigned) || old.is_some_and(unassigned) {
        return QueueingHint::Skip;
    }
    let (terms, anti) = required_terms(pod);
    let queue = match (old, new) {
        (Some(o), Some(n)) => {
            (!pod_matches_all_terms(&terms, o) && pod_matches_all_terms(&terms, n))
                || (pod_matches_all_terms(&anti, o) && !pod_matches_all_terms(&anti, n))
        }
        (None, Some(n)) => pod_matches_all_terms(&terms, n),
        (Some(o), None) => pod_matches_all_terms(&anti, o),
        (None, None) => true,
    };
    if queue {
        QueueingHint::Queue
    } else {
        QueueingHint::Skip
    }
}

/// Upstream's `isSchedulableAfterNodeChange`: the node has a topology key of a required term.
fn after_node_change(pod: &Pod, change: &Change) -> QueueingHint {
    let Some(node) = change.new.as_ref().and_then(Object::node) else {
        return QueueingHint::Queue;
    };
    let (terms, anti) = required_terms(pod);
    let labels = node.metadata.labels.as_ref();
    if terms
        .iter()
        .chain(&anti)
        .any(|t| labels.is_some_and(|l| l.contains_key(&t.topology_key)))
    {
        QueueingHint::Queue
    } else {
        QueueingHint::Skip
    }
}

impl Plugin for InterPodAffinity {
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
        vec![
            EventWithHint::new(
                EventResource::AssignedPod,
                action::ADD | action::UPDATE_POD_LABEL | action::DELETE,
                "AssignedPodAdd|AssignedPodUpdate|AssignedPodDelete",
            )
            .with_hint(after_pod_change),
            EventWithHint::new(
                EventResource::Node,
                action::ADD | action::UPDATE_NODE_LABEL,
                "NodeAdd|NodeUpdate",
            )
            .with_hint(after_node_change),
        ]
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        self.run_pre_filter(state, pod, nodes)
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        _pod: &Pod,
        added: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        filtering::update_with_pod(state, added, node, 1)
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        _pod: &Pod,
        removed: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        filtering::update_with_pod(state, removed, node, -1)
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        filtering::filter(state, node)
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        self.run_pre_score(state, pod, nodes)
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        scoring::score(state, node)
    }

    fn normalize(&self, state: &CycleState, _pod: &Pod, scores: &mut [NodeScore]) -> Status {
        scoring::normalize(state, scores)
    }
}
