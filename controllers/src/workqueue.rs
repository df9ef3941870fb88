//! A work queue with client-go's guarantees, for controllers that are not built on kube-runtime's
//! `Controller` (the garbage collector works on uids across every resource): an item queued
//! several times before a worker takes it is processed once, an item is never processed by two
//! workers at once, and an item queued while being processed is processed again afterwards.
//! [`WorkQueue::retry`] queues an item again after its per-item backoff.

use crate::queue::Backoff;
use futures::{Stream, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

struct State<T> {
    queue: VecDeque<T>,
    /// Queued and not yet taken.
    dirty: HashSet<T>,
    /// Taken and not yet done.
    processing: HashSet<T>,
    /// When each queued item entered the queue.
    since: HashMap<T, Instant>,
}

/// A de-duplicating queue shared by a controller's workers.
pub struct WorkQueue<T> {
    /// The name its metrics carry (upstream's queue names, e.g. `endpoint`).
    name: &'static str,
    state: Mutex<State<T>>,
    ready: Notify,
    backoff: Backoff,
}

impl<T: Hash + Eq + Clone + Display + Send + 'static> WorkQueue<T> {
    pub fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            name,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                since: HashMap::new(),
            }),
            ready: Notify::new(),
            backoff: Backoff::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `item` unless it is queued already.
    pub fn add(&self, item: T) {
        let mut state = self.lock();
        if !state.dirty.insert(item.clone()) {
            return;
        }
        if !state.processing.contains(&item) {
            state.since.insert(item.clone(), Instant::now());
            state.queue.push_back(item);
        }
        crate::metrics::global().queue_add(self.name, state.queue.len());
        drop(state);
        self.ready.notify_one();
    }

    /// Waits for the next item; call [`WorkQueue::done`] with it when finished.
    pub async fn take(&self) -> T {
        loop {
            let notified = self.ready.notified();
            {
                let mut state = self.lock();
                if let Some(item) = state.queue.pop_front() {
                    let metrics = crate::metrics::global();
                    metrics.queue_depth(self.name, state.queue.len());
                    if let Some(since) = state.since.remove(&item) {
                        metrics.queue_duration(self.name, since.elapsed());
                    }
                    state.dirty.remove(&item);
                    state.processing.insert(item.clone());
                    let more = !state.queue.is_empty();
                    drop(state);
                    if more {
                        // Hand the rest to another idle worker.
                        self.ready.notify_one();
                    }
                    return item;
                }
            }
            notified.await;
        }
    }

    /// Marks `item` processed; if it was queued meanwhile it goes back in the queue.
    pub fn done(&self, item: &T) {
        let mut state = self.lock();
        state.processing.remove(item);
        if state.dirty.contains(item) {
            state.since.insert(item.clone(), Instant::now());
            state.queue.push_back(item.clone());
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Forgets `item`'s failures after it was processed successfully.
    pub fn forget(&self, item: &T) {
        self.backoff.forget(&item.to_string());
    }

    /// Queues `item` again after its backoff (5 ms doubling per failure, at most 1000 s).
    pub fn retry(self: &Arc<Self>, item: T) {
        crate::metrics::global().queue_retry(self.name);
        let delay = self.backoff.next_delay(&item.to_string());
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(item);
        });
    }

    /// Queues `item` once `delay` has passed (client-go's `AddAfter`).
    pub fn add_after(self: &Arc<Self>, item: T, delay: std::time::Duration) {
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(item);
        });
    }

    /// How many items wait to be taken.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The tracing span of one sync of the object `meta` by `controller`.
pub fn reconcile_span(
    controller: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> tracing::Span {
    tracing::info_span!(
        "reconcile",
        controller = controller,
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        name = meta.name.as_deref().unwrap_or_default(),
        uid = meta.uid.as_deref().unwrap_or_default(),
    )
}

/// An object's queue key, `namespace/name` (client-go's `MetaNamespaceKeyFunc`).
pub fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// Queues the keys `map` finds in each change of `changes`, in the background. The task ends
/// when the change feed does (its informer is gone).
pub fn feed<C: Send + 'static>(
    queue: &Arc<WorkQueue<String>>,
    changes: impl Stream<Item = C> + Send + 'static,
    map: impl Fn(C) -> Vec<String> + Send + 'static,
) {
    let queue = queue.clone();
    tokio::spawn(async move {
        let mut changes = std::pin::pin!(changes);
        while let Some(change) = changes.next().await {
            for key in map(change) {
                queue.add(key);
            }
        }
    });
}

/// Runs `workers` workers that take keys from `queue` and `sync` them, retrying failures with
/// backoff and logging them as the sync of `what` (e.g. "the endpoints of Service").
pub async fn process<F, Fut, E>(
    queue: Arc<WorkQueue<String>>,
    workers: u16,
    what: &'static str,
    sync: F,
) where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Display,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (queue, sync) = (queue.clone(), sync.clone());
        tasks.spawn(async move {
            loop {
                let key = queue.take().await;
                let started = Instant::now();
                let result = sync(key.clone()).await;
                let metrics = crate::metrics::global();
                metrics.work_duration(queue.name, started.elapsed());
                metrics.sync(queue.name, result.is_ok());
                match result {
                    Ok(()) => queue.forget(&key),
                    Err(e) => {
                        tracing::warn!("Syncing {what} {key} failed: {e}. Retrying.");
                        queue.retry(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_are_deduplicated_and_never_processed_twice_at_once() {
        let q = WorkQueue::<String>::new("test");
        q.add("a".to_string());
        q.add("a".to_string());
        q.add("b".to_string());
        assert_eq!(q.len(), 2);
        let a = q.take().await;
        assert_eq!(a, "a");
        // Queued again while being processed: held back until done.
        q.add("a".to_string());
        assert_eq!(q.take().await, "b");
        assert!(q.is_empty());
        q.done(&a);
        assert_eq!(q.take().await, "a");
    }

    #[tokio::test]
    async fn take_waits_for_an_item() {
        let q = WorkQueue::<String>::new("test");
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.take().await });
        tokio::task::yield_now().await;
        q.add("x".to_string());
        assert_eq!(waiter.await.unwrap(), "x");
    }
}
