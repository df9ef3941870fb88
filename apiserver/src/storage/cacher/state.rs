//! The in-memory state of one resource's watch cache: the current objects by key, and a window
//! of recent events so watches can start from a past revision.

use crate::storage::{Attrs, EventType, Object, WatchEvent};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// An object in the cache, with the attributes its selectors match on.
#[derive(Debug)]
pub struct Entry {
    pub object: Object,
    pub attrs: Attrs,
}

/// One change to the cache: what the object is now (its last state for deletions), and what it
/// was before, so filtered watchers can tell an update that leaves their selector.
#[derive(Debug)]
pub struct CacheEvent {
    pub event: Arc<WatchEvent>,
    pub entry: Arc<Entry>,
    pub prev: Option<Arc<Entry>>,
    pub at: Instant,
}

impl CacheEvent {
    pub fn rv(&self) -> i64 {
        self.event.object.rv
    }
}

/// How much history the window keeps: at least `MIN_EVENTS`, everything younger than
/// `MIN_AGE`, and never more than `MAX_EVENTS`.
const MIN_EVENTS: usize = 100;
const MIN_AGE: Duration = Duration::from_secs(150);
const MAX_EVENTS: usize = 100_000;

/// Broadcast capacity: how far a watcher may fall behind before it is cut off and must
/// re-watch.
pub const BROADCAST_CAPACITY: usize = 16 * 1024;

pub struct State {
    pub objects: BTreeMap<Arc<str>, Arc<Entry>>,
    pub window: VecDeque<Arc<CacheEvent>>,
    /// Every event after this revision is in the window (or newer).
    pub window_start: i64,
    /// The revision of the newest event applied to this resource.
    pub last_event_rv: i64,
    pub tx: broadcast::Sender<Arc<CacheEvent>>,
}

impl State {
    pub fn new(start_rv: i64) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            objects: BTreeMap::new(),
            window: VecDeque::new(),
            window_start: start_rv,
            last_event_rv: start_rv,
            tx,
        }
    }

    /// Applies a put (object present) or delete (object `None`, `deleted` holding its last state
    /// at the deletion revision) and broadcasts the event.
    pub fn apply(&mut self, key: Arc<str>, entry: Arc<Entry>, deleted: bool) {
        let rv = entry.object.rv;
        let (typ, prev) = if deleted {
            let Some(prev) = self.objects.remove(&key) else {
                return;
            };
            (EventType::Deleted, Some(prev))
        } else {
            match self.objects.insert(key, entry.clone()) {
                Some(prev) => (EventType::Modified, Some(prev)),
                None => (EventType::Added, None),
            }
        };
        let event = Arc::new(CacheEvent {
            event: Arc::new(WatchEvent::new(typ, entry.object.clone())),
            entry,
            prev,
            at: Instant::now(),
        });
        self.last_event_rv = self.last_event_rv.max(rv);
        self.window.push_back(event.clone());
        self.trim();
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    fn trim(&mut self) {
        while let Some(front) = self.window.front() {
            let len = self.window.len();
            let too_many = len > MAX_EVENTS;
            let old = len > MIN_EVENTS && front.at.elapsed() > MIN_AGE;
            if !(too_many || old) {
                break;
            }
            self.window_start = front.rv();
            self.window.pop_front();
        }
    }

    /// Forgets events at or before a compacted revision.
    pub fn compacted(&mut self, rev: i64) {
        while self.window.front().is_some_and(|e| e.rv() <= rev) {
            self.window.pop_front();
        }
        self.window_start = self.window_start.max(rev);
    }

    /// Replaces the whole state after a relist; watchers are cut off (they must re-watch), as
    /// their view can no longer be continued event by event.
    pub fn reset(&mut self, objects: BTreeMap<Arc<str>, Arc<Entry>>, rv: i64) {
        self.objects = objects;
        self.window.clear();
        self.window_start = rv;
        self.last_event_rv = rv;
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        self.tx = tx;
    }
}
