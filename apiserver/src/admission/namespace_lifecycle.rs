//! NamespaceLifecycle: nothing is created in a namespace that does not exist or is being
//! deleted, and the namespaces the system needs cannot be deleted. As upstream's, it refuses
//! creates in the mutating phase, first, so a missing namespace is reported before anything
//! wrong with the object itself.

use super::{Attributes, Mutator, Operation, Source, Validator};
use crate::errors::{ApiError, Cause, GroupResource, Result};
use crate::storage::cacher::Hub;
use async_trait::async_trait;
use std::sync::Arc;

/// Namespaces that may never be deleted.
const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

#[derive(serde::Deserialize)]
struct NamespaceState {
    #[serde(default)]
    metadata: NamespaceMeta,
    #[serde(default)]
    status: NamespaceStatus,
}

#[derive(serde::Deserialize, Default)]
struct NamespaceMeta {
    #[serde(rename = "deletionTimestamp")]
    deletion_timestamp: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct NamespaceStatus {
    phase: Option<String>,
}

pub struct NamespaceLifecycle {
    namespaces: Source,
    /// The caches' progress, so a namespace this apiserver just deleted is seen deleted.
    hub: Arc<Hub>,
}

impl NamespaceLifecycle {
    pub fn new(namespaces: Source, hub: Arc<Hub>) -> Self {
        Self { namespaces, hub }
    }

    async fn phase(&self, name: &str) -> Result<Option<String>> {
        // Read our own writes: a client that saw its namespace deletion acknowledged must not
        // then create content in it because the cache is a millisecond behind.
        self.hub
            .wait_for_own_writes(std::time::Duration::from_secs(1))
            .await;
        // The cache first; a namespace created a moment ago may only be in etcd yet.
        let found = self
            .namespaces
            .read_recent("", name)
            .await
            .map_err(ApiError::internal)?;
        let Some(obj) = found else { return Ok(None) };
        // Every create reads its namespace: take only the two fields that matter.
        let ns: NamespaceState = serde_json::from_slice(&obj.json).map_err(ApiError::internal)?;
        let terminating = ns.status.phase.as_deref() == Some("Terminating")
            || ns.metadata.deletion_timestamp.is_some();
        Ok(Some(if terminating {
            "Terminating".into()
        } else {
            "Active".into()
        }))
    }
}

/// Deletions of the namespaces the system needs (deletes pass no mutating phase here).
#[async_trait]
impl Validator for NamespaceLifecycle {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        if attrs.info.resource == "namespaces"
            && attrs.info.group.is_empty()
            && attrs.operation == Operation::Delete
            && IMMORTAL.contains(&attrs.name)
        {
            return Err(ApiError::forbidden(
                &GroupResource::new("", "namespaces"),
                attrs.name,
                "this namespace may not be deleted",
            ));
        }
        Ok(())
    }
}

/// Creates in namespaces that are missing or terminating.
#[async_trait]
impl Mutator for NamespaceLifecycle {
    async fn admit(&self, attrs: &Attributes<'_>, _object: &mut serde_json::Value) -> Result<()> {
        if attrs.info.resource == "namespaces" && attrs.info.group.is_empty() {
            return Ok(());
        }
        if !attrs.info.namespaced
            || attrs.namespace.is_empty()
            || attrs.operation != Operation::Create
        {
            return Ok(());
        }
        match self.phase(attrs.namespace).await?.as_deref() {
            None => Err(ApiError::not_found(
                &GroupResource::new("", "namespaces"),
                attrs.namespace,
            )),
            // Upstream lets the pieces of a deletion (events, token reviews) through; creating new
            // content is refused.
            Some("Terminating") if attrs.info.resource != "events" => Err(terminating(
                attrs.info.group_resource(),
                attrs.name,
                attrs.namespace,
            )),
            _ => Ok(()),
        }
    }
}

/// The refusal of new content in a namespace being deleted. Controllers recognise it by its
/// `NamespaceTerminating` cause and do not retry.
fn terminating(gr: GroupResource, name: &str, namespace: &str) -> ApiError {
    let mut err = ApiError::forbidden(
        &gr,
        name,
        &format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        ),
    );
    if let Some(d) = err.details.as_mut() {
        d.causes.push(Cause {
            reason: "NamespaceTerminating".to_string(),
            message: format!("namespace {namespace} is being terminated"),
            field: "metadata.namespace".to_string(),
        });
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminating_refusals_carry_the_cause() {
        let err = terminating(GroupResource::new("", "configmaps"), "a", "x");
        assert_eq!(err.code, 403);
        let status = err.to_status();
        assert_eq!(
            status["message"],
            "configmaps \"a\" is forbidden: unable to create new content in namespace x because \
             it is being terminated"
        );
        assert_eq!(
            status["details"]["causes"][0],
            serde_json::json!({
                "reason": "NamespaceTerminating",
                "message": "namespace x is being terminated",
                "field": "metadata.namespace",
            })
        );
    }
}
