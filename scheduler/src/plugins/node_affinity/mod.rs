//! NodeAffinity: Filter keeps a pod to nodes matching its `nodeSelector` and its required node
//! affinity (terms ORed, expressions within a term ANDed); PreFilter narrows the search to the
//! nodes required terms name through `metadata.name` fields; Score sums the weights of the
//! preferred terms a node matches, normalized to 0..=100 (default weight 2).

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, NodeScore, Plugin, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::plugins::taint_toleration::default_normalize;
use controllers::daemonset::placement::term_matches;
use k8s_openapi::api::core::v1::{Node, NodeSelectorTerm, Pod, PreferredSchedulingTerm};
use std::collections::BTreeSet;
use std::sync::Arc;

pub const NAME: &str = "NodeAffinity";
/// Upstream's `ErrReasonPod`.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";
/// Upstream's `errReasonConflict`.
pub const REASON_CONFLICT: &str = "pod affinity terms conflict";

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodeAffinity)
}

struct NodeAffinity;

fn required_terms(pod: &Pod) -> Option<&[NodeSelectorTerm]> {
    pod.spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .map(|s| s.node_selector_terms.as_slice())
}

fn preferred_terms(pod: &Pod) -> &[PreferredSchedulingTerm] {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or_default()
}

/// Whether `node` satisfies the pod's `nodeSelector` and required node affinity (upstream's
/// `GetRequiredNodeAffinity(pod).Match(node)`).
pub fn required_matches(pod: &Pod, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    let selector_ok = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_selector.as_ref())
        .is_none_or(|sel| {
            sel.iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        });
    selector_ok
        && required_terms(pod).is_none_or(|terms| terms.iter().any(|t| term_matches(t, node)))
}

impl Plugin for NodeAffinity {
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
                EventResource::Node,
                action::ADD | action::UPDATE_NODE_LABEL,
                "NodeAdd|NodeUpdate",
            )
            .with_hint(|pod, change| {
                let now = change
                    .new
                    .as_ref()
                    .and_then(Object::node)
                    .is_some_and(|n| required_matches(pod, n));
                let before = change
                    .old
                    .as_ref()
                    .and_then(Object::node)
                    .is_some_and(|n| required_matches(pod, n));
                if now && !before {
                    QueueingHint::Queue
                } else {
                    QueueingHint::Skip
                }
            }),
        ]
    }
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(
        &self,
        _state: &mut CycleState,
        pod: &Pod,
        _nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let has_selector = pod.spec.as_ref().is_some_and(|s| s.node_selector.is_some());
        let Some(terms) = required_terms(pod) else {
            return if has_selector {
                (None, Status::success())
            } else {
                (None, Status::skip())
            };
        };
        // Only when every term names nodes is the search narrowed (terms are ORed).
        let mut names: Option<BTreeSet<String>> = None;
        for term in terms {
            let mut term_names: Option<BTreeSet<String>> = None;
            for r in term.match_fields.as_deref().unwrap_or_default() {
                if r.key == "metadata.name" && r.operator == "In" {
                    let set: BTreeSet<String> =
                        r.values.clone().unwrap_or_default().into_iter().collect();
                    term_names = Some(match term_names {
                        None => set,
                        Some(prev) => prev.intersection(&set).cloned().collect(),
                    });
                }
            }
            let Some(term_names) = term_names else {
                return (None, Status::success());
            };
            names.get_or_insert_default().extend(term_names);
        }
        match names {
            Some(n) if n.is_empty() => (None, Status::unresolvable(REASON_CONFLICT)),
            Some(node_names) => (
                Some(PreFilterResult {
                    node_names,
                    ..Default::default()
                }),
                Status::success(),
            ),
            None => (None, Status::success()),
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        match &node.node {
            Some(n) if required_matches(pod, n) => Status::success(),
            Some(_) => Status::unresolvable(REASON),
            None => Status::error("node not found"),
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(&self, _state: &mut CycleState, pod: &Pod, _nodes: &[Arc<NodeInfo>]) -> Status {
        if preferred_terms(pod).is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let Some(n) = &node.node else {
            return Err(Status::error("node not found"));
        };
        Ok(preferred_terms(pod)
            .iter()
            .filter(|t| t.weight != 0 && term_matches(&t.preference, n))
            .map(|t| i64::from(t.weight))
            .sum())
    }

    fn normalize(&self, _state: &CycleState, _pod: &Pod, scores: &mut [NodeScore]) -> Status {
        default_normalize(MAX_NODE_SCORE, false, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::*;
    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity as Spec, NodeSelector, NodeSelectorRequirement,
    };

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn with_affinity(
        mut pod: Pod,
        required: Vec<NodeSelectorTerm>,
        preferred: Vec<PreferredSchedulingTerm>,
    ) -> Pod {
        pod.spec.as_mut().unwrap().affinity = Some(Affinity {
            node_affinity: Some(Spec {
                required_during_scheduling_ignored_during_execution: (!required.is_empty())
                    .then_some(NodeSelector {
                        node_selector_terms: required,
                    }),
                preferred_during_scheduling_ignored_during_execution: (!preferred.is_empty())
                    .then_some(preferred),
            }),
            ..Default::default()
        });
        pod
    }

    fn info(name: &str, labels: &[(&str, &str)]) -> Arc<NodeInfo> {
        Arc::new(NodeInfo::new(Arc::new(with_labels(
            node(name, "1", "1Gi"),
            labels,
        ))))
    }

    #[test]
    fn filter_table() {
        let state = CycleState::new();
        let ssd = info("a", &[("disk", "ssd"), ("zone", "z1")]);
        let hdd = info("b", &[("disk", "hdd")]);
        let mut selector = pod("p", &[&[]]);
        selector.spec.as_mut().unwrap().node_selector =
            Some([("disk".to_string(), "ssd".to_string())].into());
        assert!(NodeAffinity.filter(&state, &selector, &ssd).is_success());
        let s = NodeAffinity.filter(&state, &selector, &hdd);
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), REASON);

        let term = |r: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
            match_expressions: Some(r),
            match_fields: None,
        };
        // Terms are ORed; expressions ANDed.
        let either = with_affinity(
            pod("q", &[&[]]),
            vec![
                term(vec![
                    req("disk", "In", &["ssd"]),
                    req("zone", "In", &["z2"]),
                ]),
                term(vec![req("disk", "NotIn", &["ssd"])]),
            ],
            vec![],
        );
        assert!(!NodeAffinity.filter(&state, &either, &ssd).is_success());
        assert!(NodeAffinity.filter(&state, &either, &hdd).is_success());
        let exists = with_affinity(
            pod("r", &[&[]]),
            vec![term(vec![req("zone", "Exists", &[])])],
            vec![],
        );
        assert!(NodeAffinity.filter(&state, &exists, &ssd).is_success());
        assert!(!NodeAffinity.filter(&state, &exists, &hdd).is_success());
    }

    #[test]
    fn pre_filter_narrows_to_named_nodes_or_skips() {
        let mut state = CycleState::new();
        let (r, s) = NodeAffinity.pre_filter(&mut state, &pod("p", &[&[]]), &[]);
        assert!(s.is_skip() && r.is_none());
        let named = with_affinity(
            pod("p", &[&[]]),
            vec![NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![req("metadata.name", "In", &["a", "b"])]),
            }],
            vec![],
        );
        let (r, s) = NodeAffinity.pre_filter(&mut state, &named, &[]);
        assert!(s.is_success());
        assert_eq!(
            r.unwrap().node_names.into_iter().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn score_sums_matching_preferred_weights() {
        let mut state = CycleState::new();
        let nodes = [
            info("a", &[("disk", "ssd"), ("zone", "z1")]),
            info("b", &[("disk", "ssd")]),
            info("c", &[]),
        ];
        let pref = |w: i32, r: NodeSelectorRequirement| PreferredSchedulingTerm {
            weight: w,
            preference: NodeSelectorTerm {
                match_expressions: Some(vec![r]),
                match_fields: None,
            },
        };
        let p = with_affinity(
            pod("p", &[&[]]),
            vec![],
            vec![
                pref(2, req("disk", "In", &["ssd"])),
                pref(6, req("zone", "In", &["z1"])),
            ],
        );
        assert!(NodeAffinity.pre_score(&mut state, &p, &nodes).is_success());
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name(),
                score: NodeAffinity.score(&state, &p, n).unwrap(),
            })
            .collect();
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![8, 2, 0]
        );
        NodeAffinity.normalize(&state, &p, &mut scores);
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![100, 25, 0]
        );
        assert!(
            NodeAffinity
                .pre_score(&mut state, &pod("q", &[&[]]), &nodes)
                .is_skip()
        );
    }
}
