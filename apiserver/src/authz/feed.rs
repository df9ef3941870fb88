//! Keeps an authorizer's index current (RBAC's roles and bindings, the Node authorizer's
//! graph): one watch-cache watch per resource it reads (the state first, then every change),
//! as upstream's authorizers read shared informers. A broken watch starts over from a fresh
//! state.

use crate::registry::catalog::Catalog;
use crate::storage::{EventType, WatchFrom, WatchItem, WatchRequest};
use futures::StreamExt;
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What an authorizer knows, built from stored objects.
pub trait Index: Send + Sync + 'static {
    /// Forgets everything, before the state is read again.
    fn clear(&mut self);
    /// `obj` (of `resource`) was created or changed.
    fn apply(&mut self, resource: &str, obj: &Value);
    /// `obj` (its last state) was deleted.
    fn remove(&mut self, resource: &str, obj: &Value);
}

/// The resources RBAC reads.
pub const RBAC_RESOURCES: &[&str] = &[
    "clusterroles",
    "clusterrolebindings",
    "roles",
    "rolebindings",
];

/// Starts feeding `index` from `resources` (`who` names the authorizer in logs); resolves
/// once it holds the stored state, so no request is judged on an empty index.
pub async fn start<I: Index>(
    catalog: Arc<Catalog>,
    resources: &'static [&'static str],
    index: Arc<RwLock<I>>,
    who: &'static str,
) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(run(catalog, resources, index, who, ready_tx));
    let _ = ready_rx.await;
}

async fn run<I: Index>(
    catalog: Arc<Catalog>,
    resources: &'static [&'static str],
    index: Arc<RwLock<I>>,
    who: &'static str,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        if let Err(e) = follow(&catalog, resources, &index, &mut ready).await {
            tracing::warn!("The {who} authorizer's watch ended ({e}); starting over.");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One pass: watch every resource from its current state until a watch fails.
async fn follow<I: Index>(
    catalog: &Catalog,
    resources: &'static [&'static str],
    index: &Arc<RwLock<I>>,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), String> {
    let mut streams = Vec::new();
    for &resource in resources {
        let store = catalog
            .store(resource)
            .ok_or_else(|| format!("{resource} are not served"))?;
        let stream = store
            .storage
            .watch(&WatchRequest {
                prefix: store.prefix.clone(),
                from: WatchFrom::Latest,
                predicate: Default::default(),
                allow_bookmarks: true,
                send_initial_events: Some(true),
            })
            .await
            .map_err(|e| format!("watching {resource}: {e}"))?;
        streams.push(stream.map(move |item| (resource, item)).boxed());
    }
    index.write().unwrap_or_else(|p| p.into_inner()).clear();
    let mut initial_left = resources.len();
    let mut merged = futures::stream::select_all(streams);
    while let Some((resource, item)) = merged.next().await {
        match item.map_err(|e| format!("watching {resource}: {e}"))? {
            WatchItem::Event(event) => {
                let obj = event
                    .object
                    .value()
                    .map_err(|e| format!("reading a {resource} event: {e}"))?;
                let mut index = index.write().unwrap_or_else(|p| p.into_inner());
                match event.typ {
                    EventType::Added | EventType::Modified => index.apply(resource, &obj),
                    EventType::Deleted => index.remove(resource, &obj),
                }
            }
            WatchItem::InitialEventsEnd(_) => {
                initial_left = initial_left.saturating_sub(1);
                if initial_left == 0
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(());
                }
            }
            WatchItem::Bookmark(_) => {}
        }
    }
    Err("the watch closed".into())
}
