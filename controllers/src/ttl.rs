//! The TTL controller (upstream "ttl-controller"): annotates every Node with
//! `node.alpha.kubernetes.io/ttl`, the seconds a kubelet may cache the Secrets and ConfigMaps
//! its pods use, growing with the cluster so large clusters refresh less often (0 up to 100
//! nodes: the kubelet's own default). The size steps overlap, so a cluster whose size flaps
//! around a boundary does not rewrite every Node each time.

use crate::client;
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, feed, process};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::{Arc, Mutex};

/// The controller's name (upstream `names.TTLController`).
pub const NAME: &str = "ttl-controller";

/// The annotation the kubelet reads (upstream `v1.ObjectTTLAnnotationKey`).
pub const ANNOTATION: &str = "node.alpha.kubernetes.io/ttl";

/// (smallest size, largest size, TTL seconds): a step is entered above the previous step's
/// largest size and left below its own smallest.
const STEPS: [(usize, usize, u32); 6] = [
    (0, 100, 0),
    (90, 500, 15),
    (450, 1000, 30),
    (900, 2000, 60),
    (1800, 10000, 300),
    (9000, usize::MAX, 600),
];

/// The cluster's size and the step it is on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    nodes: usize,
    step: usize,
}

impl Size {
    /// The step for `nodes` counted from scratch.
    pub fn of(nodes: usize) -> Self {
        let mut size = Self::default();
        for _ in 0..nodes {
            size.added();
        }
        size
    }

    pub fn added(&mut self) {
        self.nodes += 1;
        if self.nodes > STEPS[self.step].1 && self.step + 1 < STEPS.len() {
            self.step += 1;
        }
    }

    pub fn removed(&mut self) {
        self.nodes = self.nodes.saturating_sub(1);
        if self.nodes < STEPS[self.step].0 && self.step > 0 {
            self.step -= 1;
        }
    }

    /// The TTL every Node should carry.
    pub fn ttl(&self) -> u32 {
        STEPS[self.step].2
    }
}

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let informer = informers.get::<Node>();
    let changes = informer.changes();
    informer.ready().await;
    let store = informer.store();
    tracing::info!("Starting {NAME}.");
    let size = Arc::new(Mutex::new(Size::of(store.state().len())));
    let queue = WorkQueue::new("ttlcontroller");
    let names = {
        let store = store.clone();
        move || -> Vec<String> {
            store
                .state()
                .iter()
                .filter_map(|n| n.metadata.name.clone())
                .collect()
        }
    };
    for name in names() {
        queue.add(name);
    }
    let counted = size.clone();
    feed(&queue, changes, move |change| {
        let mut size = counted.lock().unwrap_or_else(|p| p.into_inner());
        let before = size.ttl();
        let mut keys = match change {
            Change::Applied { new, old } => {
                if old.is_none() {
                    size.added();
                }
                new.metadata.name.clone().into_iter().collect()
            }
            Change::Deleted(_) => {
                size.removed();
                Vec::new()
            }
            Change::Relisted => {
                *size = Size::of(names().len());
                names()
            }
        };
        // As upstream relies on kubelets' status updates to carry a new TTL to every Node,
        // but without waiting for them.
        if size.ttl() != before {
            keys = names();
        }
        keys
    });
    let ctx = Arc::new((client, store, size));
    process(queue, 5, "the TTL of Node", move |name| {
        let ctx = ctx.clone();
        async move {
            let (client, store, size) = &*ctx;
            let ttl = size.lock().unwrap_or_else(|p| p.into_inner()).ttl();
            sync(client, store, ttl, &name).await
        }
    })
    .await;
}

async fn sync(
    client: &kube::Client,
    store: &Store<Node>,
    ttl: u32,
    name: &str,
) -> Result<(), String> {
    let Some(node) = store.get(&ObjectRef::new(name)) else {
        return Ok(());
    };
    let current = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION))
        .and_then(|v| v.parse::<u32>().ok());
    if current == Some(ttl) {
        return Ok(());
    }
    let patch = serde_json::json!({"metadata": {"annotations": {ANNOTATION: ttl.to_string()}}});
    let api: Api<Node> = Api::all(client.clone());
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if client::is_not_found(&e) => Ok(()),
        Err(e) => Err(format!("annotating Node {name}: {}", client::message(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_clusters_use_the_kubelet_default() {
        assert_eq!(Size::of(0).ttl(), 0);
        assert_eq!(Size::of(100).ttl(), 0);
        assert_eq!(Size::of(101).ttl(), 15);
        assert_eq!(Size::of(1001).ttl(), 60);
        assert_eq!(Size::of(20000).ttl(), 600);
    }

    #[test]
    fn a_size_flapping_around_a_boundary_keeps_its_step() {
        let mut size = Size::of(101);
        assert_eq!(size.ttl(), 15);
        // Back to 100 and even 90: still the larger step.
        for _ in 0..11 {
            size.removed();
        }
        assert_eq!((size.nodes, size.ttl()), (90, 15));
        size.removed();
        assert_eq!((size.nodes, size.ttl()), (89, 0));
        size.added();
        assert_eq!(size.ttl(), 0, "not above 100 again");
    }
}
