//! The PV protection controller (upstream `pkg/controller/volume/pvprotection`): a
//! PersistentVolume carries the [`FINALIZER`] while it lives, and once it is deleted the
//! finalizer comes off only when the volume is not bound to a claim ([`is_used`]), so an
//! administrator cannot pull a volume from under its claim.
//!
//! Timeline of a volume: created -> finalizer added (by upstream's admission plugin; here by
//! the controller, see [`crate::protection`]) -> deleted (Terminating) -> its `status.phase`
//! is not `Bound` (the volume binder releases it once its claim is gone) -> finalizer removed
//! -> the apiserver deletes it.
//!
//! Work is keyed by the volume's name, queued whenever it changes and needs the finalizer added
//! or removed.

use crate::client;
use crate::informer::{Change, Informers};
use crate::protection::{is_deletion_candidate, needs_finalizer, set_finalizer};
use crate::workqueue::{self, WorkQueue, feed};
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use tracing::Instrument;

/// The controller's name (upstream `names.PersistentVolumeProtectionController`).
pub const NAME: &str = "persistentvolume-protection-controller";

/// The finalizer protecting bound volumes.
pub const FINALIZER: &str = "kubernetes.io/pv-protection";

/// Upstream runs the controller with one worker.
const WORKERS: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Adding or removing the finalizer failed.
    #[error("{action} the protection finalizer of PV {name}: {}", client::message(.source))]
    Finalizer {
        action: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Whether the volume is in use: bound to a claim, as its status (kept by the volume binder)
/// says.
pub fn is_used(pv: &PersistentVolume) -> bool {
    pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
}

fn wants_work(pv: &PersistentVolume) -> bool {
    needs_finalizer(&pv.metadata, FINALIZER) || is_deletion_candidate(&pv.metadata, FINALIZER)
}

fn name_of(pv: &PersistentVolume) -> String {
    pv.metadata.name.clone().unwrap_or_default()
}

fn pending(volumes: &Store<PersistentVolume>) -> Vec<String> {
    volumes
        .state()
        .iter()
        .filter(|v| wants_work(v))
        .map(|v| name_of(v))
        .collect()
}

/// Runs the controller.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let informer = informers.get::<PersistentVolume>();
    // Subscribed before the first look, so nothing falls between.
    let changes = informer.changes();
    let volumes = informer.store();
    informer.ready().await;
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::<String>::new("pvprotection");
    for name in pending(&volumes) {
        queue.add(name);
    }
    let store = volumes.clone();
    feed(&queue, changes, move |change| match change {
        Change::Applied { new, .. } if wants_work(&new) => vec![name_of(&new)],
        Change::Relisted => pending(&store),
        _ => Vec::new(),
    });
    workqueue::process(queue, WORKERS, "the protection of PV", move |name| {
        let (client, volumes) = (client.clone(), volumes.clone());
        async move { sync(client, &volumes, &name).await }
    })
    .await;
}

async fn sync(
    client: kube::Client,
    volumes: &Store<PersistentVolume>,
    name: &str,
) -> Result<(), Error> {
    let Some(pv) = volumes.get(&ObjectRef::new(name)) else {
        return Ok(());
    };
    let span = tracing::info_span!(
        "reconcile",
        controller = NAME,
        name = %name,
        uid = pv.metadata.uid.as_deref().unwrap_or_default(),
    );
    sync_volume(client, &pv, name).instrument(span).await
}

async fn sync_volume(client: kube::Client, pv: &PersistentVolume, name: &str) -> Result<(), Error> {
    let (action, present) = if is_deletion_candidate(&pv.metadata, FINALIZER) {
        if is_used(pv) {
            tracing::debug!("Keeping PersistentVolume {name}: it is bound.");
            return Ok(());
        }
        ("removing", false)
    } else if needs_finalizer(&pv.metadata, FINALIZER) {
        ("adding", true)
    } else {
        return Ok(());
    };
    let api: Api<PersistentVolume> = Api::all(client);
    match set_finalizer(&api, pv, FINALIZER, present).await {
        Ok(()) if !present => {
            tracing::info!("The {NAME} released PersistentVolume {name}: it is not bound.");
            Ok(())
        }
        Ok(()) => Ok(()),
        Err(e) if client::is_not_found(&e) => Ok(()),
        Err(source) => Err(Error::Finalizer {
            action,
            name: name.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PersistentVolumeStatus;

    #[test]
    fn only_bound_volumes_are_in_use() {
        let pv = |phase: Option<&str>| PersistentVolume {
            status: phase.map(|p| PersistentVolumeStatus {
                phase: Some(p.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(is_used(&pv(Some("Bound"))));
        for phase in [
            None,
            Some("Available"),
            Some("Released"),
            Some("Failed"),
            Some("Pending"),
        ] {
            assert!(!is_used(&pv(phase)), "{phase:?}");
        }
    }
}
