//! `[sig-storage] CSINodes CSI Conformance` (upstream `test/e2e/storage/csi_node.go`): the
//! storage.k8s.io CSINode API.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, api, rand_string};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::storage::v1::{CSINode, CSINodeSpec};
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("csinodes");

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-storage] CSINodes CSI Conformance should run through the lifecycle of a csinode [Conformance]",
        case_fn!(lifecycle),
    )]
}

fn csi_node(name: &str) -> CSINode {
    CSINode {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: CSINodeSpec { drivers: vec![] },
    }
}

fn label<'a>(n: &'a CSINode, key: &str) -> Option<&'a str> {
    n.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

async fn confirm_deleted(api: &Api<CSINode>, selector: &str, name: &str) -> Result<()> {
    poll(
        Duration::from_millis(100),
        Duration::from_secs(30),
        async || {
            let list = api
                .list(&ListParams::default().labels(selector))
                .await
                .context("failed to list CSINode")?;
            Ok(list.items.is_empty())
        },
    )
    .await
    .with_context(|| format!("Timeout while waiting to confirm CSINode {name:?} deletion"))
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let nodes = f.api_all::<CSINode>();
    let pp = PostParams::default();

    let name = format!("e2e-csinode-{}", rand_string(5));
    f.defer_delete(nodes.clone(), &name);
    f.step(format!("Creating initial csiNode {name:?}"));
    let created = nodes
        .create(&pp, &csi_node(&name))
        .await
        .with_context(|| format!("failed to create csiNode {name:?}"))?;
    api::expect_valid_resource_version(&created.metadata)?;

    f.step(format!("Getting initial csiNode {name:?}"));
    let got = nodes
        .get(&name)
        .await
        .with_context(|| format!("Failed to retrieve csiNode {name:?}"))?;
    ensure!(
        got.metadata.name == created.metadata.name,
        "Checking that the retrieved name has been found"
    );

    f.step(format!("Patching initial csiNode: {name:?}"));
    let patch = serde_json::json!({"metadata": {"labels": {name.clone(): "patched"}}});
    let patched = nodes
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .with_context(|| format!("Failed to patch csiNode {name:?}"))?;
    ensure!(
        label(&patched, &name) == Some("patched"),
        "Checking that patched label has been applied"
    );
    api::expect_newer_resource_version(&created.metadata, &patched.metadata)?;

    let patched_selector = format!("{name}=patched");
    f.step(format!(
        "Listing csiNodes with LabelSelector {patched_selector:?}"
    ));
    let list = nodes
        .list(&ListParams::default().labels(&patched_selector))
        .await
        .context("failed to list csiNodes")?;
    ensure!(
        list.items.len() == 1,
        "expected 1 csiNode, got {}",
        list.items.len()
    );

    f.step(format!("Delete initial csiNode: {name:?}"));
    nodes
        .delete(&name, &DeleteParams::default())
        .await
        .with_context(|| format!("failed to delete csiNode {name:?}"))?;
    f.step(format!("Confirm deletion of csiNode {name:?}"));
    confirm_deleted(&nodes, &patched_selector, &name).await?;

    let name = format!("e2e-csinode-{}", rand_string(5));
    f.defer_delete(nodes.clone(), &name);
    f.step(format!("Creating replacement csiNode {name:?}"));
    let second = nodes
        .create(&pp, &csi_node(&name))
        .await
        .with_context(|| format!("failed to create csiNode {name:?}"))?;
    f.step(format!("Getting replacement csiNode {name:?}"));
    let got = nodes
        .get(&name)
        .await
        .with_context(|| format!("Failed to retrieve CSINode {name:?}"))?;
    ensure!(
        got.metadata.name == second.metadata.name,
        "Checking that the retrieved name has been found"
    );

    f.step(format!("Updating replacement csiNode {name:?}"));
    let updated = retry_on_conflict(async || {
        let mut n = nodes
            .get(&name)
            .await
            .with_context(|| format!("Unable to get {name:?}"))?;
        n.metadata.labels = Some(BTreeMap::from([(name.clone(), "updated".into())]));
        Ok(nodes.replace(&name, &pp, &n).await?)
    })
    .await
    .with_context(|| format!("failed to update {name:?}"))?;
    ensure!(
        label(&updated, &name) == Some("updated"),
        "Checking that updated label has been applied"
    );

    let updated_selector = format!("{name}=updated");
    f.step(format!(
        "DeleteCollection of CSINodes with {updated_selector:?} label"
    ));
    nodes
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&updated_selector),
        )
        .await
        .context("failed to delete csiNode Colllection")?;
    f.step(format!(
        "Confirm deletion of replacement csiNode with LabelSelector {updated_selector:?}"
    ));
    confirm_deleted(&nodes, &updated_selector, &name).await
}
