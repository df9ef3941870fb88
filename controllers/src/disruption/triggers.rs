//! Which budgets a change concerns: a budget's own changes; a pod's, for the budgets of its
//! namespace that select it before or after the change; and a change of a workload's
//! `spec.replicas` (ReplicationController, ReplicaSet, Deployment, StatefulSet), for the budgets
//! selecting its pods, since a percentage budget counts that scale.
//!
//! Upstream queues only one budget per pod change (the first match, with a
//! `MultiplePodDisruptionBudgets` warning on the pod when there are several), looks only at the
//! pod's new labels, and does not watch the workloads: the budgets it skips stay stale until
//! something else touches them. Here every budget concerned is synced; the warning is kept.

use crate::informer::Change;
use crate::selector;
use crate::workqueue::key_of;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::runtime::reflector::Store;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The budgets of `namespace` that select `labels`, sorted by name.
pub fn selecting(pdbs: &Store<PodDisruptionBudget>, pod: &Pod) -> Vec<Arc<PodDisruptionBudget>> {
    let namespace = pod.metadata.namespace.as_deref();
    let mut out: Vec<Arc<PodDisruptionBudget>> = pdbs
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == namespace)
        .filter(|p| {
            selector::matches(
                p.spec.as_ref().and_then(|s| s.selector.as_ref()),
                pod.metadata.labels.as_ref(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}

fn all(pdbs: &Store<PodDisruptionBudget>) -> Vec<String> {
    pdbs.state().iter().map(|p| key_of(&p.metadata)).collect()
}

/// The budgets a pod change concerns.
pub fn for_pod(pdbs: &Store<PodDisruptionBudget>, change: &Change<Pod>) -> Vec<String> {
    let (pod, old) = match change {
        Change::Applied { new, old } => (new, old.as_ref()),
        Change::Deleted(pod) => (pod, None),
        Change::Relisted => return all(pdbs),
    };
    let mut keys: BTreeSet<String> = selecting(pdbs, pod)
        .iter()
        .map(|p| key_of(&p.metadata))
        .collect();
    if let Some(old) = old.filter(|o| o.metadata.labels != pod.metadata.labels) {
        keys.extend(selecting(pdbs, old).iter().map(|p| key_of(&p.metadata)));
    }
    keys.into_iter().collect()
}

/// The workload kinds whose scale a budget counts.
pub trait Workload: Resource<DynamicType = ()> {
    fn replicas(&self) -> Option<i32>;
}

impl Workload for ReplicationController {
    fn replicas(&self) -> Option<i32> {
        self.spec.as_ref().and_then(|s| s.replicas)
    }
}

impl Workload for ReplicaSet {
    fn replicas(&self) -> Option<i32> {
        self.spec.as_ref().and_then(|s| s.replicas)
    }
}

impl Workload for Deployment {
    fn replicas(&self) -> Option<i32> {
        self.spec.as_ref().and_then(|s| s.replicas)
    }
}

impl Workload for StatefulSet {
    fn replicas(&self) -> Option<i32> {
        self.spec.as_ref().and_then(|s| s.replicas)
    }
}

/// The budgets a workload change concerns: those selecting the pods it controls, directly or
/// (a Deployment) through its ReplicaSets. Only a new, deleted or rescaled workload matters.
pub fn for_workload<K: Workload>(
    pdbs: &Store<PodDisruptionBudget>,
    pods: &Store<Pod>,
    replicasets: &Store<ReplicaSet>,
    change: &Change<K>,
) -> Vec<String> {
    let workload = match change {
        Change::Applied { new, old } => {
            if old.as_ref().is_some_and(|o| o.replicas() == new.replicas()) {
                return Vec::new();
            }
            new
        }
        Change::Deleted(w) => w,
        Change::Relisted => return all(pdbs),
    };
    let meta = workload.meta();
    let Some(uid) = meta.uid.as_deref() else {
        return Vec::new();
    };
    let namespace = meta.namespace.as_deref();
    // Most namespaces have no budget; their pods need no look.
    if !pdbs
        .state()
        .iter()
        .any(|p| p.metadata.namespace.as_deref() == namespace)
    {
        return Vec::new();
    }
    let mut owners: BTreeSet<String> = BTreeSet::from([uid.to_string()]);
    owners.extend(
        replicasets
            .state()
            .iter()
            .filter(|rs| rs.metadata.namespace.as_deref() == namespace)
            .filter(|rs| {
                crate::ownership::controller_ref(&rs.metadata).is_some_and(|r| r.uid == uid)
            })
            .filter_map(|rs| rs.metadata.uid.clone()),
    );
    let mut keys = BTreeSet::new();
    for pod in pods.state() {
        let controlled = pod.metadata.namespace.as_deref() == namespace
            && crate::pods::controller_ref(&pod).is_some_and(|r| owners.contains(&r.uid));
        if controlled {
            keys.extend(selecting(pdbs, &pod).iter().map(|p| key_of(&p.metadata)));
        }
    }
    keys.into_iter().collect()
}

/// Upstream's warning on a pod several budgets select, naming the one its pod handler picked
/// (the first here, by name).
pub fn multiple_budgets_message(pod: &Pod, chosen: &str) -> String {
    format!(
        "Pod {:?}/{:?} matches multiple PodDisruptionBudgets.  Chose {chosen:?} arbitrarily.",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, ObjectMeta, OwnerReference,
    };
    use kube::runtime::{reflector, watcher};
    use std::collections::BTreeMap;

    fn labels(app: &str) -> Option<BTreeMap<String, String>> {
        Some(BTreeMap::from([("app".to_string(), app.to_string())]))
    }

    fn pdb(name: &str, ns: &str, selector: Option<LabelSelector>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                ..Default::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                selector,
                ..Default::default()
            }),
            status: None,
        }
    }

    fn app(a: &str) -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: labels(a),
            match_expressions: None,
        })
    }

    fn owner(uid: &str) -> Option<Vec<OwnerReference>> {
        Some(vec![OwnerReference {
            api_version: "apps/v1".to_string(),
            kind: "ReplicaSet".to_string(),
            name: uid.to_string(),
            uid: uid.to_string(),
            controller: Some(true),
            block_owner_deletion: None,
        }])
    }

    fn pod(name: &str, a: &str, controller: Option<&str>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("ns".to_string()),
                labels: labels(a),
                owner_references: controller.and_then(owner),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn store<K>(objects: Vec<K>) -> Store<K>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        let (store, mut writer) = reflector::store::<K>();
        for o in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(o));
        }
        store
    }

    fn budgets() -> Store<PodDisruptionBudget> {
        store(vec![
            pdb("web", "ns", app("web")),
            pdb("everything", "ns", Some(LabelSelector::default())),
            pdb("nothing", "ns", None),
            pdb("db", "ns", app("db")),
            pdb("web", "other", app("web")),
        ])
    }

    #[test]
    fn pod_changes_reach_the_budgets_selecting_it_before_and_after() {
        let pdbs = budgets();
        let applied = |new, old| Change::Applied { new, old };
        assert_eq!(
            for_pod(&pdbs, &applied(pod("p", "web", None), None)),
            vec!["ns/everything", "ns/web"]
        );
        assert_eq!(
            for_pod(
                &pdbs,
                &applied(pod("p", "db", None), Some(pod("p", "web", None)))
            ),
            vec!["ns/db", "ns/everything", "ns/web"]
        );
        assert_eq!(
            for_pod(&pdbs, &Change::Deleted(pod("p", "db", None))),
            vec!["ns/db", "ns/everything"]
        );
        assert_eq!(for_pod(&pdbs, &Change::Relisted).len(), 5);
    }

    #[test]
    fn rescaled_workloads_reach_the_budgets_of_their_pods() {
        let pdbs = budgets();
        let pods = store(vec![
            (*pod("w-1", "web", Some("rs-uid"))).clone(),
            (*pod("d-1", "db", Some("other-uid"))).clone(),
        ]);
        let rs = |replicas| {
            Arc::new(ReplicaSet {
                metadata: ObjectMeta {
                    name: Some("rs".to_string()),
                    namespace: Some("ns".to_string()),
                    uid: Some("rs-uid".to_string()),
                    ..Default::default()
                },
                spec: Some(ReplicaSetSpec {
                    replicas: Some(replicas),
                    ..Default::default()
                }),
                status: None,
            })
        };
        let replicasets = store(vec![(*rs(3)).clone()]);
        let rescaled = Change::Applied {
            new: rs(4),
            old: Some(rs(3)),
        };
        assert_eq!(
            for_workload(&pdbs, &pods, &replicasets, &rescaled),
            vec!["ns/everything", "ns/web"]
        );
        let unchanged = Change::Applied {
            new: rs(3),
            old: Some(rs(3)),
        };
        assert!(for_workload(&pdbs, &pods, &replicasets, &unchanged).is_empty());
        // A Deployment reaches the pods of its ReplicaSets.
        let mut owned = (*rs(3)).clone();
        owned.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".to_string(),
            kind: "Deployment".to_string(),
            name: "d".to_string(),
            uid: "d-uid".to_string(),
            controller: Some(true),
            block_owner_deletion: None,
        }]);
        let replicasets = store(vec![owned]);
        let deployment = Arc::new(Deployment {
            metadata: ObjectMeta {
                name: Some("d".to_string()),
                namespace: Some("ns".to_string()),
                uid: Some("d-uid".to_string()),
                ..Default::default()
            },
            ..Default::default()
        });
        assert_eq!(
            for_workload(&pdbs, &pods, &replicasets, &Change::Deleted(deployment)),
            vec!["ns/everything", "ns/web"]
        );
    }

    #[test]
    fn the_multiple_budgets_warning_reads_as_upstream() {
        assert_eq!(
            multiple_budgets_message(&pod("p", "web", None), "everything"),
            "Pod \"ns\"/\"p\" matches multiple PodDisruptionBudgets.  Chose \"everything\" arbitrarily."
        );
    }
}
