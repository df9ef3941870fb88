//! The TTL-after-finished controller (upstream `pkg/controller/ttlafterfinished`): deletes a
//! finished Job (`Complete` or `Failed`) once `ttlSecondsAfterFinished` have passed since it
//! finished, in the foreground, so its pods go first.
//!
//! Timeline for one Job: it finishes -> queued -> still time left: queued again when it
//! expires -> expired: read again from the apiserver (the TTL may have been changed or the Job
//! replaced meanwhile) -> deleted with a uid precondition.

use crate::client;
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, feed, key_of, process};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use std::time::Duration;

/// The controller's name (upstream `names.TTLAfterFinishedController`).
pub const NAME: &str = "ttl-after-finished-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} Job {namespace}/{name}: {}", client::message(.source))]
    Job {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// When the Job finished: the transition time of its `Complete` or `Failed` condition.
pub fn finished_at(job: &Job) -> Option<Timestamp> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// How long from `now` until the Job expires (zero once it has), when it is a finished Job
/// with a TTL that is not being deleted.
pub fn time_left(job: &Job, now: Timestamp) -> Option<Duration> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let expires = finished_at(job)?
        .checked_add(SignedDuration::from_secs(i64::from(ttl)))
        .ok()?;
    Some(Duration::try_from(expires.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// Runs the controller until the process stops, with `workers` deleting at once
/// (`--concurrent-ttl-after-finished-syncs`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, workers: u16) {
    let informer = informers.get::<Job>();
    let changes = informer.changes();
    informer.ready().await;
    let jobs = informer.store();
    let queue = WorkQueue::new("ttl_jobs_to_delete");
    tracing::info!("Starting {NAME}.");
    for job in jobs.state() {
        if time_left(&job, Timestamp::now()).is_some() {
            queue.add(key_of(&job.metadata));
        }
    }
    feed(&queue, changes, |change| match change {
        Change::Applied { new, .. } if time_left(&new, Timestamp::now()).is_some() => {
            vec![key_of(&new.metadata)]
        }
        _ => Vec::new(),
    });
    let ctx = Arc::new((client, jobs, queue.clone()));
    process(queue, workers, "the TTL of Job", move |key| {
        let ctx = ctx.clone();
        async move {
            let (client, jobs, queue) = &*ctx;
            sync(client, jobs, queue, &key).await
        }
    })
    .await;
}

async fn sync(
    client: &kube::Client,
    jobs: &Store<Job>,
    queue: &Arc<WorkQueue<String>>,
    key: &str,
) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(cached) = jobs.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let err = |action, source| Error::Job {
        action,
        namespace: namespace.to_string(),
        name: name.to_string(),
        source,
    };
    match time_left(&cached, Timestamp::now()) {
        None => return Ok(()),
        Some(left) if !left.is_zero() => {
            queue.add_after(key.to_string(), left);
            return Ok(());
        }
        Some(_) => {}
    }
    // The cache may be behind: decide on the Job as stored now.
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    let Some(fresh) = api.get_opt(name).await.map_err(|e| err("reading", e))? else {
        return Ok(());
    };
    match time_left(&fresh, Timestamp::now()) {
        Some(left) if left.is_zero() => {}
        Some(left) => {
            queue.add_after(key.to_string(), left);
            return Ok(());
        }
        None => return Ok(()),
    }
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        preconditions: Some(Preconditions {
            uid: fresh.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            tracing::info!("The {NAME} deleted Job {namespace}/{name}: its TTL expired.");
            Ok(())
        }
        Err(e) if client::is_not_found(&e) || client::is_conflict(&e) => Ok(()),
        Err(e) => Err(err("deleting", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn job(ttl: Option<i32>, finished: Option<&str>) -> Job {
        Job {
            spec: Some(JobSpec {
                ttl_seconds_after_finished: ttl,
                ..Default::default()
            }),
            status: Some(JobStatus {
                conditions: finished.map(|at| {
                    vec![JobCondition {
                        type_: "Complete".to_string(),
                        status: "True".to_string(),
                        last_transition_time: Some(Time(at.parse().unwrap())),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_finished_job_expires_its_ttl_after_it_finished() {
        let now: Timestamp = "2026-11-28T07:00:10Z".parse().unwrap();
        let j = job(Some(30), Some("2026-11-28T07:00:00Z"));
        assert_eq!(time_left(&j, now), Some(Duration::from_secs(20)));
        let later: Timestamp = "2026-11-28T07:01:00Z".parse().unwrap();
        assert_eq!(time_left(&j, later), Some(Duration::ZERO));
        assert_eq!(
            time_left(&job(None, Some("2026-11-28T07:00:00Z")), now),
            None
        );
        assert_eq!(time_left(&job(Some(30), None), now), None);
    }
}
