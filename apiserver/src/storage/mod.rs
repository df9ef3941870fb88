//! Storage: where objects live. [`Storage`] is the small interface the registry writes through;
//! [`etcd::EtcdStorage`] implements it on etcd (one instance per resource, keys
//! `<prefix>/<resource>/<namespace>/<name>`, JSON values, `resourceVersion` = etcd revision), and
//! [`cacher::Cacher`] decorates it with the watch cache that serves lists and watches from memory.
//!
//! Objects cross this interface as serialized JSON ([`Object`]) so that the bytes read from etcd
//! (with `metadata.resourceVersion` filled in) are encoded once and shared by every list response
//! and watcher. Values encrypted at rest ([`encryption`]) are decrypted where they are read from
//! etcd, so everything above storage sees plaintext.

pub mod cacher;
pub mod codec;
pub mod compactor;
pub mod continue_token;
pub mod encryption;
mod errors;
pub mod etcd;
pub mod leases;
pub mod predicate;

pub use errors::{Error, Result};
pub use predicate::{Attrs, AttrsFn, Predicate};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::Value;
use std::sync::Arc;

/// One stored object as JSON, with `metadata.resourceVersion` set to `rv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub key: Arc<str>,
    pub rv: i64,
    pub json: Bytes,
    /// Read from etcd with an encryption key or provider other than the one writes use: an
    /// update must write it back even when nothing changed, so `kubectl replace` moves it to
    /// the current key (upstream's "stale" transform). Always false without encryption.
    pub stale: bool,
}

impl Object {
    /// Parses the JSON. Storage only holds what it validated on the way in, so failure means a
    /// foreign writer put garbage under our prefix.
    pub fn value(&self) -> Result<Value> {
        serde_json::from_slice(&self.json).map_err(|e| Error::Corrupt {
            key: self.key.to_string(),
            reason: e.to_string(),
        })
    }
}

/// Which state a read must reflect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAt {
    /// A consistent (quorum) read of the latest state: `resourceVersion` unset.
    Latest,
    /// Any state at least this new: `resourceVersion=N` (`0` means any state at all).
    NotOlderThan(i64),
    /// Exactly this revision: `resourceVersionMatch=Exact`.
    Exact(i64),
}

/// What a list asks for.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// Key prefix ending in `/`, e.g. `/registry/configmaps/` or `/registry/configmaps/ns/`.
    pub prefix: String,
    pub read: ReadAt,
    /// Maximum number of items (`limit`); `None` means all.
    pub limit: Option<i64>,
    /// Decoded `continue` token: the revision of the first page and the key to resume at.
    pub continue_from: Option<continue_token::Token>,
    pub predicate: Predicate,
}

/// One page of a list.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub items: Vec<Object>,
    /// The revision the page reflects (`metadata.resourceVersion` of the list).
    pub rv: i64,
    /// Token for the next page, when there is one.
    pub continue_token: Option<String>,
    /// How many more objects follow (only when no selector filtered the page).
    pub remaining: Option<i64>,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// `resourceVersion` unset: the current state (as synthetic ADDED events), then changes.
    Latest,
    /// `resourceVersion=0`: any recent state (as ADDED events), then changes.
    Any,
    /// Changes after this revision.
    After(i64),
}

/// What a watch asks for.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub prefix: String,
    pub from: WatchFrom,
    pub predicate: Predicate,
    pub allow_bookmarks: bool,
    /// `sendInitialEvents=true`: the state first, then a bookmark marking its end.
    pub send_initial_events: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change as a watcher sees it, with its wire form (`{"type":..,"object":..}` and a newline)
/// encoded at most once however many watchers send it.
#[derive(Debug)]
pub struct WatchEvent {
    pub typ: EventType,
    pub object: Object,
    line: std::sync::OnceLock<Bytes>,
}

impl WatchEvent {
    pub fn new(typ: EventType, object: Object) -> Self {
        Self {
            typ,
            object,
            line: std::sync::OnceLock::new(),
        }
    }

    /// The JSON watch-event line for this event, encoded on first use.
    pub fn json_line(&self) -> &Bytes {
        self.line.get_or_init(|| {
            let mut out = Vec::with_capacity(self.object.json.len() + 40);
            out.extend_from_slice(b"{\"type\":\"");
            out.extend_from_slice(self.typ.as_str().as_bytes());
            out.extend_from_slice(b"\",\"object\":");
            out.extend_from_slice(&self.object.json);
            out.extend_from_slice(b"}\n");
            Bytes::from(out)
        })
    }
}

/// What a watch stream yields.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// A change, as the watcher should see it (an update that moves an object out of the
    /// watcher's selector is a `Deleted`).
    Event(Arc<WatchEvent>),
    /// Progress: everything up to this revision has been sent.
    Bookmark(i64),
    /// The end of the initial events of a `sendInitialEvents` watch, at this revision.
    InitialEventsEnd(i64),
}

pub type WatchStream = BoxStream<'static, Result<WatchItem>>;

/// Preconditions a write must meet, as in `DeleteOptions.preconditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl Preconditions {
    /// Checks the preconditions against the current object; the error says which failed, in
    /// upstream's words.
    pub fn check(&self, key: &str, current: &Value) -> Result<()> {
        let meta = current.get("metadata");
        let field = |f: &str| {
            meta.and_then(|m| m.get(f))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        if let Some(uid) = &self.uid
            && uid != field("uid")
        {
            return Err(Error::PreconditionFailed {
                key: key.to_string(),
                message: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    field("uid")
                ),
            });
        }
        if let Some(rv) = &self.resource_version
            && rv != field("resourceVersion")
        {
            return Err(Error::PreconditionFailed {
                key: key.to_string(),
                message: format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    field("resourceVersion")
                ),
            });
        }
        Ok(())
    }
}

/// The storage interface. Every implementation passes the shared suite in `tests/storage.rs`.
///
/// Writes are compare-and-swap on the object's revision; the retry loop for read-modify-write
/// lives in [`guaranteed_update`], so callers can run async work (admission) between tries.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Stores a new object. Fails with [`Error::AlreadyExists`] if the key exists.
    async fn create(&self, key: &str, obj: &Value) -> Result<Object>;

    /// Reads one object.
    async fn get(&self, key: &str, read: ReadAt) -> Result<Object>;

    /// Replaces the object if its revision is still `expected_rv`; otherwise
    /// [`Error::Conflict`] (or [`Error::NotFound`] if it is gone).
    async fn update(&self, key: &str, expected_rv: i64, obj: &Value) -> Result<Object>;

    /// Deletes the object if its revision is still `expected_rv`. Returns its last state with
    /// `resourceVersion` set to the revision of the deletion.
    async fn delete(&self, key: &str, expected_rv: i64) -> Result<Object>;

    /// Lists objects under a prefix.
    async fn list(&self, req: &ListRequest) -> Result<ListPage>;

    /// Watches objects under a prefix.
    async fn watch(&self, req: &WatchRequest) -> Result<WatchStream>;

    /// The latest revision of the store, by a consistent read.
    async fn current_revision(&self) -> Result<i64>;

    /// The object as the watch cache holds it now, without waiting for the cache or asking
    /// etcd; `None` when it is not there (or the store has no cache). A read-modify-write
    /// starts from it and reads etcd only when that try fails, changes nothing or loses the
    /// race (upstream's cacher hands GuaranteedUpdate its cached object the same way).
    fn cached(&self, _key: &str) -> Option<Object> {
        None
    }
}

/// An object from whatever state the store has (the watch cache), else by a consistent read:
/// what admission and authentication look up, where an object created a moment ago must
/// count. `Ok(None)` when it does not exist.
pub async fn read_recent<S: Storage + ?Sized>(storage: &S, key: &str) -> Result<Option<Object>> {
    match storage.get(key, ReadAt::NotOlderThan(0)).await {
        Ok(o) => return Ok(Some(o)),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    read_latest(storage, key).await
}

/// Every object under `prefix` in whatever state the store has (the watch cache), parsed:
/// what admission plugins read their policy objects from.
pub async fn list_recent<S: Storage + ?Sized>(storage: &S, prefix: &str) -> Result<Vec<Value>> {
    let page = storage
        .list(&ListRequest {
            prefix: prefix.to_string(),
            read: ReadAt::NotOlderThan(0),
            limit: None,
            continue_from: None,
            predicate: Default::default(),
        })
        .await?;
    page.items.iter().map(Object::value).collect()
}

/// How many times a read-modify-write retries after concurrent writes before giving up.
pub const MAX_UPDATE_TRIES: usize = 64;

/// The read of a read-modify-write: the object's latest state, or `None` if it does not exist.
pub async fn read_latest<S: Storage + ?Sized>(storage: &S, key: &str) -> Result<Option<Object>> {
    match storage.get(key, ReadAt::Latest).await {
        Ok(o) => Ok(Some(o)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The write of a read-modify-write, guarded by the revision read. `Ok(None)` means a
/// concurrent write got there first: read again and retry. This is upstream's
/// `GuaranteedUpdate` loop split in two, so the step between read and write can be async
/// (admission, allocation) without the loop owning an async closure.
pub async fn write_if_unchanged<S: Storage + ?Sized>(
    storage: &S,
    key: &str,
    existing: Option<&Object>,
    action: &UpdateAction,
) -> Result<Option<Object>> {
    let result = match (action, existing) {
        (UpdateAction::Unchanged, Some(o)) if !o.stale => return Ok(Some(o.clone())),
        // Unchanged but stored under an old key: rewrite it as it is, which re-encrypts it
        // with the write key (upstream's GuaranteedUpdate skips a no-op write unless stale).
        (UpdateAction::Unchanged, Some(o)) => storage.update(key, o.rv, &o.value()?).await,
        (UpdateAction::Unchanged | UpdateAction::Delete, None) => {
            return Err(Error::NotFound {
                key: key.to_string(),
            });
        }
        (UpdateAction::Write(v), Some(o)) => storage.update(key, o.rv, v).await,
        (UpdateAction::Write(v), None) => storage.create(key, v).await,
        (UpdateAction::Delete, Some(o)) => storage.delete(key, o.rv).await,
    };
    match result {
        Ok(o) => Ok(Some(o)),
        Err(Error::Conflict { .. } | Error::AlreadyExists { .. } | Error::NotFound { .. }) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// What the step of a read-modify-write decided.
#[derive(Debug)]
pub enum UpdateAction {
    /// Nothing to write: return the current object.
    Unchanged,
    /// Write this object.
    Write(Value),
    /// Delete the object (used by deletion once finalizers are gone).
    Delete,
}
