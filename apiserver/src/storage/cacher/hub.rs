//! The hub feeds every resource's watch cache from a single etcd watch over the whole keyspace.
//!
//! One watch instead of one per resource gives the caches a shared notion of progress: every etcd
//! revision produces at least one event on an all-keys watch, so once the hub has applied the
//! events of revision R it knows every cache reflects R. A consistent read then only has to ask
//! etcd for its current revision and wait until the hub got there, without the progress
//! notifications that etcd 3.4 does not deliver reliably.
//!
//! Timeline: `start` lists everything under the prefix at revision R0 and fills the caches; the
//! reflector then watches from R0+1, applying events in revision order and publishing the newest
//! revision applied. If the watch breaks it resumes after the last applied revision; if that was
//! compacted away it lists again and resets every cache (cutting off their watchers).
//!
//! Values encrypted at rest are decrypted here with each resource's transformer, registered
//! with its prefix, before the caches see them. The hub also holds the apiserver's
//! [`ResourceTransformers`], since every storage it feeds is built beside it.

use super::state::{Entry, State};
use crate::storage::encryption::{self, ResourceTransformers, Transformer};
use crate::storage::etcd::{stored_object, with_rv};
use crate::storage::{AttrsFn, Error, Result};
use etcd_client::{Client, EventType as EtcdEventType, GetOptions, WatchOptions};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// One registered resource: its key prefix, how to read its selectable fields, how its values
/// are encrypted, its state.
struct Registered {
    prefix: String,
    attrs: AttrsFn,
    transformer: Option<Arc<Transformer>>,
    state: Arc<RwLock<State>>,
}

pub struct Hub {
    client: Client,
    /// The storage prefix, e.g. `/registry/`.
    prefix: String,
    caches: RwLock<Vec<Registered>>,
    synced: watch::Sender<i64>,
    /// The newest revision this apiserver wrote, so reads that must see its own writes
    /// (admission) can wait for the caches to get there.
    written: std::sync::atomic::AtomicI64,
    /// Held while one watch response is applied, so a cache registered while the hub runs
    /// (custom resources) loads exactly the revision the others reflect.
    applying: tokio::sync::Mutex<()>,
    /// `--encryption-provider-config`, when given.
    encryption: Option<Arc<ResourceTransformers>>,
}

/// Locks a cache state for reading; a poisoned lock means a panic while applying an event,
/// after which the state is still structurally sound, so keep serving.
pub(crate) fn read(state: &RwLock<State>) -> std::sync::RwLockReadGuard<'_, State> {
    state.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write(state: &RwLock<State>) -> std::sync::RwLockWriteGuard<'_, State> {
    state.write().unwrap_or_else(|p| p.into_inner())
}

/// The cache entry of a listed key, or `None` (logged) when its bytes do not decode.
fn decoded(cache: &Registered, key: &str, item: &etcd_client::KeyValue) -> Option<Entry> {
    match entry(cache, key, item.value(), item.mod_revision()) {
        Ok(entry) => Some(entry),
        Err(e) => {
            tracing::warn!(%key, error = %e, "Skipping an undecodable object in etcd.");
            None
        }
    }
}

/// A cache entry for stored bytes: the client-visible object and its selector attributes.
fn entry(cache: &Registered, key: &str, raw: &[u8], rv: i64) -> Result<Entry> {
    let plain = encryption::read(cache.transformer.as_deref(), key.as_bytes(), raw)?;
    let raw = &*plain.bytes;
    let mut object = stored_object(key, raw, rv)?;
    object.stale = plain.stale;
    let attrs = (cache.attrs)(raw).map_err(|reason| Error::Corrupt {
        key: key.to_string(),
        reason,
    })?;
    Ok(Entry { object, attrs })
}

impl Hub {
    pub fn new(client: Client, prefix: &str) -> Arc<Self> {
        Self::with_encryption(client, prefix, None)
    }

    /// A hub for an apiserver that encrypts resources at rest as `encryption` says.
    pub fn with_encryption(
        client: Client,
        prefix: &str,
        encryption: Option<Arc<ResourceTransformers>>,
    ) -> Arc<Self> {
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        Arc::new(Self {
            client,
            prefix,
            caches: RwLock::new(Vec::new()),
            synced: watch::channel(0).0,
            written: std::sync::atomic::AtomicI64::new(0),
            applying: tokio::sync::Mutex::new(()),
            encryption,
        })
    }

    /// How a resource's values are encrypted at rest (`group` is `""` for the core group):
    /// `None` when no encryption rule covers it.
    pub fn transformer_for(&self, group: &str, resource: &str) -> Option<Arc<Transformer>> {
        self.encryption
            .as_ref()
            .and_then(|e| e.transformer_for(group, resource))
    }

    /// Registers a resource's key prefix (e.g. `/registry/configmaps/`) and the transformer
    /// its values are stored with. Call before `start`.
    pub fn register(
        &self,
        prefix: &str,
        attrs: AttrsFn,
        transformer: Option<Arc<Transformer>>,
    ) -> Arc<RwLock<State>> {
        let state = Arc::new(RwLock::new(State::new(0)));
        let mut caches = self.caches.write().unwrap_or_else(|p| p.into_inner());
        caches.push(Registered {
            prefix: prefix.to_string(),
            attrs,
            transformer,
            state: state.clone(),
        });
        // Longest prefix first, so `/registry/services/specs/` wins over a shorter match.
        caches.sort_by_key(|c| std::cmp::Reverse(c.prefix.len()));
        state
    }

    /// Registers a key prefix while the hub runs: loads what etcd holds under it at the
    /// revision every other cache reflects, with events applying from the next one on.
    pub async fn register_live(
        &self,
        prefix: &str,
        attrs: AttrsFn,
        transformer: Option<Arc<Transformer>>,
    ) -> Result<Arc<RwLock<State>>> {
        let _applying = self.applying.lock().await;
        let rev = self.synced();
        let cache = Registered {
            prefix: prefix.to_string(),
            attrs,
            transformer,
            state: Arc::new(RwLock::new(State::new(rev))),
        };
        let mut objects = BTreeMap::new();
        self.scan(prefix, rev, |key, item| {
            if let Some(entry) = decoded(&cache, key, item) {
                objects.insert(entry.object.key.clone(), Arc::new(entry));
            }
        })
        .await?;
        write(&cache.state).reset(objects, rev);
        let state = cache.state.clone();
        let mut caches = self.caches.write().unwrap_or_else(|p| p.into_inner());
        caches.push(cache);
        caches.sort_by_key(|c| std::cmp::Reverse(c.prefix.len()));
        Ok(state)
    }

    /// Stops caching a prefix; its watchers see their streams end.
    pub async fn unregister(&self, prefix: &str) {
        let _applying = self.applying.lock().await;
        let mut caches = self.caches.write().unwrap_or_else(|p| p.into_inner());
        let rev = self.synced();
        caches.retain(|c| {
            let keep = c.prefix != prefix;
            if !keep {
                // Replacing the broadcast sender ends every watch on this cache.
                write(&c.state).reset(BTreeMap::new(), rev);
            }
            keep
        });
    }

    /// Loads every cache and starts following etcd.
    pub async fn start(self: &Arc<Self>) -> Result<()> {
        let rev = self.relist().await?;
        let hub = self.clone();
        tokio::spawn(async move { hub.reflect(rev).await });
        Ok(())
    }

    /// The newest revision every cache reflects.
    pub fn synced(&self) -> i64 {
        *self.synced.borrow()
    }

    /// Records a revision this apiserver wrote.
    pub fn note_written(&self, rev: i64) {
        self.written
            .fetch_max(rev, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits until the caches reflect every write this apiserver acknowledged; false on
    /// timeout. Usually already true: the watch delivers within a millisecond of the write.
    pub async fn wait_for_own_writes(&self, timeout: Duration) -> bool {
        let rev = self.written.load(std::sync::atomic::Ordering::Relaxed);
        self.synced() >= rev || self.wait_for(rev, timeout).await
    }

    /// Waits until the caches reflect `rev`; false on timeout.
    pub async fn wait_for(&self, rev: i64, timeout: Duration) -> bool {
        let mut rx = self.synced.subscribe();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|s| *s >= rev)).await,
            Ok(Ok(_))
        )
    }

    /// Drops history at or before a compacted revision from every window.
    pub fn compacted(&self, rev: i64) {
        let caches = self.caches.read().unwrap_or_else(|p| p.into_inner());
        for c in caches.iter() {
            write(&c.state).compacted(rev);
        }
    }

    fn find<'a>(caches: &'a [Registered], key: &str) -> Option<&'a Registered> {
        caches.iter().find(|c| key.starts_with(&c.prefix))
    }

    /// Reads every key under `prefix` at `rev` (the current revision when 0), page by page,
    /// calling `each` with the key and its value; returns the revision read at.
    async fn scan(
        &self,
        prefix: &str,
        mut rev: i64,
        mut each: impl FnMut(&str, &etcd_client::KeyValue),
    ) -> Result<i64> {
        let mut kv = self.client.kv_client();
        let end = crate::storage::etcd::prefix_end(prefix);
        let mut start = prefix.as_bytes().to_vec();
        loop {
            let mut opts = GetOptions::new().with_range(end.clone()).with_limit(10_000);
            if rev > 0 {
                opts = opts.with_revision(rev);
            }
            let resp = kv.get(start.clone(), Some(opts)).await?;
            if rev == 0 {
                rev = resp.header().map(|h| h.revision()).unwrap_or_default();
            }
            for item in resp.kvs() {
                each(&String::from_utf8_lossy(item.key()), item);
            }
            if !resp.more() {
                return Ok(rev);
            }
            let Some(last) = resp.kvs().last() else {
                return Ok(rev);
            };
            start = last.key().to_vec();
            start.push(0);
        }
    }

    /// Lists everything under the prefix at one revision and replaces every cache's state.
    async fn relist(&self) -> Result<i64> {
        // Caches are matched to what was loaded by position: none may come or go meanwhile.
        let _applying = self.applying.lock().await;
        let mut loaded: Vec<BTreeMap<Arc<str>, Arc<Entry>>> = Vec::new();
        let count = self.caches.read().unwrap_or_else(|p| p.into_inner()).len();
        loaded.resize_with(count, BTreeMap::new);
        let prefix = self.prefix.clone();
        let rev = self
            .scan(&prefix, 0, |key, item| {
                let caches = self.caches.read().unwrap_or_else(|p| p.into_inner());
                let Some(idx) = caches.iter().position(|c| key.starts_with(&c.prefix)) else {
                    return;
                };
                if let Some(entry) = decoded(&caches[idx], key, item) {
                    loaded[idx].insert(entry.object.key.clone(), Arc::new(entry));
                }
            })
            .await?;
        let caches = self.caches.read().unwrap_or_else(|p| p.into_inner());
        for (c, objects) in caches.iter().zip(loaded) {
            write(&c.state).reset(objects, rev);
        }
        self.synced.send_replace(rev);
        Ok(rev)
    }

    async fn reflect(self: Arc<Self>, mut rev: i64) {
        loop {
            match self.follow(rev).await {
                Ok(()) => tracing::warn!("The etcd watch ended; resuming."),
                Err(Error::TooOldResourceVersion { .. }) => {
                    tracing::warn!(
                        rev,
                        "The watch cache fell behind a compaction; listing again."
                    );
                    loop {
                        match self.relist().await {
                            Ok(r) => {
                                rev = r;
                                break;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "Relisting from etcd failed; retrying.");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                    continue;
                }
                Err(e) => tracing::warn!(error = %e, "The etcd watch failed; resuming."),
            }
            rev = rev.max(self.synced());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Follows the all-keys watch from `after + 1` until it breaks.
    async fn follow(&self, after: i64) -> Result<()> {
        let opts = WatchOptions::new()
            .with_all_keys()
            .with_start_revision(after + 1);
        let mut stream = self
            .client
            .watch_client()
            .watch(vec![0u8], Some(opts))
            .await?;
        while let Some(msg) = stream.message().await? {
            if msg.canceled() {
                if msg.compact_revision() > 0 {
                    return Err(Error::TooOldResourceVersion {
                        requested: after,
                        oldest: msg.compact_revision(),
                    });
                }
                return Err(Error::Unavailable(format!(
                    "watch canceled: {}",
                    msg.cancel_reason()
                )));
            }
            let _applying = self.applying.lock().await;
            let mut newest = 0;
            {
                let caches = self.caches.read().unwrap_or_else(|p| p.into_inner());
                for ev in msg.events() {
                    let Some(kv) = ev.kv() else { continue };
                    newest = newest.max(kv.mod_revision());
                    let key = String::from_utf8_lossy(kv.key());
                    let Some(cache) = Self::find(&caches, &key) else {
                        continue;
                    };
                    self.apply(cache, &key, ev.event_type(), kv);
                }
            }
            if newest > 0 {
                self.synced.send_if_modified(|s| {
                    let advanced = newest > *s;
                    *s = (*s).max(newest);
                    advanced
                });
            }
        }
        Ok(())
    }

    fn apply(&self, cache: &Registered, key: &str, typ: EtcdEventType, kv: &etcd_client::KeyValue) {
        let rv = kv.mod_revision();
        match typ {
            EtcdEventType::Put => match entry(cache, key, kv.value(), rv) {
                Ok(entry) => {
                    let k = entry.object.key.clone();
                    write(&cache.state).apply(k, Arc::new(entry), false);
                }
                Err(e) => {
                    tracing::warn!(%key, error = %e, "Skipping an undecodable object in etcd.")
                }
            },
            EtcdEventType::Delete => {
                let prev = read(&cache.state).objects.get(key).cloned();
                let Some(prev) = prev else { return };
                let last = prev
                    .object
                    .value()
                    .and_then(|mut v| with_rv(key, &mut v, rv));
                match last {
                    Ok(object) => {
                        let k = object.key.clone();
                        let entry = Entry {
                            object,
                            attrs: prev.attrs.clone(),
                        };
                        write(&cache.state).apply(k, Arc::new(entry), true);
                    }
                    Err(e) => {
                        tracing::warn!(%key, error = %e, "Could not re-encode a deleted object.")
                    }
                }
            }
        }
    }
}
