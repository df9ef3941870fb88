//! Shared informers, as client-go's `SharedInformerFactory` gives upstream controllers: one
//! watch per resource for every controller in the process, a cache ([`Store`]) they all read,
//! and a stream of [`Change`]s each of them subscribes to.
//!
//! Timeline of one informer: first asked for -> list + watch (kube-runtime's `watcher`, with
//! its backoff) -> the store is ready -> every added, changed or deleted object is applied to
//! the store and then announced -> after a relist (a broken watch, a 410) [`Change::Relisted`]
//! tells subscribers to look at everything again, since deletions during the gap were missed.
//!
//! Wait for [`Informer::ready`], never for the store's own `wait_until_ready`: kube-runtime's
//! readiness signal wakes only the last of several tasks waiting at once, and a shared store
//! has several.

use futures::{Stream, StreamExt, TryStreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// How many changes a slow subscriber may fall behind before it is told to relist instead.
const BACKLOG: usize = 16 * 1024;

/// What happened to one object of the watched resource.
#[derive(Debug)]
pub enum Change<K> {
    /// Added or changed; `old` is what the cache held before, if anything.
    Applied { new: Arc<K>, old: Option<Arc<K>> },
    /// Deleted; the object as last seen.
    Deleted(Arc<K>),
    /// The cache was rebuilt (or this subscriber fell behind): look at every object again.
    Relisted,
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Applied { new, old } => Self::Applied {
                new: new.clone(),
                old: old.clone(),
            },
            Self::Deleted(o) => Self::Deleted(o.clone()),
            Self::Relisted => Self::Relisted,
        }
    }
}

/// The kinds an informer can watch: built-in, cluster-wide listable types.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

/// How one process's informer for a kind lists and keeps its objects (upstream sets these
/// with `InformerFor` and a transform); the default keeps every object whole.
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// Only objects matching this field selector are listed and watched; one leaving it is
    /// seen as deleted.
    pub field_selector: Option<String>,
    /// Drop `metadata.managedFields` before caching: they are most of a small object's
    /// memory, and only server-side apply reads them.
    pub strip_managed_fields: bool,
}

/// One resource's cache and change feed.
pub struct Informer<K: Watched> {
    store: Store<K>,
    changes: broadcast::Sender<Change<K>>,
    /// Becomes true once the first list is in the store.
    synced: tokio::sync::watch::Receiver<bool>,
    /// The watch task, stopped when the last user of the informer is gone.
    task: tokio::task::AbortHandle,
}

impl<K: Watched> Drop for Informer<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<K: Watched> Informer<K> {
    /// Starts watching every object of `K` in the cluster.
    fn start(client: kube::Client, tuning: Tuning) -> Arc<Self> {
        let (store, mut writer) = reflector::store::<K>();
        let (changes, _) = broadcast::channel(BACKLOG);
        let (mark_synced, synced) = tokio::sync::watch::channel(false);
        let kind = K::kind(&());
        let (feed, reader) = (changes.clone(), store.clone());
        let task = tokio::spawn(async move {
            let (changes, store) = (feed, reader);
            let mut config = watcher::Config::default();
            if let Some(selector) = &tuning.field_selector {
                config = config.fields(selector);
            }
            let strip = tuning.strip_managed_fields;
            let mut events = watcher(Api::<K>::all(client), config)
                .default_backoff()
                .map_ok(move |event| {
                    if strip {
                        event.modify(|o| o.meta_mut().managed_fields = None)
                    } else {
                        event
                    }
                })
                .boxed();
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::warn!("Watching {kind} failed: {e}. Retrying with backoff.");
                        continue;
                    }
                };
                let change = match &event {
                    watcher::Event::Apply(obj) => {
                        let key = ObjectRef::from_obj(obj);
                        let old = store.get(&key);
                        writer.apply_watcher_event(&event);
                        store.get(&key).map(|new| Change::Applied { new, old })
                    }
                    watcher::Event::Delete(obj) => {
                        let gone = store
                            .get(&ObjectRef::from_obj(obj))
                            .unwrap_or_else(|| Arc::new(obj.clone()));
                        writer.apply_watcher_event(&event);
                        Some(Change::Deleted(gone))
                    }
                    watcher::Event::InitDone => {
                        writer.apply_watcher_event(&event);
                        mark_synced.send_replace(true);
                        Some(Change::Relisted)
                    }
                    watcher::Event::Init | watcher::Event::InitApply(_) => {
                        writer.apply_watcher_event(&event);
                        None
                    }
                };
                if let Some(change) = change {
                    // Nobody subscribed yet is not an error: the store has the object.
                    let _ = changes.send(change);
                }
            }
        });
        Arc::new(Self {
            store,
            changes,
            synced,
            task: task.abort_handle(),
        })
    }

    /// The cache; complete once [`Informer::ready`] returns.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Waits until the first list has been applied to the store.
    pub async fn ready(&self) {
        let mut synced = self.synced.clone();
        // An error means the watch task is gone, which only happens at shutdown.
        let _ = synced.wait_for(|s| *s).await;
    }

    /// Changes from now on. A subscriber that falls behind gets [`Change::Relisted`] in place
    /// of what it missed.
    pub fn changes(&self) -> impl Stream<Item = Change<K>> + Send + 'static {
        BroadcastStream::new(self.changes.subscribe()).map(|item| match item {
            Ok(change) => change,
            Err(BroadcastStreamRecvError::Lagged(_)) => Change::Relisted,
        })
    }
}

/// The informers of one process, started on first use and shared from then on.
pub struct Informers {
    client: kube::Client,
    started: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    tunings: Mutex<HashMap<TypeId, Tuning>>,
}

impl Informers {
    /// Informers that watch through `client` (upstream gives them their own identity,
    /// `shared-informers`).
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            started: Mutex::new(HashMap::new()),
            tunings: Mutex::new(HashMap::new()),
        }
    }

    /// Sets how `K`'s informer lists and keeps objects. Call before the first
    /// [`Informers::get`] for `K`: a started informer keeps the tuning it started with.
    pub fn tune<K: Watched>(&self, tuning: Tuning) {
        self.tunings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(TypeId::of::<K>(), tuning);
    }

    fn tuning<K: Watched>(&self) -> Tuning {
        self.tunings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&TypeId::of::<K>())
            .cloned()
            .unwrap_or_default()
    }

    /// The client the informers watch through, for controllers that watch on their own
    /// (their roles may not list what they watch; upstream's watch through shared informers).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The informer for `K`, started if this is the first call for it.
    pub fn get<K: Watched>(&self) -> Arc<Informer<K>> {
        let mut started = self
            .started
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = started
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Informer::<K>::start(self.client.clone(), self.tuning::<K>()));
        match entry.clone().downcast::<Informer<K>>() {
            Ok(informer) => informer,
            // Unreachable: the map is keyed by the informer's own type.
            Err(_) => Informer::<K>::start(self.client.clone(), self.tuning::<K>()),
        }
    }
}

impl Debug for Informers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Informers")
    }
}
