//! PreFilter and Filter for required terms (upstream's `filtering.go`): PreFilter counts, per
//! topology domain, the placed pods matching the incoming pod's affinity and anti-affinity
//! terms, and the placed pods whose required anti-affinity the incoming pod matches; Filter
//! looks the node's domains up.

use super::{
    InterPodAffinity, REASON_AFFINITY, REASON_ANTI_AFFINITY, REASON_EXISTING_ANTI_AFFINITY,
    TopologyPair,
};
use crate::affinity::{AffinityTerm, PodAffinityTerms, pod_matches_all_terms};
use crate::cache::Snapshot;
use crate::framework::{CycleState, PreFilterResult, Status};
use crate::node_info::{NodeInfo, PodInfo};
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const PRE_FILTER_KEY: &str = "PreFilterInterPodAffinity";

/// Matching pods per topology domain; entries never hold 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Counts(pub HashMap<TopologyPair, i64>);

impl Counts {
    /// Adds `value` to the node's domain of `key`, if the node has the label.
    fn update(&mut self, node: &Node, key: &str, value: i64) {
        let Some(v) = node.metadata.labels.as_ref().and_then(|l| l.get(key)) else {
            return;
        };
        let pair = (key.to_string(), v.clone());
        let n = self.0.entry(pair.clone()).or_default();
        *n += value;
        if *n == 0 {
            self.0.remove(&pair);
        }
    }

    /// Every term's domain, when `pod` matches all the terms.
    fn update_with_affinity_terms(
        &mut self,
        terms: &[AffinityTerm],
        pod: &Pod,
        node: &Node,
        value: i64,
    ) {
        if pod_matches_all_terms(terms, pod) {
            for t in terms {
                self.update(node, &t.topology_key, value);
            }
        }
    }

    /// The domain of each term `pod` matches.
    fn update_with_anti_affinity_terms(
        &mut self,
        terms: &[AffinityTerm],
        pod: &Pod,
        ns_labels: Option<&BTreeMap<String, String>>,
        node: &Node,
        value: i64,
    ) {
        for t in terms {
            if t.matches(pod, ns_labels) {
                self.update(node, &t.topology_key, value);
            }
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(&(key.to_string(), value.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub(super) struct PreFilterState {
    /// Placed pods whose required anti-affinity the incoming pod matches.
    existing_anti_affinity: Counts,
    /// Placed pods matching all of the incoming pod's required affinity terms.
    affinity: Counts,
    /// Placed pods matching one of the incoming pod's required anti-affinity terms.
    anti_affinity: Counts,
    pod: Arc<Pod>,
    terms: Arc<PodAffinityTerms>,
    namespace_labels: Option<BTreeMap<String, String>>,
}

impl InterPodAffinity {
    pub(super) fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let terms = match self.incoming_terms(pod) {
            Ok(t) => t,
            Err(e) => return (None, Status::unresolvable(format!("parsing pod: {e}"))),
        };
        let namespace_labels =
            self.namespace_labels(pod.metadata.namespace.as_deref().unwrap_or_default());
        let mut existing = Counts::default();
        let snapshot = state
            .snapshot()
            .cloned()
            .unwrap_or_else(|| Snapshot::new(nodes.to_vec()));
        for info in snapshot.nodes_with_required_anti_affinity_pods() {
            let Some(node) = &info.node else {
                continue;
            };
            for p in &info.pods {
                existing.update_with_anti_affinity_terms(
                    &p.affinity.required_anti_affinity,
                    pod,
                    namespace_labels.as_ref(),
                    node,
                    1,
                );
            }
        }
        let (mut affinity, mut anti_affinity) = (Counts::default(), Counts::default());
        if !terms.required_affinity.is_empty() || !terms.required_anti_affinity.is_empty() {
            for info in nodes {
                let Some(node) = &info.node else {
                    continue;
                };
                for p in &info.pods {
                    affinity.update_with_affinity_terms(&terms.required_affinity, &p.pod, node, 1);
                    // The incoming pod's namespace selectors are merged: no labels needed.
                    anti_affinity.update_with_anti_affinity_terms(
                        &terms.required_anti_affinity,
                        &p.pod,
                        None,
                        node,
                        1,
                    );
                }
            }
        }
        if existing.0.is_empty()
            && terms.required_affinity.is_empty()
            && terms.required_anti_affinity.is_empty()
        {
            return (None, Status::skip());
        }
        state.write(
            PRE_FILTER_KEY,
            PreFilterState {
                existing_anti_affinity: existing,
                affinity,
                anti_affinity,
                pod: Arc::new(pod.clone()),
                terms: Arc::new(terms),
                namespace_labels,
            },
        );
        (None, Status::success())
    }
}

/// Whether the node satisfies the incoming pod's required affinity.
fn satisfies_pod_affinity(s: &PreFilterState, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    let mut pods_exist = true;
    for t in &s.terms.required_affinity {
        let Some(value) = labels.and_then(|l| l.get(&t.topology_key)) else {
            // Every topology label must be on the node.
            return false;
        };
        if s.affinity.get(&t.topology_key, value) <= 0 {
            pods_exist = false;
        }
    }
    // The first pod of a group with affinity to itself: no pod matches anywhere yet, and
    // it matches its own terms.
    pods_exist
        || (s.affinity.0.is_empty() && pod_matches_all_terms(&s.terms.required_affinity, &s.pod))
}

/// Whether no pod in the node's domains matches the incoming pod's anti-affinity.
fn satisfies_pod_anti_affinity(s: &PreFilterState, node: &Node) -> bool {
    if s.anti_affinity.0.is_empty() {
        return true;
    }
    let labels = node.metadata.labels.as_ref();
    !s.terms.required_anti_affinity.iter().any(|t| {
        labels
            .and_then(|l| l.get(&t.topology_key))
            .is_some_and(|v| s.anti_affinity.get(&t.topology_key, v) > 0)
    })
}

/// Whether placing the pod on the node breaks no placed pod's required anti-affinity.
fn satisfies_existing_pods_anti_affinity(s: &PreFilterState, node: &Node) -> bool {
    if s.existing_anti_affinity.0.is_empty() {
        return true;
    }
    !node
        .metadata
        .labels
        .iter()
        .flatten()
        .any(|(k, v)| s.existing_anti_affinity.get(k, v) > 0)
}

pub(super) fn filter(state: &CycleState, node: &NodeInfo) -> Status {
    let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
        return Status::error(format!(
            "error reading {PRE_FILTER_KEY:?} from cycleState: not found"
        ));
    };
    let Some(n) = &node.node else {
        return Status::error("node not found");
    };
    if !satisfies_pod_affinity(s, n) {
        return Status::unresolvable(REASON_AFFINITY);
    }
    if !satisfies_pod_anti_affinity(s, n) {
        return Status::unschedulable(REASON_ANTI_AFFINITY);
    }
    if !satisfies_existing_pods_anti_affinity(s, n) {
        return Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY);
    }
    Status::success()
}

/// PreFilter's AddPod/RemovePod (upstream's `updateWithPod`): a new state is written, since
/// the old one may be shared with other clones.
pub(super) fn update_with_pod(
    state: &mut CycleState,
    changed: &PodInfo,
    node: &NodeInfo,
    multiplier: i64,
) -> Status {
    let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
        return Status::error(format!(
            "error reading {PRE_FILTER_KEY:?} from cycleState: not found"
        ));
    };
    let Some(n) = &node.node else {
        return Status::success();
    };
    let mut s = s.clone();
    s.existing_anti_affinity.update_with_anti_affinity_terms(
        &changed.affinity.required_anti_affinity,
        &s.pod,
        s.namespace_labels.as_ref(),
        n,
        multiplier,
    );
    s.affinity
        .update_with_affinity_terms(&s.terms.required_affinity, &changed.pod, n, multiplier);
    s.anti_affinity.update_with_anti_affinity_terms(
        &s.terms.required_anti_affinity,
        &changed.pod,
        None,
        n,
        multiplier,
    );
    state.write(PRE_FILTER_KEY, s);
    Status::success()
}
