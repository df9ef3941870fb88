//! The stable identity of a StatefulSet's pods: the name `<set>-<ordinal>`, the hostname and
//! subdomain (DNS through the governing Service), the labels naming the pod and its index, and
//! one PersistentVolumeClaim per claim template, `<template>-<pod>`, mounted in place of the
//! template's volume of the same name.

use super::retention::{Owner, Policy};
use crate::pods::template::{controller_reference, pod_from_template};
use crate::revisions::HASH_LABEL;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The label holding a pod's own name (for per-pod Services).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label holding a pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The name of the pod with `ordinal`.
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!(
        "{}-{ordinal}",
        set.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The ordinal of a pod of `set`, when its name is `<set>-<number>`.
pub fn ordinal_of(set: &StatefulSet, pod: &Pod) -> Option<i32> {
    let prefix = format!("{}-", set.metadata.name.as_deref().unwrap_or_default());
    let rest = pod.metadata.name.as_deref()?.strip_prefix(&prefix)?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// The revision (ControllerRevision name) a pod was made from.
pub fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(HASH_LABEL)
        .map(String::as_str)
}

/// The name of the claim of template `template` for the pod `pod`.
pub fn claim_name(template: &str, pod: &str) -> String {
    format!("{template}-{pod}")
}

/// Whether an existing pod still carries the identity of its ordinal (upstream
/// `identityMatches`): its name, namespace and pod-name label. Hostname and subdomain are
/// not looked at: they cannot change after creation.
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = ordinal_of(set, pod) else {
        return false;
    };
    let name = pod_name(set, ordinal);
    pod.metadata.name.as_deref() == Some(name.as_str())
        && pod.metadata.namespace == set.metadata.namespace
        && pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_NAME_LABEL))
            == Some(&name)
}

/// The identity labels of the pod with `ordinal` (upstream `updateIdentity`).
pub fn identity_labels(set: &StatefulSet, ordinal: i32) -> [(&'static str, String); 2] {
    [
        (POD_NAME_LABEL, pod_name(set, ordinal)),
        (POD_INDEX_LABEL, ordinal.to_string()),
    ]
}

/// The claims the pod with `ordinal` needs, as they would be created. With a `whenDeleted:
/// Delete` retention policy they are controlled by the set, so they go with it; the rest of
/// the policy is applied once the pod exists ([`retention`](super::retention)).
pub fn claims(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let pod = pod_name(set, ordinal);
    let spec = set.spec.as_ref();
    let selector_labels = spec
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let delete_with_set = Policy::of(set).delete_with_set;
    spec.and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|template| {
            let meta = template.metadata.clone();
            let name = meta.name.clone().unwrap_or_default();
            let mut labels = meta.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            let owner = delete_with_set.then(|| vec![Owner::set(set).controller_ref()]);
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&name, &pod)),
                    namespace: set.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: meta.annotations,
                    owner_references: owner,
                    ..Default::default()
                },
                spec: template.spec,
                status: None,
            }
        })
        .collect()
}

/// The pod with `ordinal`, made from `template` of the revision named `revision`.
pub fn pod(set: &StatefulSet, ordinal: i32, template: &PodTemplateSpec, revision: &str) -> Pod {
    let namespace = set.metadata.namespace.as_deref().unwrap_or_default();
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let name = pod_name(set, ordinal);
    let mut pod = pod_from_template(template, namespace, set_name, controller_reference(set));
    pod.metadata.generate_name = None;
    pod.metadata.name = Some(name.clone());
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(POD_NAME_LABEL.to_string(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_string(), ordinal.to_string());
    labels.insert(HASH_LABEL.to_string(), revision.to_string());
    let service = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .unwrap_or_default();
    let templates = set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default();
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name.clone());
    if !service.is_empty() {
        spec.subdomain = Some(service);
    }
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for claim in templates {
        let volume = claim.metadata.name.unwrap_or_default();
        volumes.retain(|v| v.name != volume);
        volumes.push(Volume {
            name: volume.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&volume, &name),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    };
    use k8s_openapi::api::core::v1::PodSpec;
    use std::collections::BTreeMap;

    fn set() -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("web".to_string()),
                namespace: Some("ns".to_string()),
                uid: Some("u".to_string()),
                ..Default::default()
            },
            spec: Some(StatefulSetSpec {
                service_name: Some("nginx".to_string()),
                selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                    match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                    match_expressions: None,
                },
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some("www".to_string()),
                        ..Default::default()
                    },
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn pods_have_stable_names_hostnames_and_claims() {
        let s = set();
        let template = PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec::default()),
        };
        let p = pod(&s, 2, &template, "web-abc");
        assert_eq!(p.metadata.name.as_deref(), Some("web-2"));
        assert_eq!(ordinal_of(&s, &p), Some(2));
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-2");
        assert_eq!(labels[POD_INDEX_LABEL], "2");
        assert_eq!(revision_of(&p), Some("web-abc"));
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volume = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!(
            volume.persistent_volume_claim.as_ref().unwrap().claim_name,
            "www-web-2"
        );
        let c = claims(&s, 2);
        assert_eq!(c[0].metadata.name.as_deref(), Some("www-web-2"));
        assert_eq!(c[0].metadata.labels.as_ref().unwrap()["app"], "web");
        assert!(c[0].metadata.owner_references.is_none());
    }

    #[test]
    fn claims_go_with_the_set_when_the_policy_says_so() {
        let mut s = set();
        s.spec
            .as_mut()
            .unwrap()
            .persistent_volume_claim_retention_policy =
            Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Delete".to_string()),
                when_scaled: None,
            });
        let owner = &claims(&s, 0)[0].metadata.owner_references.clone().unwrap()[0];
        assert_eq!(
            (
                owner.kind.as_str(),
                owner.controller,
                owner.block_owner_deletion
            ),
            ("StatefulSet", Some(true), Some(true))
        );
    }

    #[test]
    fn identity_is_the_name_and_the_pod_name_label() {
        let s = set();
        let template = PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec::default()),
        };
        let mut p = pod(&s, 1, &template, "web-abc");
        assert!(identity_matches(&s, &p));
        p.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_NAME_LABEL.to_string(), "web-7".to_string());
        assert!(!identity_matches(&s, &p));
        p.metadata.labels = None;
        assert!(!identity_matches(&s, &p));
        assert_eq!(
            identity_labels(&s, 1),
            [
                (POD_NAME_LABEL, "web-1".to_string()),
                (POD_INDEX_LABEL, "1".to_string())
            ]
        );
        let mut elsewhere = pod(&s, 1, &template, "web-abc");
        elsewhere.metadata.namespace = Some("other".to_string());
        assert!(!identity_matches(&s, &elsewhere));
    }

    #[test]
    fn only_names_with_a_numeric_suffix_are_ordinals() {
        let s = set();
        let named = |n: &str| {
            let mut p = Pod::default();
            p.metadata.name = Some(n.to_string());
            p
        };
        assert_eq!(ordinal_of(&s, &named("web-10")), Some(10));
        assert_eq!(ordinal_of(&s, &named("web-x")), None);
        assert_eq!(ordinal_of(&s, &named("webby-1")), None);
        assert_eq!(ordinal_of(&s, &named("web-")), None);
    }
}
