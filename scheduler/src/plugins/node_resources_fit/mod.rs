//! NodeResourcesFit: Filter checks that the node has room for the pod's requests (CPU, memory,
//! ephemeral storage, extended resources) and one more pod, with upstream's reasons
//! ("Insufficient cpu", "Too many pods"); Score ranks nodes by the configured scoring strategy
//! (`LeastAllocated` by default, `MostAllocated`, `RequestedToCapacityRatio`), default
//! weight 1.

pub mod scoring;

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{
    Code, CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    ScorePlugin, Status,
};
use crate::node_info::{NodeInfo, Resource, is_extended_resource, pod_requests};
use k8s_openapi::api::core::v1::{Node, Pod};
use scoring::{ResourceSpec, Scorer, ShapePoint, Strategy};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::Arc;

pub const NAME: &str = "NodeResourcesFit";
const PRE_FILTER_KEY: &str = "PreFilterNodeResourcesFit";
const PRE_SCORE_KEY: &str = "PreScoreNodeResourcesFit";

/// `NodeResourcesFitArgs` (kubescheduler.config.k8s.io/v1).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    #[serde(default)]
    pub ignored_resources: Vec<String>,
    #[serde(default)]
    pub ignored_resource_groups: Vec<String>,
    #[serde(default)]
    pub scoring_strategy: Option<ScoringStrategy>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoringStrategy {
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    #[serde(default)]
    pub resources: Option<Vec<ResourceSpec>>,
    #[serde(default)]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatio>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestedToCapacityRatio {
    #[serde(default)]
    pub shape: Vec<ShapePoint>,
}

/// Builds the plugin from its `pluginConfig` args (upstream's defaults when none).
pub fn new(args: Option<&serde_json::Value>) -> Result<Arc<dyn Plugin>, String> {
    let args: Args = match args {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string())?,
        None => Args::default(),
    };
    let strategy = args.scoring_strategy.clone().unwrap_or_default();
    let resources = strategy
        .resources
        .clone()
        .unwrap_or_else(scoring::default_resources);
    let strategy = match strategy.type_.as_deref().unwrap_or("LeastAllocated") {
        "LeastAllocated" => Strategy::LeastAllocated,
        "MostAllocated" => Strategy::MostAllocated,
        "RequestedToCapacityRatio" => {
            let shape = strategy
                .requested_to_capacity_ratio
                .map(|r| r.shape)
                .unwrap_or_default();
            if shape.is_empty() {
                return Err("scoringStrategy.requestedToCapacityRatio.shape: Required value: at least one point must be specified".to_string());
            }
            Strategy::RequestedToCapacityRatio(shape)
        }
        other => {
            return Err(format!(
                "scoringStrategy.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
            ));
        }
    };
    Ok(Arc::new(Fit {
        ignored_resources: args.ignored_resources.into_iter().collect(),
        ignored_groups: args.ignored_resource_groups.into_iter().collect(),
        scorer: Scorer::new(strategy, resources, false),
    }))
}

struct Fit {
    ignored_resources: BTreeSet<String>,
    ignored_groups: BTreeSet<String>,
    scorer: Scorer,
}

/// Why a node does not fit, one per missing resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    pub resource: String,
    pub reason: String,
    /// Even an empty node could not hold the pod.
    pub unresolvable: bool,
}

impl Fit {
    fn ignored(&self, name: &str) -> bool {
        if !is_extended_resource(name) {
            return false;
        }
        self.ignored_resources.contains(name)
            || name
                .split_once('/')
                .is_some_and(|(group, _)| self.ignored_groups.contains(group))
    }

    /// Upstream's `fitsRequest`.
    fn insufficient(&self, req: &Resource, node: &NodeInfo) -> Vec<Insufficient> {
        let mut out = Vec::new();
        let alloc = &node.allocatable;
        if node.pods.len() as i64 + 1 > alloc.allowed_pod_number {
            out.push(Insufficient {
                resource: "pods".into(),
                reason: "Too many pods".into(),
                unresolvable: false,
            });
        }
        if req.is_zero() {
            return out;
        }
        let mut check = |name: &str, want: i64, have: i64, used: i64| {
            if want > 0 && want > have - used {
                out.push(Insufficient {
                    resource: name.to_string(),
                    reason: format!("Insufficient {name}"),
                    unresolvable: want > have,
                });
            }
        };
        check(
            "cpu",
            req.milli_cpu,
            alloc.milli_cpu,
            node.requested.milli_cpu,
        );
        check("memory", req.memory, alloc.memory, node.requested.memory);
        check(
            "ephemeral-storage",
            req.ephemeral_storage,
            alloc.ephemeral_storage,
            node.requested.ephemeral_storage,
        );
        for (name, want) in &req.scalar {
            if *want == 0 || self.ignored(name) {
                continue;
            }
            check(name, *want, alloc.get(name), node.requested.get(name));
        }
        out
    }
}

/// Whether the node's allocatable could hold the pod at all (ignoring its other pods), as the
/// queueing hint checks.
fn could_fit(req: &Resource, node: &Node) -> bool {
    let alloc = node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .map(Resource::from_list)
        .unwrap_or_default();
    req.milli_cpu <= alloc.milli_cpu
        && req.memory <= alloc.memory
        && req.ephemeral_storage <= alloc.ephemeral_storage
        && req.scalar.iter().all(|(n, v)| *v <= alloc.get(n))
}

fn grew(req: &Resource, old: &Node, new: &Node) -> bool {
    let alloc = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .map(Resource::from_list)
            .unwrap_or_default()
    };
    let (a, b) = (alloc(old), alloc(new));
    (req.milli_cpu > 0 && b.milli_cpu > a.milli_cpu)
        || (req.memory > 0 && b.memory > a.memory)
        || (req.ephemeral_storage > 0 && b.ephemeral_storage > a.ephemeral_storage)
        || req
            .scalar
            .iter()
            .any(|(n, v)| *v > 0 && b.get(n) > a.get(n))
        || b.allowed_pod_number > a.allowed_pod_number
}

impl Plugin for Fit {
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
            // A deleted pod frees what it requested.
            EventWithHint::new(
                EventResource::AssignedPod,
                action::DELETE,
                "AssignedPodDelete",
            ),
            EventWithHint::new(
                EventResource::AssignedPod,
                action::UPDATE_POD_SCALE_DOWN,
                "AssignedPodUpdate",
            ),
            EventWithHint::new(
                EventResource::Node,
                action::ADD
                    | action::UPDATE_NODE_ALLOCATABLE
                    | action::UPDATE_NODE_TAINT
                    | action::UPDATE_NODE_LABEL,
                "NodeAdd|NodeUpdate",
            )
            .with_hint(|pod, change| {
                let req = pod_requests(pod, false);
                let Some(new) = change.new.as_ref().and_then(Object::node) else {
                    return QueueingHint::Skip;
                };
                if !could_fit(&req, new) {
                    return QueueingHint::Skip;
                }
                match change.old.as_ref().and_then(Object::node) {
                    None => QueueingHint::Queue,
                    Some(old) if grew(&req, old, new) => QueueingHint::Queue,
                    Some(_) => QueueingHint::Skip,
                }
            }),
        ]
    }
}

impl PreFilterPlugin for Fit {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        state.write(PRE_FILTER_KEY, pod_requests(pod, false));
        (None, Status::success())
    }
}

impl FilterPlugin for Fit {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let computed;
        let req = match state.read::<Resource>(PRE_FILTER_KEY) {
            Some(r) => r,
            None => {
                computed = pod_requests(pod, false);
                &computed
            }
        };
        let missing = self.insufficient(req, node);
        if missing.is_empty() {
            return Status::success();
        }
        let code = if missing.iter().any(|m| m.unresolvable) {
            Code::UnschedulableAndUnresolvable
        } else {
            Code::Unschedulable
        };
        Status::new(code, missing.into_iter().map(|m| m.reason))
    }
}

impl PreScorePlugin for Fit {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, _nodes: &[Arc<NodeInfo>]) -> Status {
        let list = scoring::pod_request_list(
            &pod_requests(pod, false),
            &pod_requests(pod, true),
            &self.scorer.resources,
            false,
        );
        state.write(PRE_SCORE_KEY, list);
        Status::success()
    }
}

impl ScorePlugin for Fit {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let computed;
        let list = match state.read::<Vec<i64>>(PRE_SCORE_KEY) {
            Some(l) => l,
            None => {
                computed = scoring::pod_request_list(
                    &pod_requests(pod, false),
                    &pod_requests(pod, true),
                    &self.scorer.resources,
                    false,
                );
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
    use serde_json::json;

    fn info(cpu: &str, memory: &str, pods: &[k8s_openapi::api::core::v1::Pod]) -> Arc<NodeInfo> {
        let mut n = NodeInfo::new(Arc::new(node("n", cpu, memory)));
        for p in pods {
            let p = on_node(p.clone(), "n");
            n.add_pod(PodInfo::new(Arc::new(p)));
        }
        Arc::new(n)
    }

    fn filter(plugin: &Arc<dyn Plugin>, pod: &Pod, node: &NodeInfo) -> Status {
        let mut state = CycleState::new();
        plugin
            .as_pre_filter()
            .unwrap()
            .pre_filter(&mut state, pod, &[]);
        plugin.as_filter().unwrap().filter(&state, pod, node)
    }

    #[test]
    fn filter_table() {
        let fit = new(None).unwrap();
        let used = [pod("a", &[&[("cpu", "1500m"), ("memory", "1Gi")]])];
        let node = info("2", "2Gi", &used);
        // Fits.
        let small = pod("s", &[&[("cpu", "500m"), ("memory", "1Gi")]]);
        assert!(filter(&fit, &small, &node).is_success());
        // One resource short, then both.
        let cpu = pod("c", &[&[("cpu", "600m")]]);
        let s = filter(&fit, &cpu, &node);
        assert_eq!(s.code(), Code::Unschedulable);
        assert_eq!(s.message(), "Insufficient cpu");
        let both = pod("b", &[&[("cpu", "600m"), ("memory", "1536Mi")]]);
        assert_eq!(
            filter(&fit, &both, &node).reasons(),
            ["Insufficient cpu", "Insufficient memory"]
        );
        // More than the node has at all: preemption cannot help.
        let huge = pod("h", &[&[("cpu", "3")]]);
        assert_eq!(
            filter(&fit, &huge, &node).code(),
            Code::UnschedulableAndUnresolvable
        );
        // Extended resources, and ignoring them.
        let gpu = pod("g", &[&[("example.com/gpu", "1")]]);
        assert_eq!(
            filter(&fit, &gpu, &node).message(),
            "Insufficient example.com/gpu"
        );
        let lenient = new(Some(&json!({"ignoredResourceGroups": ["example.com"]}))).unwrap();
        assert!(filter(&lenient, &gpu, &node).is_success());
        // A pod requesting nothing still needs a pod slot.
        let mut full = NodeInfo::new(Arc::new(node_with_pods("n", 1)));
        full.add_pod(PodInfo::new(Arc::new(pod("x", &[&[]]))));
        let s = filter(&fit, &pod("y", &[&[]]), &full);
        assert_eq!(s.message(), "Too many pods");
    }

    fn node_with_pods(name: &str, pods: u32) -> k8s_openapi::api::core::v1::Node {
        let mut n = node(name, "1", "1Gi");
        n.status.as_mut().unwrap().allocatable = Some(list(&[
            ("cpu", "1"),
            ("memory", "1Gi"),
            ("pods", &pods.to_string()),
        ]));
        n
    }

    fn score(plugin: &Arc<dyn Plugin>, pod: &Pod, node: &NodeInfo) -> i64 {
        let mut state = CycleState::new();
        plugin
            .as_pre_score()
            .unwrap()
            .pre_score(&mut state, pod, &[]);
        plugin.as_score().unwrap().score(&state, pod, node).unwrap()
    }

    #[test]
    fn least_allocated_table() {
        let fit = new(None).unwrap();
        // Upstream's case: node 4000m/10000, pod 3000m/5000 -> cpu 25, memory 50 -> 37.
        let p = pod("p", &[&[("cpu", "3"), ("memory", "5000")]]);
        assert_eq!(score(&fit, &p, &info("4", "10000", &[])), 37);
        // An empty pod counts 100m and 200Mi.
        let empty = pod("e", &[&[]]);
        let big = info("1", "2000Mi", &[]);
        assert_eq!(score(&fit, &empty, &big), (90 + 90) / 2);
    }

    #[test]
    fn most_allocated_and_requested_to_capacity_ratio() {
        let most = new(Some(&json!({"scoringStrategy": {"type": "MostAllocated"}}))).unwrap();
        let p = pod("p", &[&[("cpu", "3"), ("memory", "5000")]]);
        assert_eq!(score(&most, &p, &info("4", "10000", &[])), (75 + 50) / 2);
        let ratio = new(Some(&json!({"scoringStrategy": {
            "type": "RequestedToCapacityRatio",
            "resources": [{"name": "cpu", "weight": 1}],
            "requestedToCapacityRatio": {"shape": [
                {"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]}
        }})))
        .unwrap();
        assert_eq!(score(&ratio, &p, &info("4", "10000", &[])), 25);
        assert!(new(Some(&json!({"scoringStrategy": {"type": "Nope"}}))).is_err());
        assert!(
            new(Some(
                &json!({"scoringStrategy": {"type": "RequestedToCapacityRatio"}})
            ))
            .is_err()
        );
    }
}
