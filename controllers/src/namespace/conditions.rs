//! The status conditions the namespace deleter keeps on a terminating namespace (upstream's
//! `status_condition_utils.go`): each of the five types is `True` with what went wrong, or
//! `False` with upstream's "all is well" reason and message.

use super::cluster::Gvr;
use k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const GROUP_VERSION_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// The condition types this controller owns, in the order upstream adds them.
const TYPES: [&str; 5] = [
    DISCOVERY_FAILURE,
    GROUP_VERSION_PARSING_FAILURE,
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
];

/// The `False` variant of each type: (reason, message).
fn ok_variant(kind: &str) -> (&'static str, &'static str) {
    match kind {
        DISCOVERY_FAILURE => (
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        GROUP_VERSION_PARSING_FAILURE => (
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        CONTENT_FAILURE => (
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        _ => ("ContentRemoved", "All content successfully removed"),
    }
}

/// What is left in a namespace after one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remaining {
    /// How many objects of each resource remain.
    pub by_resource: BTreeMap<Gvr, usize>,
    /// How many remaining objects each finalizer holds.
    pub by_finalizer: BTreeMap<String, usize>,
}

/// Collects what went wrong during one pass, then folds it into a namespace's status.
#[derive(Debug, Default)]
pub struct Updater {
    failures: Vec<(String, &'static str, String)>,
    content_errors: Vec<String>,
}

impl Updater {
    /// Discovery failed (wholly, or for some groups).
    pub fn discovery_failed(&mut self, message: String) {
        self.failures
            .push((DISCOVERY_FAILURE.to_string(), "DiscoveryFailed", message));
    }

    /// A discovered group/version could not be parsed.
    pub fn group_version_failed(&mut self, message: String) {
        self.failures.push((
            GROUP_VERSION_PARSING_FAILURE.to_string(),
            "GroupVersionParsingFailed",
            message,
        ));
    }

    /// Deleting the objects of one resource failed.
    pub fn delete_content_failed(&mut self, message: String) {
        self.content_errors.push(message);
    }

    /// What remains after the pass.
    pub fn content_totals(&mut self, remaining: &Remaining) {
        let mut resources: Vec<String> = remaining
            .by_resource
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(gvr, n)| format!("{}.{} has {n} resource instances", gvr.resource, gvr.group))
            .collect();
        if !remaining.by_resource.is_empty() {
            resources.sort();
            self.failures.push((
                CONTENT_REMAINING.to_string(),
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", resources.join(", ")),
            ));
        }
        let mut finalizers: Vec<String> = remaining
            .by_finalizer
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        if !remaining.by_finalizer.is_empty() {
            finalizers.sort();
            self.failures.push((
                FINALIZERS_REMAINING.to_string(),
                "SomeFinalizerRemain",
                format!("Some finalizers are remaining: {}", finalizers.join(", ")),
            ));
        }
    }

    /// Sets every owned condition on `status` (failures as `True`, the rest as `False`),
    /// touching `lastTransitionTime` only when a condition's status flips. Returns whether
    /// anything changed.
    pub fn update(mut self, status: &mut NamespaceStatus, now: &Time) -> bool {
        if !self.content_errors.is_empty()
            && !self.failures.iter().any(|(t, _, _)| t == CONTENT_FAILURE)
        {
            let mut msgs = std::mem::take(&mut self.content_errors);
            msgs.sort();
            self.failures.push((
                CONTENT_FAILURE.to_string(),
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    msgs.len(),
                    msgs.join(", ")
                ),
            ));
        }
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let mut changed = false;
        for kind in TYPES {
            let (state, reason, message) = match self.failures.iter().find(|(t, _, _)| t == kind) {
                Some((_, reason, message)) => ("True", *reason, message.clone()),
                None => {
                    let (reason, message) = ok_variant(kind);
                    ("False", reason, message.to_string())
                }
            };
            match conditions.iter_mut().find(|c| c.type_ == kind) {
                None => {
                    conditions.push(NamespaceCondition {
                        type_: kind.to_string(),
                        status: state.to_string(),
                        last_transition_time: Some(now.clone()),
                        reason: Some(reason.to_string()),
                        message: Some(message),
                    });
                    changed = true;
                }
                Some(old) => {
                    let same = old.status == state
                        && old.reason.as_deref() == Some(reason)
                        && old.message.as_deref() == Some(message.as_str());
                    if !same {
                        if old.status != state {
                            old.last_transition_time = Some(now.clone());
                        }
                        old.status = state.to_string();
                        old.reason = Some(reason.to_string());
                        old.message = Some(message);
                        changed = true;
                    }
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn find<'a>(status: &'a NamespaceStatus, kind: &str) -> &'a NamespaceCondition {
        status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == kind)
            .unwrap()
    }

    #[test]
    fn a_clean_pass_sets_every_condition_false() {
        let mut status = NamespaceStatus::default();
        assert!(Updater::default().update(&mut status, &at(1)));
        let conditions = status.conditions.as_ref().unwrap();
        assert_eq!(
            conditions
                .iter()
                .map(|c| c.type_.as_str())
                .collect::<Vec<_>>(),
            TYPES.to_vec()
        );
        assert!(conditions.iter().all(|c| c.status == "False"));
        let c = find(&status, CONTENT_FAILURE);
        assert_eq!(c.reason.as_deref(), Some("ContentDeleted"));
        assert_eq!(
            c.message.as_deref(),
            Some("All content successfully deleted, may be waiting on finalization")
        );
        // The same pass again changes nothing.
        assert!(!Updater::default().update(&mut status, &at(2)));
    }

    #[test]
    fn remaining_content_is_listed_by_resource_and_finalizer() {
        let mut u = Updater::default();
        let mut remaining = Remaining::default();
        remaining.by_resource.insert(Gvr::new("", "v1", "pods"), 2);
        remaining
            .by_resource
            .insert(Gvr::new("apps", "v1", "deployments"), 1);
        remaining
            .by_finalizer
            .insert("example.com/hold".to_string(), 3);
        u.content_totals(&remaining);
        let mut status = NamespaceStatus::default();
        u.update(&mut status, &at(1));
        let c = find(&status, CONTENT_REMAINING);
        assert_eq!(c.status, "True");
        assert_eq!(c.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            c.message.as_deref(),
            Some(
                "Some resources are remaining: deployments.apps has 1 resource instances, pods. \
                 has 2 resource instances"
            )
        );
        let f = find(&status, FINALIZERS_REMAINING);
        assert_eq!(f.reason.as_deref(), Some("SomeFinalizerRemain"));
        assert_eq!(
            f.message.as_deref(),
            Some("Some finalizers are remaining: example.com/hold in 3 resource instances")
        );
    }

    #[test]
    fn content_errors_are_aggregated_sorted() {
        let mut u = Updater::default();
        u.delete_content_failed("b failed".to_string());
        u.delete_content_failed("a failed".to_string());
        let mut status = NamespaceStatus::default();
        u.update(&mut status, &at(1));
        let c = find(&status, CONTENT_FAILURE);
        assert_eq!(c.status, "True");
        assert_eq!(c.reason.as_deref(), Some("ContentDeletionFailed"));
        assert_eq!(
            c.message.as_deref(),
            Some("Failed to delete all resource types, 2 remaining: a failed, b failed")
        );
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut status = NamespaceStatus::default();
        let mut u = Updater::default();
        u.discovery_failed("boom".to_string());
        u.update(&mut status, &at(1));
        assert_eq!(find(&status, DISCOVERY_FAILURE).status, "True");

        // Same status, new message: the time stays.
        let mut u = Updater::default();
        u.discovery_failed("bang".to_string());
        assert!(u.update(&mut status, &at(2)));
        let c = find(&status, DISCOVERY_FAILURE);
        assert_eq!(c.message.as_deref(), Some("bang"));
        assert_eq!(c.last_transition_time, Some(at(1)));

        // Flipped: the time moves.
        assert!(Updater::default().update(&mut status, &at(3)));
        let c = find(&status, DISCOVERY_FAILURE);
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some("ResourcesDiscovered"));
        assert_eq!(c.last_transition_time, Some(at(3)));
        // Untouched types keep their time.
        assert_eq!(
            find(&status, CONTENT_REMAINING).last_transition_time,
            Some(at(1))
        );
    }
}
