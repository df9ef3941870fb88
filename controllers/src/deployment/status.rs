//! A Deployment's status from its ReplicaSets (upstream `calculateStatus`,
//! `syncDeploymentStatus`, `syncRolloutStatus` and the progress checks of `progress.go` and
//! `deployment_util.go`): counts, `Available`, `Progressing` with its deadline, and
//! `ReplicaFailure` copied from the ReplicaSets.

use super::conditions::{
    self, AVAILABLE, MINIMUM_AVAILABLE, MINIMUM_UNAVAILABLE, NEW_RS_AVAILABLE, PROGRESSING,
    REPLICA_FAILURE, RS_UPDATED, TIMED_OUT,
};
use super::fenceposts::{max_unavailable, replicas};
use super::replicasets::{has_progress_deadline, total_available, total_spec};
use super::{Error, Syncer};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// The status `d` should report for `all` its ReplicaSets, `new` among them.
pub fn calculate(d: &Deployment, all: &[ReplicaSet], new: Option<&ReplicaSet>) -> DeploymentStatus {
    let available = total_available(all);
    let spec_total = total_spec(all);
    let sum = |f: fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> Option<i32>| -> i32 {
        all.iter()
            .filter_map(|rs| rs.status.as_ref())
            .map(|s| count(f(s)))
            .sum()
    };
    let current = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nonzero(sum(|s| Some(s.replicas))),
        updated_replicas: nonzero(
            new.and_then(|rs| rs.status.as_ref())
                .map_or(0, |s| s.replicas),
        ),
        ready_replicas: nonzero(sum(|s| s.ready_replicas)),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero((spec_total - available).max(0)),
        collision_count: current.collision_count,
        conditions: current.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        conditions::set(
            &mut status,
            conditions::new(
                AVAILABLE,
                "True",
                MINIMUM_AVAILABLE,
                "Deployment has minimum availability.".to_string(),
            ),
        );
    } else {
        conditions::set(
            &mut status,
            conditions::new(
                AVAILABLE,
                "False",
                MINIMUM_UNAVAILABLE,
                "Deployment does not have minimum availability.".to_string(),
            ),
        );
    }
    status
}

/// Upstream `DeploymentComplete`: every replica updated and available, the spec observed.
pub fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    count(status.updated_replicas) == want
        && count(status.replicas) == want
        && count(status.available_replicas) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Upstream `DeploymentProgressing`: more updated, ready or available pods, or fewer old ones,
/// than the current status shows.
pub fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

fn deadline(d: &Deployment) -> SignedDuration {
    SignedDuration::from_secs(i64::from(
        d.spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(600),
    ))
}

fn last_update(c: &DeploymentCondition) -> Option<Timestamp> {
    c.last_update_time.as_ref().map(|t| t.0)
}

/// Upstream `DeploymentTimedOut`, judged on the status about to be written.
pub fn timed_out(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = conditions::get(new, PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => last_update(c)
            .and_then(|t| t.checked_add(deadline(d)).ok())
            .is_some_and(|at| at < now),
    }
}

/// The `ReplicaFailure` to report: the new ReplicaSet's, else an old one's.
fn replica_failure(all: &[ReplicaSet], new: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure_of = |rs: &ReplicaSet| {
        rs.status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == REPLICA_FAILURE)
            .map(|c| DeploymentCondition {
                type_: REPLICA_FAILURE.to_string(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            })
    };
    new.and_then(failure_of)
        .or_else(|| all.iter().find_map(failure_of))
}

fn subject(new: Option<&ReplicaSet>, d: &Deployment) -> String {
    match new {
        Some(rs) => format!(
            "ReplicaSet {:?}",
            rs.metadata.name.as_deref().unwrap_or_default()
        ),
        None => format!(
            "Deployment {:?}",
            d.metadata.name.as_deref().unwrap_or_default()
        ),
    }
}

impl Syncer<'_> {
    /// Upstream `syncDeploymentStatus`: writes the calculated status if it differs.
    pub async fn sync_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<(), Error> {
        let status = calculate(&self.d, all, new);
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        self.write_status(status).await
    }

    /// Upstream `syncRolloutStatus`: the status with the rollout's progress.
    pub async fn sync_rollout_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<(), Error> {
        let now = Timestamp::now();
        let mut status = calculate(&self.d, all, new);
        let deadline_set = has_progress_deadline(&self.d);
        if !deadline_set {
            conditions::remove(&mut status, PROGRESSING);
        }
        let current = self
            .d
            .status
            .as_ref()
            .and_then(|s| conditions::get(s, PROGRESSING))
            .cloned();
        let is_complete = count(status.replicas) == count(status.updated_replicas)
            && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
        if deadline_set && !is_complete {
            let subject = subject(new, &self.d);
            if complete(&self.d, &status) {
                conditions::set(
                    &mut status,
                    conditions::new(
                        PROGRESSING,
                        "True",
                        NEW_RS_AVAILABLE,
                        format!("{subject} has successfully progressed."),
                    ),
                );
            } else if progressing(&self.d, &status) {
                let mut condition = conditions::new(
                    PROGRESSING,
                    "True",
                    RS_UPDATED,
                    format!("{subject} is progressing."),
                );
                if let Some(current) = &current {
                    if current.status == "True" {
                        condition.last_transition_time = current.last_transition_time.clone();
                    }
                    conditions::remove(&mut status, PROGRESSING);
                }
                conditions::set(&mut status, condition);
            } else if timed_out(&self.d, &status, now) {
                conditions::set(
                    &mut status,
                    conditions::new(
                        PROGRESSING,
                        "False",
                        TIMED_OUT,
                        format!("{subject} has timed out progressing."),
                    ),
                );
            }
        }
        match replica_failure(all, new) {
            Some(failure) => conditions::set(&mut status, failure),
            None => conditions::remove(&mut status, REPLICA_FAILURE),
        }
        if self.d.status.as_ref() == Some(&status) {
            self.requeue_if_stuck(&status, now);
            return Ok(());
        }
        self.write_status(status).await
    }

    /// Upstream `requeueStuckDeployment`: look again when the progress deadline passes.
    fn requeue_if_stuck(&mut self, status: &DeploymentStatus, now: Timestamp) {
        let Some(current) = self
            .d
            .status
            .as_ref()
            .and_then(|s| conditions::get(s, PROGRESSING))
        else {
            return;
        };
        if !has_progress_deadline(&self.d)
            || complete(&self.d, status)
            || current.reason.as_deref() == Some(TIMED_OUT)
        {
            return;
        }
        let Some(at) = last_update(current).and_then(|t| t.checked_add(deadline(&self.d)).ok())
        else {
            return;
        };
        let after = Duration::try_from(at.duration_since(now)).unwrap_or_default();
        let after = if after < Duration::from_secs(1) {
            Duration::from_millis(100)
        } else {
            after + Duration::from_secs(1)
        };
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn d(replicas: i32) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".to_string()),
                generation: Some(2),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                progress_deadline_seconds: Some(600),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn rs(spec: i32, replicas: i32, ready: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(spec),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                replicas,
                ready_replicas: Some(ready),
                available_replicas: Some(available),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn counts_and_availability() {
        let d = d(4);
        let new = rs(2, 2, 1, 1);
        let all = vec![rs(3, 3, 3, 3), new.clone()];
        let s = calculate(&d, &all, Some(&new));
        assert_eq!(s.replicas, Some(5));
        assert_eq!(s.updated_replicas, Some(2));
        assert_eq!(s.ready_replicas, Some(4));
        assert_eq!(s.available_replicas, Some(4));
        assert_eq!(s.unavailable_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(2));
        // 25% of 4 may be unavailable: 4 available is enough.
        let available = conditions::get(&s, AVAILABLE).unwrap();
        assert_eq!(available.reason.as_deref(), Some(MINIMUM_AVAILABLE));
        assert!(!complete(&d, &s));
        let none = calculate(&d, &[rs(4, 4, 0, 0)], None);
        assert_eq!(conditions::get(&none, AVAILABLE).unwrap().status, "False");
        assert_eq!(none.available_replicas, None);
        assert_eq!(none.updated_replicas, None);
    }

    #[test]
    fn progress_and_deadline() {
        let mut dep = d(2);
        dep.status = Some(DeploymentStatus {
            replicas: Some(2),
            updated_replicas: Some(1),
            ..Default::default()
        });
        let mut new = DeploymentStatus {
            replicas: Some(2),
            updated_replicas: Some(2),
            ..Default::default()
        };
        assert!(progressing(&dep, &new));
        new.updated_replicas = Some(1);
        assert!(!progressing(&dep, &new));

        let now = Timestamp::from_second(10_000).unwrap();
        let mut cond = conditions::new(PROGRESSING, "True", RS_UPDATED, "x".to_string());
        cond.last_update_time = Some(Time(Timestamp::from_second(10_000 - 601).unwrap()));
        new.conditions = Some(vec![cond.clone()]);
        assert!(timed_out(&dep, &new, now));
        cond.last_update_time = Some(Time(Timestamp::from_second(10_000 - 599).unwrap()));
        new.conditions = Some(vec![cond]);
        assert!(!timed_out(&dep, &new, now));
    }
}
