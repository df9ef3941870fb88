//! PreScore, Score and NormalizeScore for the `ScheduleAnyway` constraints (upstream's
//! `scoring.go`): a node's raw score sums, per constraint, the matching pods of its domain
//! times a weight that grows with the number of domains (`ln(domains + 2)`), plus
//! `maxSkew - 1`; normalizing turns fewer pods into higher scores.

use super::{
    Constraint, Inner, LABEL_HOSTNAME, SCHEDULE_ANYWAY, count_matching, has_topology_keys, label,
};
use crate::cache::Snapshot;
use crate::framework::{CycleState, MAX_NODE_SCORE, NodeScore, Status};
use crate::node_info::NodeInfo;
use k8s_openapi::api::core::v1::Pod;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const PRE_SCORE_KEY: &str = "PreScorePodTopologySpread";

#[derive(Debug, Clone, Default)]
pub(super) struct PreScoreState {
    pub constraints: Vec<Constraint>,
    /// Feasible nodes missing a topology key; they score 0.
    pub ignored_nodes: HashSet<String>,
    /// Per constraint (hostname ones excepted: counted per node at Score), matching pods per
    /// topology value of the feasible nodes' domains.
    pub topology_value_to_pod_counts: Vec<HashMap<String, i64>>,
    pub topology_normalizing_weight: Vec<f64>,
}

/// Upstream's `topologyNormalizingWeight`.
fn topology_normalizing_weight(size: usize) -> f64 {
    (size as f64 + 2.0).ln()
}

/// Upstream's `scoreForCount`.
fn score_for_count(count: i64, max_skew: i32, weight: f64) -> f64 {
    count as f64 * weight + f64::from(max_skew - 1)
}

impl Inner {
    pub(super) fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        filtered: &[Arc<NodeInfo>],
    ) -> Status {
        let has_own = pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        // Only spreading rules that are not the system defaults need every topology label,
        // so that nodes without a zone still get hostname spreading.
        let require_all = has_own || !self.system_defaulted;
        let constraints = match self.constraints(pod, SCHEDULE_ANYWAY) {
            Ok(c) => c,
            Err(e) => {
                return Status::error(format!(
                    "calculating preScoreState: obtaining pod's soft topology spread constraints: {e}"
                ));
            }
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        let snapshot = state
            .snapshot()
            .cloned()
            .unwrap_or_else(|| Snapshot::new(filtered.to_vec()));
        let all = &snapshot.nodes;
        if all.is_empty() {
            return Status::skip();
        }
        let mut s = PreScoreState {
            topology_value_to_pod_counts: vec![HashMap::new(); constraints.len()],
            ..Default::default()
        };
        for info in filtered {
            let Some(node) = &info.node else {
                continue;
            };
            if require_all && !has_topology_keys(node, &constraints) {
                s.ignored_nodes.insert(info.name().to_string());
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == LABEL_HOSTNAME {
                    continue;
                }
                let value = label(node, &c.topology_key).unwrap_or_default();
                s.topology_value_to_pod_counts[i]
                    .entry(value.to_string())
                    .or_default();
            }
        }
        s.topology_normalizing_weight = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == LABEL_HOSTNAME {
                    filtered.len() - s.ignored_nodes.len()
                } else {
                    s.topology_value_to_pod_counts[i].len()
                };
                topology_normalizing_weight(size)
            })
            .collect();
        let namespace = pod.metadata.namespace.as_deref();
        for info in all.iter() {
            let Some(node) = &info.node else {
                continue;
            };
            if require_all && !has_topology_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes(pod, node) {
                    continue;
                }
                let value = label(node, &c.topology_key).unwrap_or_default();
                // Domains without a feasible node (and hostname ones) are not counted here.
                if let Some(count) = s.topology_value_to_pod_counts[i].get_mut(value) {
                    *count += count_matching(&info.pods, &c.selector, namespace);
                }
            }
        }
        s.constraints = constraints;
        state.write(PRE_SCORE_KEY, s);
        Status::success()
    }
}

fn pre_score_state(state: &CycleState) -> Result<&PreScoreState, Status> {
    state.read::<PreScoreState>(PRE_SCORE_KEY).ok_or_else(|| {
        Status::error(format!(
            "error reading {PRE_SCORE_KEY:?} from cycleState: not found"
        ))
    })
}

pub(super) fn score(state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
    let s = pre_score_state(state)?;
    let Some(n) = &node.node else {
        return Err(Status::error("node not found"));
    };
    if s.ignored_nodes.contains(node.name()) {
        return Ok(0);
    }
    let mut score = 0.0;
    for (i, c) in s.constraints.iter().enumerate() {
        let Some(value) = label(n, &c.topology_key) else {
            continue;
        };
        let count = if c.topology_key == LABEL_HOSTNAME {
            count_matching(&node.pods, &c.selector, pod.metadata.namespace.as_deref())
        } else {
            s.topology_value_to_pod_counts[i]
                .get(value)
                .copied()
                .unwrap_or(0)
        };
        score += score_for_count(count, c.max_skew, s.topology_normalizing_weight[i]);
    }
    Ok(score.round() as i64)
}

/// Fewer matching pods score higher: `100 * (max + min - score) / max`; ignored nodes 0.
pub(super) fn normalize(state: &CycleState, scores: &mut [NodeScore]) -> Status {
    let s = match pre_score_state(state) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let (mut min, mut max) = (i64::MAX, 0);
    for sc in scores.iter() {
        if s.ignored_nodes.contains(sc.name) {
            continue;
        }
        min = min.min(sc.score);
        max = max.max(sc.score);
    }
    for sc in scores.iter_mut() {
        if s.ignored_nodes.contains(sc.name) {
            sc.score = 0;
        } else if max == 0 {
            sc.score = MAX_NODE_SCORE;
        } else {
            sc.score = MAX_NODE_SCORE * (max + min - sc.score) / max;
        }
    }
    Status::success()
}
