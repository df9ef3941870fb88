//! Pods from a controller's pod template (upstream `GetPodFromTemplate`): the template's labels,
//! annotations, finalizers and spec, a generated name after the controller's, and an owner
//! reference naming the controller.

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

/// The owner reference a controller puts on what it creates: `controller` and
/// `blockOwnerDeletion` set, so foreground deletion of the owner waits for the pod.
pub fn controller_reference<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The pod to create from `template` for the controller `owner` (named `owner_name`).
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    owner_name: &str,
    owner: OwnerReference,
) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{owner_name}-")),
            namespace: Some(namespace.to_string()),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use std::collections::BTreeMap;

    #[test]
    fn pods_carry_the_template_and_their_controller() {
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".to_string()),
                uid: Some("u1".to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                name: Some("ignored".to_string()),
                labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                annotations: Some(BTreeMap::from([("a".to_string(), "b".to_string())])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".to_string(),
                    image: Some("nginx".to_string()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        };
        let pod = pod_from_template(&template, "prod", "web", controller_reference(&rs));
        assert_eq!(pod.metadata.name, None);
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("prod"));
        assert_eq!(
            pod.metadata.labels,
            template.metadata.as_ref().unwrap().labels
        );
        assert_eq!(
            pod.metadata.annotations,
            template.metadata.as_ref().unwrap().annotations
        );
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.uid.as_str()
            ),
            ("apps/v1", "ReplicaSet", "u1")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
        assert_eq!(pod.spec, template.spec);
    }
}
