//! Which nodes a DaemonSet's pod belongs on (upstream `NodeShouldRunDaemonPod`): nodes its
//! `nodeSelector` and required node affinity select, whose NoSchedule and NoExecute taints
//! the pod tolerates (with the tolerations every daemon pod gets, [`default_tolerations`]). A
//! pod already running stays as long as the NoExecute taints are tolerated.

use crate::taints::{self, NO_EXECUTE, NO_SCHEDULE};
use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Toleration,
};

/// Whether a node is a place for the daemon pod: `run` for a new pod, `keep` for one there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub run: bool,
    pub keep: bool,
}

fn toleration(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.to_string()),
        operator: Some("Exists".to_string()),
        effect: Some(effect.to_string()),
        value: None,
        toleration_seconds: None,
    }
}

/// The tolerations every daemon pod carries (upstream `AddOrUpdateDaemonPodTolerations`): it
/// stays through not-ready and unreachable nodes, pressure and cordons, and (with the host's
/// network) a node whose network is not set up yet.
pub fn default_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut out = vec![
        toleration(taints::NOT_READY, NO_EXECUTE),
        toleration(taints::UNREACHABLE, NO_EXECUTE),
        toleration(taints::DISK_PRESSURE, NO_SCHEDULE),
        toleration(taints::MEMORY_PRESSURE, NO_SCHEDULE),
        toleration(taints::PID_PRESSURE, NO_SCHEDULE),
        toleration(taints::UNSCHEDULABLE, NO_SCHEDULE),
    ];
    if host_network {
        out.push(toleration(taints::NETWORK_UNAVAILABLE, NO_SCHEDULE));
    }
    out
}

/// Adds the default tolerations a pod spec lacks (same key and effect).
pub fn add_default_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    for wanted in default_tolerations(host_network) {
        let present = list
            .iter()
            .any(|t| t.key == wanted.key && t.effect == wanted.effect);
        if !present {
            list.push(wanted);
        }
    }
}

/// Whether `node` fits the pod spec (already carrying its tolerations).
pub fn fit(spec: &PodSpec, node: &Node) -> Fit {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selected = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affine = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|required| {
            required
                .node_selector_terms
                .iter()
                .any(|term| term_matches(term, node))
        });
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let tolerated = |effect: &str| {
        taints::of(node)
            .iter()
            .filter(|t| t.effect == effect)
            .all(|t| tolerations.iter().any(|tol| taints::tolerates(tol, t)))
    };
    let no_execute_ok = tolerated(NO_EXECUTE);
    let placeable = selected && affine;
    Fit {
        run: placeable && no_execute_ok && tolerated(NO_SCHEDULE),
        keep: placeable && no_execute_ok,
    }
}

/// Whether a node selector term selects `node`: all its label expressions and field
/// expressions hold (an empty term selects nothing, as upstream).
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    let name = node.metadata.name.as_deref().unwrap_or_default();
    exprs.iter().all(|r| {
        let value = labels.and_then(|l| l.get(&r.key)).map(String::as_str);
        requirement_matches(r, value)
    }) && fields.iter().all(|r| {
        let value = (r.key == "metadata.name").then_some(name);
        requirement_matches(r, value)
    })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|s| number(s)),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity, NodeSelector, NodeSpec, Taint};
    use std::collections::BTreeMap;

    fn node(labels: &[(&str, &str)], taints: Vec<Taint>) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some("n1".to_string());
        n.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        n.spec = Some(NodeSpec {
            taints: Some(taints),
            ..Default::default()
        });
        n
    }

    fn spec() -> PodSpec {
        let mut s = PodSpec::default();
        add_default_tolerations(&mut s);
        s
    }

    #[test]
    fn daemon_pods_ride_out_node_trouble_but_not_foreign_taints() {
        let s = spec();
        let troubled = node(
            &[],
            vec![
                taints::taint(taints::UNREACHABLE, NO_EXECUTE),
                taints::taint(taints::UNSCHEDULABLE, NO_SCHEDULE),
            ],
        );
        assert_eq!(
            fit(&s, &troubled),
            Fit {
                run: true,
                keep: true
            }
        );
        let dedicated = node(&[], vec![taints::taint("dedicated", NO_SCHEDULE)]);
        assert_eq!(
            fit(&s, &dedicated),
            Fit {
                run: false,
                keep: true
            }
        );
        let evicting = node(&[], vec![taints::taint("dedicated", NO_EXECUTE)]);
        assert_eq!(
            fit(&s, &evicting),
            Fit {
                run: false,
                keep: false
            }
        );
    }

    #[test]
    fn selectors_and_required_affinity_choose_nodes() {
        let mut s = spec();
        s.node_selector = Some(BTreeMap::from([("disk".to_string(), "ssd".to_string())]));
        assert!(fit(&s, &node(&[("disk", "ssd")], vec![])).run);
        assert!(!fit(&s, &node(&[("disk", "hdd")], vec![])).keep);
        s.node_selector = None;
        let term = |key: &str, op: &str, values: &[&str]| NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: key.to_string(),
                operator: op.to_string(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            match_fields: None,
        };
        s.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![
                        term("zone", "In", &["a"]),
                        term("cpus", "Gt", &["8"]),
                    ],
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(fit(&s, &node(&[("zone", "a")], vec![])).run);
        assert!(fit(&s, &node(&[("cpus", "16")], vec![])).run);
        assert!(!fit(&s, &node(&[("cpus", "4")], vec![])).run);
        assert!(!fit(&s, &node(&[], vec![])).run);
    }

    #[test]
    fn host_network_pods_tolerate_an_unready_network() {
        assert_eq!(default_tolerations(false).len(), 6);
        let with = default_tolerations(true);
        assert_eq!(with.len(), 7);
        assert_eq!(with[6].key.as_deref(), Some(taints::NETWORK_UNAVAILABLE));
    }
}
