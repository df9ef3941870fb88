//! The controller of a pod and its scale, for budgets relative to it (upstream's pod
//! controller finders). The workload kinds come from the shared caches, in upstream's order:
//! ReplicationController, the Deployment behind a ReplicaSet, a ReplicaSet no Deployment
//! controls, StatefulSet. Any other kind is read through its `scale` subresource, found by
//! discovery, as upstream does through its REST mapper and scale client. A reference whose
//! object is gone, or is another object by now (its uid differs), finds nothing.

use super::Error;
use crate::client;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::runtime::reflector::{ObjectRef, Store};

/// A controller found for a pod: its uid (a Deployment's own, not its ReplicaSet's) and its
/// `spec.replicas`.
pub type Found = (String, i32);

/// The shared caches of the workload kinds.
pub struct Workloads {
    pub rcs: Store<ReplicationController>,
    pub replicasets: Store<ReplicaSet>,
    pub deployments: Store<Deployment>,
    pub statefulsets: Store<StatefulSet>,
}

/// The group of an `apiVersion` (`apps/v1` -> `apps`, `v1` -> the core group).
fn group(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// Whether `r` names `kind` in one of `groups` (upstream accepts the old `extensions` group
/// for ReplicaSets and Deployments).
fn names(r: &OwnerReference, kind: &str, groups: &[&str]) -> bool {
    r.kind == kind && groups.contains(&group(&r.api_version))
}

fn get<K>(store: &Store<K>, name: &str, namespace: &str, uid: &str) -> Option<std::sync::Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone,
{
    store
        .get(&ObjectRef::new(name).within(namespace))
        .filter(|o| o.meta().uid.as_deref() == Some(uid))
}

fn uid(meta: &ObjectMeta) -> String {
    meta.uid.clone().unwrap_or_default()
}

impl Workloads {
    /// The controller `r` names among the workload kinds, if it is one of them and exists.
    /// `spec.replicas` defaults to 1, as the apiserver defaults it.
    pub fn find(&self, r: &OwnerReference, namespace: &str) -> Option<Found> {
        if names(r, "ReplicationController", &[""]) {
            let rc = get(&self.rcs, &r.name, namespace, &r.uid)?;
            let replicas = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            return Some((uid(&rc.metadata), replicas));
        }
        if names(r, "ReplicaSet", &["apps", "extensions"]) {
            let rs = get(&self.replicasets, &r.name, namespace, &r.uid)?;
            return match crate::ownership::controller_ref(&rs.metadata) {
                // A Deployment's ReplicaSet counts as the Deployment; one whose Deployment is
                // not in the cache is left to the scale subresource, as upstream.
                Some(owner) if owner.kind == "Deployment" => {
                    if !names(owner, "Deployment", &["apps", "extensions"]) {
                        return None;
                    }
                    let d = get(&self.deployments, &owner.name, namespace, &owner.uid)?;
                    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    Some((uid(&d.metadata), replicas))
                }
                _ => {
                    let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    Some((uid(&rs.metadata), replicas))
                }
            };
        }
        if names(r, "StatefulSet", &["apps"]) {
            let ss = get(&self.statefulsets, &r.name, namespace, &r.uid)?;
            let replicas = ss.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            return Some((uid(&ss.metadata), replicas));
        }
        None
    }
}

/// The controller `r` names, read through its `scale` subresource (found by the shared
/// [`crate::scale`] discovery). A 404 means the object is gone (nothing found) if the resource
/// has a scale subresource, and an error otherwise.
pub async fn through_scale_subresource(
    client: &kube::Client,
    r: &OwnerReference,
    namespace: &str,
) -> Result<Option<Found>, Error> {
    let Some((resource, caps)) = crate::scale::pinned(client, &r.api_version, &r.kind)
        .await
        .map_err(Error::Discovery)?
    else {
        return Err(Error::NoKindMatch {
            kind: r.kind.clone(),
            version: r.api_version.clone(),
        });
    };
    match crate::scale::get(client, &resource, namespace, &r.name).await {
        Ok(scale) => {
            let found = scale.metadata.uid.as_deref() == Some(r.uid.as_str());
            let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
            Ok(found.then(|| (r.uid.clone(), replicas)))
        }
        Err(e) if client::is_not_found(&e) => {
            if crate::scale::has_scale(&caps) {
                Ok(None)
            } else {
                Err(Error::NoScaleSubresource(crate::scale::group_resource(
                    &resource.plural,
                    &resource.group,
                )))
            }
        }
        Err(source) => Err(Error::Scale(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec, StatefulSetSpec};
    use k8s_openapi::api::core::v1::ReplicationControllerSpec;
    use kube::runtime::{reflector, watcher};

    fn meta(name: &str, uid: &str, owner: Option<OwnerReference>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some("ns".to_string()),
            uid: Some(uid.to_string()),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        }
    }

    fn reference(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }

    fn store<K>(objects: Vec<K>) -> Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        let (store, mut writer) = reflector::store::<K>();
        for o in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(o));
        }
        store
    }

    fn workloads() -> Workloads {
        Workloads {
            rcs: store(vec![ReplicationController {
                metadata: meta("rc", "rc-uid", None),
                spec: Some(ReplicationControllerSpec {
                    replicas: Some(2),
                    ..Default::default()
                }),
                status: None,
            }]),
            replicasets: store(vec![
                ReplicaSet {
                    metadata: meta("alone", "alone-uid", None),
                    spec: Some(ReplicaSetSpec {
                        replicas: Some(3),
                        ..Default::default()
                    }),
                    status: None,
                },
                ReplicaSet {
                    metadata: meta(
                        "web-1",
                        "web-1-uid",
                        Some(reference("apps/v1", "Deployment", "web", "web-uid")),
                    ),
                    spec: Some(ReplicaSetSpec {
                        replicas: Some(1),
                        ..Default::default()
                    }),
                    status: None,
                },
                ReplicaSet {
                    metadata: meta(
                        "gone-1",
                        "gone-1-uid",
                        Some(reference("apps/v1", "Deployment", "gone", "gone-uid")),
                    ),
                    spec: None,
                    status: None,
                },
            ]),
            deployments: store(vec![Deployment {
                metadata: meta("web", "web-uid", None),
                spec: Some(DeploymentSpec {
                    replicas: Some(5),
                    ..Default::default()
                }),
                status: None,
            }]),
            statefulsets: store(vec![StatefulSet {
                metadata: meta("db", "db-uid", None),
                spec: Some(StatefulSetSpec {
                    replicas: None,
                    ..Default::default()
                }),
                status: None,
            }]),
        }
    }

    #[test]
    fn workload_controllers_come_from_the_caches() {
        let w = workloads();
        let find = |v, k, n, u| w.find(&reference(v, k, n, u), "ns");
        assert_eq!(
            find("v1", "ReplicationController", "rc", "rc-uid"),
            Some(("rc-uid".to_string(), 2))
        );
        assert_eq!(
            find("apps/v1", "ReplicaSet", "alone", "alone-uid"),
            Some(("alone-uid".to_string(), 3))
        );
        // A Deployment's ReplicaSet stands for the Deployment.
        assert_eq!(
            find("apps/v1", "ReplicaSet", "web-1", "web-1-uid"),
            Some(("web-uid".to_string(), 5))
        );
        assert_eq!(find("apps/v1", "ReplicaSet", "gone-1", "gone-1-uid"), None);
        assert_eq!(
            find("apps/v1", "StatefulSet", "db", "db-uid"),
            Some(("db-uid".to_string(), 1))
        );
        // Recreated under the same name: another object.
        assert_eq!(find("apps/v1", "ReplicaSet", "alone", "old-uid"), None);
        assert_eq!(find("apps/v1", "DaemonSet", "ds", "ds-uid"), None);
        assert_eq!(find("v1", "ReplicaSet", "alone", "alone-uid"), None);
    }
}
