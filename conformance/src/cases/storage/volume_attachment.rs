//! `[sig-storage] VolumeAttachment Conformance` (upstream
//! `test/e2e/storage/volume_attachment.go`): the storage.k8s.io VolumeAttachment API and its
//! `status` subresource, on a node the cluster has (no volume is attached).

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, api, rand_string};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::storage::v1::{
    VolumeAttachment, VolumeAttachmentSource, VolumeAttachmentSpec, VolumeAttachmentStatus,
};
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("volumeattachment");

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-storage] VolumeAttachment Conformance should run through the lifecycle of a VolumeAttachment [Conformance]",
            case_fn!(lifecycle),
        ),
        D.case(
            "[sig-storage] VolumeAttachment Conformance should apply changes to a volumeattachment status [Conformance]",
            case_fn!(status),
        ),
    ]
}

/// Upstream's `NewVolumeAttachment`.
fn volume_attachment(name: &str, pv: &str, node: &str) -> VolumeAttachment {
    VolumeAttachment {
        metadata: ObjectMeta {
            // Upstream sends a uid of its own; the server must replace it.
            uid: Some(name.into()),
            name: Some(name.into()),
            ..Default::default()
        },
        spec: VolumeAttachmentSpec {
            attacher: "e2e-test.storage.k8s.io".into(),
            node_name: node.into(),
            source: VolumeAttachmentSource {
                persistent_volume_name: Some(pv.into()),
                ..Default::default()
            },
        },
        status: Some(VolumeAttachmentStatus {
            attached: false,
            ..Default::default()
        }),
    }
}

/// A node picked at random, as upstream does (it panics on an empty list; this fails).
async fn random_node(f: &Framework) -> Result<String> {
    use rand::Rng;
    let nodes = f
        .api_all::<Node>()
        .list(&ListParams::default())
        .await
        .context("failed to list nodes")?;
    if nodes.items.is_empty() {
        bail!("the cluster has no nodes to attach a volume to");
    }
    let i = rand::rng().random_range(0..nodes.items.len());
    Ok(nodes.items[i].metadata.name.clone().unwrap_or_default())
}

/// Upstream's `createVolumeAttachment`: a new attachment of a made-up PV on a random node.
async fn create(f: &Framework, vas: &Api<VolumeAttachment>) -> Result<(String, String)> {
    let rand_uid = format!("e2e-{}", rand_string(5));
    let (name, pv) = (format!("va-{rand_uid}"), format!("pv-{rand_uid}"));
    let node = random_node(f).await?;
    f.step(format!("Create VolumeAttachment {name:?} on node {node:?}"));
    f.defer_delete(vas.clone(), &name);
    let created = vas
        .create(
            &PostParams::default(),
            &volume_attachment(&name, &pv, &node),
        )
        .await
        .with_context(|| format!("failed to create VolumeAttachment {name:?}"))?;
    ensure!(
        created.metadata.name.as_deref() == Some(name.as_str()),
        "Checking that the created VolumeAttachment has the correct name"
    );
    Ok((name, node))
}

fn label<'a>(va: &'a VolumeAttachment, key: &str) -> Option<&'a str> {
    va.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

async fn confirm_deleted(vas: &Api<VolumeAttachment>, selector: &str) -> Result<()> {
    poll(
        Duration::from_millis(100),
        Duration::from_secs(30),
        async || {
            let list = vas
                .list(&ListParams::default().labels(selector))
                .await
                .context("failed to list VolumeAttachment")?;
            Ok(list.items.is_empty())
        },
    )
    .await
    .with_context(|| {
        format!("Timeout while waiting to confirm deletion of VolumeAttachments {selector}")
    })
}

async fn patch_label(vas: &Api<VolumeAttachment>, name: &str) -> Result<VolumeAttachment> {
    let patch = serde_json::json!({"metadata": {"labels": {name: "patched"}}});
    let patched = vas
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .with_context(|| format!("failed to patch {name:?}"))?;
    ensure!(
        label(&patched, name) == Some("patched"),
        "Checking that patched label has been applied"
    );
    Ok(patched)
}

async fn update_label(vas: &Api<VolumeAttachment>, name: &str) -> Result<()> {
    let updated = retry_on_conflict(async || {
        let mut va = vas
            .get(name)
            .await
            .with_context(|| format!("failed to get VolumeAttachment {name:?}"))?;
        va.metadata.labels = Some(BTreeMap::from([("va-e2e".into(), "updated".into())]));
        Ok(vas.replace(name, &PostParams::default(), &va).await?)
    })
    .await
    .with_context(|| format!("failed to update VolumeAttachment {name:?}"))?;
    ensure!(
        label(&updated, "va-e2e") == Some("updated"),
        "Checking that updated label has been applied"
    );
    Ok(())
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let vas = f.api_all::<VolumeAttachment>();
    let (first, node) = create(f, &vas).await?;
    f.step(format!("Get VolumeAttachment {first:?} on node {node:?}"));
    let retrieved = vas
        .get(&first)
        .await
        .with_context(|| format!("failed to get VolumeAttachment {first:?}"))?;
    ensure!(
        retrieved.metadata.name.as_deref() == Some(first.as_str()),
        "Checking that retrieved VolumeAttachment has the correct name"
    );
    api::expect_valid_resource_version(&retrieved.metadata)?;

    f.step(format!("Patch VolumeAttachment {first:?} on node {node:?}"));
    let patched = patch_label(&vas, &first).await?;
    api::expect_newer_resource_version(&retrieved.metadata, &patched.metadata)?;

    let patched_selector = format!("{first}=patched");
    f.step(format!(
        "List VolumeAttachments with {patched_selector:?} label"
    ));
    let list = vas
        .list(&ListParams::default().labels(&patched_selector))
        .await
        .context("failed to list VolumeAttachments")?;
    ensure!(
        list.items.len() == 1,
        "expected 1 VolumeAttachment, got {}",
        list.items.len()
    );

    f.step(format!(
        "Delete VolumeAttachment {first:?} on node {node:?}"
    ));
    vas.delete(&first, &DeleteParams::default())
        .await
        .with_context(|| format!("failed to delete VolumeAttachment {first:?}"))?;
    f.step(format!(
        "Confirm deletion of VolumeAttachment {first:?} on node {node:?}"
    ));
    confirm_deleted(&vas, &patched_selector).await?;

    let updated_selector = "va-e2e=updated";
    let (second, node) = create(f, &vas).await?;
    f.step(format!(
        "Update the VolumeAttachment {second:?} on node {node:?} with label {updated_selector:?}"
    ));
    update_label(&vas, &second).await?;
    let (third, node) = create(f, &vas).await?;
    f.step(format!(
        "Update the VolumeAttachment {third:?} on node {node:?} with label {updated_selector:?}"
    ));
    update_label(&vas, &third).await?;

    f.step(format!(
        "DeleteCollection of VolumeAttachments with {updated_selector:?} label"
    ));
    vas.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(updated_selector),
    )
    .await
    .context("failed to delete VolumeAttachment collection")?;
    f.step(format!(
        "Confirm deleteCollection of VolumeAttachments with {updated_selector:?} label"
    ));
    confirm_deleted(&vas, updated_selector).await
}

fn attached(va: &VolumeAttachment) -> bool {
    va.status.as_ref().is_some_and(|s| s.attached)
}

async fn status(f: &Framework) -> Result<()> {
    let vas = f.api_all::<VolumeAttachment>();
    let (name, node) = create(f, &vas).await?;

    f.step(format!("Patch VolumeAttachment {name:?} on node {node:?}"));
    patch_label(&vas, &name).await?;
    let patched_selector = format!("{name}=patched");

    f.step(format!("Reading {name:?} Status"));
    let read = vas
        .get_status(&name)
        .await
        .with_context(|| format!("Failed to fetch the status of {name:?} VolumeAttachment"))?;
    ensure!(
        !attached(&read),
        "Checking that the VolumeAttachment status has been read"
    );

    f.step(format!("Patching {name:?} Status"));
    let patch = serde_json::json!({"status": {"attached": true}});
    let patched = vas
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("Failed to patch status.")?;
    ensure!(
        attached(&patched),
        "Checking that the VolumeAttachment status has been patched"
    );

    f.step(format!("Updating {name:?} Status"));
    let updated = retry_on_conflict(async || {
        let mut va = vas
            .get(&name)
            .await
            .with_context(|| format!("Unable to retrieve VolumeAttachment {name:?}"))?;
        va.status.get_or_insert_with(Default::default).attached = false;
        Ok(vas
            .replace_status(&name, &PostParams::default(), &va)
            .await?)
    })
    .await
    .context("Failed to update status.")?;
    ensure!(
        !attached(&updated),
        "Checking that the VolumeAttachment status has been updated"
    );

    f.step(format!("Delete VolumeAttachment {name:?} on node {node:?}"));
    vas.delete(&name, &DeleteParams::default())
        .await
        .with_context(|| format!("failed to delete VolumeAttachment {name:?}"))?;
    f.step(format!(
        "Confirm deletion of VolumeAttachment {name:?} on node {node:?}"
    ));
    confirm_deleted(&vas, &patched_selector).await
}
