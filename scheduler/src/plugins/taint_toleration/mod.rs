//! TaintToleration: Filter turns a pod away from a node with a `NoSchedule` or `NoExecute`
//! taint it does not tolerate; Score prefers nodes with fewer untolerated `PreferNoSchedule`
//! taints (normalized so the node with the most scores 0; default weight 3).

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, NodeScore, Plugin, PreScorePlugin, ScorePlugin,
    Status,
};
use crate::node_info::NodeInfo;
use controllers::taints;
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use std::sync::Arc;

pub const NAME: &str = "TaintToleration";

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(TaintToleration)
}

struct TaintToleration;

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

/// Whether one of the pod's tolerations tolerates `taint`.
pub fn tolerated(pod: &Pod, taint: &Taint) -> bool {
    tolerations(pod).iter().any(|t| taints::tolerates(t, taint))
}

/// The first `NoSchedule`/`NoExecute` taint of `node` the pod does not tolerate.
fn untolerated<'a>(pod: &Pod, node: &'a Node) -> Option<&'a Taint> {
    untolerated_of(pod, taints::of(node))
}

fn untolerated_of<'a>(pod: &Pod, taints: &'a [Taint]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerated(pod, t))
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
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
                EventResource::Node,
                action::ADD | action::UPDATE_NODE_TAINT,
                "NodeAdd|NodeUpdate",
            )
            .with_hint(|pod, change| {
                let now_fits = change
                    .new
                    .as_ref()
                    .and_then(Object::node)
                    .is_some_and(|n| untolerated(pod, n).is_none());
                let fitted = change
                    .old
                    .as_ref()
                    .and_then(Object::node)
                    .is_some_and(|n| untolerated(pod, n).is_none());
                if now_fits && !fitted {
                    QueueingHint::Queue
                } else {
                    QueueingHint::Skip
                }
            }),
            EventWithHint::new(
                EventResource::UnscheduledPod,
                action::UPDATE_POD_TOLERATION,
                "UpdatePodToleration",
            ),
        ]
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if node.node.is_none() {
            return Status::error("invalid nodeInfo");
        }
        match untolerated_of(pod, &node.taints) {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or_default()
            )),
        }
    }
}

const PRE_SCORE_KEY: &str = "PreScoreTaintToleration";

/// The pod's tolerations that can tolerate a `PreferNoSchedule` taint.
fn prefer_no_schedule(pod: &Pod) -> Vec<Toleration> {
    tolerations(pod)
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .cloned()
        .collect()
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, _nodes: &[Arc<NodeInfo>]) -> Status {
        state.write(PRE_SCORE_KEY, prefer_no_schedule(pod));
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let computed;
        let tols = match state.read::<Vec<Toleration>>(PRE_SCORE_KEY) {
            Some(t) => t,
            None => {
                computed = prefer_no_schedule(pod);
                &computed
            }
        };
        if node.node.is_none() {
            return Err(Status::error("invalid nodeInfo"));
        }
        let count = node
            .taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule")
            .filter(|t| !tols.iter().any(|tol| taints::tolerates(tol, t)))
            .count();
        Ok(count as i64)
    }

    fn normalize(&self, _state: &CycleState, _pod: &Pod, scores: &mut [NodeScore]) -> Status {
        default_normalize(MAX_NODE_SCORE, true, scores);
        Status::success()
    }
}

/// Upstream's `DefaultNormalizeScore`: scales to 0..=`max` by the highest score; `reverse`
/// turns the scale around (most is worst).
pub fn default_normalize(max: i64, reverse: bool, scores: &mut [NodeScore]) {
    let highest = scores.iter().map(|s| s.score).max().unwrap_or(0);
    if highest == 0 {
        if reverse {
            for s in scores.iter_mut() {
                s.score = max;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = max * s.score / highest;
        s.score = if reverse { max - scaled } else { scaled };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::*;

    fn tolerate(pod: &mut Pod, key: &str, value: &str, effect: &str) {
        pod.spec
            .as_mut()
            .unwrap()
            .tolerations
            .get_or_insert_default()
            .push(Toleration {
                key: Some(key.into()),
                operator: Some("Equal".into()),
                value: Some(value.into()),
                effect: (!effect.is_empty()).then(|| effect.into()),
                toleration_seconds: None,
            });
    }

    #[test]
    fn filter_table() {
        let state = CycleState::new();
        let tainted = NodeInfo::new(Arc::new(with_taints(
            node("n", "1", "1Gi"),
            &[("dedicated", "gpu", "NoSchedule")],
        )));
        let soft = NodeInfo::new(Arc::new(with_taints(
            node("m", "1", "1Gi"),
            &[("dedicated", "gpu", "PreferNoSchedule")],
        )));
        let mut p = pod("p", &[&[]]);
        let s = TaintToleration.filter(&state, &p, &tainted);
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(
            s.message(),
            "node(s) had untolerated taint {dedicated: gpu}"
        );
        assert!(TaintToleration.filter(&state, &p, &soft).is_success());
        tolerate(&mut p, "dedicated", "cpu", "NoSchedule");
        assert!(!TaintToleration.filter(&state, &p, &tainted).is_success());
        tolerate(&mut p, "dedicated", "gpu", "");
        assert!(TaintToleration.filter(&state, &p, &tainted).is_success());
        let exec = NodeInfo::new(Arc::new(with_taints(
            node("x", "1", "1Gi"),
            &[("k", "", "NoExecute")],
        )));
        assert_eq!(
            TaintToleration.filter(&state, &p, &exec).message(),
            "node(s) had untolerated taint {k: }"
        );
    }

    #[test]
    fn score_prefers_fewer_intolerable_prefer_no_schedule_taints() {
        let mut state = CycleState::new();
        let mut p = pod("p", &[&[]]);
        tolerate(&mut p, "ok", "v", "PreferNoSchedule");
        let nodes: Vec<Arc<NodeInfo>> = [
            vec![],
            vec![("ok", "v", "PreferNoSchedule")],
            vec![("a", "", "PreferNoSchedule")],
            vec![("a", "", "PreferNoSchedule"), ("b", "", "PreferNoSchedule")],
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Arc::new(NodeInfo::new(Arc::new(with_taints(
                node(&format!("n{i}"), "1", "1Gi"),
                t,
            ))))
        })
        .collect();
        assert!(
            TaintToleration
                .pre_score(&mut state, &p, &nodes)
                .is_success()
        );
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name(),
                score: TaintToleration.score(&state, &p, n).unwrap(),
            })
            .collect();
        TaintToleration.normalize(&state, &p, &mut scores);
        let got: Vec<i64> = scores.iter().map(|s| s.score).collect();
        assert_eq!(got, vec![100, 100, 50, 0]);
    }
}
