//! Emptying a namespace that is being deleted, then releasing it (upstream's
//! `namespaced_resources_deleter.go`). One [`Deleter::delete`] call is one pass:
//!
//! 1. read the namespace; nothing to do unless it has a `deletionTimestamp`;
//! 2. make sure its phase says `Terminating`;
//! 3. nothing to do if `spec.finalizers` is already empty;
//! 4. for every namespaced resource discovery lists with the `delete` verb: delete the
//!    collection (or list and delete each object when `deletecollection` is not served), then
//!    list what is left;
//! 5. record what happened in the namespace's conditions;
//! 6. errors end the pass (the caller retries with backoff); remaining objects that are
//!    expected to go (pods in their grace period, objects held by finalizers) end it with
//!    [`Outcome::Remaining`] and an estimate of how long they take;
//! 7. otherwise remove `kubernetes` from `spec.finalizers` through the `finalize` subresource,
//!    after which the apiserver deletes the namespace.

use super::cluster::{Cluster, NamespacedResource};
use super::conditions::{Remaining, Updater};
use crate::client::{self, is_conflict, is_method_not_supported, is_not_found};
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// The token in `spec.finalizers` this controller owns.
pub const FINALIZER: &str = "kubernetes";

/// How long objects held by finalizers are expected to take, when nothing better is known.
const FINALIZER_ESTIMATE_SECONDS: i64 = 15;

/// How often an update that keeps conflicting is retried within one pass.
const CONFLICT_RETRIES: usize = 5;

/// How a pass ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do: the namespace is gone, not being deleted, or already finalized.
    Done,
    /// The namespace was empty and is released; the apiserver deletes it.
    Finalized,
    /// Content remains that should go within about `estimate_seconds`.
    Remaining { estimate_seconds: i64 },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call on the namespace itself failed.
    #[error("{}", client::message(.0))]
    Api(#[source] kube::Error),
    /// The namespace was deleted and recreated while a write was being retried.
    #[error("namespace uid has changed across retries")]
    UidChanged,
    /// Discovering or deleting the namespace's content failed, in these ways.
    #[error("{}", aggregate(.0))]
    Content(Vec<String>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Several errors as client-go's `utilerrors.NewAggregate` prints them: one alone, or
/// `[a, b]` with duplicates dropped.
fn aggregate(errs: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errs {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.as_slice() {
        [one] => (*one).to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// The outcome of one resource in one pass.
#[derive(Debug, Default)]
struct ResourcePass {
    /// Seconds until what remains should be gone; 0 when nothing is expected to remain.
    estimate: i64,
    remaining: usize,
    finalizers: BTreeMap<String, usize>,
}

/// The updates to a namespace that are retried on conflict.
#[derive(Debug, Clone, Copy)]
enum Update {
    MarkTerminating,
    Finalize,
}

pub struct Deleter<C> {
    cluster: C,
}

fn name_of(ns: &Namespace) -> &str {
    ns.metadata.name.as_deref().unwrap_or_default()
}

fn spec_finalizers(ns: &Namespace) -> &[String] {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref())
        .unwrap_or_default()
}

impl<C: Cluster> Deleter<C> {
    pub fn new(cluster: C) -> Self {
        Self { cluster }
    }

    /// One pass over namespace `name` at time `now`; see the module documentation.
    pub async fn delete(&self, name: &str, now: Timestamp) -> Result<Outcome> {
        let Some(ns) = self.cluster.get_namespace(name).await.map_err(Error::Api)? else {
            return Ok(Outcome::Done);
        };
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(Outcome::Done);
        }
        let Some(ns) = self.retry_on_conflict(ns, Update::MarkTerminating).await? else {
            return Ok(Outcome::Done);
        };
        let Some(deleted_at) = ns.metadata.deletion_timestamp.clone() else {
            return Ok(Outcome::Done);
        };
        if spec_finalizers(&ns).is_empty() {
            return Ok(Outcome::Done);
        }
        let estimate = self.delete_all_content(&ns, deleted_at.0, now).await?;
        if estimate > 0 {
            return Ok(Outcome::Remaining {
                estimate_seconds: estimate,
            });
        }
        Ok(match self.retry_on_conflict(ns, Update::Finalize).await? {
            Some(_) => Outcome::Finalized,
            None => Outcome::Done,
        })
    }

    /// Applies `update`, re-reading the namespace after each conflict. `None` when the
    /// namespace is gone.
    async fn retry_on_conflict(&self, ns: Namespace, update: Update) -> Result<Option<Namespace>> {
        let mut latest = ns;
        let mut tries = 0;
        loop {
            let result = match update {
                Update::MarkTerminating => self.mark_terminating(&latest).await,
                Update::Finalize => self.finalize(&latest).await,
            };
            let err = match result {
                Ok(ns) => return Ok(Some(ns)),
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => e,
            };
            tries += 1;
            if !is_conflict(&err) || tries >= CONFLICT_RETRIES {
                return Err(Error::Api(err));
            }
            let Some(fresh) = self
                .cluster
                .get_namespace(name_of(&latest))
                .await
                .map_err(Error::Api)?
            else {
                return Ok(None);
            };
            if fresh.metadata.uid != latest.metadata.uid {
                return Err(Error::UidChanged);
            }
            latest = fresh;
        }
    }

    async fn mark_terminating(&self, ns: &Namespace) -> kube::Result<Namespace> {
        let phase = ns.status.as_ref().and_then(|s| s.phase.as_deref());
        if ns.metadata.deletion_timestamp.is_none() || phase == Some("Terminating") {
            return Ok(ns.clone());
        }
        let mut next = ns.clone();
        next.status.get_or_insert_with(Default::default).phase = Some("Terminating".to_string());
        self.cluster.update_namespace_status(&next).await
    }

    async fn finalize(&self, ns: &Namespace) -> kube::Result<Namespace> {
        let mut next = ns.clone();
        let others: BTreeSet<String> = spec_finalizers(ns)
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        next.spec = Some(NamespaceSpec {
            finalizers: Some(others.into_iter().collect()),
        });
        self.cluster.finalize_namespace(&next).await
    }

    /// Deletes everything in the namespace it can find and records how that went in the
    /// namespace's conditions. Returns the seconds to wait for what remains.
    async fn delete_all_content(
        &self,
        ns: &Namespace,
        deleted_at: Timestamp,
        now: Timestamp,
    ) -> Result<i64> {
        let name = name_of(ns);
        let mut errs = Vec::new();
        let mut conditions = Updater::default();
        let discovery = match self.cluster.discover().await {
            Ok(d) => d,
            Err(e) => {
                let msg = client::message(&e);
                errs.push(msg.clone());
                conditions.discovery_failed(msg);
                Default::default()
            }
        };
        if !discovery.failed.is_empty() {
            let groups: Vec<String> = discovery
                .failed
                .iter()
                .map(|(gv, why)| format!("{gv}: {why}"))
                .collect();
            let msg = format!(
                "unable to retrieve the complete list of server APIs: {}",
                groups.join(", ")
            );
            conditions.discovery_failed(format!(
                "Discovery failed for some groups, {} failing: {msg}",
                groups.len()
            ));
            errs.push(msg);
        }
        if let Some(first) = discovery.unparsable.first() {
            errs.push(first.clone());
            conditions.group_version_failed(first.clone());
        }
        let mut estimate = 0;
        let mut remaining = Remaining::default();
        for resource in discovery.resources.iter().filter(|r| r.supports("delete")) {
            let (pass, result) = self.delete_resource(resource, name, deleted_at, now).await;
            if let Err(e) = result {
                errs.push(e.clone());
                conditions.delete_content_failed(e);
            }
            estimate = estimate.max(pass.estimate);
            if pass.remaining > 0 {
                remaining
                    .by_resource
                    .insert(resource.gvr.clone(), pass.remaining);
                for (f, n) in pass.finalizers {
                    *remaining.by_finalizer.entry(f).or_default() += n;
                }
            }
        }
        conditions.content_totals(&remaining);
        // The conditions are refreshed on every pass: a failure that went away must say so.
        let mut updated = ns.clone();
        let status = updated.status.get_or_insert_with(Default::default);
        if conditions.update(status, &Time(now))
            && let Err(e) = self.cluster.update_namespace_status(&updated).await
        {
            tracing::warn!(
                "Could not update the status conditions of namespace {name}: {}.",
                client::message(&e)
            );
        }
        if errs.is_empty() {
            Ok(estimate)
        } else {
            Err(Error::Content(errs))
        }
    }

    /// Deletes every object of `resource` in `namespace` and checks what is left.
    async fn delete_resource(
        &self,
        resource: &NamespacedResource,
        namespace: &str,
        deleted_at: Timestamp,
        now: Timestamp,
    ) -> (ResourcePass, Result<(), String>) {
        let estimate = match self
            .estimate_graceful_termination(resource, namespace, deleted_at, now)
            .await
        {
            Ok(e) => e,
            Err(e) => return (ResourcePass::default(), Err(client::message(&e))),
        };
        let failed = |e: &kube::Error| {
            (
                ResourcePass {
                    estimate,
                    ..Default::default()
                },
                Err(client::message(e)),
            )
        };
        // A resource can be listed in discovery yet answer 404 or 405 to a collection verb;
        // that means "not supported", as it does upstream.
        let unsupported = |e: &kube::Error| is_not_found(e) || is_method_not_supported(e);
        let mut collection_deleted = false;
        if resource.supports("deletecollection") {
            match self.cluster.delete_collection(resource, namespace).await {
                Ok(()) => collection_deleted = true,
                Err(e) if unsupported(&e) => {}
                Err(e) => return failed(&e),
            }
        }
        if !collection_deleted && resource.supports("list") {
            match self.cluster.list(resource, namespace).await {
                Ok(items) => {
                    for item in items {
                        let item_name = item.name.as_deref().unwrap_or_default();
                        match self.cluster.delete(resource, namespace, item_name).await {
                            Ok(()) => {}
                            Err(e) if unsupported(&e) => {}
                            Err(e) => return failed(&e),
                        }
                    }
                }
                Err(e) if unsupported(&e) => {}
                Err(e) => return failed(&e),
            }
        }
        if !resource.supports("list") {
            return (
                ResourcePass {
                    estimate,
                    ..Default::default()
                },
                Ok(()),
            );
        }
        let items = match self.cluster.list(resource, namespace).await {
            Ok(items) => items,
            Err(e) if unsupported(&e) => {
                return (
                    ResourcePass {
                        estimate,
                        ..Default::default()
                    },
                    Ok(()),
                );
            }
            Err(e) => return failed(&e),
        };
        if items.is_empty() {
            return (ResourcePass::default(), Ok(()));
        }
        let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
        for item in &items {
            for f in item.finalizers.iter().flatten() {
                *finalizers.entry(f.clone()).or_default() += 1;
            }
        }
        let remaining = items.len();
        if estimate != 0 {
            return (
                ResourcePass {
                    estimate,
                    remaining,
                    finalizers,
                },
                Ok(()),
            );
        }
        // Finalizers are expected to take a while; give them the default estimate.
        if !finalizers.is_empty() {
            return (
                ResourcePass {
                    estimate: FINALIZER_ESTIMATE_SECONDS,
                    remaining,
                    finalizers,
                },
                Ok(()),
            );
        }
        (
            ResourcePass {
                estimate,
                remaining,
                finalizers,
            },
            Err(format!(
                "unexpected items still remain in namespace: {namespace} for gvr: {}",
                resource.gvr
            )),
        )
    }

    /// How long objects of `resource` may take to go once deleted: the longest grace period of
    /// the namespace's running pods, counted from the namespace's deletion.
    async fn estimate_graceful_termination(
        &self,
        resource: &NamespacedResource,
        namespace: &str,
        deleted_at: Timestamp,
        now: Timestamp,
    ) -> kube::Result<i64> {
        let is_pods = resource.gvr.group.is_empty() && resource.gvr.resource == "pods";
        if !is_pods {
            return Ok(0);
        }
        let mut estimate = 0;
        for pod in self.cluster.list_pods(namespace).await? {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            if let Some(grace) = pod
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
            {
                estimate = estimate.max(grace);
            }
        }
        let elapsed = now.as_second() - deleted_at.as_second();
        Ok(if elapsed >= estimate { 0 } else { estimate })
    }
}

#[cfg(test)]
mod tests;
