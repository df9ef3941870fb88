//! The daemonset controller (upstream `pkg/controller/daemon`): one pod of a DaemonSet on every
//! node it belongs on ([`placement`]), pinned there by node affinity on the node's name, and
//! none elsewhere. Failed pods are replaced, extra pods on a node removed, and a changed
//! template rolled out node by node within `maxUnavailable`, or with `maxSurge` by starting
//! the new pod beside the old one ([`rolling`]), each template kept as a ControllerRevision
//! ([`revisions`](crate::revisions)).
//!
//! Timeline of one sync ([`sync`]): caches ready -> claim the DaemonSet's pods -> current
//! revision found or made -> per node: create, keep or delete -> rolling update -> status
//! written -> old revisions cleaned up.
//!
//! Syncs are triggered by the DaemonSet's changes, its pods' (through their controller
//! reference) and every node change (a node may start or stop fitting).

pub mod placement;
pub mod rolling;
pub mod sync;

use crate::client;
use crate::events::Recorder;
use crate::informer::{Change, Informers};
use crate::ownership;
use crate::replicaset::expectations::Expectations;
use crate::workqueue::{WorkQueue, feed, key_of, process};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::Store;
use std::sync::Arc;

/// The controller's name (upstream `names.DaemonSetController`), also its event source.
pub const NAME: &str = "daemonset-controller";

/// The deprecated label carrying the DaemonSet generation a pod was made from.
pub const TEMPLATE_GENERATION: &str = "pod-template-generation";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} for DaemonSet {namespace}/{name}: {}", client::message(.source))]
    Api {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("DaemonSet {namespace}/{name}: {source}")]
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
    daemonsets: Store<DaemonSet>,
    pods: Store<Pod>,
    nodes: Store<Node>,
    revisions: Store<ControllerRevision>,
    expectations: Expectations,
    recorder: Recorder,
    queue: Arc<WorkQueue<String>>,
}

/// Runs the controller until the process stops, syncing up to `concurrency` DaemonSets at once
/// (`--concurrent-daemonset-syncs`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, concurrency: u16) {
    let ds_informer = informers.get::<DaemonSet>();
    let pod_informer = informers.get::<Pod>();
    let node_informer = informers.get::<Node>();
    let rev_informer = informers.get::<ControllerRevision>();
    let (ds_changes, pod_changes, node_changes) = (
        ds_informer.changes(),
        pod_informer.changes(),
        node_informer.changes(),
    );
    ds_informer.ready().await;
    pod_informer.ready().await;
    node_informer.ready().await;
    rev_informer.ready().await;
    let queue = WorkQueue::new("daemonset");
    let ctx = Arc::new(Context {
        client: client.clone(),
        daemonsets: ds_informer.store(),
        pods: pod_informer.store(),
        nodes: node_informer.store(),
        revisions: rev_informer.store(),
        expectations: Expectations::default(),
        recorder: Recorder::new(client, NAME),
        queue: queue.clone(),
    });
    tracing::info!("Starting {NAME}.");
    let all = {
        let daemonsets = ctx.daemonsets.clone();
        move || -> Vec<String> {
            daemonsets
                .state()
                .iter()
                .map(|d| key_of(&d.metadata))
                .collect()
        }
    };
    for key in all() {
        queue.add(key);
    }
    feed(&queue, ds_changes, {
        let all = all.clone();
        move |change| match change {
            Change::Applied { new, .. } => vec![key_of(&new.metadata)],
            Change::Deleted(ds) => vec![key_of(&ds.metadata)],
            Change::Relisted => all(),
        }
    });
    feed(&queue, node_changes, {
        let all = all.clone();
        move |_| all()
    });
    {
        let ctx = ctx.clone();
        feed(&queue, pod_changes, move |change| match change {
            Change::Applied { new, old } => {
                let mut keys: Vec<String> = owner_key(&new).into_iter().collect();
                if let Some(key) = keys.first() {
                    ctx.expectations.observe(key, &new, false);
                }
                if let Some(previous) = old.as_deref().and_then(owner_key)
                    && !keys.contains(&previous)
                {
                    keys.push(previous);
                }
                keys
            }
            Change::Deleted(pod) => {
                let keys: Vec<String> = owner_key(&pod).into_iter().collect();
                if let Some(key) = keys.first() {
                    ctx.expectations.observe(key, &pod, true);
                }
                keys
            }
            Change::Relisted => all(),
        });
    }
    process(queue, concurrency, "the DaemonSet", move |key| {
        let ctx = ctx.clone();
        async move { sync::sync(&ctx, &key).await }
    })
    .await;
}

/// The key of the DaemonSet controlling `pod`, if one does.
fn owner_key(pod: &Pod) -> Option<String> {
    ownership::controller_key(&pod.metadata, "apps/v1", "DaemonSet")
}
