//! What a Job sync does to pods: creating them in slow-start batches (at most
//! [`MAX_PER_SYNC`]), deleting active ones, and removing the tracking finalizer from finished
//! ones. Creations and deletions are recorded as expectations and as Events on the Job.

use super::pods::{self, IndexFailures};
use super::{Context, Error};
use crate::client::{self, NAMESPACE_TERMINATING_CAUSE, has_cause};
use crate::events::EventType;
use crate::replicaset::manage::batches;
use futures::future::join_all;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::sync::Arc;

/// The most pods one sync creates or deletes (upstream `MaxPodCreateDeletePerSync`).
pub const MAX_PER_SYNC: usize = 500;

fn names(job: &Job) -> (&str, &str) {
    (
        job.metadata.namespace.as_deref().unwrap_or_default(),
        job.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// Creates one pod per entry of `wanted` (an index and its failures for Indexed Jobs, `None`
/// otherwise). Returns how many were created, and the first error.
pub async fn create(
    ctx: &Context,
    job: &Job,
    key: &str,
    wanted: Vec<Option<(i32, IndexFailures)>>,
) -> (usize, Option<Error>) {
    let (namespace, name) = names(job);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let mut wanted = wanted.into_iter();
    let mut created_total = 0;
    for size in batches(wanted.len().min(MAX_PER_SYNC)) {
        let batch: Vec<Pod> = wanted
            .by_ref()
            .take(size)
            .map(|index| pods::for_job(job, index))
            .collect();
        let params = PostParams::default();
        let results = join_all(batch.iter().map(|pod| api.create(&params, pod))).await;
        let mut created = Vec::new();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(pod) => {
                    let pod_name = pod.metadata.name.unwrap_or_default();
                    ctx.recorder.record(
                        job,
                        EventType::Normal,
                        "SuccessfulCreate",
                        format!("Created pod: {pod_name}"),
                    );
                    created.push(pod_name);
                }
                // The namespace is going away; every later creation would fail the same way.
                Err(e) if has_cause(&e, NAMESPACE_TERMINATING_CAUSE) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    ctx.recorder.record(
                        job,
                        EventType::Warning,
                        "FailedCreate",
                        format!("Error creating: {}", client::message(&e)),
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        created_total += created.len();
        ctx.expectations.created(key, created);
        if let Some(source) = first_error {
            return (
                created_total,
                Some(Error::Pods {
                    action: "creating",
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    source,
                }),
            );
        }
    }
    (created_total, None)
}

/// Whether deleted pods count toward the Job's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Scale-down and suspension: the finalizer comes off first, so they are never counted.
    Never,
    /// The Job is failing or done: they keep the finalizer and count as failed.
    AsFailed,
}

/// Deletes `doomed`. Returns how many were deleted (gone already counts) and how many of them
/// were ready, and the first error.
pub async fn delete(
    ctx: &Context,
    job: &Job,
    key: &str,
    doomed: &[Arc<Pod>],
    counted: Counted,
) -> (i32, i32, Option<Error>) {
    let (namespace, name) = names(job);
    let doomed = &doomed[..doomed.len().min(MAX_PER_SYNC)];
    ctx.expectations.deleted(
        key,
        doomed.iter().map(|p| {
            (
                p.metadata.name.clone().unwrap_or_default(),
                p.metadata.uid.clone().unwrap_or_default(),
            )
        }),
    );
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let results = join_all(doomed.iter().map(|pod| {
        let api = api.clone();
        async move {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            if counted == Counted::Never && pods::has_finalizer(pod) {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Err(e) = api
                    .patch(&pod_name, &PatchParams::default(), &finalizer_removal(&uid))
                    .await
                    && !client::is_not_found(&e)
                {
                    return (pod, pod_name, Err(e));
                }
                ctx.removals.expect(&uid);
            }
            let result = api.delete(&pod_name, &DeleteParams::default()).await;
            (pod, pod_name, result)
        }
    }))
    .await;
    let (mut deleted, mut ready, mut first_error) = (0, 0, None);
    for (pod, pod_name, result) in results {
        match result {
            Ok(_) => {
                ctx.recorder.record(
                    job,
                    EventType::Normal,
                    "SuccessfulDelete",
                    format!("Deleted pod: {pod_name}"),
                );
            }
            Err(e) if client::is_not_found(&e) => {}
            Err(e) => {
                ctx.recorder.record(
                    job,
                    EventType::Warning,
                    "FailedDelete",
                    format!("Error deleting: {}", client::message(&e)),
                );
                first_error.get_or_insert(e);
                continue;
            }
        }
        deleted += 1;
        if crate::pods::is_ready(pod) {
            ready += 1;
        }
    }
    if first_error.is_some() {
        // A deletion that failed will never be observed.
        ctx.expectations.forget(key);
    }
    (
        deleted,
        ready,
        first_error.map(|source| Error::Pods {
            action: "deleting",
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        }),
    )
}

/// Removes the tracking finalizer from `pods`. Returns the uids it is gone from, and the first
/// error.
pub async fn remove_finalizers(
    ctx: &Context,
    namespace: &str,
    job_name: &str,
    pods: &[Arc<Pod>],
) -> (Vec<String>, Option<Error>) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let results = join_all(pods.iter().map(|pod| {
        let api = api.clone();
        async move {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let result = api
                .patch(&pod_name, &PatchParams::default(), &finalizer_removal(&uid))
                .await;
            (uid, pod_name, result)
        }
    }))
    .await;
    let mut removed = Vec::new();
    let mut first_error = None;
    for (uid, pod_name, result) in results {
        match result {
            Ok(_) => removed.push(uid),
            Err(e) if client::is_not_found(&e) => removed.push(uid),
            Err(source) => {
                first_error.get_or_insert(Error::Pod {
                    action: "removing the tracking finalizer from",
                    namespace: namespace.to_string(),
                    name: job_name.to_string(),
                    pod: pod_name,
                    source,
                });
            }
        }
    }
    for uid in &removed {
        ctx.removals.expect(uid);
    }
    (removed, first_error)
}

/// The patch removing the tracking finalizer; the uid precondition keeps a pod recreated under
/// the same name untouched.
fn finalizer_removal(uid: &str) -> Patch<serde_json::Value> {
    Patch::Strategic(json!({"metadata": {
        "$deleteFromPrimitiveList/finalizers": [pods::TRACKING_FINALIZER],
        "uid": uid,
    }}))
}
