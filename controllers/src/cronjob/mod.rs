//! The cronjob controller (upstream `pkg/controller/cronjob`, its second version): creates a
//! Job from a CronJob's template at each scheduled time ([`schedule`]), honouring `suspend`,
//! `startingDeadlineSeconds` and the concurrency policy (Allow, Forbid, Replace), keeps
//! `status.active`, `lastScheduleTime` and `lastSuccessfulTime`, and deletes finished Jobs
//! beyond the history limits.
//!
//! Timeline of one sync ([`sync`]): finished Jobs beyond the limits deleted -> `status.active`
//! reconciled with the Jobs that exist -> the most recent time due found -> a Job created
//! for it unless too late, already created, or forbidden -> status written -> the CronJob
//! queued again just after its next time.

pub mod jobs;
pub mod schedule;
pub mod sync;

use crate::client;
use crate::events::Recorder;
use crate::informer::{Change, Informers};
use crate::ownership;
use crate::workqueue::{WorkQueue, feed, key_of, process};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::runtime::reflector::Store;
use std::sync::Arc;

/// The controller's name (upstream `names.CronJobController`), also its event source.
pub const NAME: &str = "cronjob-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} Job {namespace}/{job} of CronJob {name}: {}", client::message(.source))]
    Job {
        action: &'static str,
        namespace: String,
        name: String,
        job: String,
        #[source]
        source: kube::Error,
    },
    #[error("{action} CronJob {namespace}/{name}: {}", client::message(.source))]
    CronJob {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not replace job {namespace}/{job}")]
    Replace { namespace: String, job: String },
}

/// What every sync shares.
pub struct Context {
    client: kube::Client,
    cronjobs: Store<CronJob>,
    jobs: Store<Job>,
    recorder: Recorder,
    queue: Arc<WorkQueue<String>>,
}

/// Runs the controller until the process stops, syncing up to `concurrency` CronJobs at once
/// (`--concurrent-cron-job-syncs`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, concurrency: u16) {
    let cronjob_informer = informers.get::<CronJob>();
    let job_informer = informers.get::<Job>();
    let (cronjob_changes, job_changes) = (cronjob_informer.changes(), job_informer.changes());
    cronjob_informer.ready().await;
    job_informer.ready().await;
    let queue = WorkQueue::new("cronjob");
    let ctx = Arc::new(Context {
        client: client.clone(),
        cronjobs: cronjob_informer.store(),
        jobs: job_informer.store(),
        recorder: Recorder::new(client, NAME),
        queue: queue.clone(),
    });
    tracing::info!("Starting {NAME}.");
    for cj in ctx.cronjobs.state() {
        queue.add(key_of(&cj.metadata));
    }
    {
        let cronjobs = ctx.cronjobs.clone();
        feed(&queue, cronjob_changes, move |change| match change {
            Change::Applied { new, .. } => vec![key_of(&new.metadata)],
            Change::Deleted(cj) => vec![key_of(&cj.metadata)],
            Change::Relisted => cronjobs
                .state()
                .iter()
                .map(|c| key_of(&c.metadata))
                .collect(),
        });
    }
    {
        let cronjobs = ctx.cronjobs.clone();
        feed(&queue, job_changes, move |change| match change {
            Change::Applied { new, old } => {
                let mut keys: Vec<String> = owner_key(&new).into_iter().collect();
                if let Some(previous) = old.as_deref().and_then(owner_key)
                    && !keys.contains(&previous)
                {
                    keys.push(previous);
                }
                keys
            }
            Change::Deleted(job) => owner_key(&job).into_iter().collect(),
            Change::Relisted => cronjobs
                .state()
                .iter()
                .map(|c| key_of(&c.metadata))
                .collect(),
        });
    }
    process(queue, concurrency, "the CronJob", move |key| {
        let ctx = ctx.clone();
        async move { sync::sync(&ctx, &key).await }
    })
    .await;
}

/// The key of the CronJob controlling `job`, if one does.
fn owner_key(job: &Job) -> Option<String> {
    ownership::controller_key(&job.metadata, "batch/v1", "CronJob")
}
