//! What a ReplicaSet's last sync asked for and the pod cache has not shown yet (upstream's
//! `ControllerExpectations`). Until the cache shows the pods created and the deletions made,
//! a sync would count the wrong number of pods and create or delete again; such a sync only
//! updates status. Expectations older than [`TIMEOUT`] are dropped, as upstream does, so a lost
//! watch event cannot stall a ReplicaSet for good.
//!
//! Timeline for one ReplicaSet: creates/deletes issued -> recorded here -> each pod observed
//! (from the change feed, or found in the cache) -> satisfied -> the next sync manages
//! replicas again.

use k8s_openapi::api::core::v1::Pod;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an unmet expectation holds (upstream `ExpectationsTimeout`).
pub const TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Default)]
struct Pending {
    /// Names of pods created and not yet observed.
    creates: HashSet<String>,
    /// Names and uids of pods deleted whose deletion was not yet observed.
    deletes: HashMap<String, String>,
    since: Option<Instant>,
}

/// Expectations of every ReplicaSet, by `namespace/name`.
#[derive(Debug, Default)]
pub struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records pods the ReplicaSet `key` created.
    pub fn created(&self, key: &str, names: impl IntoIterator<Item = String>) {
        let mut pending = self.lock();
        let entry = pending.entry(key.to_string()).or_default();
        entry.creates.extend(names);
        entry.since.get_or_insert_with(Instant::now);
    }

    /// Records pods the ReplicaSet `key` deleted (name and uid).
    pub fn deleted(&self, key: &str, pods: impl IntoIterator<Item = (String, String)>) {
        let mut pending = self.lock();
        let entry = pending.entry(key.to_string()).or_default();
        entry.deletes.extend(pods);
        entry.since.get_or_insert_with(Instant::now);
    }

    /// Notes what the change feed showed of a pod controlled by `key`: present, or (when
    /// `gone`) deleted or being deleted.
    pub fn observe(&self, key: &str, pod: &Pod, gone: bool) {
        let mut pending = self.lock();
        let Some(entry) = pending.get_mut(key) else {
            return;
        };
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        entry.creates.remove(name);
        if gone || pod.metadata.deletion_timestamp.is_some() {
            entry.deletes.remove(name);
        }
    }

    /// Whether the ReplicaSet `key` may manage its replicas: nothing pending, everything pending
    /// now visible in the cache (`lookup` by pod name), or the expectations expired.
    pub fn satisfied(&self, key: &str, lookup: impl Fn(&str) -> Option<Arc<Pod>>) -> bool {
        let mut pending = self.lock();
        let Some(entry) = pending.get_mut(key) else {
            return true;
        };
        entry.creates.retain(|name| lookup(name).is_none());
        entry.deletes.retain(|name, uid| {
            lookup(name).is_some_and(|p| {
                p.metadata.uid.as_deref() == Some(uid.as_str())
                    && p.metadata.deletion_timestamp.is_none()
            })
        });
        let expired = entry.since.is_some_and(|t| t.elapsed() > TIMEOUT);
        if expired || (entry.creates.is_empty() && entry.deletes.is_empty()) {
            pending.remove(key);
            return true;
        }
        false
    }

    /// Drops the expectations of a ReplicaSet that is gone.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn pod(name: &str, uid: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(name.to_string());
        p.metadata.uid = Some(uid.to_string());
        Arc::new(p)
    }

    #[test]
    fn creations_are_met_when_observed_or_cached() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/a", |_| None));
        e.created("ns/a", ["a-1".to_string(), "a-2".to_string()]);
        assert!(!e.satisfied("ns/a", |_| None));
        e.observe("ns/a", &pod("a-1", "u1"), false);
        assert!(!e.satisfied("ns/a", |_| None));
        assert!(e.satisfied("ns/a", |n| (n == "a-2").then(|| pod("a-2", "u2"))));
        // Met expectations are gone.
        assert!(e.satisfied("ns/a", |_| None));
    }

    #[test]
    fn deletions_are_met_when_the_pod_is_gone_terminating_or_replaced() {
        let e = Expectations::default();
        e.deleted("ns/a", [("a-1".to_string(), "u1".to_string())]);
        assert!(!e.satisfied("ns/a", |_| Some(pod("a-1", "u1"))));
        let mut terminating = (*pod("a-1", "u1")).clone();
        terminating.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        let terminating = Arc::new(terminating);
        assert!(e.satisfied("ns/a", |_| Some(terminating.clone())));

        e.deleted("ns/a", [("a-1".to_string(), "u1".to_string())]);
        assert!(e.satisfied("ns/a", |_| Some(pod("a-1", "other-uid"))));

        e.deleted("ns/a", [("a-1".to_string(), "u1".to_string())]);
        e.observe("ns/a", &pod("a-1", "u1"), true);
        assert!(e.satisfied("ns/a", |_| Some(pod("a-1", "u1"))));
    }

    #[test]
    fn forgetting_drops_everything() {
        let e = Expectations::default();
        e.created("ns/a", ["a-1".to_string()]);
        e.forget("ns/a");
        assert!(e.satisfied("ns/a", |_| None));
    }
}
