//! Which pods a ReplicaSet owns, through [`ownership`](crate::ownership): before the first
//! adoption of a sync the ReplicaSet is read from the apiserver, so a ReplicaSet deleted or
//! recreated meanwhile does not take pods.

use super::kind::Replicated;
use super::{Context, Error, rs_kind};
use crate::ownership::{self, ClaimError};
use crate::pods::template::controller_reference;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use std::sync::Arc;

/// The pods `owner` (read as `rs`) owns among `candidates` (active pods of its namespace).
pub async fn claim<K: Replicated>(
    ctx: &Context<K>,
    owner: &K,
    rs: &ReplicaSet,
    candidates: Vec<Arc<Pod>>,
) -> Result<Vec<Arc<Pod>>, Error> {
    let namespace = rs.metadata.namespace.as_deref().unwrap_or_default();
    let name = rs.metadata.name.as_deref().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let owners: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let check = async {
        match owners.get_opt(name).await {
            Ok(Some(fresh)) => Ok(
                fresh.meta().uid == rs.metadata.uid && fresh.meta().deletion_timestamp.is_none()
            ),
            Ok(None) => Ok(false),
            Err(source) => Err(ClaimError {
                action: "reading",
                name: name.to_string(),
                source,
            }),
        }
    };
    ownership::claim(
        &pods,
        &rs.metadata,
        controller_reference(owner),
        None,
        rs.spec.as_ref().map(|s| &s.selector),
        candidates,
        check,
    )
    .await
    .map_err(|e| Error::Pod {
        kind: rs_kind::<K>(),
        action: e.action,
        namespace: namespace.to_string(),
        name: name.to_string(),
        pod: e.name,
        source: e.source,
    })
}
