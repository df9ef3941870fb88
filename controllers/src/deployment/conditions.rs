//! The conditions a Deployment reports (upstream `deployment_util.go`): `Progressing` with the
//! reasons below, `Available`, and `ReplicaFailure` copied from its ReplicaSets. Setting a
//! condition with the same status and reason changes nothing; with the same status only, the
//! transition time is kept.

use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MINIMUM_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// A condition of `type_` becoming true now.
pub fn new(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    let now = Time(Timestamp::now());
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// Upstream `SetDeploymentCondition`: replaces the condition of the same type, at the end.
pub fn set(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, &condition.type_.clone());
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
}

pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_status_and_reason_changes_nothing_and_same_status_keeps_the_transition() {
        let mut status = DeploymentStatus::default();
        let mut first = new(PROGRESSING, "True", NEW_RS_CREATED, "a".to_string());
        first.last_transition_time = Some(Time(Timestamp::UNIX_EPOCH));
        set(&mut status, first.clone());
        set(
            &mut status,
            new(AVAILABLE, "True", MINIMUM_AVAILABLE, "b".to_string()),
        );
        set(
            &mut status,
            new(PROGRESSING, "True", NEW_RS_CREATED, "other".to_string()),
        );
        assert_eq!(get(&status, PROGRESSING), Some(&first));
        set(
            &mut status,
            new(PROGRESSING, "True", RS_UPDATED, "c".to_string()),
        );
        let now = get(&status, PROGRESSING).unwrap();
        assert_eq!(now.reason.as_deref(), Some(RS_UPDATED));
        assert_eq!(now.last_transition_time, first.last_transition_time);
        // Replaced conditions move to the end.
        assert_eq!(status.conditions.as_ref().unwrap()[1].type_, PROGRESSING);
        remove(&mut status, PROGRESSING);
        remove(&mut status, AVAILABLE);
        assert_eq!(status.conditions, None);
    }
}
