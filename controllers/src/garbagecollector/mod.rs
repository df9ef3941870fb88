//! The garbage collector (upstream `pkg/controller/garbagecollector`): deletes objects whose
//! owners are gone, finishes foreground deletions once the blocking dependents are gone, and
//! orphans dependents of owners deleted with the `orphan` finalizer.
//!
//! How it works: a *monitor* (a metadata-only watch) per deletable resource found by
//! discovery, custom resources included (discovery is read again every 30 s), feeds one
//! ownership [`graph`]; graph changes queue [`Work`] for the workers, which look objects up
//! live before acting ([`attempt`]), so a stale graph never deletes what it should not.
//!
//! Timeline of a background deletion: owner deleted -> its node goes -> each dependent is
//! looked at -> its owner reads as gone -> the dependent is deleted (with the propagation its
//! own finalizers ask for). Foreground: owner marked with `foregroundDeletion` -> dependents
//! deleted -> once none blocks, the finalizer is removed and the apiserver deletes the owner.
//! Orphan: owner marked with `orphan` -> references removed from its dependents -> finalizer
//! removed.

pub mod attempt;
pub mod graph;
pub mod resources;

use crate::background::Background;
use crate::workqueue::WorkQueue;
use futures::StreamExt;
use graph::{Graph, Identity, Work};
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use resources::{Resources, Served};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// The controller's name (upstream `names.GarbageCollectorController`).
pub const NAME: &str = "garbage-collector-controller";

/// How often discovery is read again for new resources (upstream's 30 s).
const REDISCOVERY: Duration = Duration::from_secs(30);

/// How long the workers wait for every monitor's first list before starting anyway.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// The collector's shared state.
pub struct Collector {
    client: kube::Client,
    graph: Mutex<Graph>,
    resources: RwLock<Resources>,
    queue: Arc<WorkQueue<Work>>,
    /// Monitors whose first list has not been applied yet.
    unsynced: AtomicUsize,
    synced: Notify,
}

impl Collector {
    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn resources(&self) -> std::sync::RwLockReadGuard<'_, Resources> {
        self.resources
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn queue_all(&self, work: Vec<Work>) {
        for w in work {
            self.queue.add(w);
        }
    }
}

/// Runs the collector until the process stops, with `workers` concurrent workers
/// (`--concurrent-gc-syncs`).
pub async fn run(client: kube::Client, workers: u16) {
    let gc = Arc::new(Collector {
        client,
        graph: Mutex::new(Graph::default()),
        resources: RwLock::new(Resources::default()),
        queue: WorkQueue::new("garbage_collector_attempt_to_delete"),
        unsynced: AtomicUsize::new(0),
        synced: Notify::new(),
    });
    tracing::info!("Starting {NAME}.");
    let _monitors = Background::spawn(keep_monitors(gc.clone()));
    wait_for_sync(&gc).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        tasks.spawn(work(gc.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

async fn wait_for_sync(gc: &Collector) {
    let wait = async {
        // Until discovery has run once and every monitor it started has listed.
        loop {
            let notified = gc.synced.notified();
            if !gc.resources().monitored.is_empty() && gc.unsynced.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    };
    if tokio::time::timeout(SYNC_TIMEOUT, wait).await.is_err() {
        tracing::warn!(
            "The {NAME} starts before all resource monitors have synced; it will catch up."
        );
    } else {
        tracing::info!("All resource monitors of the {NAME} have synced.");
    }
}

/// Reads discovery now and every [`REDISCOVERY`], starting a monitor for each new resource.
async fn keep_monitors(gc: Arc<Collector>) {
    let mut running: HashMap<(String, String), Background> = HashMap::new();
    loop {
        match Resources::discover(&gc.client).await {
            Ok(found) => {
                let wanted: HashSet<(String, String)> = found
                    .monitored
                    .iter()
                    .map(|s| (s.resource.group.clone(), s.resource.plural.clone()))
                    .collect();
                let new: Vec<Served> = found
                    .monitored
                    .iter()
                    .filter(|s| {
                        !running
                            .contains_key(&(s.resource.group.clone(), s.resource.plural.clone()))
                    })
                    .cloned()
                    .collect();
                gc.unsynced.fetch_add(new.len(), Ordering::SeqCst);
                *gc.resources
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = found;
                for served in new {
                    let key = (
                        served.resource.group.clone(),
                        served.resource.plural.clone(),
                    );
                    running.insert(key, Background::spawn(monitor(gc.clone(), served)));
                }
                // Resources no longer served (a deleted CRD) stop being watched.
                running.retain(|key, _| wanted.contains(key));
                gc.synced.notify_waiters();
            }
            Err(e) => tracing::warn!(
                "The {NAME} could not read discovery: {}. Retrying.",
                crate::client::message(&e)
            ),
        }
        tokio::time::sleep(REDISCOVERY).await;
    }
}

/// Watches the metadata of every object of one resource into the graph.
async fn monitor(gc: Arc<Collector>, served: Served) {
    let ar = served.resource.clone();
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(gc.client.clone(), &ar);
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let identity = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| Identity {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
    };
    // The uids this monitor knows, to find what was deleted while a relist was under way.
    let mut known: HashSet<String> = HashSet::new();
    let mut listing: HashSet<String> = HashSet::new();
    let mut first_sync = true;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(
                    "The {NAME} could not watch {}: {e}. Retrying with backoff.",
                    ar.plural
                );
                continue;
            }
        };
        let work = match event {
            watcher::Event::Init => {
                listing.clear();
                Vec::new()
            }
            watcher::Event::InitApply(obj) => {
                let uid = obj.metadata.uid.clone().unwrap_or_default();
                listing.insert(uid);
                gc.graph().observe(identity(&obj.metadata), &obj.metadata)
            }
            watcher::Event::InitDone => {
                let gone: Vec<String> = known.difference(&listing).cloned().collect();
                known = std::mem::take(&mut listing);
                let mut graph = gc.graph();
                let work = gone.iter().flat_map(|uid| graph.remove(uid)).collect();
                drop(graph);
                if first_sync {
                    first_sync = false;
                    gc.unsynced.fetch_sub(1, Ordering::SeqCst);
                    gc.synced.notify_waiters();
                }
                work
            }
            watcher::Event::Apply(obj) => {
                known.insert(obj.metadata.uid.clone().unwrap_or_default());
                gc.graph().observe(identity(&obj.metadata), &obj.metadata)
            }
            watcher::Event::Delete(obj) => {
                let uid = obj.metadata.uid.clone().unwrap_or_default();
                known.remove(&uid);
                gc.graph().remove(&uid)
            }
        };
        gc.queue_all(work);
    }
}

/// One worker: takes work, does it, retries failures with backoff.
async fn work(gc: Arc<Collector>) {
    loop {
        let item = gc.queue.take().await;
        let result = match &item {
            Work::AttemptToDelete(uid) => attempt::attempt_to_delete(&gc, uid).await,
            Work::AttemptToOrphan(uid) => attempt::attempt_to_orphan(&gc, uid).await,
        };
        match result {
            Ok(()) => gc.queue.forget(&item),
            Err(e) if e.is_conflict() => {
                tracing::debug!("The {NAME} will retry {item}: {e}.");
                gc.queue.retry(item.clone());
            }
            Err(e) => {
                tracing::warn!("The {NAME} will retry {item}: {e}.");
                gc.queue.retry(item.clone());
            }
        }
        gc.queue.done(&item);
    }
}
