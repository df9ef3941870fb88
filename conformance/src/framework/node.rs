//! Node helpers of upstream's `test/e2e/framework/node` (`e2enode`): ready and schedulable
//! nodes, labels added and removed, and the node status patches the scheduling tests use to
//! advertise extended resources.

use super::wait::poll;
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Node;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use std::time::Duration;

fn nodes(client: &Client) -> Api<Node> {
    Api::all(client.clone())
}

/// Whether the node's Ready condition is True.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Upstream's `isNodeSchedulable` and `isNodeUntainted`: not cordoned, Ready, and without
/// NoSchedule or NoExecute taints.
pub fn is_ready_and_schedulable(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let tainted = spec.and_then(|s| s.taints.as_ref()).is_some_and(|ts| {
        ts.iter()
            .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
    });
    !cordoned && !tainted && is_ready(node)
}

/// Upstream's `AllNodesReady`: every node is Ready within `timeout`.
pub async fn all_ready(client: &Client, timeout: Duration) -> Result<()> {
    let api = nodes(client);
    let mut not_ready = Vec::new();
    poll(Duration::from_secs(2), timeout, async || {
        not_ready = api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|n| !is_ready(n))
            .filter_map(|n| n.metadata.name)
            .collect();
        Ok(not_ready.is_empty())
    })
    .await
    .with_context(|| format!("Not ready nodes: {not_ready:?}"))
}

/// Taints that do not keep a node out of the tests (upstream's `--non-blocking-taints`).
const NON_BLOCKING_TAINTS: [&str; 1] = ["node-role.kubernetes.io/control-plane"];

/// Upstream's suite set-up `WaitForAllNodesSchedulable`: every node Ready, not cordoned and
/// without blocking taints (a new node is tainted not-ready until the node lifecycle
/// controller sees it Ready).
pub async fn wait_all_schedulable(client: &Client, timeout: Duration) -> Result<()> {
    let api = nodes(client);
    let mut waiting = Vec::new();
    poll(Duration::from_secs(2), timeout, async || {
        waiting = api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|n| {
                let mut n = n.clone();
                if let Some(taints) = n.spec.as_mut().and_then(|s| s.taints.as_mut()) {
                    taints.retain(|t| !NON_BLOCKING_TAINTS.contains(&t.key.as_str()));
                }
                !is_ready_and_schedulable(&n)
            })
            .filter_map(|n| n.metadata.name)
            .collect();
        Ok(waiting.is_empty())
    })
    .await
    .with_context(|| format!("nodes not schedulable: {waiting:?}"))
}

/// Upstream's `GetReadySchedulableNodes`: fails when there is none.
pub async fn ready_schedulable(client: &Client) -> Result<Vec<Node>> {
    let list = nodes(client)
        .list(&ListParams::default().fields("spec.unschedulable=false"))
        .await
        .context("listing nodes")?;
    let ready: Vec<Node> = list
        .items
        .into_iter()
        .filter(is_ready_and_schedulable)
        .collect();
    if ready.is_empty() {
        bail!("there are currently no ready, schedulable nodes in the cluster");
    }
    Ok(ready)
}

/// Upstream's `AddOrUpdateLabelOnNode` and `ExpectNodeHasLabel`. (The futures of these
/// helpers are `Send`, so cleanups deferred with [`super::Framework::defer`] can use them.)
pub async fn add_label(client: &Client, node: &str, key: &str, value: &str) -> Result<()> {
    let api = nodes(client);
    let patch = serde_json::json!({"metadata": {"labels": {key: value}}});
    // A patch without a resource version does not conflict; no retry needed.
    api.patch(node, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .with_context(|| format!("labelling node {node} with {key}={value}"))?;
    let got = api.get(node).await?;
    let label = got.metadata.labels.as_ref().and_then(|l| l.get(key));
    if label.map(String::as_str) != Some(value) {
        bail!("node {node} should have label {key}={value}, has {label:?}");
    }
    Ok(())
}

/// Upstream's `RemoveLabelOffNode`: removes the label and checks it is gone.
pub async fn remove_label(client: &Client, node: &str, key: &str) -> Result<()> {
    let api = nodes(client);
    let patch = serde_json::json!({"metadata": {"labels": {key: null}}});
    api.patch(node, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .with_context(|| format!("removing label {key} from node {node}"))?;
    let got = api.get(node).await?;
    if got
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(key))
    {
        bail!("failed removing label {key} of node {node}");
    }
    Ok(())
}

/// Sets (or, with `None`, removes) an extended resource in the node's `status.capacity` and
/// `status.allocatable` through the status subresource: the strategic merge patch upstream's
/// `patchNode` computes for that change.
pub async fn set_extended_resource(
    client: &Client,
    node: &str,
    resource: &str,
    quantity: Option<&str>,
) -> Result<()> {
    let patch = serde_json::json!({"status": {
        "capacity": {resource: quantity},
        "allocatable": {resource: quantity},
    }});
    nodes(client)
        .patch_status(node, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .with_context(|| match quantity {
            Some(q) => format!("advertising {q} {resource} on node {node}"),
            None => format!("removing {resource} from node {node}"),
        })?;
    Ok(())
}

/// The node's first InternalIP address (upstream's `getNodeHostIP` for an IPv4 cluster).
pub async fn internal_ip(client: &Client, node: &str) -> Result<String> {
    let got = nodes(client)
        .get(node)
        .await
        .with_context(|| format!("getting node {node}"))?;
    got.status
        .and_then(|s| s.addresses)
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.type_ == "InternalIP" && a.address.parse::<std::net::Ipv4Addr>().is_ok())
        .map(|a| a.address)
        .with_context(|| format!("node {node} has no InternalIP address"))
}
