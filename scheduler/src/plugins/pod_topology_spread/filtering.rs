//! PreFilter and Filter for the `DoNotSchedule` constraints (upstream's `filtering.go`).

use super::{
    Constraint, DO_NOT_SCHEDULE, Inner, REASON, REASON_NODE_LABEL, count_matching,
    has_topology_keys, label,
};
use crate::cache::Snapshot;
use crate::framework::{CycleState, PreFilterResult, Status};
use crate::node_info::{NodeInfo, PodInfo};
use crate::spread_index::NO_DOMAIN;
use k8s_openapi::api::core::v1::Pod;
use std::collections::HashMap;
use std::sync::Arc;

const PRE_FILTER_KEY: &str = "PreFilterPodTopologySpread";

/// What PreFilter computes for Filter: per constraint (by index), the matching pods per
/// topology value of the eligible domains.
#[derive(Debug, Clone, Default)]
pub(super) struct PreFilterState {
    pub constraints: Vec<Constraint>,
    pub tp_value_to_match_num: Vec<HashMap<String, i64>>,
}

impl PreFilterState {
    /// The global minimum for constraint `i`: the fewest matching pods of any eligible
    /// domain, or 0 while there are fewer domains than `minDomains`.
    pub fn min_match_num(&self, i: usize) -> i64 {
        let domains = &self.tp_value_to_match_num[i];
        if (domains.len() as i64) < i64::from(self.constraints[i].min_domains) {
            return 0;
        }
        domains.values().copied().min().unwrap_or(0)
    }
}

impl Inner {
    pub(super) fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let constraints = match self.constraints(pod, DO_NOT_SCHEDULE) {
            Ok(c) => c,
            Err(e) => {
                return (
                    None,
                    Status::error(format!(
                        "get constraints from pod: obtaining pod's hard topology spread constraints: {e}"
                    )),
                );
            }
        };
        if constraints.is_empty() {
            return (None, Status::skip());
        }
        let counts = match state.snapshot() {
            Some(s) if s.nodes.len() == nodes.len() => indexed_counts(s, pod, &constraints),
            _ => None,
        }
        .unwrap_or_else(|| walked_counts(pod, &constraints, nodes));
        state.write(
            PRE_FILTER_KEY,
            PreFilterState {
                constraints,
                tp_value_to_match_num: counts,
            },
        );
        (None, Status::success())
    }
}

/// Matching pods per domain of each constraint, for the domains of the nodes that count,
/// looking at every node and every pod on it.
pub(super) fn walked_counts(
    pod: &Pod,
    constraints: &[Constraint],
    nodes: &[Arc<NodeInfo>],
) -> Vec<HashMap<String, i64>> {
    let namespace = pod.metadata.namespace.as_deref();
    let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
    for info in nodes {
        let Some(node) = &info.node else {
            continue;
        };
        if !has_topology_keys(node, constraints) {
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if !c.includes(pod, node) {
                continue;
            }
            let value = label(node, &c.topology_key).unwrap_or_default();
            let matching = count_matching(&info.pods, &c.selector, namespace);
            // Looked up before inserting: a String per node would cost more than the count.
            match counts[i].get_mut(value) {
                Some(n) => *n += matching,
                None => {
                    counts[i].insert(value.to_string(), matching);
                }
            }
        }
    }
    counts
}

/// [`walked_counts`] from the snapshot's domains and pod groups, without touching each node;
/// None when a node inclusion policy must look at each node (the pod's node selector or
/// required node affinity, or taints).
pub(super) fn indexed_counts(
    snapshot: &Snapshot,
    pod: &Pod,
    constraints: &[Constraint],
) -> Option<Vec<HashMap<String, i64>>> {
    let node_affinity = has_required_node_affinity(pod);
    if constraints
        .iter()
        .any(|c| c.node_taints_policy_honor || (c.node_affinity_policy_honor && node_affinity))
    {
        return None;
    }
    let domains: Vec<_> = constraints
        .iter()
        .map(|c| snapshot.domains(&c.topology_key))
        .collect();
    // A node counts only with every constraint's key.
    let counted: Vec<bool> = (0..snapshot.nodes.len())
        .map(|i| domains.iter().all(|d| d.of_node[i] != NO_DOMAIN))
        .collect();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let groups = snapshot.pod_groups();
    let counts = constraints
        .iter()
        .zip(&domains)
        .map(|(c, d)| {
            let mut per_domain: Vec<Option<i64>> = vec![None; d.values.len()];
            for (i, domain) in d.of_node.iter().enumerate() {
                if counted[i] {
                    per_domain[*domain as usize].get_or_insert(0);
                }
            }
            for g in groups
                .in_namespace(namespace)
                .filter(|g| c.selector.matches(g.labels()))
            {
                for (&i, &n) in &g.per_node {
                    if counted[i as usize]
                        && let Some(count) = &mut per_domain[d.of_node[i as usize] as usize]
                    {
                        *count += i64::from(n);
                    }
                }
            }
            per_domain
                .into_iter()
                .enumerate()
                .filter_map(|(id, count)| Some((d.values[id].clone(), count?)))
                .collect()
        })
        .collect();
    Some(counts)
}

/// Whether the pod's node selector or required node affinity could leave nodes out.
fn has_required_node_affinity(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.node_selector.as_ref().is_some_and(|s| !s.is_empty())
        || spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .is_some_and(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .is_some()
            })
}

pub(super) fn filter(state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
    let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
        return Status::error(format!(
            "reading {PRE_FILTER_KEY:?} from cycleState: not found"
        ));
    };
    let Some(n) = &node.node else {
        return Status::error("node not found");
    };
    let labels = pod.metadata.labels.as_ref();
    for (i, c) in s.constraints.iter().enumerate() {
        let Some(value) = label(n, &c.topology_key) else {
            return Status::unresolvable(REASON_NODE_LABEL);
        };
        let self_match = i64::from(c.selector.matches(labels));
        let match_num = s.tp_value_to_match_num[i].get(value).copied().unwrap_or(0);
        let skew = match_num + self_match - s.min_match_num(i);
        if skew > i64::from(c.max_skew) {
            return Status::unschedulable(REASON);
        }
    }
    Status::success()
}

/// PreFilter's AddPod/RemovePod: `changed` counts `delta` more on `node` (upstream's
/// `updateWithPod`). The state may be shared with other clones, so a new one is written.
pub(super) fn update_with_pod(
    state: &mut CycleState,
    pod: &Pod,
    changed: &PodInfo,
    node: &NodeInfo,
    delta: i64,
) -> Status {
    let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
        return Status::error(format!(
            "reading {PRE_FILTER_KEY:?} from cycleState: not found"
        ));
    };
    let Some(n) = &node.node else {
        return Status::success();
    };
    if changed.pod.metadata.namespace != pod.metadata.namespace
        || !has_topology_keys(n, &s.constraints)
    {
        return Status::success();
    }
    let mut s = s.clone();
    for i in 0..s.constraints.len() {
        let c = &s.constraints[i];
        if !c.selector.matches(changed.pod.metadata.labels.as_ref()) || !c.includes(pod, n) {
            continue;
        }
        let value = label(n, &c.topology_key).unwrap_or_default().to_string();
        *s.tp_value_to_match_num[i].entry(value).or_default() += delta;
    }
    state.write(PRE_FILTER_KEY, s);
    Status::success()
}
