//! `[sig-node] Node Lifecycle` (upstream `test/e2e/node/node_lifecycle.go`): the Node API with
//! a fake, unschedulable node; only the API server is involved.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, PodSecurityLevel, api, rand_string};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeSpec, NodeStatus};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("fake-node").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-node] Node Lifecycle should run through the lifecycle of a node [Conformance]",
        case_fn!(lifecycle),
    )]
}

fn label<'a>(n: &'a Node, key: &str) -> Option<&'a str> {
    n.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let nodes = f.api_all::<Node>();
    let name = format!("e2e-fake-node-{}", rand_string(5));
    f.defer_delete(nodes.clone(), &name);
    // Ready but unschedulable, so nothing lands on it and no cloud controller removes it.
    let fake = Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            phase: Some("Running".into()),
            conditions: Some(vec![NodeCondition {
                status: "True".into(),
                message: Some("Set from e2e test".into()),
                reason: Some("E2E".into()),
                type_: "Ready".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    };

    f.step(format!("Create {name:?}"));
    let created = nodes
        .create(&PostParams::default(), &fake)
        .await
        .with_context(|| format!("failed to create node {name:?}"))?;
    ensure!(
        created.metadata.name.as_deref() == Some(name.as_str()),
        "Checking that the node has been created"
    );

    f.step(format!("Getting {name:?}"));
    let got = nodes
        .get(&name)
        .await
        .with_context(|| format!("Failed to retrieve Node {name:?}"))?;
    ensure!(
        got.metadata.name.as_deref() == Some(name.as_str()),
        "Checking that the retrieved name has been found"
    );

    f.step(format!("Patching {name:?}"));
    let patch = serde_json::json!({"metadata": {"labels": {name.clone(): "patched"}}});
    let patched = nodes
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .with_context(|| format!("Failed to patch {name:?}"))?;
    ensure!(
        label(&patched, &name) == Some("patched"),
        "Checking that patched label has been applied"
    );

    let selector = format!("{name}=patched");
    f.step(format!("Listing nodes with LabelSelector {selector:?}"));
    let list = nodes
        .list(&ListParams::default().labels(&selector))
        .await
        .context("failed to list nodes")?;
    ensure!(
        list.items.len() == 1,
        "confirm that the patched node has been found: {}",
        list.items.len()
    );

    f.step(format!("Updating {name:?}"));
    let updated = retry_on_conflict(async || {
        let mut node = nodes
            .get(&name)
            .await
            .with_context(|| format!("Unable to get {name:?}"))?;
        node.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(name.clone(), "updated".into());
        Ok(nodes.replace(&name, &PostParams::default(), &node).await?)
    })
    .await
    .with_context(|| format!("failed to update {name:?}"))?;
    ensure!(
        label(&updated, &name) == Some("updated"),
        "Checking that updated label has been applied"
    );

    f.step(format!("Delete {name:?}"));
    nodes
        .delete(&name, &DeleteParams::default())
        .await
        .context("failed to delete node")?;

    f.step(format!("Confirm deletion of {name:?}"));
    poll(
        Duration::from_secs(5),
        Duration::from_secs(180),
        async || {
            match nodes.get(&name).await {
                Err(e) if api::is_not_found(&e) => Ok(true),
                Err(e) => {
                    // Eventually retries on errors too; only the deadline fails the case.
                    f.log(format!(
                        "nodeClient.Get returned an unexpected error: {}",
                        api::describe(&e)
                    ));
                    Ok(false)
                }
                Ok(_) => Ok(false),
            }
        },
    )
    .await
    .context("Timeout while waiting to confirm Node deletion")
}
