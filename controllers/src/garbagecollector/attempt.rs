//! What a worker does with one piece of [`Work`](super::graph::Work) (upstream
//! `attemptToDeleteItem`, `processDeletingDependentsItem` and `attemptToOrphanWorker`). Every
//! decision is taken on the objects as the apiserver returns them now, not on the graph: owners
//! are looked up live, and deletions carry the uid and resourceVersion the decision was made on.

use super::Collector;
use super::graph::{FOREGROUND, Identity, ORPHAN, Work};
use crate::client;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An owner reference names a kind the apiserver does not serve.
    #[error("unable to get REST mapping for {api_version}/{kind}")]
    NoMapping { api_version: String, kind: String },
    #[error("{action} {identity}: {}", client::message(.source))]
    Api {
        action: &'static str,
        identity: Box<Identity>,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// Whether the object changed between reading and writing it: retried at once, and not
    /// worth a warning.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Api { source, .. } if client::is_conflict(source))
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// How an owner reference stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The owner exists.
    Solid,
    /// The owner does not exist (or a different object has its name).
    Dangling,
    /// The owner is being deleted in the foreground, waiting for its dependents.
    Waiting,
}

/// The propagation a dependent is deleted with when its owners are gone: what its own
/// finalizers ask for, else background.
pub fn propagation(meta: &ObjectMeta) -> PropagationPolicy {
    let has = |f: &str| meta.finalizers.iter().flatten().any(|x| x == f);
    if has(ORPHAN) {
        PropagationPolicy::Orphan
    } else if has(FOREGROUND) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    }
}

impl Collector {
    fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<(Api<DynamicObject>, bool)> {
        let resources = self.resources();
        let served = resources
            .lookup(api_version, kind)
            .ok_or_else(|| Error::NoMapping {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })?;
        let api = if served.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &served.resource)
        } else {
            Api::all_with(self.client.clone(), &served.resource)
        };
        Ok((api, served.namespaced))
    }

    /// The object's metadata as stored now, `None` if it does not exist.
    async fn get(&self, id: &Identity) -> Result<Option<ObjectMeta>> {
        let (api, _) = self.api(&id.api_version, &id.kind, &id.namespace)?;
        api.get_metadata_opt(&id.name)
            .await
            .map(|o| o.map(|o| o.metadata))
            .map_err(|source| Error::Api {
                action: "reading",
                identity: Box::new(id.clone()),
                source,
            })
    }

    /// Merge-patches the object's metadata, guarded by the resourceVersion it was read at.
    async fn patch_meta(
        &self,
        id: &Identity,
        resource_version: Option<&str>,
        meta: serde_json::Value,
    ) -> Result<()> {
        let (api, _) = self.api(&id.api_version, &id.kind, &id.namespace)?;
        let mut meta = meta;
        if let (Some(rv), Some(m)) = (resource_version, meta.as_object_mut()) {
            m.insert("resourceVersion".to_string(), json!(rv));
        }
        match api
            .patch_metadata(
                &id.name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": meta })),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if client::is_not_found(&e) => Ok(()),
            Err(source) => Err(Error::Api {
                action: "patching",
                identity: Box::new(id.clone()),
                source,
            }),
        }
    }

    async fn delete(
        &self,
        id: &Identity,
        meta: &ObjectMeta,
        policy: PropagationPolicy,
    ) -> Result<()> {
        let (api, _) = self.api(&id.api_version, &id.kind, &id.namespace)?;
        tracing::info!("The {} deletes {id} ({policy:?}).", super::NAME);
        let params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: meta.uid.clone(),
                resource_version: meta.resource_version.clone(),
            }),
            ..Default::default()
        };
        match api.delete(&id.name, &params).await {
            Ok(_) => Ok(()),
            Err(e) if client::is_not_found(&e) => Ok(()),
            Err(source) => Err(Error::Api {
                action: "deleting",
                identity: Box::new(id.clone()),
                source,
            }),
        }
    }

    /// How `reference`, found on `dependent`, stands.
    async fn owner_state(&self, dependent: &Identity, reference: &OwnerReference) -> Result<Owner> {
        let (_, namespaced) = self.api(
            &reference.api_version,
            &reference.kind,
            &dependent.namespace,
        )?;
        // A cluster-scoped object cannot be owned by a namespaced one.
        if namespaced && dependent.namespace.is_empty() {
            return Ok(Owner::Dangling);
        }
        let owner = Identity {
            api_version: reference.api_version.clone(),
            kind: reference.kind.clone(),
            namespace: if namespaced {
                dependent.namespace.clone()
            } else {
                String::new()
            },
            name: reference.name.clone(),
            uid: reference.uid.clone(),
        };
        Ok(match self.get(&owner).await? {
            Some(meta) if meta.uid.as_deref() == Some(reference.uid.as_str()) => {
                let waiting = meta.deletion_timestamp.is_some()
                    && meta.finalizers.iter().flatten().any(|f| f == FOREGROUND);
                if waiting {
                    Owner::Waiting
                } else {
                    Owner::Solid
                }
            }
            _ => Owner::Dangling,
        })
    }
}

/// Looks at one object: see the module doc.
pub async fn attempt_to_delete(gc: &Collector, uid: &str) -> Result<()> {
    let Some(node) = gc.graph().node(uid).cloned() else {
        return Ok(());
    };
    if node.virtual_node {
        // Known only from references: does it exist?
        let exists = gc
            .get(&node.identity)
            .await?
            .is_some_and(|m| m.uid.as_deref() == Some(uid));
        if !exists {
            let work = gc.graph().remove(uid);
            gc.queue_all(work);
        }
        return Ok(());
    }
    if node.deleting_dependents {
        return process_deleting_dependents(gc, uid).await;
    }
    if node.deleting {
        return Ok(());
    }
    let latest = match gc.get(&node.identity).await? {
        Some(m) if m.uid.as_deref() == Some(uid) => m,
        // Gone (or replaced by a namesake) without the monitor noticing yet.
        _ => {
            let work = gc.graph().remove(uid);
            gc.queue_all(work);
            return Ok(());
        }
    };
    let references = latest.owner_references.clone().unwrap_or_default();
    if references.is_empty() {
        return Ok(());
    }
    let mut solid = Vec::new();
    let mut broken = Vec::new();
    let mut waiting = Vec::new();
    for r in &references {
        match gc.owner_state(&node.identity, r).await? {
            Owner::Solid => solid.push(r.uid.clone()),
            Owner::Dangling => broken.push(r.uid.clone()),
            Owner::Waiting => {
                waiting.push(r.uid.clone());
                broken.push(r.uid.clone());
            }
        }
    }
    if !solid.is_empty() {
        if broken.is_empty() {
            return Ok(());
        }
        // Some owners remain: only the references to missing or leaving owners go.
        let kept: Vec<&OwnerReference> = references
            .iter()
            .filter(|r| !broken.contains(&r.uid))
            .collect();
        tracing::info!(
            "The {} removes references to missing or deleting owners from {}.",
            super::NAME,
            node.identity
        );
        return gc
            .patch_meta(
                &node.identity,
                latest.resource_version.as_deref(),
                json!({ "ownerReferences": kept }),
            )
            .await;
    }
    let has_dependents = !gc.graph().dependents(uid).is_empty();
    if !waiting.is_empty() && has_dependents {
        // A dependent that itself waits in the foreground could wait on us forever: make our
        // references non-blocking first (upstream's cycle guard).
        let cycle = gc
            .graph()
            .dependents(uid)
            .iter()
            .any(|d| d.deleting_dependents);
        if cycle {
            let unblocked: Vec<OwnerReference> = references
                .iter()
                .cloned()
                .map(|mut r| {
                    if waiting.contains(&r.uid) {
                        r.block_owner_deletion = Some(false);
                    }
                    r
                })
                .collect();
            gc.patch_meta(
                &node.identity,
                latest.resource_version.as_deref(),
                json!({ "ownerReferences": unblocked }),
            )
            .await?;
            let Some(fresh) = gc.get(&node.identity).await? else {
                return Ok(());
            };
            return gc
                .delete(&node.identity, &fresh, PropagationPolicy::Foreground)
                .await;
        }
        return gc
            .delete(&node.identity, &latest, PropagationPolicy::Foreground)
            .await;
    }
    gc.delete(&node.identity, &latest, propagation(&latest))
        .await
}

/// An owner deleted in the foreground: once no dependent blocks it, drop its finalizer;
/// until then, have its blocking dependents deleted.
async fn process_deleting_dependents(gc: &Collector, uid: &str) -> Result<()> {
    let (identity, blocking) = {
        let graph = gc.graph();
        let Some(node) = graph.node(uid) else {
            return Ok(());
        };
        let blocking: Vec<(String, bool)> = graph
            .blocking_dependents(uid)
            .iter()
            .map(|d| (d.identity.uid.clone(), d.deleting_dependents))
            .collect();
        (node.identity.clone(), blocking)
    };
    if blocking.is_empty() {
        return remove_finalizer(gc, &identity, FOREGROUND).await;
    }
    for (dependent, waits_itself) in blocking {
        if !waits_itself {
            gc.queue.add(Work::AttemptToDelete(dependent));
        }
    }
    Ok(())
}

async fn remove_finalizer(gc: &Collector, id: &Identity, finalizer: &str) -> Result<()> {
    let Some(meta) = gc.get(id).await? else {
        return Ok(());
    };
    if meta.uid.as_deref() != Some(id.uid.as_str()) {
        return Ok(());
    }
    let finalizers: Vec<&String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != finalizer)
        .collect();
    if finalizers.len() == meta.finalizers.as_ref().map_or(0, Vec::len) {
        return Ok(());
    }
    let value = if finalizers.is_empty() {
        json!(null)
    } else {
        json!(finalizers)
    };
    gc.patch_meta(
        id,
        meta.resource_version.as_deref(),
        json!({ "finalizers": value }),
    )
    .await
}

/// An owner deleted with the orphan finalizer: remove its references from every dependent,
/// then the finalizer.
pub async fn attempt_to_orphan(gc: &Collector, uid: &str) -> Result<()> {
    let (owner, dependents) = {
        let graph = gc.graph();
        let Some(node) = graph.node(uid) else {
            return Ok(());
        };
        let dependents: Vec<Identity> = graph
            .dependents(uid)
            .iter()
            .map(|d| d.identity.clone())
            .collect();
        (node.identity.clone(), dependents)
    };
    for dependent in dependents {
        let Some(meta) = gc.get(&dependent).await? else {
            continue;
        };
        let references = meta.owner_references.clone().unwrap_or_default();
        if !references.iter().any(|r| r.uid == uid) {
            continue;
        }
        let kept: Vec<&OwnerReference> = references.iter().filter(|r| r.uid != uid).collect();
        let value = if kept.is_empty() {
            json!(null)
        } else {
            json!(kept)
        };
        gc.patch_meta(
            &dependent,
            meta.resource_version.as_deref(),
            json!({ "ownerReferences": value }),
        )
        .await?;
    }
    remove_finalizer(gc, &owner, ORPHAN).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependents_are_deleted_as_their_finalizers_ask() {
        let with = |f: &[&str]| ObjectMeta {
            finalizers: Some(f.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        assert!(matches!(
            propagation(&with(&[])),
            PropagationPolicy::Background
        ));
        assert!(matches!(
            propagation(&with(&["orphan"])),
            PropagationPolicy::Orphan
        ));
        assert!(matches!(
            propagation(&with(&["example.com/x", "foregroundDeletion"])),
            PropagationPolicy::Foreground
        ));
    }
}
