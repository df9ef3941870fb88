//! PreFilter and Filter for the `DoNotSchedule` constraints (upstream's `filtering.go`).

use super::{
    Constraint, DO_NOT_SCHEDULE, Inner, REASON, REASON_NODE_LABEL, count_matching,
    has_topology_keys, label,
};
use crate::framework::{CycleState, PreFilterResult, Status};
use crate::node_info::{NodeInfo, PodInfo};
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
        let namespace = pod.metadata.namespace.as_deref();
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for info in nodes {
            let Some(node) = &info.node else {
                continue;
            };
            if !has_topology_keys(node, &constraints) {
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
