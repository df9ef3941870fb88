//! The statefulset controller (upstream `pkg/controller/statefulset`): pods with stable names
//! and storage ([`identity`]), `<set>-0` to `<set>-(replicas-1)`, created in order and each only
//! once the one before is running and ready (`OrderedReady`), or all at once (`Parallel`);
//! removed from the highest ordinal down; a new template rolled out from the highest ordinal
//! down to the `partition`, one pod at a time, each template kept as a ControllerRevision
//! ([`revisions`](crate::revisions)). Claims are owned as the retention policy says
//! ([`retention`]), so the garbage collector deletes them with the set or the condemned pod.
//!
//! Timeline of one sync ([`sync`]): claim the set's pods -> current and update revisions ->
//! create missing pods (their claims first), replace failed ones, repair pods' identity labels
//! and claim owners -> point condemned pods' claims at them -> delete pods beyond the replicas
//! -> roll the update -> status written -> old revisions cleaned up.

pub mod identity;
pub mod retention;
pub mod sync;

use crate::client;
use crate::events::Recorder;
use crate::informer::{Change, Informers};
use crate::ownership;
use crate::workqueue::{WorkQueue, feed, key_of, process};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::runtime::reflector::Store;
use std::sync::Arc;

/// The controller's name (upstream `names.StatefulSetController`), also its event source.
pub const NAME: &str = "statefulset-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} for StatefulSet {namespace}/{name}: {}", client::message(.source))]
    Api {
        action: String,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("StatefulSet {namespace}/{name}: {source}")]
    Revision {
        namespace: String,
        name: String,
        #[source]
        source: crate::revisions::RevisionError,
    },
}

/// What every sync shares.
pub struct Context {
    client: kube::Client,
    sets: Store<StatefulSet>,
    pods: Store<Pod>,
    claims: Store<PersistentVolumeClaim>,
    revisions: Store<ControllerRevision>,
    recorder: Recorder,
    queue: Arc<WorkQueue<String>>,
}

/// Runs the controller until the process stops, syncing up to `concurrency` StatefulSets at
/// once (`--concurrent-statefulset-syncs`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, concurrency: u16) {
    let set_informer = informers.get::<StatefulSet>();
    let pod_informer = informers.get::<Pod>();
    let claim_informer = informers.get::<PersistentVolumeClaim>();
    let rev_informer = informers.get::<ControllerRevision>();
    let (set_changes, pod_changes) = (set_informer.changes(), pod_informer.changes());
    set_informer.ready().await;
    pod_informer.ready().await;
    claim_informer.ready().await;
    rev_informer.ready().await;
    let queue = WorkQueue::new("statefulset");
    let ctx = Arc::new(Context {
        client: client.clone(),
        sets: set_informer.store(),
        pods: pod_informer.store(),
        claims: claim_informer.store(),
        revisions: rev_informer.store(),
        recorder: Recorder::new(client, NAME),
        queue: queue.clone(),
    });
    tracing::info!("Starting {NAME}.");
    let all = {
        let sets = ctx.sets.clone();
        move || -> Vec<String> { sets.state().iter().map(|s| key_of(&s.metadata)).collect() }
    };
    for key in all() {
        queue.add(key);
    }
    feed(&queue, set_changes, {
        let all = all.clone();
        move |change| match change {
            Change::Applied { new, .. } => vec![key_of(&new.metadata)],
            Change::Deleted(set) => vec![key_of(&set.metadata)],
            Change::Relisted => all(),
        }
    });
    {
        let sets = ctx.sets.clone();
        feed(&queue, pod_changes, move |change| match change {
            Change::Applied { new, old } => {
                let mut keys: Vec<String> = owner_key(&new).into_iter().collect();
                if keys.is_empty() {
                    // An orphan: the sets that may adopt it.
                    keys.extend(
                        sets.state()
                            .iter()
                            .filter(|s| s.metadata.namespace == new.metadata.namespace)
                            .filter(|s| {
                                crate::selector::matches(
                                    s.spec.as_ref().map(|x| &x.selector),
                                    new.metadata.labels.as_ref(),
                                )
                            })
                            .map(|s| key_of(&s.metadata)),
                    );
                }
                if let Some(previous) = old.as_deref().and_then(owner_key)
                    && !keys.contains(&previous)
                {
                    keys.push(previous);
                }
                keys
            }
            Change::Deleted(pod) => owner_key(&pod).into_iter().collect(),
            Change::Relisted => all(),
        });
    }
    process(queue, concurrency, "the StatefulSet", move |key| {
        let ctx = ctx.clone();
        async move { sync::sync(&ctx, &key).await }
    })
    .await;
}

/// The key of the StatefulSet controlling `pod`, if one does.
fn owner_key(pod: &Pod) -> Option<String> {
    ownership::controller_key(&pod.metadata, "apps/v1", "StatefulSet")
}
