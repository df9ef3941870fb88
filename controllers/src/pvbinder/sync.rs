//! One claim's or one volume's sync (upstream `syncClaim` and `syncVolume`), and the binding
//! both can finish. Every write goes to the apiserver against the cached object's
//! resourceVersion; a conflict fails the sync and the queue retries it with a fresh copy.

use super::matching::{self, check_satisfies, claim_class, find_best_match, is_bound_to};
use super::{Context, Error, NAME};
use crate::client;
use crate::events::EventType;
use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeStatus,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use tracing::Instrument;

/// On a claim: the binder has finished binding it.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a claim or volume: the binder, not the user, set `volumeName` or `claimRef`.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a claim: the node the scheduler picked for a WaitForFirstConsumer claim.
const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a claim: who is expected to provision its volume.
const PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
const BETA_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// On a volume: who provisioned it.
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// On a StorageClass: it is the default.
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";

fn has_annotation(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(key))
}

fn set_annotation(
    meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
    value: &str,
) {
    meta.annotations
        .get_or_insert_default()
        .insert(key.to_string(), value.to_string());
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn write_error(action: &'static str, what: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Write {
        action,
        what,
        source,
    }
}

fn claim_api(ctx: &Context, claim: &PersistentVolumeClaim) -> Api<PersistentVolumeClaim> {
    let namespace = claim.metadata.namespace.as_deref().unwrap_or_default();
    Api::namespaced(ctx.client.clone(), namespace)
}

/// Syncs the claim `namespace/name`.
pub async fn claim(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(claim) = ctx.claims.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let span = crate::workqueue::reconcile_span(NAME, &claim.metadata);
    let result = if has_annotation(&claim.metadata, BIND_COMPLETED) {
        sync_bound_claim(ctx, &claim, key).instrument(span).await
    } else {
        sync_unbound_claim(ctx, &claim, key).instrument(span).await
    };
    not_found_is_done(result)
}

/// An object gone while being written is no longer this sync's business.
fn not_found_is_done(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(Error::Write { source, .. }) if client::is_not_found(&source) => Ok(()),
        other => other,
    }
}

fn class_named(ctx: &Context, name: &str) -> Option<std::sync::Arc<StorageClass>> {
    ctx.classes.get(&ObjectRef::new(name))
}

/// Whether the claim's class waits for a pod to be scheduled before binding.
fn delays_binding(ctx: &Context, claim: &PersistentVolumeClaim) -> bool {
    let class = claim_class(claim);
    !class.is_empty()
        && class_named(ctx, class)
            .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
}

/// The default StorageClass: of several, the newest (upstream `GetDefaultClass`).
fn default_class(ctx: &Context) -> Option<String> {
    let is_default = |c: &StorageClass| {
        [DEFAULT_CLASS, BETA_DEFAULT_CLASS].iter().any(|k| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(*k))
                .is_some_and(|v| v == "true")
        })
    };
    let mut defaults: Vec<_> = ctx
        .classes
        .state()
        .into_iter()
        .filter(|c| is_default(c))
        .collect();
    defaults.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
            .then(a.metadata.name.cmp(&b.metadata.name))
    });
    defaults.first().and_then(|c| c.metadata.name.clone())
}

async fn sync_unbound_claim(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    key: &str,
) -> Result<(), Error> {
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or_default();
    if volume_name.is_empty() {
        let delay = delays_binding(ctx, claim);
        let volumes = ctx.volumes.state();
        if let Some(volume) = find_best_match(claim, volumes.iter().map(|v| &**v), delay) {
            return bind(ctx, volume, claim, key).await;
        }
        // Nothing static fits; a claim that never chose a class gets the default one and is
        // synced again with it (upstream's retroactive default class).
        if !matching::claim_has_class(claim)
            && let Some(class) = default_class(ctx)
        {
            let mut updated = claim.clone();
            if let Some(spec) = updated.spec.as_mut() {
                spec.storage_class_name = Some(class);
            }
            claim_api(ctx, claim)
                .replace(&name_of(&claim.metadata), &PostParams::default(), &updated)
                .await
                .map_err(write_error(
                    "assigning the default class to claim",
                    key.to_string(),
                ))?;
            return Ok(());
        }
        let class = claim_class(claim);
        if delay && !has_annotation(&claim.metadata, SELECTED_NODE) {
            ctx.recorder.record(
                claim,
                EventType::Normal,
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding".to_string(),
            );
        } else if !class.is_empty() {
            return hand_to_provisioner(ctx, claim, class, key).await;
        } else {
            ctx.recorder.record(
                claim,
                EventType::Normal,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set"
                    .to_string(),
            );
        }
        return set_claim_phase(ctx, claim, "Pending", None, key).await;
    }
    let Some(volume) = ctx.volumes.get(&ObjectRef::new(volume_name)) else {
        // The user named a volume that does not exist (yet).
        return set_claim_phase(ctx, claim, "Pending", None, key).await;
    };
    if volume.spec.as_ref().is_none_or(|s| s.claim_ref.is_none()) {
        if let Err(why) = check_satisfies(&volume, claim) {
            ctx.recorder.record(
                claim,
                EventType::Warning,
                "VolumeMismatch",
                format!("Cannot bind to requested volume {volume_name:?}: {why}"),
            );
            return set_claim_phase(ctx, claim, "Pending", None, key).await;
        }
        return bind(ctx, &volume, claim, key).await;
    }
    if is_bound_to(&volume, claim) {
        return bind(ctx, &volume, claim, key).await;
    }
    if has_annotation(&claim.metadata, BOUND_BY_CONTROLLER) {
        return Err(Error::Misbound {
            claim: key.to_string(),
            volume: volume_name.to_string(),
        });
    }
    // The named volume belongs to someone else for now; wait for it.
    set_claim_phase(ctx, claim, "Pending", None, key).await
}

/// What upstream does for a claim with a class and no volume: in-tree provisioners are not
/// available here, so it fails like upstream does for one it lacks; any other provisioner is
/// external, named on the claim and waited for.
async fn hand_to_provisioner(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    class: &str,
    key: &str,
) -> Result<(), Error> {
    let Some(storage_class) = class_named(ctx, class) else {
        ctx.recorder.record(
            claim,
            EventType::Warning,
            "ProvisioningFailed",
            format!("storageclass.storage.k8s.io {class:?} not found"),
        );
        return set_claim_phase(ctx, claim, "Pending", None, key).await;
    };
    let provisioner = storage_class.provisioner.as_str();
    if provisioner.starts_with("kubernetes.io/") {
        ctx.recorder.record(
            claim,
            EventType::Warning,
            "ProvisioningFailed",
            "no provisionable volume plugin matched".to_string(),
        );
        return set_claim_phase(ctx, claim, "Pending", None, key).await;
    }
    let annotations = claim.metadata.annotations.as_ref();
    let named = [PROVISIONER, BETA_PROVISIONER].iter().all(|k| {
        annotations
            .and_then(|a| a.get(*k))
            .is_some_and(|v| v == provisioner)
    });
    if !named {
        let mut updated = claim.clone();
        set_annotation(&mut updated.metadata, PROVISIONER, provisioner);
        set_annotation(&mut updated.metadata, BETA_PROVISIONER, provisioner);
        claim_api(ctx, claim)
            .replace(&name_of(&claim.metadata), &PostParams::default(), &updated)
            .await
            .map_err(write_error(
                "naming the provisioner of claim",
                key.to_string(),
            ))?;
    }
    ctx.recorder.record(
        claim,
        EventType::Normal,
        "ExternalProvisioning",
        format!(
            "Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
        ),
    );
    Ok(())
}

async fn sync_bound_claim(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    key: &str,
) -> Result<(), Error> {
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or_default();
    let lost = |message: &'static str| lose_claim(ctx, claim, message, key);
    if volume_name.is_empty() {
        return lost(
            "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
        )
        .await;
    }
    let Some(volume) = ctx.volumes.get(&ObjectRef::new(volume_name)) else {
        return lost("Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            .await;
    };
    let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    match claim_ref {
        // Unbound by someone, or our own write not seen yet: binding again settles both.
        None => bind(ctx, &volume, claim, key).await,
        Some(r) if r.uid == claim.metadata.uid => bind(ctx, &volume, claim, key).await,
        Some(_) => {
            set_claim_phase_with_event(
                ctx,
                claim,
                "ClaimMisbound",
                "Two claims are bound to the same volume, this one is bound incorrectly",
                key,
            )
            .await
        }
    }
}

async fn lose_claim(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    message: &'static str,
    key: &str,
) -> Result<(), Error> {
    set_claim_phase_with_event(ctx, claim, "ClaimLost", message, key).await
}

/// Marks the claim Lost, telling why only when that is news.
async fn set_claim_phase_with_event(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    reason: &str,
    message: &str,
    key: &str,
) -> Result<(), Error> {
    if claim_phase(claim) == "Lost" {
        return Ok(());
    }
    set_claim_phase(ctx, claim, "Lost", None, key).await?;
    ctx.recorder
        .record(claim, EventType::Warning, reason, message.to_string());
    Ok(())
}

fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn volume_phase(volume: &PersistentVolume) -> &str {
    volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Writes the claim's phase, with the volume's access modes and capacity when bound and
/// without them otherwise; nothing is written when nothing changes.
async fn set_claim_phase(
    ctx: &Context,
    claim: &PersistentVolumeClaim,
    phase: &str,
    volume: Option<&PersistentVolume>,
    key: &str,
) -> Result<(), Error> {
    let status = claim.status.clone().unwrap_or_default();
    let spec = volume.and_then(|v| v.spec.as_ref());
    let wanted = PersistentVolumeClaimStatus {
        phase: Some(phase.to_string()),
        access_modes: spec.and_then(|s| s.access_modes.clone()),
        capacity: spec.and_then(|s| s.capacity.clone()),
        ..status.clone()
    };
    if wanted == status {
        return Ok(());
    }
    let mut updated = claim.clone();
    updated.status = Some(wanted);
    claim_api(ctx, claim)
        .replace_status(&name_of(&claim.metadata), &PostParams::default(), &updated)
        .await
        .map_err(write_error("updating the status of claim", key.to_string()))?;
    Ok(())
}

/// Writes the volume's phase and message; nothing is written when nothing changes.
async fn set_volume_phase(
    ctx: &Context,
    volume: &PersistentVolume,
    phase: &str,
    message: Option<&str>,
) -> Result<PersistentVolume, Error> {
    let status = volume.status.clone().unwrap_or_default();
    let wanted = PersistentVolumeStatus {
        phase: Some(phase.to_string()),
        message: message.map(str::to_string),
        ..status.clone()
    };
    if wanted == status {
        return Ok(volume.clone());
    }
    let name = name_of(&volume.metadata);
    let mut updated = volume.clone();
    updated.status = Some(wanted);
    Api::<PersistentVolume>::all(ctx.client.clone())
        .replace_status(&name, &PostParams::default(), &updated)
        .await
        .map_err(write_error("updating the status of volume", name))
}

/// Binds volume and claim (upstream `bind`): the volume's `claimRef` first, so a crash in
/// between leaves a volume reserved for the claim rather than a claim pointing at a volume
/// someone else may take.
async fn bind(
    ctx: &Context,
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
    key: &str,
) -> Result<(), Error> {
    let volume_name = name_of(&volume.metadata);
    let volumes = Api::<PersistentVolume>::all(ctx.client.clone());
    let reference = ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("PersistentVolumeClaim".to_string()),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: None,
    };
    let current = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    let volume = if current.is_some_and(|r| {
        r.uid == claim.metadata.uid
            && r.name == claim.metadata.name
            && r.namespace == claim.metadata.namespace
    }) {
        volume.clone()
    } else {
        let mut updated = volume.clone();
        // A volume the user pre-bound keeps its annotations as they are.
        if !is_bound_to(volume, claim) {
            set_annotation(&mut updated.metadata, BOUND_BY_CONTROLLER, "yes");
        }
        if let Some(spec) = updated.spec.as_mut() {
            spec.claim_ref = Some(reference);
        }
        volumes
            .replace(&volume_name, &PostParams::default(), &updated)
            .await
            .map_err(write_error("binding volume", volume_name.clone()))?
    };
    let volume = set_volume_phase(ctx, &volume, "Bound", None).await?;

    let spec_volume = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref());
    let claim = if spec_volume != Some(volume_name.as_str())
        || !has_annotation(&claim.metadata, BIND_COMPLETED)
    {
        let mut updated = claim.clone();
        if spec_volume != Some(volume_name.as_str()) {
            if let Some(spec) = updated.spec.as_mut() {
                spec.volume_name = Some(volume_name.clone());
            }
            set_annotation(&mut updated.metadata, BOUND_BY_CONTROLLER, "yes");
        }
        set_annotation(&mut updated.metadata, BIND_COMPLETED, "yes");
        claim_api(ctx, claim)
            .replace(&name_of(&claim.metadata), &PostParams::default(), &updated)
            .await
            .map_err(write_error("binding claim", key.to_string()))?
    } else {
        claim.clone()
    };
    set_claim_phase(ctx, &claim, "Bound", Some(&volume), key).await?;
    if claim_phase(&claim) != "Bound" {
        tracing::info!(
            "The {NAME} bound PersistentVolumeClaim {key} to PersistentVolume {volume_name}."
        );
    }
    Ok(())
}

/// Syncs the volume `name`.
pub async fn volume(ctx: &Context, name: &str) -> Result<(), Error> {
    let Some(volume) = ctx.volumes.get(&ObjectRef::new(name)) else {
        return Ok(());
    };
    let span = tracing::info_span!(
        "reconcile",
        controller = NAME,
        name = %name,
        uid = volume.metadata.uid.as_deref().unwrap_or_default(),
    );
    not_found_is_done(sync_volume(ctx, &volume).instrument(span).await)
}

async fn sync_volume(ctx: &Context, volume: &PersistentVolume) -> Result<(), Error> {
    let Some(claim_ref) = volume.spec.as_ref().and_then(|s| s.claim_ref.clone()) else {
        set_volume_phase(ctx, volume, "Available", None).await?;
        return Ok(());
    };
    if claim_ref.uid.as_deref().unwrap_or_default().is_empty() {
        // Reserved for a claim that has not bound yet; the claim's sync does that.
        set_volume_phase(ctx, volume, "Available", None).await?;
        return Ok(());
    }
    let namespace = claim_ref.namespace.as_deref().unwrap_or_default();
    let claim_name = claim_ref.name.as_deref().unwrap_or_default();
    let key = format!("{namespace}/{claim_name}");
    let mut claim = ctx
        .claims
        .get(&ObjectRef::new(claim_name).within(namespace))
        .map(|c| (*c).clone());
    let phase = volume_phase(volume);
    if claim.is_none() && phase != "Released" && phase != "Failed" {
        // The cache may lag behind a claim created a moment ago; releasing on its word alone
        // could hand a volume in use to someone else.
        let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
        claim = api.get_opt(claim_name).await.map_err(write_error(
            "looking up the claim of volume",
            name_of(&volume.metadata),
        ))?;
    }
    let claim = claim.filter(|c| c.metadata.uid == claim_ref.uid);
    let Some(claim) = claim else {
        let volume = if phase != "Released" && phase != "Failed" {
            set_volume_phase(ctx, volume, "Released", None).await?
        } else {
            volume.clone()
        };
        return reclaim(ctx, &volume).await;
    };
    let claim_volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or_default();
    let volume_name = name_of(&volume.metadata);
    if claim_volume.is_empty() {
        if matching::volume_mode_mismatch(volume, &claim) {
            ctx.recorder.record(
                volume,
                EventType::Warning,
                "VolumeMismatch",
                format!("Cannot bind PersistentVolume to requested PersistentVolumeClaim {claim_name:?} due to incompatible volumeMode."),
            );
            ctx.recorder.record(
                &claim,
                EventType::Warning,
                "VolumeMismatch",
                format!("Cannot bind PersistentVolume {volume_name:?} to requested PersistentVolumeClaim due to incompatible volumeMode."),
            );
            return Ok(());
        }
        // Half bound; the claim's sync finishes it.
        ctx.claim_queue.add(key);
        return Ok(());
    }
    if claim_volume == volume_name {
        set_volume_phase(ctx, volume, "Bound", None).await?;
        return Ok(());
    }
    // The claim went to another volume: let this one go. One the binder reserved is freed;
    // one the user reserved stays reserved for the claim, minus the uid.
    let mut updated = volume.clone();
    if has_annotation(&volume.metadata, BOUND_BY_CONTROLLER) {
        if let Some(a) = updated.metadata.annotations.as_mut() {
            a.remove(BOUND_BY_CONTROLLER);
        }
        if let Some(spec) = updated.spec.as_mut() {
            spec.claim_ref = None;
        }
    } else if let Some(r) = updated.spec.as_mut().and_then(|s| s.claim_ref.as_mut()) {
        r.uid = Some(String::new());
    }
    let updated = Api::<PersistentVolume>::all(ctx.client.clone())
        .replace(&volume_name, &PostParams::default(), &updated)
        .await
        .map_err(write_error("unbinding volume", volume_name.clone()))?;
    set_volume_phase(ctx, &updated, "Available", None).await?;
    Ok(())
}

/// What happens to a Released volume (upstream `reclaimVolume`). Retain keeps it; this binder
/// has no recycler and no in-tree deleter, so Recycle and Delete fail as upstream does when
/// it lacks one, and volumes an external provisioner made are left to it.
async fn reclaim(ctx: &Context, volume: &PersistentVolume) -> Result<(), Error> {
    let policy = volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain");
    let name = name_of(&volume.metadata);
    let (reason, message) = match policy {
        "Retain" => return Ok(()),
        "Recycle" => (
            "VolumeFailedRecycle",
            "No recycler plugin found for the volume!".to_string(),
        ),
        "Delete" => {
            let provisioned_by = volume
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(PROVISIONED_BY));
            if provisioned_by.is_some_and(|p| !p.is_empty() && !p.starts_with("kubernetes.io/")) {
                return Ok(());
            }
            let host_path = volume
                .spec
                .as_ref()
                .and_then(|s| s.host_path.as_ref())
                .map(|h| h.path.as_str());
            match host_path {
                Some(path) if !is_tmp_path(path) => (
                    "VolumeFailedDelete",
                    format!("host_path deleter only supports /tmp/.+ but received provided {path}"),
                ),
                // Upstream's hostPath deleter would remove the directory from the controller
                // manager's own disk; this binder does not, and leaves the volume Released.
                Some(_) => return Ok(()),
                None => (
                    "VolumeFailedDelete",
                    format!(
                        "error getting deleter volume plugin for volume {name:?}: no deletable volume plugin matched"
                    ),
                ),
            }
        }
        _ => (
            "VolumeUnknownReclaimPolicy",
            "Volume has unrecognized PersistentVolumeReclaimPolicy".to_string(),
        ),
    };
    if volume_phase(volume) == "Failed" {
        return Ok(());
    }
    set_volume_phase(ctx, volume, "Failed", Some(&message)).await?;
    ctx.recorder
        .record(volume, EventType::Warning, reason, message);
    Ok(())
}

/// Whether `path` is under `/tmp/` with something after it (upstream's hostPath deleter rule).
fn is_tmp_path(path: &str) -> bool {
    path.find("/tmp/")
        .is_some_and(|i| path.len() > i + "/tmp/".len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_tmp_are_deletable_host_paths() {
        assert!(is_tmp_path("/tmp/data"));
        assert!(!is_tmp_path("/tmp/"));
        assert!(!is_tmp_path("/data"));
    }
}
