//! A DaemonSet's rolling update (upstream `rollingUpdate`), in one of two ways:
//!
//! - without surge ([`to_delete`], `maxSurge: 0`): old pods that are not available are
//!   replaced at once; available ones only while fewer than `maxUnavailable` nodes lack an
//!   available current pod. The manage step then creates the current pod on each node whose
//!   old pod went.
//! - with surge ([`surge`], `maxSurge > 0`, which validation allows only with
//!   `maxUnavailable: 0`): the current pod is created next to the old one, on at most
//!   `maxSurge` nodes at a time (a node whose old pod is unavailable is replaced at once and
//!   does not count), and the old pod is deleted once the new one is available.
//!
//! Timeline of one node under surge: old pod alone -> new pod created beside it (two pods)
//! -> new pod ready, then available after `minReadySeconds` -> old pod deleted.

use k8s_openapi::api::apps::v1::{DaemonSet, RollingUpdateDaemonSet};
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

fn rolling_update(ds: &DaemonSet) -> Option<&RollingUpdateDaemonSet> {
    ds.spec
        .as_ref()?
        .update_strategy
        .as_ref()?
        .rolling_update
        .as_ref()
}

/// `maxSurge` against `desired` nodes, rounded up (upstream `SurgeCount`): 0 unless the
/// DaemonSet rolls updates and asks for surge.
pub fn max_surge(ds: &DaemonSet, desired: usize) -> usize {
    if !rolls(ds) {
        return 0;
    }
    scaled(
        rolling_update(ds).and_then(|r| r.max_surge.as_ref()),
        desired,
        0,
    )
}

/// Whether a node may hold an old and a new pod at once (upstream `AllowsSurge`).
pub fn allows_surge(ds: &DaemonSet) -> bool {
    max_surge(ds, 1) > 0
}

/// `maxUnavailable` against `desired` nodes, rounded up; 1 when neither unavailability nor
/// surge is allowed (upstream `updatedDesiredNodeCounts`).
pub fn max_unavailable(ds: &DaemonSet, desired: usize) -> usize {
    let unavailable = scaled(
        rolling_update(ds).and_then(|r| r.max_unavailable.as_ref()),
        desired,
        1,
    );
    if desired > 0 && unavailable == 0 && max_surge(ds, desired) == 0 {
        1
    } else {
        unavailable
    }
}

/// The old pods to delete now without surge. `nodes` are the nodes with daemon pods and the
/// nodes that should have one, in a stable order; `available` says whether a pod counts as
/// available.
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

/// What a surging step does: the nodes to create a current pod on, the old pods to delete.
#[derive(Debug, Default)]
pub struct Surge {
    pub create: Vec<String>,
    pub delete: Vec<Arc<Pod>>,
}

/// The surging step (upstream `rollingUpdate` with `maxSurge > 0`). `nodes` are the nodes
/// with daemon pods and the nodes that should have one, in a stable order; `desired` is the
/// number of nodes that should; `should_run` says whether a node is (still) one of them.
///
/// A node with more than one old or more than one current pod is left to the manage step and
/// counts as surging. An old pod on a node that no longer fits goes once enough pods elsewhere
/// are available, so the DaemonSet never drops below `desired` available pods.
pub fn surge(
    nodes: &[(String, OnNode)],
    max_surge: usize,
    desired: usize,
    should_run: impl Fn(&str) -> bool,
    available: impl Fn(&Pod) -> bool,
) -> Surge {
    let mut out = Surge::default();
    let mut surging: usize = 0;
    let mut available_nodes: usize = 0;
    let mut replace_at_once = Vec::new();
    let mut candidates = Vec::new();
    let mut unfit = Vec::new();
    for (node, pods) in nodes {
        let (new, old) = match (pods.current.as_slice(), pods.old.as_slice()) {
            ([], []) => continue,
            (new, old) if new.len() > 1 || old.len() > 1 => {
                surging += 1;
                continue;
            }
            (new, old) => (new.first(), old.first()),
        };
        if old.or(new).is_some_and(|p| available(p)) {
            available_nodes += 1;
        }
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) if !available(old) => {
                if should_run(node) {
                    replace_at_once.push(node.clone());
                } else {
                    out.delete.push(old.clone());
                }
            }
            (None, Some(old)) => {
                if !should_run(node) {
                    unfit.push(old.clone());
                } else if surging < max_surge {
                    candidates.push(node.clone());
                }
            }
            (Some(new), Some(old)) => {
                if available(new) {
                    out.delete.push(old.clone());
                } else {
                    surging += 1;
                }
            }
        }
    }
    let spare = available_nodes.saturating_sub(desired).min(unfit.len());
    out.delete.extend(unfit.into_iter().take(spare));
    let room = max_surge.saturating_sub(surging).min(candidates.len());
    out.create = replace_at_once;
    out.create.extend(candidates.into_iter().take(room));
    out
}

/// Whether `pod` is available at `now` after `min_ready_seconds`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    crate::pods::is_available(pod, min_ready_seconds, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DaemonSetSpec, DaemonSetUpdateStrategy};

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

    fn names(v: &[Arc<Pod>]) -> Vec<String> {
        v.iter().map(|p| p.metadata.name.clone().unwrap()).collect()
    }

    fn not_broken(p: &Pod) -> bool {
        !p.metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .starts_with("broken")
    }

    #[test]
    fn surge_creates_beside_old_pods_within_max_surge() {
        let nodes = vec![
            ("a".to_string(), node(&[], &["old-a"])),
            ("b".to_string(), node(&[], &["old-b"])),
            ("c".to_string(), node(&[], &["old-c"])),
        ];
        let step = surge(&nodes, 1, 3, |_| true, not_broken);
        assert_eq!(step.create, ["a"]);
        assert!(step.delete.is_empty());
        let step = surge(&nodes, 2, 3, |_| true, not_broken);
        assert_eq!(step.create, ["a", "b"]);
    }

    #[test]
    fn surge_waits_for_the_new_pod_then_deletes_the_old_one() {
        let nodes = vec![
            ("a".to_string(), node(&["broken-new-a"], &["old-a"])),
            ("b".to_string(), node(&[], &["old-b"])),
        ];
        // The unavailable new pod on a uses up the only surge slot.
        let step = surge(&nodes, 1, 2, |_| true, not_broken);
        assert!(step.create.is_empty(), "{step:?}");
        assert!(step.delete.is_empty(), "{step:?}");
        // Once it is available the old pod goes, and the next node may surge.
        let nodes = vec![
            ("a".to_string(), node(&["new-a"], &["old-a"])),
            ("b".to_string(), node(&[], &["old-b"])),
        ];
        let step = surge(&nodes, 1, 2, |_| true, not_broken);
        assert_eq!(names(&step.delete), ["old-a"]);
        assert_eq!(step.create, ["b"]);
    }

    #[test]
    fn unavailable_old_pods_are_replaced_at_once_and_do_not_count() {
        let nodes = vec![
            ("a".to_string(), node(&["broken-new-a"], &["old-a"])),
            ("b".to_string(), node(&[], &["broken-b"])),
            ("c".to_string(), node(&[], &["old-c"])),
            // Several old pods: the manage step sorts the node out; it counts as surging.
            ("d".to_string(), node(&[], &["old-d1", "old-d2"])),
            ("e".to_string(), node(&[], &[])),
        ];
        let step = surge(&nodes, 2, 5, |_| true, not_broken);
        assert_eq!(step.create, ["b"]);
        assert!(step.delete.is_empty());
        // A node that no longer fits loses its unavailable old pod instead.
        let step = surge(&nodes, 2, 5, |n| n != "b", not_broken);
        assert!(step.create.is_empty());
        assert_eq!(names(&step.delete), ["broken-b"]);
    }

    #[test]
    fn old_pods_on_unfit_nodes_go_only_while_enough_pods_are_available() {
        let nodes = vec![
            ("a".to_string(), node(&[], &["old-a"])),
            ("b".to_string(), node(&["new-b"], &[])),
            ("gone".to_string(), node(&[], &["old-x"])),
        ];
        // Two nodes should run the pod and three pods are available: one may go.
        let step = surge(&nodes, 1, 2, |n| n != "gone", not_broken);
        assert_eq!(names(&step.delete), ["old-x"]);
        assert_eq!(step.create, ["a"]);
        // With three desired nodes nothing is spare.
        let step = surge(&nodes, 1, 3, |n| n != "gone", not_broken);
        assert!(step.delete.is_empty());
    }

    #[test]
    fn surge_percentages_round_up_against_desired_nodes() {
        let mut ds = DaemonSet {
            spec: Some(DaemonSetSpec {
                update_strategy: Some(DaemonSetUpdateStrategy {
                    type_: Some("RollingUpdate".to_string()),
                    rolling_update: Some(RollingUpdateDaemonSet {
                        max_unavailable: Some(IntOrString::Int(0)),
                        max_surge: Some(IntOrString::String("10%".to_string())),
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(allows_surge(&ds));
        assert_eq!(max_surge(&ds, 25), 3);
        assert_eq!(max_surge(&ds, 1), 1);
        assert_eq!(max_unavailable(&ds, 25), 0);
        let strategy = ds.spec.as_mut().unwrap().update_strategy.as_mut().unwrap();
        strategy.rolling_update.as_mut().unwrap().max_surge = Some(IntOrString::Int(0));
        assert!(!allows_surge(&ds));
        // Neither surge nor unavailability: one node at a time, as upstream.
        assert_eq!(max_unavailable(&ds, 25), 1);
        let strategy = ds.spec.as_mut().unwrap().update_strategy.as_mut().unwrap();
        strategy.rolling_update.as_mut().unwrap().max_surge = Some(IntOrString::Int(2));
        strategy.type_ = Some("OnDelete".to_string());
        assert_eq!(max_surge(&ds, 25), 0);
    }
}
