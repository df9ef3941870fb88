//! A budget's status from its pods and counts (upstream `buildDisruptedPodMap`,
//! `countHealthyPods`, `updatePdbStatus`, `failSafe`, and the component helpers'
//! `UpdateDisruptionAllowedCondition`).
//!
//! `status.disruptedPods` lists pods the eviction API has let go and expects deleted; until
//! they are, they do not count as healthy. An entry is dropped when its pod is gone, is being
//! deleted, or was not deleted within [`DELETION_TIMEOUT`] (then a `NotDeleted` warning goes on
//! the pod). The earliest timeout of the entries kept is when to look again.

use super::expected::Counts;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a pod may stay in `disruptedPods` without being deleted (upstream
/// `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// The condition this controller keeps.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
/// Its reasons (upstream `policy.SufficientPodsReason`, ...).
pub const SUFFICIENT_PODS: &str = "SufficientPods";
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";

/// When a pod disrupted at `at` is expected to have been deleted.
fn expires(at: &Time) -> Timestamp {
    let timeout = SignedDuration::from_secs(DELETION_TIMEOUT.as_secs() as i64);
    at.0.checked_add(timeout).unwrap_or(Timestamp::MAX)
}

/// `disruptedPods` with the stale entries dropped.
#[derive(Debug, Default, PartialEq)]
pub struct Disrupted {
    /// The entries kept.
    pub pods: BTreeMap<String, Time>,
    /// Pods whose entry timed out without them being deleted.
    pub not_deleted: Vec<Arc<Pod>>,
    /// When the earliest kept entry times out.
    pub recheck: Option<Timestamp>,
}

/// Prunes `recorded` (the budget's `disruptedPods`) against its selected `pods` at `now`.
pub fn prune(
    pods: &[Arc<Pod>],
    recorded: Option<&BTreeMap<String, Time>>,
    now: Timestamp,
) -> Disrupted {
    let mut out = Disrupted::default();
    let Some(recorded) = recorded else {
        return out;
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let Some(at) = recorded.get(name) else {
            continue;
        };
        let expected_deletion = expires(at);
        if expected_deletion < now {
            out.not_deleted.push(pod.clone());
        } else {
            out.recheck = Some(
                out.recheck
                    .map_or(expected_deletion, |r| r.min(expected_deletion)),
            );
            out.pods.insert(name.to_string(), at.clone());
        }
    }
    out
}

/// Pods that are ready, not being deleted, and not expected to be deleted soon.
pub fn count_healthy(pods: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>, now: Timestamp) -> i32 {
    let healthy = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            disrupted.get(name).is_none_or(|at| expires(at) <= now)
        })
        .filter(|p| crate::pods::is_ready(p))
        .count();
    i32::try_from(healthy).unwrap_or(i32::MAX)
}

/// How many pods may be disrupted now. None while no pods are expected, so a budget whose
/// first pods appear before the controller has looked at them is safe.
pub fn disruptions_allowed(current_healthy: i32, counts: Counts) -> i32 {
    let allowed = current_healthy.saturating_sub(counts.desired_healthy);
    if counts.expected <= 0 || allowed <= 0 {
        0
    } else {
        allowed
    }
}

/// Seconds are all a `Time` keeps; conditions compare equal after a round trip.
fn whole_seconds(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// Sets `new` among `conditions` as upstream's `SetStatusCondition`: an existing condition of
/// its type keeps its transition time unless its status changes.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        None => conditions.push(new),
        Some(existing) => {
            if existing.status != new.status {
                existing.status = std::mem::take(&mut new.status);
                existing.last_transition_time = new.last_transition_time;
            }
            existing.reason = new.reason;
            existing.message = new.message;
            existing.observed_generation = new.observed_generation;
        }
    }
}

/// The `DisruptionAllowed` condition for `allowed` disruptions.
fn allowed_condition(allowed: i32, generation: Option<i64>, now: Timestamp) -> Condition {
    let (status, reason) = if allowed > 0 {
        ("True", SUFFICIENT_PODS)
    } else {
        ("False", INSUFFICIENT_PODS)
    };
    Condition {
        type_: DISRUPTION_ALLOWED.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: String::new(),
        observed_generation: generation,
        last_transition_time: whole_seconds(now),
    }
}

/// Whether the budget's `DisruptionAllowed` condition already says what its
/// `disruptionsAllowed` does, for its current generation.
fn conditions_up_to_date(pdb: &PodDisruptionBudget) -> bool {
    let status = pdb.status.as_ref();
    let Some(cond) = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == DISRUPTION_ALLOWED))
    else {
        return false;
    };
    if status.and_then(|s| s.observed_generation) != pdb.metadata.generation {
        return false;
    }
    if status.is_some_and(|s| s.disruptions_allowed > 0) {
        cond.status == "True" && cond.reason == SUFFICIENT_PODS
    } else {
        cond.status == "False" && cond.reason == INSUFFICIENT_PODS
    }
}

/// The status to write, or `None` when the budget's says all of it already (an empty and a
/// missing `disruptedPods` are the same).
pub fn desired(
    pdb: &PodDisruptionBudget,
    current_healthy: i32,
    counts: Counts,
    disrupted: BTreeMap<String, Time>,
    now: Timestamp,
) -> Option<PodDisruptionBudgetStatus> {
    let allowed = disruptions_allowed(current_healthy, counts);
    let old = pdb.status.clone().unwrap_or_default();
    let recorded = old.disrupted_pods.clone().unwrap_or_default();
    if old.current_healthy == current_healthy
        && old.desired_healthy == counts.desired_healthy
        && old.expected_pods == counts.expected
        && old.disruptions_allowed == allowed
        && recorded == disrupted
        && old.observed_generation == pdb.metadata.generation
        && conditions_up_to_date(pdb)
    {
        return None;
    }
    let mut conditions = old.conditions.unwrap_or_default();
    set_condition(
        &mut conditions,
        allowed_condition(allowed, pdb.metadata.generation, now),
    );
    Some(PodDisruptionBudgetStatus {
        current_healthy,
        desired_healthy: counts.desired_healthy,
        expected_pods: counts.expected,
        disruptions_allowed: allowed,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: pdb.metadata.generation,
        conditions: Some(conditions),
    })
}

/// What a budget says when its sync failed: no disruptions allowed, and a `SyncFailed`
/// condition with the error, the rest as it was. This is how the eviction API is kept from
/// approving an eviction the controller could not vouch for.
pub fn fail_safe(
    pdb: &PodDisruptionBudget,
    message: String,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut status = pdb.status.clone().unwrap_or_default();
    status.disruptions_allowed = 0;
    let mut conditions = status.conditions.take().unwrap_or_default();
    set_condition(
        &mut conditions,
        Condition {
            type_: DISRUPTION_ALLOWED.to_string(),
            status: "False".to_string(),
            reason: SYNC_FAILED.to_string(),
            message,
            observed_generation: status.observed_generation,
            last_transition_time: whole_seconds(now),
        },
    );
    status.conditions = Some(conditions);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::tests::pod_with;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn pod(name: &str, ready: bool, deleting: bool) -> Arc<Pod> {
        let mut p = pod_with("Running", ready.then(|| at(1)));
        p.metadata.name = Some(name.to_string());
        if deleting {
            p.metadata.deletion_timestamp = Some(Time(at(5)));
        }
        Arc::new(p)
    }

    #[test]
    fn disrupted_pods_are_pruned_and_the_earliest_timeout_rechecked() {
        let pods = vec![
            pod("fresh", true, false),
            pod("older", true, false),
            pod("expired", true, false),
            pod("leaving", true, true),
        ];
        let recorded = BTreeMap::from([
            ("fresh".to_string(), Time(at(1000))),
            ("older".to_string(), Time(at(950))),
            ("expired".to_string(), Time(at(800))),
            ("leaving".to_string(), Time(at(1000))),
            ("gone".to_string(), Time(at(1000))),
        ]);
        let now = at(1010);
        let d = prune(&pods, Some(&recorded), now);
        assert_eq!(
            d.pods.keys().collect::<Vec<_>>(),
            vec!["fresh", "older"],
            "gone, deleted and timed-out pods leave the map"
        );
        assert_eq!(d.recheck, Some(at(950 + 120)));
        assert_eq!(d.not_deleted.len(), 1);
        assert_eq!(d.not_deleted[0].metadata.name.as_deref(), Some("expired"));
        // Exactly at the timeout an entry is still kept, as upstream.
        assert_eq!(prune(&pods, Some(&recorded), at(1070)).pods.len(), 2);
        assert_eq!(prune(&pods, None, now), Disrupted::default());

        // Disrupted and deleted pods are not healthy, nor are unready ones.
        let mut all = pods.clone();
        all.push(pod("unready", false, false));
        all.push(pod("plain", true, false));
        assert_eq!(count_healthy(&all, &d.pods, now), 2);
    }

    #[test]
    fn disruptions_allowed_never_go_negative_and_need_expected_pods() {
        let c = |expected, desired_healthy| Counts {
            expected,
            desired_healthy,
        };
        assert_eq!(disruptions_allowed(3, c(3, 2)), 1);
        assert_eq!(disruptions_allowed(1, c(3, 2)), 0);
        assert_eq!(disruptions_allowed(3, c(0, 0)), 0);
        assert_eq!(disruptions_allowed(5, c(5, 0)), 5);
    }

    fn pdb(generation: i64, status: Option<PodDisruptionBudgetStatus>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: ObjectMeta {
                generation: Some(generation),
                ..Default::default()
            },
            spec: None,
            status,
        }
    }

    #[test]
    fn status_is_written_only_when_it_changes() {
        let now = at(2000);
        let counts = Counts {
            expected: 3,
            desired_healthy: 2,
        };
        let first = desired(&pdb(1, None), 3, counts, BTreeMap::new(), now).unwrap();
        assert_eq!(first.disruptions_allowed, 1);
        assert_eq!(first.observed_generation, Some(1));
        assert_eq!(first.disrupted_pods, None);
        let cond = &first.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (
                cond.type_.as_str(),
                cond.status.as_str(),
                cond.reason.as_str()
            ),
            ("DisruptionAllowed", "True", "SufficientPods")
        );
        assert_eq!(cond.observed_generation, Some(1));
        assert_eq!(cond.last_transition_time, Time(now));
        // The same again: nothing to write, also with an empty map written by someone else.
        let mut same = first.clone();
        same.disrupted_pods = Some(BTreeMap::new());
        assert_eq!(
            desired(&pdb(1, Some(same)), 3, counts, BTreeMap::new(), at(3000)),
            None
        );
        // A new generation is observed even when the counts hold.
        let bumped = desired(
            &pdb(2, Some(first.clone())),
            3,
            counts,
            BTreeMap::new(),
            at(3000),
        )
        .unwrap();
        assert_eq!(bumped.observed_generation, Some(2));
        let cond = &bumped.conditions.as_ref().unwrap()[0];
        assert_eq!(cond.observed_generation, Some(2));
        assert_eq!(cond.last_transition_time, Time(now), "status unchanged");
        // Too few healthy pods: the condition flips, with a new transition time.
        let short = desired(&pdb(1, Some(first)), 2, counts, BTreeMap::new(), at(3000)).unwrap();
        assert_eq!(short.disruptions_allowed, 0);
        let cond = &short.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (cond.status.as_str(), cond.reason.as_str()),
            ("False", "InsufficientPods")
        );
        assert_eq!(cond.last_transition_time, Time(at(3000)));
    }

    #[test]
    fn a_failed_sync_allows_no_disruptions() {
        let counts = Counts {
            expected: 3,
            desired_healthy: 1,
        };
        let ok = desired(&pdb(4, None), 3, counts, BTreeMap::new(), at(10)).unwrap();
        let failed = fail_safe(
            &pdb(5, Some(ok.clone())),
            "found no controllers for pod \"p\"".to_string(),
            at(20),
        );
        assert_eq!(failed.disruptions_allowed, 0);
        assert_eq!(failed.current_healthy, 3, "the rest is kept");
        assert_eq!(failed.observed_generation, Some(4), "not observed");
        let cond = &failed.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (
                cond.status.as_str(),
                cond.reason.as_str(),
                cond.message.as_str()
            ),
            ("False", "SyncFailed", "found no controllers for pod \"p\"")
        );
        assert_eq!(cond.last_transition_time, Time(at(20)));
        // A later successful sync clears the failure even if the numbers are the same.
        let recovered = pdb(4, Some(failed));
        let again = desired(&recovered, 3, counts, BTreeMap::new(), at(30)).unwrap();
        let cond = &again.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (
                cond.status.as_str(),
                cond.reason.as_str(),
                cond.message.as_str()
            ),
            ("True", "SufficientPods", "")
        );
    }
}
