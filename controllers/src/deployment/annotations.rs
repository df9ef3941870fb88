//! The annotations a Deployment and its ReplicaSets carry (upstream `deployment_util.go`): the
//! revision of each ReplicaSet (what `kubectl rollout history` lists), the history of
//! revisions a ReplicaSet held before a rollback made it new again, the desired and maximum
//! replica counts it was scaled for (used for proportional scaling), and the Deployment's own
//! annotations copied onto its ReplicaSets (`kubernetes.io/change-cause` among them).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use std::collections::BTreeMap;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The pre-apps/v1 rollback request; never copied.
pub const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";

/// Upstream's limit on the revision history annotation.
const MAX_HISTORY_LEN: usize = 2000;

/// Annotations of a Deployment that are not copied onto its ReplicaSets.
const SKIPPED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    ROLLBACK_TO,
];

fn annotations_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<&BTreeMap<String, String>> {
    meta.annotations.as_ref()
}

/// The ReplicaSet's revision; missing counts as 0, anything unparsable as `None`.
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    match annotations_of(&rs.metadata).and_then(|a| a.get(REVISION)) {
        None => Some(0),
        Some(v) if v.is_empty() => Some(0),
        Some(v) => v.parse().ok(),
    }
}

/// The highest revision among `sets` (unparsable revisions are skipped).
pub fn max_revision<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    sets.into_iter().filter_map(revision).max().unwrap_or(0)
}

fn parse_replicas(rs: &ReplicaSet, key: &str) -> Option<i32> {
    let v: u32 = annotations_of(&rs.metadata)?.get(key)?.parse().ok()?;
    i32::try_from(v).ok()
}

/// The desired replicas the ReplicaSet was last scaled for.
pub fn desired_replicas(rs: &ReplicaSet) -> Option<i32> {
    parse_replicas(rs, DESIRED_REPLICAS)
}

/// The most replicas the Deployment allowed when the ReplicaSet was last scaled.
pub fn max_replicas(rs: &ReplicaSet) -> Option<i32> {
    parse_replicas(rs, MAX_REPLICAS)
}

/// Copies the Deployment's annotations (all but [`SKIPPED`]) onto the ReplicaSet; never
/// removes any. Returns whether anything changed.
pub fn copy_to_replicaset(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    let theirs = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if SKIPPED.contains(&k.as_str()) || theirs.get(k) == Some(v) {
            continue;
        }
        theirs.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Records the desired and maximum replicas on the ReplicaSet. Returns whether either changed.
pub fn set_replicas(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

/// Upstream `SetNewReplicaSetAnnotations`: the Deployment's annotations, the new revision
/// (recording the old one in the history when a ReplicaSet comes back), and for a ReplicaSet
/// being created, its replica counts. Returns whether anything changed.
pub fn set_new_replicaset(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
    max_surge: i32,
) -> bool {
    let mut changed = copy_to_replicaset(d, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old = annotations.get(REVISION).cloned();
    let old_number: i64 = match old.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    if old_number < new_revision {
        annotations.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
    }
    if let Some(old) = old.filter(|_| old_number < new_revision) {
        let history = annotations
            .get(REVISION_HISTORY)
            .cloned()
            .unwrap_or_default();
        if history.is_empty() {
            annotations.insert(REVISION_HISTORY.to_string(), old);
        } else {
            let mut entries: Vec<&str> = history.split(',').collect();
            let mut total = history.len() + old.len() + 1;
            while total > MAX_HISTORY_LEN && !entries.is_empty() {
                total -= entries[0].len() + 1;
                entries.remove(0);
            }
            if total <= MAX_HISTORY_LEN {
                entries.push(&old);
                annotations.insert(REVISION_HISTORY.to_string(), entries.join(","));
            }
        }
    }
    if !exists {
        let replicas = super::fenceposts::replicas(d);
        if set_replicas(rs, replicas, replicas + max_surge) {
            changed = true;
        }
    }
    changed
}

/// Sets the Deployment's revision annotation. Returns whether it changed.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.get(REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION.to_string(), revision.to_string());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn annotated(pairs: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            annotations: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn deployment_annotations_are_copied_except_the_controllers_own() {
        let d = Deployment {
            metadata: annotated(&[
                ("kubernetes.io/change-cause", "kubectl set image"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
                (REVISION, "7"),
            ]),
            ..Default::default()
        };
        let mut rs = ReplicaSet {
            metadata: annotated(&[("mine", "x")]),
            ..Default::default()
        };
        assert!(copy_to_replicaset(&d, &mut rs));
        let a = rs.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            a.get("kubernetes.io/change-cause").map(String::as_str),
            Some("kubectl set image")
        );
        assert!(
            !a.contains_key(REVISION)
                && !a.contains_key("kubectl.kubernetes.io/last-applied-configuration")
        );
        assert_eq!(a.get("mine").map(String::as_str), Some("x"));
        assert!(!copy_to_replicaset(&d, &mut rs));
    }

    #[test]
    fn a_returning_replicaset_records_its_old_revision() {
        let d = Deployment::default();
        let mut rs = ReplicaSet {
            metadata: annotated(&[(REVISION, "1")]),
            ..Default::default()
        };
        assert!(set_new_replicaset(&d, &mut rs, 3, true, 0));
        assert!(set_new_replicaset(&d, &mut rs, 5, true, 0));
        let a = rs.metadata.annotations.as_ref().unwrap();
        assert_eq!(a.get(REVISION).map(String::as_str), Some("5"));
        assert_eq!(a.get(REVISION_HISTORY).map(String::as_str), Some("1,3"));
        assert_eq!(revision(&rs), Some(5));
        // A new ReplicaSet gets its replica counts, without history.
        let mut fresh = ReplicaSet::default();
        let d = Deployment {
            spec: Some(k8s_openapi::api::apps::v1::DeploymentSpec {
                replicas: Some(4),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(set_new_replicaset(&d, &mut fresh, 1, false, 1));
        assert_eq!(desired_replicas(&fresh), Some(4));
        assert_eq!(max_replicas(&fresh), Some(5));
        assert!(
            !fresh
                .metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key(REVISION_HISTORY)
        );
        assert_eq!(max_revision([&rs, &fresh]), 5);
    }
}
