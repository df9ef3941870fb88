//! A DaemonSet's rolling update without surge (upstream `rollingUpdate` with `maxSurge: 0`):
//! old pods that are not available are replaced at once; available ones only while fewer
//! than `maxUnavailable` nodes lack an available current pod. The manage step then creates
//! the current pod on each node whose old pod went.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use std::sync::Arc;

/// The pods on one node, split by revision.
#[derive(Debug, Default)]
pub struct OnNode {
    pub current: Vec<Arc<Pod>>,
    pub old: Vec<Arc<Pod>>,
}

/// Whether the DaemonSet rolls updates out itself (`RollingUpdate`, the default) rather than
/// waiting for pods to be deleted (`OnDelete`).
pub fn rolls(ds: &DaemonSet) -> bool {
    ds.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

fn scaled(value: Option<&IntOrString>, total: usize, default: usize) -> usize {
    match value {
        None => default,
        Some(IntOrString::Int(n)) => (*n).max(0) as usize,
        Some(IntOrString::String(s)) => {
            let percent: usize = s.trim_end_matches('%').parse().unwrap_or(0);
            (percent * total).div_ceil(100)
        }
    }
}

/// `maxUnavailable` against `desired` nodes, rounded up; at least 1 when no surge is allowed.
pub fn max_unavailable(ds: &DaemonSet, desired: usize) -> usize {
    let rolling = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref());
    let unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), desired, 1);
    let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), desired, 0);
    if unavailable == 0 && surge == 0 {
        1
    } else {
        unavailable
    }
}

/// The old pods to delete now. `nodes` are the nodes with daemon pods, in a stable order;
/// `available` says whether a pod counts as available.
pub fn to_delete(
    nodes: &[(String, OnNode)],
    max_unavailable: usize,
    available: impl Fn(&Pod) -> bool,
) -> Vec<Arc<Pod>> {
    let mut unavailable = 0;
    let mut replace = Vec::new();
    let mut candidates = Vec::new();
    for (_, pods) in nodes {
        match (pods.current.as_slice(), pods.old.as_slice()) {
            // Several pods, or none: the manage step sorts the node out first.
            (c, o) if c.len() + o.len() != 1 => unavailable += 1,
            ([new], []) if !available(new) => unavailable += 1,
            ([], [old]) => {
                if !available(old) {
                    replace.push(old.clone());
                } else if unavailable < max_unavailable {
                    candidates.push(old.clone());
                }
            }
            _ => {}
        }
    }
    let room = max_unavailable
        .saturating_sub(unavailable)
        .min(candidates.len());
    replace.extend(candidates.into_iter().take(room));
    replace
}

/// Whether `pod` is available at `now` after `min_ready_seconds`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    crate::pods::is_available(pod, min_ready_seconds, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
    };

    fn pod(name: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(name.to_string());
        Arc::new(p)
    }

    fn node(current: &[&str], old: &[&str]) -> OnNode {
        OnNode {
            current: current.iter().map(|n| pod(n)).collect(),
            old: old.iter().map(|n| pod(n)).collect(),
        }
    }

    #[test]
    fn unavailable_old_pods_go_first_and_the_rest_within_the_budget() {
        let nodes = vec![
            ("a".to_string(), node(&[], &["old-a"])),
            ("b".to_string(), node(&[], &["old-b"])),
            ("c".to_string(), node(&[], &["broken-c"])),
            ("d".to_string(), node(&["new-d"], &[])),
        ];
        let available = |p: &Pod| {
            !p.metadata
                .name
                .as_deref()
                .unwrap_or_default()
                .starts_with("broken")
        };
        let names = |v: Vec<Arc<Pod>>| -> Vec<String> {
            v.iter().map(|p| p.metadata.name.clone().unwrap()).collect()
        };
        assert_eq!(
            names(to_delete(&nodes, 1, available)),
            ["broken-c", "old-a"]
        );
        // A new pod that is not available yet uses up the budget.
        let not_new = |p: &Pod| available(p) && p.metadata.name.as_deref() != Some("new-d");
        assert_eq!(names(to_delete(&nodes, 1, not_new)), ["broken-c"]);
        assert_eq!(
            names(to_delete(&nodes, 2, available)),
            ["broken-c", "old-a", "old-b"]
        );
    }

    #[test]
    fn the_budget_scales_with_the_nodes() {
        let mut ds = DaemonSet {
            spec: Some(DaemonSetSpec::default()),
            ..Default::default()
        };
        assert_eq!(max_unavailable(&ds, 10), 1);
        assert!(rolls(&ds));
        ds.spec.as_mut().unwrap().update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".to_string()),
            rolling_update: Some(RollingUpdateDaemonSet {
                max_unavailable: Some(IntOrString::String("25%".to_string())),
                max_surge: None,
            }),
        });
        assert_eq!(max_unavailable(&ds, 10), 3);
        ds.spec
            .as_mut()
            .unwrap()
            .update_strategy
            .as_mut()
            .unwrap()
            .type_ = Some("OnDelete".to_string());
        assert!(!rolls(&ds));
    }
}
