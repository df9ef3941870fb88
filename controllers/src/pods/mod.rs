//! What workload controllers ask of pods (upstream `pkg/controller/controller_utils.go` and
//! `pkg/api/v1/pod`): whether a pod still counts ([`is_active`]), is ready and since when, is
//! available after `minReadySeconds`; [`template`] builds pods from a pod template and
//! [`ranking`] orders pods for deletion on scale-down.

pub mod ranking;
pub mod template;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Whether a pod counts toward its controller's replicas: not finished and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    let phase = phase(pod);
    phase != "Succeeded" && phase != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's phase, empty when it has none yet.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// When the pod last became ready, if it is ready and the time is known.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now` (upstream's
/// `IsPodAvailable`: with a non-zero minimum, a ready pod without a transition time is not).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(pod).is_some_and(|since| {
        since
            .checked_add(SignedDuration::from_secs(i64::from(min_ready_seconds)))
            .is_ok_and(|at| at < now)
    })
}

/// When a ready pod that is not yet available becomes available, if it will.
pub fn available_at(pod: &Pod, min_ready_seconds: i32) -> Option<Timestamp> {
    ready_since(pod)?
        .checked_add(SignedDuration::from_secs(i64::from(min_ready_seconds)))
        .ok()
}

/// The uid of the pod's controller if it is an object of `kind` in `api_version`.
pub fn controller_of<'a>(pod: &'a Pod, api_version: &str, kind: &str) -> Option<&'a str> {
    controller_ref(pod)
        .filter(|r| r.kind == kind && r.api_version == api_version)
        .map(|r| r.uid.as_str())
}

/// The owner reference that marks the pod's controller.
pub fn controller_ref(
    pod: &Pod,
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    crate::ownership::controller_ref(&pod.metadata)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    pub(crate) fn pod_with(phase: &str, ready_at: Option<Timestamp>) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some(phase.to_string()),
                conditions: ready_at.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".to_string(),
                        status: "True".to_string(),
                        last_transition_time: Some(Time(t)),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn finished_and_deleted_pods_are_not_active() {
        assert!(is_active(&pod_with("Running", None)));
        assert!(is_active(&pod_with("", None)));
        assert!(!is_active(&pod_with("Succeeded", None)));
        assert!(!is_active(&pod_with("Failed", None)));
        let mut deleted = pod_with("Running", None);
        deleted.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(!is_active(&deleted));
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let now = Timestamp::from_second(1000).unwrap();
        let ready = pod_with("Running", Some(Timestamp::from_second(990).unwrap()));
        assert!(is_available(&ready, 0, now));
        assert!(is_available(&ready, 5, now));
        assert!(!is_available(&ready, 10, now));
        assert!(!is_available(&ready, 20, now));
        assert_eq!(
            available_at(&ready, 20),
            Some(Timestamp::from_second(1010).unwrap())
        );
        assert!(!is_available(&pod_with("Running", None), 0, now));
    }
}
