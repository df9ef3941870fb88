//! Keeps the RBAC index current: one watch-cache watch per RBAC resource (the state first,
//! then every change), as upstream's authorizer reads shared informers. A broken watch
//! starts over from a fresh state.

use super::rbac::RbacIndex;
use crate::registry::catalog::Catalog;
use crate::storage::{EventType, WatchFrom, WatchItem, WatchRequest};
use futures::StreamExt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

const RESOURCES: [&str; 4] = [
    "clusterroles",
    "clusterrolebindings",
    "roles",
    "rolebindings",
];

/// Starts feeding `index`; resolves once it holds the stored state, so no request is judged
/// on an empty policy.
pub async fn start(catalog: Arc<Catalog>, index: Arc<RwLock<RbacIndex>>) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(run(catalog, index, ready_tx));
    let _ = ready_rx.await;
}

async fn run(
    catalog: Arc<Catalog>,
    index: Arc<RwLock<RbacIndex>>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        if let Err(e) = follow(&catalog, &index, &mut ready).await {
            tracing::warn!("The RBAC authorizer's watch ended ({e}); starting over.");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One pass: watch every RBAC resource from its current state until a watch fails.
async fn follow(
    catalog: &Catalog,
    index: &Arc<RwLock<RbacIndex>>,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), String> {
    let mut streams = Vec::new();
    for resource in RESOURCES {
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
    let mut initial_left = RESOURCES.len();
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
                    EventType::Deleted => index.remove(
                        resource,
                        apimachinery::meta::namespace(&obj),
                        apimachinery::meta::name(&obj),
                    ),
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
