//! Creating and deleting pods until a ReplicaSet has as many as it asks for (upstream
//! `manageReplicas`): at most [`BURST_REPLICAS`] per sync; creations in slow-start batches
//! (1, 2, 4, ...) that stop at the first batch with a failure, so a ReplicaSet that cannot create
//! pods (quota, admission) does not send hundreds of doomed requests; deletions of the pods
//! [`ranking`](crate::pods::ranking) puts first. Each creation and deletion is recorded as an
//! expectation and as an Event on the ReplicaSet.

use super::kind::Replicated;
use super::status::Failure;
use super::{Context, Error, rs_kind};
use crate::client::{self, NAMESPACE_TERMINATING_CAUSE, has_cause};
use crate::events::EventType;
use crate::pods::ranking::pods_to_delete;
use crate::pods::template::{controller_reference, pod_from_template};
use futures::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use std::sync::Arc;

/// The most pods one sync creates or deletes (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// The sizes of slow-start batches for `n` creations: 1, 2, 4, ... and the rest.
pub fn batches(n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut left, mut size) = (n, 1);
    while left > 0 {
        let this = size.min(left);
        out.push(this);
        left -= this;
        size *= 2;
    }
    out
}

/// Creates or deletes pods so `owned` reaches the ReplicaSet's replicas. `related` are the
/// active pods of the ReplicaSet and its siblings, for choosing which to delete. On failure,
/// returns what failed and the error.
pub async fn manage_replicas<K: Replicated>(
    ctx: &Context<K>,
    owner: &K,
    rs: &ReplicaSet,
    key: &str,
    owned: &[Arc<Pod>],
    related: &[Arc<Pod>],
) -> Result<(), (Failure, Error)> {
    let want = rs
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0) as usize;
    let namespace = rs.metadata.namespace.as_deref().unwrap_or_default();
    let name = rs.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    if owned.len() < want {
        let missing = (want - owned.len()).min(BURST_REPLICAS);
        let Some(template) = rs.spec.as_ref().and_then(|s| s.template.as_ref()) else {
            return Ok(());
        };
        let pod = pod_from_template(template, namespace, name, controller_reference(owner));
        tracing::debug!("Too few replicas for ReplicaSet {namespace}/{name}: creating {missing}.");
        for size in batches(missing) {
            let params = PostParams::default();
            let results = join_all((0..size).map(|_| api.create(&params, &pod))).await;
            let mut created = Vec::new();
            let mut first_error = None;
            for result in results {
                match result {
                    Ok(p) => {
                        let pod_name = p.metadata.name.unwrap_or_default();
                        ctx.recorder.record(
                            owner,
                            EventType::Normal,
                            "SuccessfulCreate",
                            format!("Created pod: {pod_name}"),
                        );
                        created.push(pod_name);
                    }
                    Err(e) => {
                        // A namespace being deleted refuses new pods; that is no failure worth an event.
                        if !has_cause(&e, NAMESPACE_TERMINATING_CAUSE) {
                            ctx.recorder.record(
                                owner,
                                EventType::Warning,
                                "FailedCreate",
                                format!("Error creating: {}", client::message(&e)),
                            );
                        }
                        first_error.get_or_insert(e);
                    }
                }
            }
            ctx.expectations.created(key, created);
            if let Some(source) = first_error {
                return Err((
                    Failure::Create,
                    Error::Pods {
                        kind: rs_kind::<K>(),
                        action: "creating",
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                        source,
                    },
                ));
            }
        }
    } else if owned.len() > want {
        let extra = (owned.len() - want).min(BURST_REPLICAS);
        let doomed = pods_to_delete(owned.to_vec(), related, extra, Timestamp::now());
        tracing::debug!("Too many replicas for ReplicaSet {namespace}/{name}: deleting {extra}.");
        ctx.expectations.deleted(
            key,
            doomed.iter().map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    p.metadata.uid.clone().unwrap_or_default(),
                )
            }),
        );
        let results = join_all(doomed.iter().map(|p| {
            let pod_name = p.metadata.name.clone().unwrap_or_default();
            let api = api.clone();
            async move {
                let result = api.delete(&pod_name, &DeleteParams::default()).await;
                (pod_name, result)
            }
        }))
        .await;
        let mut first_error = None;
        for (pod_name, result) in results {
            match result {
                Ok(_) => ctx.recorder.record(
                    owner,
                    EventType::Normal,
                    "SuccessfulDelete",
                    format!("Deleted pod: {pod_name}"),
                ),
                // Already gone: what was wanted.
                Err(e) if client::is_not_found(&e) => {}
                Err(e) => {
                    ctx.recorder.record(
                        owner,
                        EventType::Warning,
                        "FailedDelete",
                        format!("Error deleting: {}", client::message(&e)),
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(source) = first_error {
            // The pod was not deleted, so its deletion will never be observed.
            ctx.expectations.forget(key);
            return Err((
                Failure::Delete,
                Error::Pods {
                    kind: rs_kind::<K>(),
                    action: "deleting",
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    source,
                },
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_doubles_batches() {
        assert_eq!(batches(0), Vec::<usize>::new());
        assert_eq!(batches(1), vec![1]);
        assert_eq!(batches(10), vec![1, 2, 4, 3]);
        assert_eq!(batches(500).iter().sum::<usize>(), 500);
        assert_eq!(batches(500).len(), 9);
    }
}
