//! Stale `DisruptionTarget` conditions (upstream's stale pod disruption worker). Whoever
//! disrupts a pod (the eviction API, preemption, the taint manager) first sets its
//! `DisruptionTarget` condition to True and then deletes it. If the deletion never comes, the
//! condition would claim a disruption that is not happening; after [`STALE_TIMEOUT`] this
//! controller sets it back to False. Conditions the kubelet set are left alone (the pod may take
//! any time to terminate), as are those of finished pods.

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

/// How long a `DisruptionTarget` condition may stand without the pod being deleted
/// (upstream `stalePodDisruptionTimeout`).
pub const STALE_TIMEOUT: Duration = Duration::from_secs(120);

/// The pod condition disruptions announce themselves with.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";

/// The reason of the condition when the kubelet set it (upstream
/// `PodReasonTerminationByKubelet`).
const TERMINATION_BY_KUBELET: &str = "TerminationByKubelet";

fn disruption_target(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == DISRUPTION_TARGET)
}

/// If the pod carries a `DisruptionTarget` condition that can go stale, how long until it is
/// (zero when it already is).
pub fn stale_in(pod: &Pod, now: Timestamp) -> Option<Duration> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let cond = disruption_target(pod)?;
    let terminal = matches!(crate::pods::phase(pod), "Succeeded" | "Failed");
    if cond.status != "True" || cond.reason.as_deref() == Some(TERMINATION_BY_KUBELET) || terminal {
        return None;
    }
    // A condition without a transition time is as old as can be.
    let since = cond
        .last_transition_time
        .as_ref()
        .map_or(Timestamp::MIN, |t| t.0);
    let age = Duration::try_from(now.duration_since(since)).unwrap_or_default();
    Some(STALE_TIMEOUT.saturating_sub(age))
}

/// The pod with its `DisruptionTarget` condition replaced by a False one (upstream
/// `UpdatePodCondition`: reason and message cleared, transition time now).
pub fn reset(pod: &Pod, now: Timestamp) -> Pod {
    let mut pod = pod.clone();
    let status = pod.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let reset = PodCondition {
        type_: DISRUPTION_TARGET.to_string(),
        status: "False".to_string(),
        last_transition_time: Some(Time(Timestamp::from_second(now.as_second()).unwrap_or(now))),
        ..Default::default()
    };
    match conditions.iter_mut().find(|c| c.type_ == DISRUPTION_TARGET) {
        Some(c) => *c = reset,
        None => conditions.push(reset),
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::tests::pod_with;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn disrupted(phase: &str, status: &str, reason: &str, since: i64) -> Pod {
        let mut p = pod_with(phase, Some(at(1)));
        p.status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()
            .push(PodCondition {
                type_: DISRUPTION_TARGET.to_string(),
                status: status.to_string(),
                reason: Some(reason.to_string()),
                message: Some("Eviction API: evicting".to_string()),
                last_transition_time: Some(Time(at(since))),
                ..Default::default()
            });
        p
    }

    #[test]
    fn conditions_go_stale_two_minutes_after_they_were_set() {
        let now = at(1000);
        let evicted = disrupted("Running", "True", "EvictionByEvictionAPI", 970);
        assert_eq!(stale_in(&evicted, now), Some(Duration::from_secs(90)));
        let old = disrupted("Pending", "True", "PreemptionByScheduler", 500);
        assert_eq!(stale_in(&old, now), Some(Duration::ZERO));
        // Left alone: the kubelet's, finished pods', False ones, pods being deleted.
        assert_eq!(
            stale_in(
                &disrupted("Running", "True", "TerminationByKubelet", 1),
                now
            ),
            None
        );
        assert_eq!(
            stale_in(
                &disrupted("Failed", "True", "EvictionByEvictionAPI", 1),
                now
            ),
            None
        );
        assert_eq!(
            stale_in(
                &disrupted("Running", "False", "EvictionByEvictionAPI", 1),
                now
            ),
            None
        );
        let mut leaving = old.clone();
        leaving.metadata.deletion_timestamp = Some(Time(at(999)));
        assert_eq!(stale_in(&leaving, now), None);
        assert_eq!(stale_in(&pod_with("Running", None), now), None);
    }

    #[test]
    fn reset_replaces_the_condition_with_a_false_one() {
        let now = at(2000);
        let pod = reset(
            &disrupted("Running", "True", "EvictionByEvictionAPI", 1),
            now,
        );
        let conditions = pod.status.unwrap().conditions.unwrap();
        assert_eq!(conditions.len(), 2, "the Ready condition stays");
        let c = conditions
            .iter()
            .find(|c| c.type_ == DISRUPTION_TARGET)
            .unwrap();
        assert_eq!(c.status, "False");
        assert_eq!(c.reason, None);
        assert_eq!(c.message, None);
        assert_eq!(c.last_transition_time, Some(Time(now)));
    }
}
