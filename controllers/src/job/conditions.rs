//! The conditions of a Job's status: adding or flipping one as upstream does (a condition of
//! the same type with the same status is left as it is), and the finished conditions that end
//! a Job.

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const SUSPENDED: &str = "Suspended";

/// A finished condition to reach: type, reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub type_: &'static str,
    pub reason: String,
    pub message: String,
}

/// The condition of `type_` when its status is `True`.
pub fn true_condition<'a>(status: Option<&'a JobStatus>, type_: &str) -> Option<&'a JobCondition> {
    status?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Whether the Job has finished: Complete or Failed.
pub fn is_finished(job: &Job) -> bool {
    let status = job.status.as_ref();
    true_condition(status, COMPLETE).is_some() || true_condition(status, FAILED).is_some()
}

/// Sets a condition; returns whether anything changed. A condition already there with the same
/// status keeps its times, reason and message.
pub fn set(
    status: &mut JobStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status == value {
            return false;
        }
        c.status = value.to_string();
        c.reason = Some(reason.to_string());
        c.message = Some(message.to_string());
        c.last_probe_time = Some(Time(now));
        c.last_transition_time = Some(Time(now));
        return true;
    }
    conditions.push(JobCondition {
        type_: type_.to_string(),
        status: value.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_is_added_once_and_flipped_with_new_times() {
        let mut s = JobStatus::default();
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = Timestamp::from_second(60).unwrap();
        assert!(set(
            &mut s,
            SUSPENDED,
            "True",
            "JobSuspended",
            "Job suspended",
            t0
        ));
        assert!(!set(&mut s, SUSPENDED, "True", "JobSuspended", "other", t1));
        assert!(true_condition(Some(&s), SUSPENDED).is_some());
        assert!(set(
            &mut s,
            SUSPENDED,
            "False",
            "JobResumed",
            "Job resumed",
            t1
        ));
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some("JobResumed"))
        );
        assert_eq!(c.last_transition_time, Some(Time(t1)));
        assert!(true_condition(Some(&s), SUSPENDED).is_none());
    }
}
