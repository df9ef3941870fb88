//! PreScore, Score and NormalizeScore for preferred terms (upstream's `scoring.go`): every
//! placed pod adds or subtracts term weights to the domains of its node; a node scores the sum
//! over its domains, normalized to 0..=100 between the lowest and the highest.

use super::InterPodAffinity;
use crate::affinity::{AffinityTerm, PodAffinityTerms, WeightedAffinityTerm};
use crate::cache::Snapshot;
use crate::framework::{CycleState, MAX_NODE_SCORE, NodeScore, Status};
use crate::node_info::{NodeInfo, PodInfo};
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const PRE_SCORE_KEY: &str = "PreScoreInterPodAffinity";

/// Score per topology key, then per value.
#[derive(Debug, Clone, Default)]
pub(super) struct PreScoreState {
    pub topology_score: HashMap<String, HashMap<String, i64>>,
}

impl PreScoreState {
    /// Adds `weight * multiplier` to the node's domain of the term, if `pod` matches it.
    fn process_term(
        &mut self,
        term: &AffinityTerm,
        weight: i32,
        pod: &Pod,
        ns_labels: Option<&BTreeMap<String, String>>,
        node: &Node,
        multiplier: i64,
    ) {
        if !term.matches(pod, ns_labels) {
            return;
        }
        if let Some(v) = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(&term.topology_key))
        {
            *self
                .topology_score
                .entry(term.topology_key.clone())
                .or_default()
                .entry(v.clone())
                .or_default() += i64::from(weight) * multiplier;
        }
    }

    fn process_terms(
        &mut self,
        terms: &[WeightedAffinityTerm],
        pod: &Pod,
        ns_labels: Option<&BTreeMap<String, String>>,
        node: &Node,
        multiplier: i64,
    ) {
        for t in terms {
            self.process_term(&t.term, t.weight, pod, ns_labels, node, multiplier);
        }
    }
}

impl InterPodAffinity {
    /// Upstream's `processExistingPod`.
    fn process_existing_pod(
        &self,
        s: &mut PreScoreState,
        incoming: &Pod,
        terms: &PodAffinityTerms,
        ns_labels: Option<&BTreeMap<String, String>>,
        existing: &PodInfo,
        node: &Node,
    ) {
        if node.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
            return;
        }
        // The incoming pod's terms have their namespace selectors merged.
        s.process_terms(&terms.preferred_affinity, &existing.pod, None, node, 1);
        s.process_terms(
            &terms.preferred_anti_affinity,
            &existing.pod,
            None,
            node,
            -1,
        );
        let theirs = &existing.affinity;
        if self.args.hard_pod_affinity_weight > 0 {
            for t in &theirs.required_affinity {
                s.process_term(
                    t,
                    self.args.hard_pod_affinity_weight,
                    incoming,
                    ns_labels,
                    node,
                    1,
                );
            }
        }
        s.process_terms(&theirs.preferred_affinity, incoming, ns_labels, node, 1);
        s.process_terms(
            &theirs.preferred_anti_affinity,
            incoming,
            ns_labels,
            node,
            -1,
        );
    }

    pub(super) fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        filtered: &[Arc<NodeInfo>],
    ) -> Status {
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let has_preferred = affinity.is_some_and(|a| {
            a.pod_affinity.as_ref().is_some_and(|p| {
                p.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
                    .is_some_and(|t| !t.is_empty())
            }) || a.pod_anti_affinity.as_ref().is_some_and(|p| {
                p.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
                    .is_some_and(|t| !t.is_empty())
            })
        });
        if self.args.ignore_preferred_terms_of_existing_pods && !has_preferred {
            return Status::skip();
        }
        let terms = match self.incoming_terms(pod) {
            Ok(t) => t,
            Err(e) => return Status::error(format!("failed to parse pod: {e}")),
        };
        let ns_labels =
            self.namespace_labels(pod.metadata.namespace.as_deref().unwrap_or_default());
        let snapshot = state
            .snapshot()
            .cloned()
            .unwrap_or_else(|| Snapshot::new(filtered.to_vec()));
        // Without preferred terms of its own, only pods with affinity matter.
        let nodes: Box<dyn Iterator<Item = &Arc<NodeInfo>>> = if has_preferred {
            Box::new(snapshot.nodes.iter())
        } else {
            Box::new(snapshot.nodes_with_affinity_pods())
        };
        let mut s = PreScoreState::default();
        for info in nodes {
            let Some(node) = &info.node else {
                continue;
            };
            for p in info
                .pods
                .iter()
                .filter(|p| has_preferred || p.affinity.with_affinity)
            {
                self.process_existing_pod(&mut s, pod, &terms, ns_labels.as_ref(), p, node);
            }
        }
        // No placed pod contributed anything (upstream: no node's score map has entries).
        if s.topology_score.is_empty() {
            return Status::skip();
        }
        state.write(PRE_SCORE_KEY, s);
        Status::success()
    }
}

fn pre_score_state(state: &CycleState) -> Result<&PreScoreState, Status> {
    state.read::<PreScoreState>(PRE_SCORE_KEY).ok_or_else(|| {
        Status::error(format!(
            "failed to read {PRE_SCORE_KEY:?} from cycleState: not found"
        ))
    })
}

pub(super) fn score(state: &CycleState, node: &NodeInfo) -> Result<i64, Status> {
    let s = pre_score_state(state)?;
    let Some(n) = &node.node else {
        return Err(Status::error("node not found"));
    };
    let labels = n.metadata.labels.as_ref();
    Ok(s.topology_score
        .iter()
        .filter_map(|(key, values)| {
            let v = labels?.get(key)?;
            Some(values.get(v).copied().unwrap_or(0))
        })
        .sum())
}

/// Scales scores between the lowest (0) and the highest (100).
pub(super) fn normalize(state: &CycleState, scores: &mut [NodeScore]) -> Status {
    let s = match pre_score_state(state) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if s.topology_score.is_empty() {
        return Status::success();
    }
    let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
    let diff = max - min;
    for sc in scores.iter_mut() {
        sc.score = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((sc.score - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
    Status::success()
}
