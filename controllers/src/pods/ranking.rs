//! Which pods go first when a controller scales down (upstream `ActivePodsWithRanks`), each
//! rule deciding only when the ones before it tie:
//! 1. not yet scheduled before scheduled;
//! 2. Pending before Unknown before Running;
//! 3. not ready before ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` first;
//! 5. more related pods on the same node first (spreads what stays);
//! 6. ready for a shorter time first, compared in powers of two of the time since (upstream's
//!    logarithmic scale-down), then by uid;
//! 7. more container restarts first (regular containers, then sidecars);
//! 8. newer first, on the same logarithmic scale, then by uid.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The annotation that makes a pod cheaper (lower) or dearer to delete.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The first `count` of `pods` to delete. `related` are the active pods of the controller and
/// of its siblings (the other ReplicaSets of a Deployment), counted per node for rule 5.
pub fn pods_to_delete(
    mut pods: Vec<Arc<Pod>>,
    related: &[Arc<Pod>],
    count: usize,
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    if count < pods.len() {
        let mut on_node: HashMap<&str, usize> = HashMap::new();
        for pod in related {
            if let Some(node) = node_name(pod) {
                *on_node.entry(node).or_default() += 1;
            }
        }
        let rank = |p: &Pod| {
            node_name(p)
                .and_then(|n| on_node.get(n))
                .copied()
                .unwrap_or(0)
        };
        pods.sort_by(|a, b| compare(a, rank(a), b, rank(b), now));
    }
    pods.truncate(count);
    pods
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn phase_order(pod: &Pod) -> u8 {
    match super::phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The most restarts of any regular container, and of any sidecar (restartable init) container.
fn max_restarts(pod: &Pod) -> (i32, i32) {
    let Some(status) = &pod.status else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    let sidecars: HashSet<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| sidecars.contains(c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

/// The power of two of nanoseconds since `t` (-1 for `t` not in the past).
fn log_bucket(t: Timestamp, now: Timestamp) -> i64 {
    let since = now.duration_since(t).as_nanos();
    if since > 0 {
        // Truncation toward zero, as upstream converts the logarithm.
        (since as f64).log2() as i64
    } else {
        -1
    }
}

/// Upstream's `afterOrZero` then the logarithmic comparison: a missing time first, then the
/// newer, with times in one power-of-two bucket ordered by uid.
fn newer_first(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    pa: &Pod,
    pb: &Pod,
    now: Timestamp,
) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) if a == b => Ordering::Equal,
        (Some(a), Some(b)) => match log_bucket(a, now).cmp(&log_bucket(b, now)) {
            Ordering::Equal => pa.metadata.uid.cmp(&pb.metadata.uid),
            other => other,
        },
    }
}

/// `Less` means "`a` is deleted before `b`".
fn compare(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize, now: Timestamp) -> Ordering {
    let (na, nb) = (node_name(a), node_name(b));
    if na != nb && (na.is_none() || nb.is_none()) {
        return if na.is_none() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_phase = phase_order(a).cmp(&phase_order(b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let (ra, rb) = (super::is_ready(a), super::is_ready(b));
    if ra != rb {
        return if ra {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    let by_cost = deletion_cost(a).cmp(&deletion_cost(b));
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    if rank_a != rank_b {
        return rank_b.cmp(&rank_a);
    }
    if ra && rb {
        let (ta, tb) = (super::ready_since(a), super::ready_since(b));
        if ta != tb {
            return newer_first(ta, tb, a, b, now);
        }
    }
    let (restarts_a, restarts_b) = (max_restarts(a), max_restarts(b));
    if restarts_a.0 != restarts_b.0 {
        return restarts_b.0.cmp(&restarts_a.0);
    }
    if restarts_a.1 != restarts_b.1 {
        return restarts_b.1.cmp(&restarts_a.1);
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    newer_first(created(a), created(b), a, b, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::tests::pod_with;
    use k8s_openapi::api::core::v1::{ContainerStatus, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn named(name: &str, mut pod: Pod) -> Arc<Pod> {
        pod.metadata.name = Some(name.to_string());
        pod.metadata.uid = Some(name.to_string());
        Arc::new(pod)
    }

    fn on(node: &str, mut pod: Pod) -> Pod {
        pod.spec = Some(PodSpec {
            node_name: Some(node.to_string()),
            ..Default::default()
        });
        pod
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<&str> {
        pods.iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn unscheduled_pending_and_unready_pods_go_first() {
        let now = at(100_000);
        let pods = vec![
            named("running-ready", on("n1", pod_with("Running", Some(at(50))))),
            named("running", on("n1", pod_with("Running", None))),
            named("unknown", on("n1", pod_with("Unknown", None))),
            named("pending", on("n1", pod_with("Pending", None))),
            named("unscheduled", pod_with("Running", Some(at(50)))),
        ];
        let order = pods_to_delete(pods.clone(), &pods, 4, now);
        assert_eq!(
            names(&order),
            vec!["unscheduled", "pending", "unknown", "running"]
        );
    }

    #[test]
    fn deletion_cost_then_doubled_up_nodes_decide() {
        let now = at(100_000);
        let mut cheap = on("n1", pod_with("Running", Some(at(50))));
        cheap.metadata.annotations = Some([(DELETION_COST.to_string(), "-5".to_string())].into());
        let pods = vec![
            named("alone", on("n1", pod_with("Running", Some(at(50))))),
            named("crowded", on("n2", pod_with("Running", Some(at(50))))),
            named("cheap", cheap),
        ];
        let related = vec![
            pods[0].clone(),
            pods[1].clone(),
            named("sibling", on("n2", pod_with("Running", None))),
        ];
        assert_eq!(
            names(&pods_to_delete(pods, &related, 2, now)),
            vec!["cheap", "crowded"]
        );
    }

    #[test]
    fn shorter_readiness_more_restarts_and_newer_pods_go_first() {
        let now = at(1_000_000);
        // Ready 10 s versus 500,000 s: different powers of two.
        let pods = vec![
            named(
                "old-ready",
                on("n1", pod_with("Running", Some(at(500_000)))),
            ),
            named(
                "new-ready",
                on("n1", pod_with("Running", Some(at(999_990)))),
            ),
        ];
        assert_eq!(names(&pods_to_delete(pods, &[], 1, now)), vec!["new-ready"]);

        let mut crashing = on("n1", pod_with("Running", None));
        if let Some(s) = crashing.status.as_mut() {
            s.container_statuses = Some(vec![ContainerStatus {
                name: "c".to_string(),
                restart_count: 3,
                ..Default::default()
            }]);
        }
        let mut older = on("n1", pod_with("Running", None));
        older.metadata.creation_timestamp = Some(Time(at(10)));
        let mut newer = on("n1", pod_with("Running", None));
        newer.metadata.creation_timestamp = Some(Time(at(999_000)));
        let pods = vec![
            named("older", older),
            named("newer", newer),
            named("crashing", crashing),
        ];
        assert_eq!(
            names(&pods_to_delete(pods.clone(), &[], 1, now)),
            vec!["crashing"]
        );
        assert_eq!(
            names(&pods_to_delete(pods[..2].to_vec(), &[], 1, now)),
            vec!["newer"]
        );
    }

    #[test]
    fn deleting_all_keeps_the_given_order() {
        let pods = vec![
            named("a", pod_with("Running", None)),
            named("b", pod_with("Pending", None)),
        ];
        assert_eq!(names(&pods_to_delete(pods, &[], 5, at(1))), vec!["a", "b"]);
    }
}
