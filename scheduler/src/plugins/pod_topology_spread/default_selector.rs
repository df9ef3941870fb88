//! The selector default constraints spread a pod's siblings with (upstream's
//! `helper.DefaultSelector`): the selectors of the Services in the pod's namespace that select
//! it, plus the selector of the ReplicationController, ReplicaSet or StatefulSet that controls
//! it. A pod nothing selects or owns gets an empty selector, and so no default constraints.

use super::Listers;
use crate::labels::Selector;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::BTreeMap;

/// The default spreading selector of `pod`.
pub fn default_selector(pod: &Pod, listers: &Listers) -> Selector {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let labels = pod.metadata.labels.as_ref();
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    for svc in listers.services.iter().flat_map(Store::state) {
        if svc.metadata.namespace.as_deref() != Some(namespace) {
            continue;
        }
        // Services without a selector select nothing (not everything).
        let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
            continue;
        };
        if Selector::from_set(sel).matches(labels) {
            set.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    let mut selector = Selector::from_set(&set);
    let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
    else {
        return selector;
    };
    fn key<K: kube::Resource<DynamicType = ()>>(name: &str, namespace: &str) -> ObjectRef<K> {
        ObjectRef::new(name).within(namespace)
    }
    let add_requirements = |selector: Selector, other: Option<Selector>| match other
        .as_ref()
        .and_then(Selector::requirements)
    {
        Some(reqs) => selector.with_requirements(reqs.iter().cloned()),
        None => selector,
    };
    match (owner.api_version.as_str(), owner.kind.as_str()) {
        ("v1", "ReplicationController") => {
            if let Some(rc) = listers
                .replication_controllers
                .as_ref()
                .and_then(|s| s.get(&key(&owner.name, namespace)))
            {
                let rc_selector = rc.spec.as_ref().and_then(|s| s.selector.clone());
                set.extend(rc_selector.unwrap_or_default());
                selector = Selector::from_set(&set);
            }
        }
        ("apps/v1", "ReplicaSet") => {
            if let Some(rs) = listers
                .replica_sets
                .as_ref()
                .and_then(|s| s.get(&key(&owner.name, namespace)))
            {
                let other = rs
                    .spec
                    .as_ref()
                    .and_then(|s| Selector::from_label_selector(Some(&s.selector)).ok());
                selector = add_requirements(selector, other);
            }
        }
        ("apps/v1", "StatefulSet") => {
            if let Some(ss) = listers
                .stateful_sets
                .as_ref()
                .and_then(|s| s.get(&key(&owner.name, namespace)))
            {
                let other = ss
                    .spec
                    .as_ref()
                    .and_then(|s| Selector::from_label_selector(Some(&s.selector)).ok());
                selector = add_requirements(selector, other);
            }
        }
        // Not owned by a controller spreading knows.
        _ => {}
    }
    selector
}
