//! The disruption controller (upstream `pkg/controller/disruption`): keeps each
//! PodDisruptionBudget's status, which the eviction API reads to decide whether a pod may go.
//!
//! Timeline of one sync: the budget's pods (its namespace, its selector; `{}` selects every pod
//! and a missing selector none) -> the [`expected`] pods and how many must stay healthy (from the
//! pods' controllers' [`scale`] for percentages and `maxUnavailable`) -> `disruptedPods` pruned
//! and the healthy pods counted ([`status`]) -> the status written through the status
//! subresource when it changed (a conflict retries with backoff) -> looked at again when the
//! earliest `disruptedPods` entry times out. A sync that fails otherwise writes the fail-safe
//! status instead: no disruptions allowed and a `SyncFailed` condition.
//!
//! Budgets are queued when they change, when a pod they select (before or after the change)
//! changes, and when a workload's scale changes ([`triggers`]). A second queue resets
//! [`stale`] `DisruptionTarget` conditions of pods whose disruption never came.
//!
//! `unhealthyPodEvictionPolicy` plays no part here: it only tells the eviction API what to do
//! with unready pods.

pub mod delayed;
pub mod expected;
pub mod scale;
pub mod stale;
pub mod status;
pub mod triggers;

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informers};
use crate::workqueue::{self, WorkQueue, feed, key_of};
use crate::{client, selector};
use delayed::Delayed;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The controller's name (upstream `names.DisruptionController`).
pub const NAME: &str = "disruption-controller";

/// The component upstream's disruption controller records its events as.
pub const EVENT_SOURCE: &str = "controllermanager";

/// Why a budget could not be synced. The messages of the first five are upstream's, since
/// they end up in the budget's `SyncFailed` condition.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A percentage budget selects a pod whose controller cannot be found.
    #[error("found no controllers for pod {0:?}")]
    NoController(String),
    /// `minAvailable` or `maxUnavailable` is a string that is not a percentage.
    #[error("invalid value for IntOrString: {0}")]
    NotAPercentage(String),
    /// A pod's controller is of a kind the apiserver does not serve.
    #[error("no matches for kind {kind:?} in version {version:?}")]
    NoKindMatch { kind: String, version: String },
    /// A pod's controller has no `scale` subresource.
    #[error("{0} does not implement the scale subresource")]
    NoScaleSubresource(String),
    /// Reading a controller's `scale` subresource failed.
    #[error("{}", client::message(.0))]
    Scale(#[source] kube::Error),
    /// Discovery of a controller's resource failed.
    #[error("{}", client::message(.0))]
    Discovery(#[source] kube::Error),
    /// Writing the budget's status failed.
    #[error("updating the status of PodDisruptionBudget {namespace}/{name}: {}", client::message(.source))]
    Status {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Resetting a pod's stale `DisruptionTarget` condition failed.
    #[error("resetting the DisruptionTarget condition of pod {namespace}/{name}: {}", client::message(.source))]
    PodStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// What the `SyncFailed` condition says: the error as upstream's would read.
    fn condition_message(&self) -> String {
        match self {
            Error::Status { source, .. } | Error::PodStatus { source, .. } => {
                client::message(source)
            }
            other => other.to_string(),
        }
    }

    fn is_conflict(&self) -> bool {
        matches!(self, Error::Status { source, .. } if client::is_conflict(source))
    }
}

struct Context {
    client: kube::Client,
    pdbs: Store<PodDisruptionBudget>,
    pods: Store<Pod>,
    workloads: scale::Workloads,
    recorder: Recorder,
    /// Budgets to look at again when a `disruptedPods` entry times out.
    recheck: Arc<Delayed>,
    /// Pods whose `DisruptionTarget` condition goes stale.
    stale: Arc<Delayed>,
}

/// Runs the controller until the process stops: one worker for budgets and one for stale
/// conditions, as upstream.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let pdb_informer = informers.get::<PodDisruptionBudget>();
    let pod_informer = informers.get::<Pod>();
    let rc_informer = informers.get::<ReplicationController>();
    let rs_informer = informers.get::<ReplicaSet>();
    let deployment_informer = informers.get::<Deployment>();
    let ss_informer = informers.get::<StatefulSet>();
    // Subscribed before the first look, so nothing falls between.
    let pdb_changes = pdb_informer.changes();
    let pod_changes = pod_informer.changes();
    let rc_changes = rc_informer.changes();
    let rs_changes = rs_informer.changes();
    let deployment_changes = deployment_informer.changes();
    let ss_changes = ss_informer.changes();
    pdb_informer.ready().await;
    pod_informer.ready().await;
    rc_informer.ready().await;
    rs_informer.ready().await;
    deployment_informer.ready().await;
    ss_informer.ready().await;
    tracing::info!("Starting {NAME}.");

    let queue = WorkQueue::<String>::new("disruption");
    let stale_queue = WorkQueue::<String>::new("stale_pod_disruption");
    let ctx = Arc::new(Context {
        client: client.clone(),
        pdbs: pdb_informer.store(),
        pods: pod_informer.store(),
        workloads: scale::Workloads {
            rcs: rc_informer.store(),
            replicasets: rs_informer.store(),
            deployments: deployment_informer.store(),
            statefulsets: ss_informer.store(),
        },
        recorder: Recorder::new(client, EVENT_SOURCE),
        recheck: Delayed::new(queue.clone()),
        stale: Delayed::new(stale_queue.clone()),
    });

    for pdb in ctx.pdbs.state() {
        queue.add(key_of(&pdb.metadata));
    }
    let now = Timestamp::now();
    for pod in ctx.pods.state() {
        watch_stale(&ctx, &pod, now);
    }
    let pdbs = ctx.pdbs.clone();
    feed(&queue, pdb_changes, move |change| match change {
        Change::Applied { new, .. } => vec![key_of(&new.metadata)],
        Change::Deleted(pdb) => vec![key_of(&pdb.metadata)],
        Change::Relisted => pdbs.state().iter().map(|p| key_of(&p.metadata)).collect(),
    });
    let c = ctx.clone();
    feed(&queue, pod_changes, move |change| on_pod_change(&c, change));
    workload_feed(&queue, &ctx, rc_changes);
    workload_feed(&queue, &ctx, rs_changes);
    workload_feed(&queue, &ctx, deployment_changes);
    workload_feed(&queue, &ctx, ss_changes);

    let (c, s) = (ctx.clone(), ctx);
    tokio::join!(
        workqueue::process(queue, 1, "PodDisruptionBudget", move |key| {
            let ctx = c.clone();
            async move { sync(&ctx, &key).await }
        }),
        workqueue::process(
            stale_queue,
            1,
            "the DisruptionTarget condition of pod",
            move |key| {
                let ctx = s.clone();
                async move { sync_stale_condition(&ctx, &key).await }
            }
        ),
    );
}

fn workload_feed<K: triggers::Workload + Send + Sync + 'static>(
    queue: &Arc<WorkQueue<String>>,
    ctx: &Arc<Context>,
    changes: impl futures::Stream<Item = Change<K>> + Send + 'static,
) {
    let ctx = ctx.clone();
    feed(queue, changes, move |change| {
        triggers::for_workload(&ctx.pdbs, &ctx.pods, &ctx.workloads.replicasets, &change)
    });
}

/// Schedules the reset of the pod's `DisruptionTarget` condition if it can go stale.
fn watch_stale(ctx: &Arc<Context>, pod: &Pod, now: Timestamp) {
    if let Some(wait) = stale::stale_in(pod, now) {
        ctx.stale.add_after(key_of(&pod.metadata), wait);
    }
}

/// The budgets a pod change concerns; also notes stale conditions, and warns about a pod
/// several budgets select when it appears or its labels change (upstream warns on every
/// change, but its recorder drops most repeats; ours would write each one).
fn on_pod_change(ctx: &Arc<Context>, change: Change<Pod>) -> Vec<String> {
    let now = Timestamp::now();
    match &change {
        Change::Applied { new, old } => {
            watch_stale(ctx, new, now);
            let relabeled = old
                .as_ref()
                .is_none_or(|o| o.metadata.labels != new.metadata.labels);
            if relabeled {
                let selecting = triggers::selecting(&ctx.pdbs, new);
                if selecting.len() > 1 {
                    let chosen = selecting[0].metadata.name.as_deref().unwrap_or_default();
                    ctx.recorder.record(
                        &**new,
                        EventType::Warning,
                        "MultiplePodDisruptionBudgets",
                        triggers::multiple_budgets_message(new, chosen),
                    );
                }
            }
        }
        Change::Relisted => {
            for pod in ctx.pods.state() {
                watch_stale(ctx, &pod, now);
            }
        }
        Change::Deleted(_) => {}
    }
    triggers::for_pod(&ctx.pdbs, &change)
}

async fn sync(ctx: &Arc<Context>, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    // A budget that is gone needs nothing.
    let Some(pdb) = ctx.pdbs.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let span = crate::workqueue::reconcile_span(NAME, &pdb.metadata);
    async move {
        match try_sync(ctx, &pdb).await {
            Ok(()) => Ok(()),
            // Someone else wrote the budget: retry from the newer version, not fail safe.
            Err(e) if e.is_conflict() => Err(e),
            Err(e) => {
                tracing::warn!("Syncing PodDisruptionBudget {key} failed: {e}.");
                let status = status::fail_safe(&pdb, e.condition_message(), Timestamp::now());
                if pdb.status.as_ref() == Some(&status) {
                    return Ok(());
                }
                write_status(ctx, &pdb, status).await
            }
        }
    }
    .instrument(span)
    .await
}

/// The pods a budget selects in its namespace, finished ones included, as upstream counts.
fn pods_of(ctx: &Context, pdb: &PodDisruptionBudget) -> Vec<Arc<Pod>> {
    let namespace = pdb.metadata.namespace.as_deref();
    let selector = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
    let mut pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == namespace)
        .filter(|p| selector::matches(selector, p.metadata.labels.as_ref()))
        .collect();
    // The cache's order is arbitrary; errors name the first pod, so make it a stable one.
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods
}

async fn try_sync(ctx: &Context, pdb: &Arc<PodDisruptionBudget>) -> Result<(), Error> {
    let namespace = pdb.metadata.namespace.as_deref().unwrap_or_default();
    let pods = pods_of(ctx, pdb);
    if pods.is_empty() {
        ctx.recorder.record(
            &**pdb,
            EventType::Normal,
            "NoPods",
            "No matching pods found".to_string(),
        );
    }
    let spec = pdb.spec.clone().unwrap_or_default();
    let counts = match expected_counts(ctx, &spec, namespace, &pods).await {
        Ok((counts, unmanaged)) => {
            if !unmanaged.is_empty() {
                tracing::debug!(
                    "PodDisruptionBudget {namespace}/{} selects unmanaged pods: {unmanaged:?}.",
                    pdb.metadata.name.as_deref().unwrap_or_default()
                );
                ctx.recorder.record(
                    &**pdb,
                    EventType::Warning,
                    "UnmanagedPods",
                    format!(
                        "Pods selected by this PodDisruptionBudget (selector: {}) were found to \
                         be unmanaged. As a result, the status of the PDB cannot be calculated \
                         correctly, which may result in undefined behavior. To account for these \
                         pods please set \".spec.minAvailable\" field of the PDB to an integer \
                         value.",
                        crate::selector::go_text(spec.selector.as_ref())
                    ),
                );
            }
            counts
        }
        Err(e) => {
            ctx.recorder.record(
                &**pdb,
                EventType::Warning,
                "CalculateExpectedPodCountFailed",
                format!("Failed to calculate the number of expected pods: {e}"),
            );
            return Err(e);
        }
    };

    let now = Timestamp::now();
    let recorded = pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref());
    let disrupted = status::prune(&pods, recorded, now);
    for pod in &disrupted.not_deleted {
        tracing::info!(
            "Pod {namespace}/{} was expected to be deleted but it wasn't; updating its PodDisruptionBudget {namespace}/{}.",
            pod.metadata.name.as_deref().unwrap_or_default(),
            pdb.metadata.name.as_deref().unwrap_or_default()
        );
        // Upstream's message names the budget's namespace twice; kept so it reads the same.
        ctx.recorder.record(
            &**pod,
            EventType::Warning,
            "NotDeleted",
            format!("Pod was expected by PDB {namespace}/{namespace} to be deleted but it wasn't"),
        );
    }
    let healthy = status::count_healthy(&pods, &disrupted.pods, now);
    if let Some(new) = status::desired(pdb, healthy, counts, disrupted.pods, now) {
        write_status(ctx, pdb, new).await?;
    }
    if let Some(at) = disrupted.recheck {
        let wait = Duration::try_from(at.duration_since(now)).unwrap_or_default();
        ctx.recheck.add_after(key_of(&pdb.metadata), wait);
    }
    Ok(())
}

/// The counts for the budget, and the pods it selects that have no controller (they cannot
/// be counted against a scale).
async fn expected_counts(
    ctx: &Context,
    spec: &k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec,
    namespace: &str,
    pods: &[Arc<Pod>],
) -> Result<(expected::Counts, Vec<String>), Error> {
    if !expected::needs_scale(spec) {
        return Ok((expected::counts(spec, pods.len(), 0)?, Vec::new()));
    }
    let controllers = expected::controllers(pods);
    let mut found = Vec::new();
    for (pod, reference) in &controllers.refs {
        let controller = match ctx.workloads.find(reference, namespace) {
            Some(f) => Some(f),
            None => scale::through_scale_subresource(&ctx.client, reference, namespace).await?,
        };
        found.push(controller.ok_or_else(|| Error::NoController(pod.clone()))?);
    }
    let counts = expected::counts(spec, pods.len(), expected::total_scale(&found))?;
    Ok((counts, controllers.unmanaged))
}

/// Writes the budget's status with an update (not a patch), so a budget changed meanwhile
/// conflicts and is synced again from its newer version.
async fn write_status(
    ctx: &Context,
    pdb: &PodDisruptionBudget,
    status: PodDisruptionBudgetStatus,
) -> Result<(), Error> {
    let namespace = pdb.metadata.namespace.clone().unwrap_or_default();
    let name = pdb.metadata.name.clone().unwrap_or_default();
    let mut updated = pdb.clone();
    updated.status = Some(status);
    let api: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), &namespace);
    api.replace_status(&name, &PostParams::default(), &updated)
        .await
        .map(|_| ())
        .map_err(|source| Error::Status {
            namespace,
            name,
            source,
        })
}

async fn sync_stale_condition(ctx: &Arc<Context>, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    // A pod that is gone has nothing to reset.
    let Some(pod) = ctx.pods.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let now = Timestamp::now();
    let Some(wait) = stale::stale_in(&pod, now) else {
        return Ok(());
    };
    if !wait.is_zero() {
        ctx.stale.add_after(key.to_string(), wait);
        return Ok(());
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    api.replace_status(name, &PostParams::default(), &stale::reset(&pod, now))
        .await
        .map_err(|source| Error::PodStatus {
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        })?;
    tracing::info!("Reset the stale DisruptionTarget condition of pod {key} to False.");
    Ok(())
}
