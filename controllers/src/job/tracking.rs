//! Counting finished pods exactly once (upstream's finalizer-based tracking). A finished pod
//! keeps the Job's tracking finalizer until the Job counted it, in two steps that survive a
//! crash between them:
//! 1. its uid is written to `status.uncountedTerminatedPods` (the pod cannot vanish meanwhile);
//! 2. its finalizer is removed; then uids in `uncountedTerminatedPods` whose pods no longer
//!    carry the finalizer move into the `succeeded`/`failed` counters ([`move_counted`]).
//!
//! Between the removal and the pod cache showing it, [`Removals`] remembers the uids, so a
//! sync on a stale cache does not count the same pod again.

use super::pods::has_finalizer;
use k8s_openapi::api::batch::v1::{JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use std::collections::HashSet;
use std::sync::Mutex;

/// The most uids `uncountedTerminatedPods` holds at once (upstream `MaxUncountedPods`), so the
/// status stays small and one large Job cannot hold up the others.
pub const MAX_UNCOUNTED: usize = 500;

/// Pods whose finalizer was removed and the cache did not show it yet, by uid.
#[derive(Debug, Default)]
pub struct Removals(Mutex<HashSet<String>>);

impl Removals {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn expect(&self, uid: &str) {
        self.lock().insert(uid.to_string());
    }

    /// Notes a pod as the cache now shows it (or its deletion, `gone`).
    pub fn observe(&self, pod: &Pod, gone: bool) {
        if gone || !has_finalizer(pod) {
            let uid = pod.metadata.uid.as_deref().unwrap_or_default();
            self.lock().remove(uid);
        }
    }

    /// Whether the finalizer of the pod `uid` is known to be removed already.
    pub fn pending(&self, uid: &str) -> bool {
        self.lock().contains(uid)
    }
}

/// Moves uids of `uncountedTerminatedPods` whose pods no longer hold the finalizer (not in
/// `with_finalizer`) to the counters. Returns whether anything moved.
pub fn move_counted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default);
    let mut moved = false;
    let mut drain = |uids: &mut Option<Vec<String>>| -> i32 {
        let Some(list) = uids.as_mut() else {
            return 0;
        };
        let before = list.len();
        list.retain(|uid| with_finalizer.contains(uid));
        let gone = before - list.len();
        moved |= gone > 0;
        gone as i32
    };
    let succeeded = drain(&mut uncounted.succeeded);
    let failed = drain(&mut uncounted.failed);
    for list in [&mut uncounted.succeeded, &mut uncounted.failed] {
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
    }
    // Indexed Jobs count successes by index; their uids never enter the succeeded list.
    status.succeeded = Some(status.succeeded.unwrap_or(0) + succeeded);
    status.failed = Some(status.failed.unwrap_or(0) + failed);
    moved
}

/// How many uids wait in `uncountedTerminatedPods`.
pub fn uncounted_len(uncounted: Option<&UncountedTerminatedPods>) -> usize {
    uncounted.map_or(0, |u| {
        u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len)
    })
}

/// Whether `uid` waits in the succeeded or failed list.
pub fn is_uncounted(uncounted: Option<&UncountedTerminatedPods>, uid: &str) -> bool {
    uncounted.is_some_and(|u| {
        u.succeeded.iter().flatten().any(|x| x == uid)
            || u.failed.iter().flatten().any(|x| x == uid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_without_finalizers_move_to_the_counters() {
        let mut status = JobStatus {
            succeeded: Some(2),
            failed: None,
            uncounted_terminated_pods: Some(UncountedTerminatedPods {
                succeeded: Some(vec!["a".to_string(), "b".to_string()]),
                failed: Some(vec!["c".to_string()]),
            }),
            ..Default::default()
        };
        let still = HashSet::from(["b".to_string()]);
        assert!(move_counted(&mut status, &still));
        assert_eq!((status.succeeded, status.failed), (Some(3), Some(1)));
        let u = status.uncounted_terminated_pods.as_ref().unwrap();
        assert_eq!(u.succeeded.as_deref(), Some(&["b".to_string()][..]));
        assert_eq!(uncounted_len(Some(u)), 1);
        assert!(is_uncounted(Some(u), "b"));
        assert!(!is_uncounted(Some(u), "a"));
        assert!(!move_counted(&mut status, &still));
    }

    #[test]
    fn removals_are_forgotten_once_the_cache_shows_them() {
        let r = Removals::default();
        let mut pod = Pod::default();
        pod.metadata.uid = Some("u".to_string());
        pod.metadata.finalizers = Some(vec![super::super::pods::TRACKING_FINALIZER.to_string()]);
        r.expect("u");
        r.observe(&pod, false);
        assert!(r.pending("u"));
        pod.metadata.finalizers = None;
        r.observe(&pod, false);
        assert!(!r.pending("u"));
    }
}
