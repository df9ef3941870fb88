//! Keys queued again after a delay, as client-go's delaying queue does for upstream's recheck
//! and stale-condition queues: a key waiting already keeps the earlier of its two times, so one
//! timer per key is pending at most. The timers stop with the controller (when its last user
//! drops this).

use crate::background::Background;
use crate::workqueue::WorkQueue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// Timers that add keys to one work queue.
pub struct Delayed {
    queue: Arc<WorkQueue<String>>,
    /// The pending time of each waiting key, and its timer.
    pending: Mutex<HashMap<String, (Instant, Background)>>,
}

impl Delayed {
    pub fn new(queue: Arc<WorkQueue<String>>) -> Arc<Self> {
        Arc::new(Self {
            queue,
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Background)>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `key` after `delay`, unless it is due to be queued sooner already.
    pub fn add_after(self: &Arc<Self>, key: String, delay: Duration) {
        if delay.is_zero() {
            self.queue.add(key);
            return;
        }
        let at = Instant::now() + delay;
        let mut pending = self.lock();
        if pending.get(&key).is_some_and(|(due, _)| *due <= at) {
            return;
        }
        // The timer holds no strong reference, so dropping the controller drops the timers.
        let this: Weak<Self> = Arc::downgrade(self);
        let name = key.clone();
        let timer = Background::spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Some(this) = this.upgrade() {
                this.fire(name, at);
            }
        });
        // A later timer this one replaces is aborted as its handle drops.
        pending.insert(key, (at, timer));
    }

    fn fire(&self, key: String, at: Instant) {
        let entry = {
            let mut pending = self.lock();
            match pending.get(&key) {
                Some((due, _)) if *due == at => pending.remove(&key),
                _ => None,
            }
        };
        if entry.is_some() {
            self.queue.add(key);
        }
        // Dropping our own handle aborts a task that has nothing left to do.
        drop(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_earliest_time_wins_and_fires_once() {
        let q = WorkQueue::<String>::new("test");
        let d = Delayed::new(q.clone());
        d.add_after("a".to_string(), Duration::from_secs(10));
        d.add_after("a".to_string(), Duration::from_secs(5));
        d.add_after("a".to_string(), Duration::from_secs(20));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(q.is_empty());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(q.take().await, "a");
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(q.is_empty(), "the replaced timers do not fire");
        d.add_after("b".to_string(), Duration::ZERO);
        assert_eq!(q.take().await, "b");
    }

    #[tokio::test(start_paused = true)]
    async fn timers_stop_with_their_owner() {
        let q = WorkQueue::<String>::new("test");
        let d = Delayed::new(q.clone());
        d.add_after("a".to_string(), Duration::from_secs(5));
        drop(d);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(q.is_empty());
    }
}
