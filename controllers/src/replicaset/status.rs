//! A ReplicaSet's status from its pods (upstream `calculateStatus` and
//! `updateReplicaSetStatus`): counts of owned active pods, fully labeled, ready and available
//! ones, `observedGeneration`, and the `ReplicaFailure` condition while creating or deleting
//! pods fails. The status is written only when it changed.

use super::kind::Replicated;
use crate::pods;
use crate::selector;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use std::sync::Arc;

/// The condition type set while pods cannot be created or deleted.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Why managing replicas failed, for the `ReplicaFailure` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Create,
    Delete,
}

impl Failure {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Create => "FailedCreate",
            Self::Delete => "FailedDelete",
        }
    }
}

/// The status `rs` should have with `owned` (its claimed, active pods), given how managing
/// replicas went (`failure`: what failed and the error's message).
pub fn calculate(
    rs: &ReplicaSet,
    owned: &[Arc<Pod>],
    failure: Option<(Failure, &str)>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone());
    let template_selector = LabelSelector {
        match_labels: template_labels,
        match_expressions: None,
    };
    let mut status = rs.status.clone().unwrap_or_default();
    status.replicas = count(owned.len());
    status.fully_labeled_replicas = Some(count(
        owned
            .iter()
            .filter(|p| selector::matches(Some(&template_selector), p.metadata.labels.as_ref()))
            .count(),
    ));
    let ready: Vec<&Arc<Pod>> = owned.iter().filter(|p| pods::is_ready(p)).collect();
    status.ready_replicas = Some(count(ready.len()));
    status.available_replicas = Some(count(
        ready
            .iter()
            .filter(|p| pods::is_available(p, min_ready, now))
            .count(),
    ));
    let mut conditions = status.conditions.take().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    match failure {
        Some((what, message)) if !has_failure => conditions.push(ReplicaSetCondition {
            type_: REPLICA_FAILURE.to_string(),
            status: "True".to_string(),
            reason: Some(what.reason().to_string()),
            message: Some(message.to_string()),
            last_transition_time: Some(Time(now)),
        }),
        None if has_failure => conditions.retain(|c| c.type_ != REPLICA_FAILURE),
        _ => {}
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    // `0` reads as absent in upstream's JSON (omitempty); keep the wire form the same.
    for field in [
        &mut status.fully_labeled_replicas,
        &mut status.ready_replicas,
        &mut status.available_replicas,
    ] {
        if *field == Some(0) {
            *field = None;
        }
    }
    status.observed_generation = rs.metadata.generation;
    status
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// When a pod of `rs` that is ready but not yet available becomes available, if one will:
/// the controller looks again then.
pub fn next_availability(rs: &ReplicaSet, owned: &[Arc<Pod>], now: Timestamp) -> Option<Timestamp> {
    let min_ready = rs.spec.as_ref()?.min_ready_seconds.unwrap_or(0);
    if min_ready <= 0 {
        return None;
    }
    owned
        .iter()
        .filter(|p| pods::is_ready(p) && !pods::is_available(p, min_ready, now))
        .filter_map(|p| pods::available_at(p, min_ready))
        .min()
}

/// Writes `status` unless `rs` (the view of `owner`) already has it. On a conflict the object is
/// read again and the write tried once more (upstream's `statusUpdateRetries`).
pub async fn update<K: Replicated>(
    api: &Api<K>,
    owner: &K,
    rs: &ReplicaSet,
    status: ReplicaSetStatus,
) -> Result<(), kube::Error> {
    if rs.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let name = rs.metadata.name.clone().unwrap_or_default();
    let mut current = owner.with_status(status.clone());
    let mut attempt = 0;
    loop {
        match api
            .replace_status(&name, &PostParams::default(), &current)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if attempt == 0 && crate::client::is_conflict(&e) => {
                attempt += 1;
                current = api.get(&name).await?.with_status(status.clone());
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::tests::pod_with;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn rs(min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                generation: Some(3),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(3),
                min_ready_seconds: Some(min_ready),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(BTreeMap::from([
                            ("app".to_string(), "web".to_string()),
                            ("tier".to_string(), "front".to_string()),
                        ])),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn labeled(mut p: Pod, labels: &[(&str, &str)]) -> Arc<Pod> {
        p.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        Arc::new(p)
    }

    #[test]
    fn counts_labeled_ready_and_available_pods() {
        let now = Timestamp::from_second(1000).unwrap();
        let owned = vec![
            labeled(
                pod_with("Running", Some(Timestamp::from_second(900).unwrap())),
                &[("app", "web"), ("tier", "front")],
            ),
            labeled(
                pod_with("Running", Some(Timestamp::from_second(995).unwrap())),
                &[("app", "web"), ("tier", "front")],
            ),
            labeled(pod_with("Pending", None), &[("app", "web")]),
        ];
        let status = calculate(&rs(10), &owned, None, now);
        assert_eq!(status.replicas, 3);
        assert_eq!(status.fully_labeled_replicas, Some(2));
        assert_eq!(status.ready_replicas, Some(2));
        assert_eq!(status.available_replicas, Some(1));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.conditions, None);
        assert_eq!(
            next_availability(&rs(10), &owned, now),
            Some(Timestamp::from_second(1005).unwrap())
        );
        assert_eq!(next_availability(&rs(0), &owned, now), None);
    }

    #[test]
    fn replica_failure_is_set_once_and_cleared_on_success() {
        let now = Timestamp::from_second(1000).unwrap();
        let mut set = rs(0);
        let status = calculate(
            &set,
            &[],
            Some((Failure::Create, "pods \"x\" is forbidden: exceeded quota")),
            now,
        );
        let cond = &status.conditions.as_ref().unwrap()[0];
        assert_eq!(cond.type_, "ReplicaFailure");
        assert_eq!(cond.reason.as_deref(), Some("FailedCreate"));
        assert_eq!(status.replicas, 0);
        assert_eq!(status.ready_replicas, None);
        set.status = Some(status.clone());
        // A second failure keeps the first condition (and its time).
        let again = calculate(&set, &[], Some((Failure::Create, "other")), now);
        assert_eq!(again.conditions, status.conditions);
        let cleared = calculate(&set, &[], None, now);
        assert_eq!(cleared.conditions, None);
    }
}
