//! The delay before a Job replaces failed pods (upstream's pod failure backoff): 10 s after the
//! first failure since the last success, doubling with each further one, at most 10 minutes
//! (upstream's documentation says six; its code, followed here, caps at ten), counted from when
//! the last failed pod finished. A success resets it.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The first delay (upstream `DefaultJobPodFailureBackOff`).
pub const BASE: Duration = Duration::from_secs(10);
/// The longest delay (upstream `MaxJobPodFailureBackOff`).
pub const MAX: Duration = Duration::from_secs(10 * 60);

/// Failures since the last success, and when the last of them finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    pub failures: u32,
    pub last_failure: Option<Timestamp>,
}

impl Record {
    /// The record after a sync that saw `succeeded` new successes and new failures finishing at
    /// `failed_at`.
    pub fn after(self, succeeded: usize, failed_at: &[Timestamp]) -> Record {
        let mut next = if succeeded > 0 {
            Record::default()
        } else {
            self
        };
        if let Some(latest) = failed_at.iter().max() {
            next.failures = next.failures.saturating_add(failed_at.len() as u32);
            next.last_failure = Some(next.last_failure.map_or(*latest, |t| t.max(*latest)));
        }
        next
    }

    /// How long from `now` until pods may be created again.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        let (Some(last), true) = (self.last_failure, self.failures > 0) else {
            return Duration::ZERO;
        };
        let factor = 2u32.saturating_pow(self.failures - 1);
        let delay = BASE.checked_mul(factor).map_or(MAX, |d| d.min(MAX));
        let elapsed = now.duration_since(last);
        let delay = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
        if elapsed >= delay {
            Duration::ZERO
        } else {
            Duration::try_from(delay - elapsed.max(SignedDuration::ZERO)).unwrap_or(Duration::ZERO)
        }
    }
}

/// Every Job's record, by `namespace/name`.
#[derive(Debug, Default)]
pub struct Records(Mutex<HashMap<String, Record>>);

impl Records {
    pub fn get(&self, key: &str) -> Record {
        self.lock().get(key).copied().unwrap_or_default()
    }

    pub fn set(&self, key: &str, record: Record) {
        self.lock().insert(key.to_string(), record);
    }

    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn the_delay_doubles_per_failure_up_to_ten_minutes() {
        let r = Record::default().after(0, &[at(100)]);
        assert_eq!(r.failures, 1);
        assert_eq!(r.remaining(at(100)), Duration::from_secs(10));
        assert_eq!(r.remaining(at(104)), Duration::from_secs(6));
        assert_eq!(r.remaining(at(111)), Duration::ZERO);
        let r = r.after(0, &[at(120), at(110)]);
        assert_eq!((r.failures, r.last_failure), (3, Some(at(120))));
        assert_eq!(r.remaining(at(120)), Duration::from_secs(40));
        let many = Record {
            failures: 40,
            last_failure: Some(at(0)),
        };
        assert_eq!(many.remaining(at(0)), MAX);
    }

    #[test]
    fn a_success_resets_the_count() {
        let r = Record::default().after(0, &[at(1), at(2)]);
        assert_eq!(r.after(1, &[]), Record::default());
        assert_eq!(r.after(1, &[at(5)]).failures, 1);
        assert_eq!(Record::default().remaining(at(5)), Duration::ZERO);
    }
}
