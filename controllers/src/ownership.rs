//! Which objects a controller owns (upstream `ControllerRefManager`): its own objects that still
//! match its selector; orphans that match are adopted (an owner reference patched in), and its
//! objects that stopped matching are released (the reference patched out). A controller being
//! deleted neither adopts nor releases. Used for a ReplicaSet's pods and a Deployment's
//! ReplicaSets.

use crate::client;
use crate::selector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

/// What to do with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours and matching.
    Keep,
    /// An orphan that matches.
    Adopt,
    /// Ours but no longer matching.
    Release,
    /// Someone else's, not matching, or left alone while the owner is deleted.
    Ignore,
}

/// The owner reference that marks an object's controller.
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// The `namespace/name` key of the `kind` (of `api_version`) controlling the object `meta`.
pub fn controller_key(meta: &ObjectMeta, api_version: &str, kind: &str) -> Option<String> {
    let r = controller_ref(meta).filter(|r| r.kind == kind && r.api_version == api_version)?;
    Some(format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        r.name
    ))
}

/// The decision for the object `obj` and the controller `owner` selecting with `selector`
/// (upstream's `ClaimObject`).
pub fn decide(owner: &ObjectMeta, selector: Option<&LabelSelector>, obj: &ObjectMeta) -> Claim {
    let uid = owner.uid.as_deref().unwrap_or_default();
    let deleting = owner.deletion_timestamp.is_some();
    let selected = selector::matches(selector, obj.labels.as_ref());
    match controller_ref(obj) {
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
        None if deleting || !selected || obj.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// A claim that failed: what was being done to which object, and why.
#[derive(Debug)]
pub struct ClaimError {
    pub action: &'static str,
    pub name: String,
    pub source: kube::Error,
}

/// The objects `owner` owns among `candidates`, adopting and releasing through `api` as
/// [`decide`] says. `still_adoptable` is asked once, before the first adoption: whether the
/// owner as stored now is the one synced and is not being deleted. A `finalizer` (the Job's
/// tracking finalizer) is added on adoption and removed on release.
pub async fn claim<K, F>(
    api: &Api<K>,
    owner: &ObjectMeta,
    owner_ref: OwnerReference,
    finalizer: Option<&str>,
    selector: Option<&LabelSelector>,
    candidates: Vec<Arc<K>>,
    still_adoptable: F,
) -> Result<Vec<Arc<K>>, ClaimError>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
    F: Future<Output = Result<bool, ClaimError>>,
{
    let mut owned = Vec::new();
    let mut still_adoptable = Some(still_adoptable);
    let mut may_adopt = false;
    for obj in candidates {
        let meta = obj.meta();
        let name = meta.name.clone().unwrap_or_default();
        let mut patch = match decide(owner, selector, meta) {
            Claim::Keep => {
                owned.push(obj);
                continue;
            }
            Claim::Ignore => continue,
            Claim::Release => json!({"metadata": {
                "ownerReferences": [{"$patch": "delete", "uid": owner.uid}],
                "uid": meta.uid,
            }}),
            Claim::Adopt => {
                if let Some(check) = still_adoptable.take() {
                    may_adopt = check.await?;
                }
                if !may_adopt {
                    continue;
                }
                json!({"metadata": {
                    "ownerReferences": [owner_ref.clone()],
                    "uid": meta.uid,
                }})
            }
        };
        let adopting = patch["metadata"]["ownerReferences"][0]
            .get("$patch")
            .is_none();
        if let Some(f) = finalizer {
            let key = if adopting {
                "finalizers"
            } else {
                "$deleteFromPrimitiveList/finalizers"
            };
            patch["metadata"][key] = json!([f]);
        }
        match api
            .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(patched) if adopting => owned.push(Arc::new(patched)),
            Ok(_) => {}
            // Gone, or changed meanwhile: either way it is not ours now.
            Err(e) if client::is_not_found(&e) || (!adopting && client::is_conflict(&e)) => {}
            Err(source) => {
                return Err(ClaimError {
                    action: if adopting { "adopting" } else { "releasing" },
                    name,
                    source,
                });
            }
        }
    }
    Ok(owned)
}

/// The pods of `owner`'s namespace it owns among the cached `pods` (finished ones included),
/// claimed with `selector` as [`claim`] does; before the first adoption `owner` is read again,
/// so one deleted or recreated meanwhile takes no pods. `finalizer` as for [`claim`].
pub async fn claim_pods<K>(
    client: &kube::Client,
    owner: &K,
    selector: Option<&LabelSelector>,
    finalizer: Option<&str>,
    pods: &kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Pod>,
) -> Result<Vec<Arc<k8s_openapi::api::core::v1::Pod>>, ClaimError>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let meta = owner.meta();
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let name = meta.name.as_deref().unwrap_or_default();
    let candidates = pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| decide(meta, selector, &p.metadata) != Claim::Ignore)
        .collect();
    let owners: Api<K> = Api::namespaced(client.clone(), namespace);
    let check = async {
        match owners.get_opt(name).await {
            Ok(Some(fresh)) => {
                Ok(fresh.meta().uid == meta.uid && fresh.meta().deletion_timestamp.is_none())
            }
            Ok(None) => Ok(false),
            Err(source) => Err(ClaimError {
                action: "reading",
                name: name.to_string(),
                source,
            }),
        }
    };
    let api = Api::namespaced(client.clone(), namespace);
    let owner_ref = crate::pods::template::controller_reference(owner);
    claim(
        &api, meta, owner_ref, finalizer, selector, candidates, check,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use std::collections::BTreeMap;

    fn owner() -> ObjectMeta {
        ObjectMeta {
            name: Some("web".to_string()),
            uid: Some("owner-uid".to_string()),
            ..Default::default()
        }
    }

    fn selector() -> LabelSelector {
        LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            match_expressions: None,
        }
    }

    fn obj(app: &str, controller_uid: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
            owner_references: controller_uid.map(|uid| {
                vec![OwnerReference {
                    uid: uid.to_string(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn keeps_adopts_releases_and_ignores_as_upstream() {
        let (o, s) = (owner(), selector());
        let d = |m: &ObjectMeta| decide(&o, Some(&s), m);
        assert_eq!(d(&obj("web", Some("owner-uid"))), Claim::Keep);
        assert_eq!(d(&obj("web", None)), Claim::Adopt);
        assert_eq!(d(&obj("db", Some("owner-uid"))), Claim::Release);
        assert_eq!(d(&obj("web", Some("other"))), Claim::Ignore);
        assert_eq!(d(&obj("db", None)), Claim::Ignore);
        let mut leaving = obj("web", None);
        leaving.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_eq!(d(&leaving), Claim::Ignore);
    }

    #[test]
    fn an_owner_being_deleted_neither_adopts_nor_releases() {
        let mut o = owner();
        o.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        let s = selector();
        assert_eq!(decide(&o, Some(&s), &obj("web", None)), Claim::Ignore);
        assert_eq!(
            decide(&o, Some(&s), &obj("db", Some("owner-uid"))),
            Claim::Ignore
        );
        assert_eq!(
            decide(&o, Some(&s), &obj("web", Some("owner-uid"))),
            Claim::Keep
        );
    }
}
