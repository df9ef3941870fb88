//! The watch cache: a [`Storage`] decorator that serves lists and watches from memory.
//!
//! Writes and consistent single-object reads go to etcd. Lists with `resourceVersion=0` or a
//! not-older-than version are served from memory; consistent lists (no `resourceVersion`) ask
//! etcd for its current revision and are served from memory once the [`Hub`] has caught up
//! (falling back to etcd if it does not within a few seconds). Paginated and exact-revision
//! lists go to etcd, which keeps the snapshot a continue token names. Every watch is served
//! from memory, replaying the event window for watches that start in the past.

mod hub;
pub mod state;

pub use hub::Hub;

use super::etcd::{EtcdStorage, async_stream_from};
use super::{
    Error, EventType, ListPage, ListRequest, Object, ReadAt, Result, Storage, WatchEvent,
    WatchFrom, WatchItem, WatchRequest, WatchStream,
};
use async_trait::async_trait;
use hub::read;
use serde_json::Value;
use state::{CacheEvent, Entry, State};
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// How long a read waits for the cache to reach the revision it needs.
const FRESHNESS_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// One resource's cache in front of its etcd storage.
pub struct Cacher {
    etcd: EtcdStorage,
    hub: Arc<Hub>,
    state: Arc<RwLock<State>>,
}

impl Cacher {
    /// Registers the resource with the hub (which reads its values with the storage's
    /// transformer); call before `Hub::start`.
    pub fn new(etcd: EtcdStorage, hub: Arc<Hub>, prefix: &str, attrs: super::AttrsFn) -> Self {
        let state = hub.register(prefix, attrs, etcd.transformer().cloned());
        Self { etcd, hub, state }
    }

    /// A cache for a prefix registered while the hub runs (see [`Hub::register_live`]).
    pub fn with_state(etcd: EtcdStorage, hub: Arc<Hub>, state: Arc<RwLock<State>>) -> Self {
        Self { etcd, hub, state }
    }

    /// The revision this cache's state reflects.
    fn rv(&self, st: &State) -> i64 {
        st.last_event_rv.max(self.hub.synced())
    }

    fn list_cached(&self, req: &ListRequest) -> ListPage {
        let st = read(&self.state);
        let rv = self.rv(&st);
        let filtered = !req.predicate.is_everything();
        let items = st
            .objects
            .range::<str, _>((Bound::Included(req.prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&req.prefix))
            .filter(|(_, e)| !filtered || req.predicate.matches(&e.attrs))
            .map(|(_, e)| e.object.clone())
            .collect();
        ListPage {
            items,
            rv,
            continue_token: None,
            remaining: None,
        }
    }

    /// Waits for the cache to reach `rev`.
    async fn fresh(&self, rev: i64) -> bool {
        self.hub.synced() >= rev || self.hub.wait_for(rev, FRESHNESS_TIMEOUT).await
    }
}

/// How one cached change looks to a watcher with this prefix and predicate: the shared event,
/// a rewritten one when the change moves the object across the selector, or nothing.
fn view(ev: &CacheEvent, prefix: &str, predicate: &super::Predicate) -> Option<Arc<WatchEvent>> {
    if !ev.entry.object.key.starts_with(prefix) {
        return None;
    }
    if predicate.is_everything() {
        return Some(ev.event.clone());
    }
    let now = predicate.matches(&ev.entry.attrs);
    match ev.event.typ {
        EventType::Added | EventType::Deleted => now.then(|| ev.event.clone()),
        EventType::Modified => {
            let before = ev
                .prev
                .as_ref()
                .is_some_and(|p| predicate.matches(&p.attrs));
            match (before, now) {
                (true, true) => Some(ev.event.clone()),
                (false, true) => Some(Arc::new(WatchEvent::new(
                    EventType::Added,
                    ev.entry.object.clone(),
                ))),
                (true, false) => Some(Arc::new(WatchEvent::new(
                    EventType::Deleted,
                    ev.entry.object.clone(),
                ))),
                (false, false) => None,
            }
        }
    }
}

fn added(entry: &Entry) -> Arc<WatchEvent> {
    Arc::new(WatchEvent::new(EventType::Added, entry.object.clone()))
}

#[async_trait]
impl Storage for Cacher {
    async fn create(&self, key: &str, obj: &Value) -> Result<Object> {
        let o = self.etcd.create(key, obj).await?;
        self.hub.note_written(o.rv);
        Ok(o)
    }

    async fn get(&self, key: &str, read_at: ReadAt) -> Result<Object> {
        match read_at {
            ReadAt::NotOlderThan(rv) if self.fresh(rv).await => read(&self.state)
                .objects
                .get(key)
                .map(|e| e.object.clone())
                .ok_or_else(|| Error::NotFound {
                    key: key.to_string(),
                }),
            ReadAt::NotOlderThan(rv) => Err(Error::TooLargeResourceVersion {
                requested: rv,
                current: self.hub.synced(),
            }),
            _ => self.etcd.get(key, read_at).await,
        }
    }

    fn cached(&self, key: &str) -> Option<Object> {
        read(&self.state).objects.get(key).map(|e| e.object.clone())
    }

    async fn update(&self, key: &str, expected_rv: i64, obj: &Value) -> Result<Object> {
        let o = self.etcd.update(key, expected_rv, obj).await?;
        self.hub.note_written(o.rv);
        Ok(o)
    }

    async fn delete(&self, key: &str, expected_rv: i64) -> Result<Object> {
        let o = self.etcd.delete(key, expected_rv).await?;
        self.hub.note_written(o.rv);
        Ok(o)
    }

    async fn list(&self, req: &ListRequest) -> Result<ListPage> {
        let paginated = req.continue_from.is_some() || req.limit.is_some_and(|l| l > 0);
        match req.read {
            ReadAt::Exact(_) => self.etcd.list(req).await,
            _ if req.continue_from.is_some() => self.etcd.list(req).await,
            ReadAt::NotOlderThan(rv) => {
                if self.fresh(rv).await {
                    Ok(self.list_cached(req))
                } else {
                    Err(Error::TooLargeResourceVersion {
                        requested: rv,
                        current: self.hub.synced(),
                    })
                }
            }
            ReadAt::Latest if paginated => self.etcd.list(req).await,
            ReadAt::Latest => {
                let rev = self.etcd.current_revision().await?;
                if self.fresh(rev).await {
                    Ok(self.list_cached(req))
                } else {
                    tracing::warn!(
                        rev,
                        synced = self.hub.synced(),
                        "The watch cache is behind etcd; listing from etcd."
                    );
                    self.etcd.list(req).await
                }
            }
        }
    }

    async fn watch(&self, req: &WatchRequest) -> Result<WatchStream> {
        let wants_initial = match req.from {
            WatchFrom::After(_) => req.send_initial_events == Some(true),
            WatchFrom::Latest | WatchFrom::Any => req.send_initial_events != Some(false),
        };
        match req.from {
            WatchFrom::After(rv) if !self.fresh(rv).await => {
                return Err(Error::TooLargeResourceVersion {
                    requested: rv,
                    current: self.hub.synced(),
                });
            }
            WatchFrom::Latest => {
                let rev = self.etcd.current_revision().await?;
                if !self.fresh(rev).await {
                    return Err(Error::TooLargeResourceVersion {
                        requested: rev,
                        current: self.hub.synced(),
                    });
                }
            }
            _ => {}
        }
        let (mut rx, initial, snapshot_rv) = {
            let st = read(&self.state);
            let rx = st.tx.subscribe();
            let rv = self.rv(&st);
            let mut initial: Vec<Arc<WatchEvent>> = Vec::new();
            if wants_initial {
                initial.extend(
                    st.objects
                        .range::<str, _>((Bound::Included(req.prefix.as_str()), Bound::Unbounded))
                        .take_while(|(k, _)| k.starts_with(&req.prefix))
                        .filter(|(_, e)| {
                            req.predicate.is_everything() || req.predicate.matches(&e.attrs)
                        })
                        .map(|(_, e)| added(e)),
                );
            } else if let WatchFrom::After(after) = req.from {
                if after < st.window_start {
                    return Err(Error::TooOldResourceVersion {
                        requested: after,
                        oldest: st.window_start,
                    });
                }
                initial.extend(
                    st.window
                        .iter()
                        .filter(|e| e.rv() > after)
                        .filter_map(|e| view(e, &req.prefix, &req.predicate)),
                );
            }
            (rx, initial, rv)
        };
        let hub = self.hub.clone();
        let prefix = req.prefix.clone();
        let predicate = req.predicate.clone();
        let bookmarks = req.allow_bookmarks;
        let end_marker = wants_initial && req.send_initial_events == Some(true) && bookmarks;
        Ok(async_stream_from(move |tx| async move {
            for ev in initial {
                if tx.send(Ok(WatchItem::Event(ev))).await.is_err() {
                    return;
                }
            }
            if end_marker
                && tx
                    .send(Ok(WatchItem::InitialEventsEnd(snapshot_rv)))
                    .await
                    .is_err()
            {
                return;
            }
            let mut seen = snapshot_rv;
            let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
            ticker.tick().await;
            loop {
                tokio::select! {
                    biased;
                    ev = rx.recv() => match ev {
                        Ok(ev) => {
                            if ev.rv() <= seen {
                                continue;
                            }
                            seen = ev.rv();
                            if let Some(out) = view(&ev, &prefix, &predicate)
                                && tx.send(Ok(WatchItem::Event(out))).await.is_err() {
                                    return;
                                }
                        }
                        // Too slow, or the cache was reset: end the watch; the client re-watches.
                        Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return,
                    },
                    _ = ticker.tick(), if bookmarks => {
                        // Everything up to the hub's revision was broadcast before it was
                        // published, so with the queue empty it has all been seen.
                        let synced = hub.synced();
                        if rx.is_empty() {
                            seen = seen.max(synced);
                        }
                        if tx.send(Ok(WatchItem::Bookmark(seen))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }))
    }

    async fn current_revision(&self) -> Result<i64> {
        self.etcd.current_revision().await
    }
}
