//! The PersistentVolume binder (upstream `pkg/controller/volume/persistentvolume`, static
//! binding only): it pairs each claim with a volume ([`matching`]) by pointing the volume's
//! `claimRef` at the claim and the claim's `volumeName` at the volume, keeps both phases in
//! step, and releases a volume whose claim is gone. Provisioning, deleting and recycling
//! volumes are left to others; the binder only reports what upstream reports when it would
//! hand them on.
//!
//! Timeline of a claim: created (Pending) -> a volume found -> volume `claimRef` written ->
//! volume Bound -> claim `volumeName` and bind-completed written -> claim Bound -> deleted ->
//! its volume Released (Retain) or Failed (no deleter or recycler here). A claim whose volume
//! disappears turns Lost.
//!
//! Claims are keyed by `namespace/name`, volumes by name, each in its own queue; everything is
//! queued again every [`RESYNC`], as upstream's periodic resync, since a claim may wait for a
//! volume created later and nothing else would wake it.

pub mod matching;
mod sync;

use crate::events::Recorder;
use crate::informer::{Change, Informers};
use crate::workqueue::{self, WorkQueue, feed, key_of};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::reflector::Store;
use std::sync::Arc;
use std::time::Duration;

/// The controller's name (upstream `names.PersistentVolumeBinderController`).
pub const NAME: &str = "persistentvolume-binder-controller";

/// The component upstream's events carry.
const COMPONENT: &str = "persistentvolume-controller";

/// Upstream's default `--pvclaimbinder-sync-period`.
pub const RESYNC: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a claim or volume failed.
    #[error("{action} {what}: {}", crate::client::message(.source))]
    Write {
        action: &'static str,
        what: String,
        #[source]
        source: kube::Error,
    },
    /// A claim the binder marked as bound names a volume claimed by another claim.
    #[error("invalid binding of claim {claim:?} to volume {volume:?}: volume already claimed")]
    Misbound { claim: String, volume: String },
}

struct Context {
    client: kube::Client,
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
    recorder: Recorder,
    claim_queue: Arc<WorkQueue<String>>,
}

/// Runs the controller.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let (pvc_informer, pv_informer, class_informer) = (
        informers.get::<PersistentVolumeClaim>(),
        informers.get::<PersistentVolume>(),
        informers.get::<StorageClass>(),
    );
    let pvc_changes = pvc_informer.changes();
    let pv_changes = pv_informer.changes();
    pvc_informer.ready().await;
    pv_informer.ready().await;
    class_informer.ready().await;
    tracing::info!("Starting {NAME}.");
    let claim_queue = WorkQueue::<String>::new("pvbinder_claims");
    let volume_queue = WorkQueue::<String>::new("pvbinder_volumes");
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), COMPONENT),
        client,
        claims: pvc_informer.store(),
        volumes: pv_informer.store(),
        classes: class_informer.store(),
        claim_queue: claim_queue.clone(),
    });
    let claims = ctx.claims.clone();
    let all_claims =
        move || -> Vec<String> { claims.state().iter().map(|c| key_of(&c.metadata)).collect() };
    let volumes = ctx.volumes.clone();
    let all_volumes = move || -> Vec<String> {
        volumes
            .state()
            .iter()
            .filter_map(|v| v.metadata.name.clone())
            .collect()
    };
    for key in all_claims() {
        claim_queue.add(key);
    }
    for key in all_volumes() {
        volume_queue.add(key);
    }
    let relist = all_claims.clone();
    // A deleted claim is not synced itself: its volume notices on its own sync, which a claim's
    // deletion queues.
    let (for_claims, claims_to_volumes) = (claim_queue.clone(), volume_queue.clone());
    feed(&for_claims, pvc_changes, move |change| match change {
        Change::Applied { new, .. } => vec![key_of(&new.metadata)],
        Change::Deleted(claim) => {
            if let Some(volume) = claim.spec.as_ref().and_then(|s| s.volume_name.clone()) {
                claims_to_volumes.add(volume);
            }
            Vec::new()
        }
        Change::Relisted => relist(),
    });
    let relist = all_volumes.clone();
    let volumes_to_claims = claim_queue.clone();
    feed(&volume_queue, pv_changes, move |change| match change {
        Change::Applied { new, .. } => new.metadata.name.clone().into_iter().collect(),
        Change::Deleted(volume) => {
            // Its claim turns Lost.
            if let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                volumes_to_claims.add(format!(
                    "{}/{}",
                    r.namespace.as_deref().unwrap_or_default(),
                    r.name.as_deref().unwrap_or_default()
                ));
            }
            Vec::new()
        }
        Change::Relisted => relist(),
    });
    let (resync_claims, resync_volumes) = (claim_queue.clone(), volume_queue.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RESYNC);
        tick.tick().await;
        loop {
            tick.tick().await;
            for key in all_claims() {
                resync_claims.add(key);
            }
            for key in all_volumes() {
                resync_volumes.add(key);
            }
        }
    });
    let claim_ctx = ctx.clone();
    let claims = workqueue::process(claim_queue, 1, "the binding of PVC", move |key| {
        let ctx = claim_ctx.clone();
        async move { sync::claim(&ctx, &key).await }
    });
    let volumes = workqueue::process(volume_queue, 1, "the binding of PV", move |key| {
        let ctx = ctx.clone();
        async move { sync::volume(&ctx, &key).await }
    });
    tokio::join!(claims, volumes);
}
