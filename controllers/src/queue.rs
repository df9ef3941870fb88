//! What client-go's rate-limited work queue gives upstream controllers, on top of kube-runtime's
//! `Controller` (which already de-duplicates work and never syncs one object twice at once):
//! per-object exponential backoff after failed syncs ([`Backoff`]), and one place that reports
//! what a controller's event stream says went wrong ([`drive`]).

use crate::client;
use futures::{Stream, StreamExt};
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Mutex;
use std::time::Duration;

/// Per-key exponential backoff: `base * 2^failures`, capped at `max`, reset by [`Backoff::forget`].
/// upstream's default controller rate limiter uses 5ms and 1000s.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    // Held only to bump a counter, never across an await.
    failures: Mutex<HashMap<String, u32>>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(5), Duration::from_secs(1000))
    }
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records one more failure of `key` and returns how long to wait before retrying it.
    pub fn next_delay(&self, key: &str) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let n = failures.entry(key.to_string()).or_insert(0);
        let exp = *n;
        *n = n.saturating_add(1);
        let factor = 2u32.checked_pow(exp).unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// Forgets the failures of `key` after it synced.
    pub fn forget(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }

    /// The action for a failed sync of `key`: retry after its backoff.
    pub fn retry(&self, key: &str) -> Action {
        Action::requeue(self.next_delay(key))
    }
}

/// Runs a controller's event stream to its end, logging what went wrong outside reconciles
/// (a reconcile's own failure is logged by the controller's error policy).
pub async fn drive<K, E>(
    controller: &'static str,
    stream: impl Stream<Item = Result<(ObjectRef<K>, Action), controller::Error<E, watcher::Error>>>,
) where
    K: kube::Resource,
    E: Display + 'static,
{
    tracing::info!("Starting {controller}.");
    stream
        .for_each(|result| async move {
            match &result {
                Ok(_) => crate::metrics::global().sync(controller, true),
                Err(controller::Error::ReconcilerFailed(..)) => {
                    crate::metrics::global().sync(controller, false)
                }
                _ => {}
            }
            match result {
                Ok(_) | Err(controller::Error::ReconcilerFailed(..)) => {}
                // A sync was scheduled for an object deleted meanwhile: nothing to do.
                Err(controller::Error::ObjectNotFound(r)) => {
                    tracing::debug!("The {controller} skipped {r}: it no longer exists.");
                }
                Err(controller::Error::QueueError(e)) => {
                    tracing::warn!(
                        "The {controller} could not watch the API: {}. Retrying with backoff.",
                        describe(&e)
                    );
                }
                Err(e) => tracing::warn!("The {controller} hit an error: {e}."),
            }
        })
        .await;
    tracing::info!("Stopped {controller}.");
}

/// A watch failure in a sentence, with the apiserver's own message where there is one.
fn describe(err: &watcher::Error) -> String {
    match err {
        watcher::Error::InitialListFailed(e) => format!("listing failed: {}", client::message(e)),
        watcher::Error::WatchStartFailed(e) => {
            format!("starting a watch failed: {}", client::message(e))
        }
        watcher::Error::WatchError(s) => format!("the watch failed: {}", s.message),
        watcher::Error::WatchFailed(e) => format!("the watch broke: {}", client::message(e)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_per_key_until_forgotten() {
        let b = Backoff::new(Duration::from_millis(5), Duration::from_secs(1));
        assert_eq!(b.next_delay("a"), Duration::from_millis(5));
        assert_eq!(b.next_delay("a"), Duration::from_millis(10));
        assert_eq!(b.next_delay("a"), Duration::from_millis(20));
        assert_eq!(b.next_delay("b"), Duration::from_millis(5));
        for _ in 0..40 {
            b.next_delay("a");
        }
        assert_eq!(b.next_delay("a"), Duration::from_secs(1));
        b.forget("a");
        assert_eq!(b.next_delay("a"), Duration::from_millis(5));
    }

    #[test]
    fn watch_failures_read_as_sentences() {
        let e = watcher::Error::InitialListFailed(client::testing::api_error(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
        assert_eq!(
            describe(&e),
            "listing failed: the server could not find the requested resource"
        );
    }
}
