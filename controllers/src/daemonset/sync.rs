//! One sync of one DaemonSet (upstream `syncDaemonSet`, `manage` and `updateDaemonSetStatus`);
//! see the module documentation of [`super`] for its steps.

use super::placement::{self, Fit};
use super::rolling::{self, OnNode};
use super::{Context, Error, TEMPLATE_GENERATION};
use crate::events::EventType;
use crate::ownership;
use crate::pods::template::{controller_reference, pod_from_template};
use crate::replicaset::manage::batches;
use crate::revisions::{self as history, HASH_LABEL};
use crate::{client, pods, revisions};
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most pods one sync creates or deletes (upstream `BurstReplicas`).
const BURST: usize = 250;

fn api_error(ds: &DaemonSet, action: &'static str, source: kube::Error) -> Error {
    Error::Api {
        action,
        namespace: ds.metadata.namespace.clone().unwrap_or_default(),
        name: ds.metadata.name.clone().unwrap_or_default(),
        source,
    }
}

/// The node a daemon pod is for: its `nodeName`, else the node its affinity pins it to.
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(node.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|r| {
            let values = r.values.as_deref().unwrap_or_default();
            (r.key == "metadata.name" && r.operator == "In" && values.len() == 1)
                .then(|| values[0].clone())
        })
    })
}

/// The pod to create on `node`: the template with the daemon tolerations, pinned to the node
/// by a required affinity on its name (replacing other required terms, which the controller
/// already checked), labelled with the revision hash and the DaemonSet generation.
pub fn pod_for(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let namespace = ds.metadata.namespace.as_deref().unwrap_or_default();
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut pod = pod_from_template(&template, namespace, name, controller_reference(ds));
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(HASH_LABEL.to_string(), hash.to_string());
    if let Some(generation) = ds.metadata.generation {
        labels.insert(TEMPLATE_GENERATION.to_string(), generation.to_string());
    }
    let spec = pod.spec.get_or_insert_with(Default::default);
    placement::add_default_tolerations(spec);
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".to_string(),
                operator: "In".to_string(),
                values: Some(vec![node.to_string()]),
            }]),
        }],
    });
    pod
}

fn hash_of_pod(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(HASH_LABEL)
        .map(String::as_str)
}

/// Upstream's order of a node's daemon pods (`podByCreationTimestampAndPhase`): scheduled pods
/// first, then the oldest, then by name.
fn oldest_first(pods: &mut [&Arc<Pod>]) {
    pods.sort_by_key(|p| {
        let unscheduled = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_none_or(str::is_empty);
        (
            unscheduled,
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.name.clone(),
        )
    });
}

fn is_current(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    hash_of_pod(pod) == Some(hash)
        || (hash_of_pod(pod).is_none()
            && generation.is_some_and(|g| {
                pod.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(TEMPLATE_GENERATION))
                    == Some(&g.to_string())
            }))
}

pub async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(ds) = ctx.daemonsets.get(&ObjectRef::new(name).within(namespace)) else {
        ctx.expectations.forget(key);
        return Ok(());
    };
    let mut ds = (*ds).clone();
    let satisfied = ctx.expectations.satisfied(key, |pod| {
        ctx.pods.get(&ObjectRef::new(pod).within(namespace))
    });
    let pods = claim(ctx, &ds).await?;
    let (current, old_revisions) = revisions::current(&ctx.client, &ctx.revisions, &mut ds)
        .await
        .map_err(|source| Error::Revision {
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        })?;
    let hash = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HASH_LABEL))
        .cloned()
        .unwrap_or_else(|| revisions::hash_of(&ds));
    let template_spec = {
        let mut spec = ds
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.clone())
            .unwrap_or_default();
        placement::add_default_tolerations(&mut spec);
        spec
    };
    let nodes: Vec<Arc<Node>> = ctx.nodes.state();
    let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for pod in &pods {
        if let Some(node) = target_node(pod) {
            by_node.entry(node).or_default().push(pod.clone());
        }
    }

    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let mut sync_error = None;
    if satisfied && ds.metadata.deletion_timestamp.is_none() {
        let manage = Manage {
            ds: &ds,
            spec: &template_spec,
            hash: &hash,
            min_ready,
            now: Timestamp::now(),
        };
        let (create, delete) = plan(ctx, &manage, &nodes, &by_node);
        if let Err(e) = apply(ctx, &ds, key, &hash, create, delete).await {
            sync_error = Some(e);
        }
        if sync_error.is_none()
            && rolling::rolls(&ds)
            && ctx
                .expectations
                .satisfied(key, |p| ctx.pods.get(&ObjectRef::new(p).within(namespace)))
        {
            let generation = ds.metadata.generation;
            let should_run: BTreeMap<String, bool> = nodes
                .iter()
                .map(|n| {
                    (
                        n.metadata.name.clone().unwrap_or_default(),
                        placement::fit(&template_spec, n).run,
                    )
                })
                .collect();
            let desired = should_run.values().filter(|run| **run).count();
            let now = Timestamp::now();
            // The cache has seen what manage just did: decide on it, not on the first look.
            let mut fresh = owned_by_node(ctx, &ds);
            // Nodes that should run a pod but have none count too (upstream
            // `updatedDesiredNodeCounts`).
            for (node, run) in &should_run {
                if *run {
                    fresh.entry(node.clone()).or_default();
                }
            }
            let split: Vec<(String, OnNode)> = fresh
                .iter()
                .map(|(node, list)| {
                    let mut on = OnNode::default();
                    for pod in list
                        .iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none())
                    {
                        if is_current(pod, &hash, generation) {
                            on.current.push(pod.clone());
                        } else {
                            on.old.push(pod.clone());
                        }
                    }
                    (node.clone(), on)
                })
                .collect();
            let available = |p: &Pod| rolling::is_available(p, min_ready, now);
            let max_surge = rolling::max_surge(&ds, desired);
            let (create, doomed) = if max_surge == 0 {
                let max_unavailable = rolling::max_unavailable(&ds, desired);
                (
                    Vec::new(),
                    rolling::to_delete(&split, max_unavailable, available),
                )
            } else {
                let fits = |node: &str| should_run.get(node).copied().unwrap_or(false);
                let step = rolling::surge(&split, max_surge, desired, fits, available);
                (step.create, step.delete)
            };
            if let Err(e) = apply(ctx, &ds, key, &hash, create, doomed).await {
                sync_error = Some(e);
            }
        }
    }
    write_status(ctx, &ds, &template_spec, &nodes, &by_node, &hash).await?;
    // A ready pod counts as available only after minReadySeconds: look again then.
    let now = Timestamp::now();
    if min_ready > 0
        && pods
            .iter()
            .any(|p| pods::is_ready(p) && !pods::is_available(p, min_ready, now))
    {
        ctx.queue.add_after(
            key.to_string(),
            std::time::Duration::from_secs(u64::try_from(min_ready).unwrap_or(0)),
        );
    }
    clean_up_history(ctx, &ds, &current, &old_revisions, &pods).await;
    sync_error.map_or(Ok(()), Err)
}

/// The DaemonSet's pods in the cache, by the node each is for.
fn owned_by_node(ctx: &Context, ds: &DaemonSet) -> BTreeMap<String, Vec<Arc<Pod>>> {
    let mut out: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for pod in ctx.pods.state() {
        let ours = pod.metadata.namespace == ds.metadata.namespace
            && ownership::controller_ref(&pod.metadata)
                .is_some_and(|r| Some(&r.uid) == ds.metadata.uid.as_ref());
        if let Some(node) = target_node(&pod).filter(|_| ours) {
            out.entry(node).or_default().push(pod);
        }
    }
    out
}

/// What the manage step decides on.
struct Manage<'a> {
    ds: &'a DaemonSet,
    /// The template's pod spec with the daemon tolerations.
    spec: &'a k8s_openapi::api::core::v1::PodSpec,
    hash: &'a str,
    min_ready: i32,
    now: Timestamp,
}

/// The pods to delete among the running (not failed, not deleted) pods of one node: without
/// surge all but the oldest; with surge the oldest old and the oldest current pod may stay
/// together while the current one is not yet available and the old one is ready (upstream
/// `podsShouldBeOnNode`).
fn extra_pods(m: &Manage, mut running: Vec<&Arc<Pod>>) -> Vec<Arc<Pod>> {
    oldest_first(&mut running);
    if !rolling::allows_surge(m.ds) {
        return running.into_iter().skip(1).cloned().collect();
    }
    let generation = m.ds.metadata.generation;
    let mut delete = Vec::new();
    let (mut oldest_new, mut oldest_old) = (None, None);
    for pod in running {
        let slot = if is_current(pod, m.hash, generation) {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        if slot.is_none() {
            *slot = Some(pod);
        } else {
            delete.push(pod.clone());
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old)
        && (!pods::is_ready(old) || pods::is_available(new, m.min_ready, m.now))
    {
        delete.push(old.clone());
    }
    delete
}

/// The nodes to create a pod on and the pods to delete (upstream `podsShouldBeOnNode`).
fn plan(
    ctx: &Context,
    m: &Manage,
    nodes: &[Arc<Node>],
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
) -> (Vec<String>, Vec<Arc<Pod>>) {
    let (ds, spec) = (m.ds, m.spec);
    let mut create = Vec::new();
    let mut delete = Vec::new();
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let Fit { run, keep } = placement::fit(spec, node);
        let on_node: Vec<&Arc<Pod>> = by_node
            .get(&name)
            .into_iter()
            .flatten()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        if !keep {
            delete.extend(on_node.into_iter().cloned());
            continue;
        }
        let (failed, running): (Vec<&Arc<Pod>>, Vec<&Arc<Pod>>) = on_node
            .into_iter()
            .partition(|p| pods::phase(p) == "Failed");
        for pod in &failed {
            ctx.recorder.record(
                ds,
                EventType::Warning,
                "FailedDaemonPod",
                format!(
                    "Found failed daemon pod {}/{} on node {name}, will try to kill it",
                    pod.metadata.namespace.as_deref().unwrap_or_default(),
                    pod.metadata.name.as_deref().unwrap_or_default()
                ),
            );
        }
        delete.extend(failed.iter().map(|p| (*p).clone()));
        if running.is_empty() {
            // A failed pod is replaced on a later sync, once its deletion is seen; while
            // surging a node always gets a pod at once.
            if run && (failed.is_empty() || rolling::allows_surge(ds)) {
                create.push(name);
            }
            continue;
        }
        delete.extend(extra_pods(m, running));
    }
    // Pods for nodes that are gone.
    for (node, list) in by_node {
        if !nodes.iter().any(|n| n.metadata.name.as_ref() == Some(node)) {
            delete.extend(
                list.iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .cloned(),
            );
        }
    }
    (create, delete)
}

/// Creates pods on `create` nodes (slow start) and deletes `delete`, recording expectations
/// and events (upstream `syncNodes`).
async fn apply(
    ctx: &Context,
    ds: &DaemonSet,
    key: &str,
    hash: &str,
    create: Vec<String>,
    delete: Vec<Arc<Pod>>,
) -> Result<(), Error> {
    let namespace = ds.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let delete = &delete[..delete.len().min(BURST)];
    ctx.expectations.deleted(
        key,
        delete.iter().map(|p| {
            (
                p.metadata.name.clone().unwrap_or_default(),
                p.metadata.uid.clone().unwrap_or_default(),
            )
        }),
    );
    let deletions = join_all(delete.iter().map(|pod| {
        let api = api.clone();
        async move {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: pod.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..Default::default()
            };
            (name.clone(), api.delete(&name, &params).await)
        }
    }))
    .await;
    let mut first_error = None;
    for (pod, result) in deletions {
        match result {
            Ok(_) => ctx.recorder.record(
                ds,
                EventType::Normal,
                "SuccessfulDelete",
                format!("Deleted pod: {pod}"),
            ),
            Err(e) if client::is_not_found(&e) => {}
            Err(e) => {
                ctx.recorder.record(
                    ds,
                    EventType::Warning,
                    "FailedDelete",
                    format!("Error deleting: {}", client::message(&e)),
                );
                ctx.expectations.forget(key);
                first_error.get_or_insert(api_error(ds, "deleting pods", e));
            }
        }
    }
    let mut wanted = create.into_iter().take(BURST);
    for size in batches(wanted.len()) {
        let batch: Vec<Pod> = wanted
            .by_ref()
            .take(size)
            .map(|n| pod_for(ds, &n, hash))
            .collect();
        let params = PostParams::default();
        let results = join_all(batch.iter().map(|p| api.create(&params, p))).await;
        let mut created = Vec::new();
        let mut failed = false;
        for result in results {
            match result {
                Ok(pod) => {
                    let name = pod.metadata.name.unwrap_or_default();
                    ctx.recorder.record(
                        ds,
                        EventType::Normal,
                        "SuccessfulCreate",
                        format!("Created pod: {name}"),
                    );
                    created.push(name);
                }
                Err(e) => {
                    if !client::has_cause(&e, client::NAMESPACE_TERMINATING_CAUSE) {
                        ctx.recorder.record(
                            ds,
                            EventType::Warning,
                            "FailedCreate",
                            format!("Error creating: {}", client::message(&e)),
                        );
                    }
                    failed = true;
                    first_error.get_or_insert(api_error(ds, "creating pods", e));
                }
            }
        }
        ctx.expectations.created(key, created);
        if failed {
            break;
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The pods the DaemonSet owns, adopting orphans its selector matches and releasing pods that
/// stopped matching.
async fn claim(ctx: &Context, ds: &DaemonSet) -> Result<Vec<Arc<Pod>>, Error> {
    let selector = ds.spec.as_ref().map(|s| &s.selector);
    ownership::claim_pods(&ctx.client, ds, selector, None, &ctx.pods)
        .await
        .map_err(|e| api_error(ds, e.action, e.source))
}

/// Writes the status counts (upstream `updateDaemonSetStatus`) when they changed.
async fn write_status(
    ctx: &Context,
    ds: &DaemonSet,
    spec: &k8s_openapi::api::core::v1::PodSpec,
    nodes: &[Arc<Node>],
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
) -> Result<(), Error> {
    let now = Timestamp::now();
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let generation = ds.metadata.generation;
    let (mut desired, mut scheduled, mut misscheduled) = (0, 0, 0);
    let (mut ready, mut available, mut updated) = (0, 0, 0);
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let run = placement::fit(spec, node).run;
        let on_node: Vec<&Arc<Pod>> = by_node
            .get(&name)
            .into_iter()
            .flatten()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        if run {
            desired += 1;
            if !on_node.is_empty() {
                scheduled += 1;
                // The oldest pod stands for the node: while a surge pod runs beside the old
                // one, the node counts as available through the old pod and is not yet
                // updated.
                let mut sorted = on_node.clone();
                oldest_first(&mut sorted);
                let pod = sorted[0];
                if pods::is_ready(pod) {
                    ready += 1;
                    if pods::is_available(pod, min_ready, now) {
                        available += 1;
                    }
                }
                if is_current(pod, hash, generation) {
                    updated += 1;
                }
            }
        } else if !on_node.is_empty() {
            misscheduled += 1;
        }
    }
    let mut status = ds.status.clone().unwrap_or_default();
    let next = DaemonSetStatus {
        current_number_scheduled: scheduled,
        desired_number_scheduled: desired,
        number_misscheduled: misscheduled,
        number_ready: ready,
        number_available: (available > 0).then_some(available),
        number_unavailable: (desired - available > 0).then_some(desired - available),
        updated_number_scheduled: (updated > 0).then_some(updated),
        observed_generation: generation,
        collision_count: status.collision_count,
        conditions: status.conditions.take(),
    };
    if ds.status.as_ref() == Some(&next) {
        return Ok(());
    }
    let mut copy = ds.clone();
    copy.status = Some(next);
    let api: Api<DaemonSet> = Api::namespaced(
        ctx.client.clone(),
        ds.metadata.namespace.as_deref().unwrap_or_default(),
    );
    api.replace_status(
        ds.metadata.name.as_deref().unwrap_or_default(),
        &PostParams::default(),
        &copy,
    )
    .await
    .map(|_| ())
    .map_err(|e| api_error(ds, "updating the status", e))
}

/// Deletes old revisions beyond `revisionHistoryLimit` that no pod runs.
async fn clean_up_history(
    ctx: &Context,
    ds: &DaemonSet,
    current: &ControllerRevision,
    others: &[Arc<ControllerRevision>],
    pods: &[Arc<Pod>],
) {
    let limit = ds
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
    let live: Vec<String> = pods
        .iter()
        .filter_map(|p| hash_of_pod(p).map(str::to_string))
        .collect();
    let current_name = current.metadata.name.clone().unwrap_or_default();
    let namespace = ds.metadata.namespace.as_deref().unwrap_or_default();
    let doomed = history::to_clean_up(others, &current_name, &live, limit);
    revisions::delete(&ctx.client, namespace, doomed, super::NAME).await;
}
