//! NodeResourcesBalancedAllocation (Score): prefers nodes whose CPU and memory would be used in
//! equal shares after placing the pod (one minus the standard deviation of the shares, times
//! 100); pods that request nothing are not scored by it. Default weight 1.

use crate::framework::{CycleState, Plugin, PreScorePlugin, ScorePlugin, Status};
use crate::node_info::{NodeInfo, pod_requests};
use crate::plugins::node_resources_fit::scoring::{self, ResourceSpec, Scorer, Strategy};
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use std::sync::Arc;

pub const NAME: &str = "NodeResourcesBalancedAllocation";
const PRE_SCORE_KEY: &str = "PreScoreNodeResourcesBalancedAllocation";

/// `NodeResourcesBalancedAllocationArgs`.
#[derive(Debug, Clone, Default, Deserialize)]
struct Args {
    #[serde(default)]
    resources: Option<Vec<ResourceSpec>>,
}

pub fn new(args: Option<&serde_json::Value>) -> Result<Arc<dyn Plugin>, String> {
    let args: Args = match args {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string())?,
        None => Args::default(),
    };
    Ok(Arc::new(BalancedAllocation {
        scorer: Scorer::new(
            Strategy::Balanced,
            args.resources.unwrap_or_else(scoring::default_resources),
            true,
        ),
    }))
}

struct BalancedAllocation {
    scorer: Scorer,
}

impl BalancedAllocation {
    fn requests(&self, pod: &Pod) -> Vec<i64> {
        scoring::pod_request_list(
            &pod_requests(pod, false),
            &pod_requests(pod, true),
            &self.scorer.resources,
            true,
        )
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, _nodes: &[Arc<NodeInfo>]) -> Status {
        let list = self.requests(pod);
        // Scoring best-effort pods by balance would pile them onto one node.
        if list.iter().all(|r| *r == 0) {
            return Status::skip();
        }
        state.write(PRE_SCORE_KEY, list);
        Status::success()
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let computed;
        let list = match state.read::<Vec<i64>>(PRE_SCORE_KEY) {
            Some(l) => l,
            None => {
                computed = self.requests(pod);
                if computed.iter().all(|r| *r == 0) {
                    return Ok(0);
                }
                &computed
            }
        };
        Ok(self.scorer.score(node, list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::PodInfo;
    use crate::node_info::testing::*;

    #[test]
    fn score_table() {
        let plugin = new(None).unwrap();
        let mut state = CycleState::new();
        // Node 4000m / 10000; existing pod 1000m / 2000; new pod 1000m / 3000:
        // shares 0.5 and 0.5 -> 100.
        let mut n = NodeInfo::new(Arc::new(node("n", "4", "10000")));
        n.add_pod(PodInfo::new(Arc::new(on_node(
            pod("a", &[&[("cpu", "1"), ("memory", "2000")]]),
            "n",
        ))));
        let p = pod("p", &[&[("cpu", "1"), ("memory", "3000")]]);
        assert!(
            plugin
                .as_pre_score()
                .unwrap()
                .pre_score(&mut state, &p, &[])
                .is_success()
        );
        assert_eq!(
            plugin.as_score().unwrap().score(&state, &p, &n).unwrap(),
            100
        );
        // Shares 0.75 and 0.25 -> 1 - 0.25 = 75.
        let q = pod("q", &[&[("cpu", "2"), ("memory", "500")]]);
        let mut state = CycleState::new();
        plugin
            .as_pre_score()
            .unwrap()
            .pre_score(&mut state, &q, &[]);
        assert_eq!(
            plugin.as_score().unwrap().score(&state, &q, &n).unwrap(),
            75
        );
        // Best-effort pods are skipped.
        let mut state = CycleState::new();
        let s = plugin
            .as_pre_score()
            .unwrap()
            .pre_score(&mut state, &pod("e", &[&[]]), &[]);
        assert!(s.is_skip());
    }
}
