//! Which pods a ReplicaSet owns (upstream `ControllerRefManager.ClaimPods`): its own pods that
//! still match its selector; orphans that match are adopted (an owner reference patched in),
//! and its pods that stopped matching are released (the reference patched out). A ReplicaSet
//! being deleted neither adopts nor releases. Before the first adoption of a sync the
//! ReplicaSet is read from the apiserver, so a ReplicaSet deleted or recreated meanwhile does
//! not take pods.

use super::{Context, Error};
use crate::pods::{self, template::controller_reference};
use crate::{client, selector};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;

/// What to do with one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours and matching.
    Keep,
    /// An orphan that matches.
    Adopt,
    /// Ours but no longer matching.
    Release,
    /// Someone else's, not matching, or left alone while the ReplicaSet is deleted.
    Ignore,
}

/// The decision for `pod` (upstream's `ClaimObject`).
pub fn decide(rs: &ReplicaSet, pod: &Pod) -> Claim {
    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
    let deleting = rs.metadata.deletion_timestamp.is_some();
    let selected = selector::matches(
        rs.spec.as_ref().map(|s| &s.selector),
        pod.metadata.labels.as_ref(),
    );
    match pods::controller_ref(pod) {
        Some(r) if r.uid == uid => {
            if selected {
                Claim::Keep
            } else if deleting {
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None if deleting || !selected || pod.metadata.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// The pods `rs` owns among `candidates` (active pods of its namespace), adopting and
/// releasing as [`decide`] says.
pub async fn claim(
    ctx: &Context,
    rs: &ReplicaSet,
    candidates: Vec<Arc<Pod>>,
) -> Result<Vec<Arc<Pod>>, Error> {
    let namespace = rs.metadata.namespace.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let mut owned = Vec::new();
    let mut may_adopt: Option<bool> = None;
    for pod in candidates {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
        match decide(rs, &pod) {
            Claim::Keep => owned.push(pod),
            Claim::Ignore => {}
            Claim::Release => {
                let patch = json!({"metadata": {
                    "ownerReferences": [{"$patch": "delete", "uid": rs.metadata.uid}],
                    "uid": pod_uid,
                }});
                match api
                    .patch(
                        &pod_name,
                        &PatchParams::default(),
                        &Patch::Strategic(&patch),
                    )
                    .await
                {
                    Ok(_) => {}
                    // Gone or changed meanwhile: either way it is not ours.
                    Err(e) if client::is_not_found(&e) || client::is_conflict(&e) => {}
                    Err(source) => return Err(Error::pod(rs, "releasing", &pod_name, source)),
                }
            }
            Claim::Adopt => {
                if may_adopt.is_none() {
                    may_adopt = Some(still_adoptable(ctx, rs).await?);
                }
                if may_adopt != Some(true) {
                    continue;
                }
                let patch = json!({"metadata": {
                    "ownerReferences": [controller_reference(rs)],
                    "uid": pod_uid,
                }});
                match api
                    .patch(
                        &pod_name,
                        &PatchParams::default(),
                        &Patch::Strategic(&patch),
                    )
                    .await
                {
                    Ok(adopted) => owned.push(Arc::new(adopted)),
                    Err(e) if client::is_not_found(&e) => {}
                    Err(source) => return Err(Error::pod(rs, "adopting", &pod_name, source)),
                }
            }
        }
    }
    Ok(owned)
}

/// Whether the ReplicaSet as stored now is the one synced and is not being deleted.
async fn still_adoptable(ctx: &Context, rs: &ReplicaSet) -> Result<bool, Error> {
    let namespace = rs.metadata.namespace.as_deref().unwrap_or_default();
    let name = rs.metadata.name.as_deref().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(fresh)) => Ok(
            fresh.metadata.uid == rs.metadata.uid && fresh.metadata.deletion_timestamp.is_none()
        ),
        Ok(None) => Ok(false),
        Err(source) => Err(Error::Get {
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, ObjectMeta, OwnerReference, Time,
    };
    use k8s_openapi::jiff::Timestamp;
    use std::collections::BTreeMap;

    fn rs() -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".to_string()),
                uid: Some("rs-uid".to_string()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                selector: LabelSelector {
                    match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                    match_expressions: None,
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pod(app: &str, controller_uid: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
                owner_references: controller_uid.map(|uid| {
                    vec![OwnerReference {
                        uid: uid.to_string(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn keeps_adopts_releases_and_ignores_as_upstream() {
        let rs = rs();
        assert_eq!(decide(&rs, &pod("web", Some("rs-uid"))), Claim::Keep);
        assert_eq!(decide(&rs, &pod("web", None)), Claim::Adopt);
        assert_eq!(decide(&rs, &pod("db", Some("rs-uid"))), Claim::Release);
        assert_eq!(decide(&rs, &pod("web", Some("other"))), Claim::Ignore);
        assert_eq!(decide(&rs, &pod("db", None)), Claim::Ignore);
        let mut leaving = pod("web", None);
        leaving.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_eq!(decide(&rs, &leaving), Claim::Ignore);
    }

    #[test]
    fn a_replicaset_being_deleted_neither_adopts_nor_releases() {
        let mut rs = rs();
        rs.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_eq!(decide(&rs, &pod("web", None)), Claim::Ignore);
        assert_eq!(decide(&rs, &pod("db", Some("rs-uid"))), Claim::Ignore);
        assert_eq!(decide(&rs, &pod("web", Some("rs-uid"))), Claim::Keep);
    }
}
