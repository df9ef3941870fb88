//! The job controller (upstream `pkg/controller/job`): runs a Job's pods to completion. It
//! keeps up to `parallelism` pods active until `completions` succeeded (or, without
//! `completions`, until one succeeded and the rest finished), one pod per index for Indexed
//! Jobs; replaces failed pods after a growing delay ([`backoff`]) until `backoffLimit`,
//! `backoffLimitPerIndex`, the [`failure_policy`] or `activeDeadlineSeconds` fail the Job;
//! honours `suspend` and `successPolicy`; and counts every finished pod exactly once through
//! the tracking finalizer ([`tracking`]).
//!
//! Timeline of one sync ([`sync`]): pod cache ready -> claim the Job's pods -> count new
//! successes and failures -> decide whether the Job fails or succeeds (first the interim
//! `FailureTarget`/`SuccessCriteriaMet` condition, then, once no pod is left running,
//! `Failed`/`Complete`) -> otherwise create or delete pods ([`manage`]) -> write status,
//! remove finalizers of counted pods, write status again.
//!
//! Syncs are triggered by the Job's changes and its pods' (through their controller
//! reference; orphans through every Job selecting them), and after delays: the failure
//! backoff and the active deadline.

pub mod backoff;
pub mod conditions;
pub mod failure_policy;
pub mod indexes;
pub mod manage;
pub mod pods;
pub mod success_policy;
pub mod sync;
pub mod tracking;

use crate::client;
use crate::events::Recorder;
use crate::informer::{Change, Informers};
use crate::replicaset::expectations::Expectations;
use crate::workqueue::{WorkQueue, feed, key_of, process};
use crate::{ownership, selector};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::Store;
use std::sync::Arc;

/// The controller's name (upstream `names.JobController`), also its event source.
pub const NAME: &str = "job-controller";

/// The `spec.managedBy` value that leaves a Job to this controller.
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} pods for Job {namespace}/{name}: {}", client::message(.source))]
    Pods {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("{action} pod {namespace}/{pod} of Job {name}: {}", client::message(.source))]
    Pod {
        action: &'static str,
        namespace: String,
        name: String,
        pod: String,
        #[source]
        source: kube::Error,
    },
    #[error("updating the status of Job {namespace}/{name}: {}", client::message(.source))]
    Status {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// What every sync shares.
pub struct Context {
    client: kube::Client,
    jobs: Store<Job>,
    pods: Store<Pod>,
    expectations: Expectations,
    removals: tracking::Removals,
    backoffs: backoff::Records,
    recorder: Recorder,
    queue: Arc<WorkQueue<String>>,
}

/// Runs the controller until the process stops, syncing up to `concurrency` Jobs at once
/// (`--concurrent-job-syncs`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, concurrency: u16) {
    let job_informer = informers.get::<Job>();
    let pod_informer = informers.get::<Pod>();
    // Subscribed before the caches fill, so no change falls between the first look and them.
    let (job_changes, pod_changes) = (job_informer.changes(), pod_informer.changes());
    job_informer.ready().await;
    pod_informer.ready().await;
    let queue = WorkQueue::new("job");
    let ctx = Arc::new(Context {
        client: client.clone(),
        jobs: job_informer.store(),
        pods: pod_informer.store(),
        expectations: Expectations::default(),
        removals: tracking::Removals::default(),
        backoffs: backoff::Records::default(),
        recorder: Recorder::new(client, NAME),
        queue: queue.clone(),
    });
    tracing::info!("Starting {NAME}.");
    for job in ctx.jobs.state() {
        queue.add(key_of(&job.metadata));
    }
    {
        let jobs = ctx.jobs.clone();
        feed(&queue, job_changes, move |change| match change {
            Change::Applied { new, .. } => vec![key_of(&new.metadata)],
            Change::Deleted(job) => vec![key_of(&job.metadata)],
            Change::Relisted => jobs.state().iter().map(|j| key_of(&j.metadata)).collect(),
        });
    }
    {
        let ctx = ctx.clone();
        feed(&queue, pod_changes, move |change| {
            jobs_for_pod_change(&ctx, change)
        });
    }
    process(queue, concurrency, "the Job", move |key| {
        let ctx = ctx.clone();
        async move { sync::sync(&ctx, &key).await }
    })
    .await;
}

/// The key of the Job controlling `pod`, if a Job does.
fn controller_key(pod: &Pod) -> Option<String> {
    ownership::controller_key(&pod.metadata, "batch/v1", "Job")
}

/// The Jobs a pod change concerns: its controller before and after, or for an orphan every
/// Job of its namespace selecting it. Also notes the change against expectations.
fn jobs_for_pod_change(ctx: &Context, change: Change<Pod>) -> Vec<String> {
    let (pod, old, gone) = match change {
        Change::Applied { new, old } => (new, old, false),
        Change::Deleted(pod) => (pod, None, true),
        Change::Relisted => {
            return ctx
                .jobs
                .state()
                .iter()
                .map(|j| key_of(&j.metadata))
                .collect();
        }
    };
    ctx.removals.observe(&pod, gone);
    let mut out = Vec::new();
    match controller_key(&pod) {
        Some(key) => {
            ctx.expectations.observe(&key, &pod, gone);
            out.push(key);
        }
        None if !gone => {
            let namespace = pod.metadata.namespace.as_deref();
            out.extend(
                ctx.jobs
                    .state()
                    .iter()
                    .filter(|j| j.metadata.namespace.as_deref() == namespace)
                    .filter(|j| {
                        selector::matches(
                            j.spec.as_ref().and_then(|s| s.selector.as_ref()),
                            pod.metadata.labels.as_ref(),
                        )
                    })
                    .map(|j| key_of(&j.metadata)),
            );
        }
        None => {}
    }
    if let Some(previous) = old.as_deref().and_then(controller_key)
        && !out.contains(&previous)
    {
        out.push(previous);
    }
    out
}
