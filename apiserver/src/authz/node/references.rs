//! What a pod or a PersistentVolume makes a kubelet need to read: the edges of upstream's node
//! authorizer graph, read from the stored JSON.

use serde_json::Value;

/// The kinds of object a node reaches through its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Secret,
    ConfigMap,
    PersistentVolumeClaim,
    ServiceAccount,
    ResourceClaim,
}

/// Everything one pod references, in its own namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodReferences {
    pub refs: Vec<(Kind, String)>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// Whether the pod is a mirror pod (`kubernetes.io/config.mirror`): the kubelet made it from
/// a static pod, so it references nothing through the API.
pub fn is_mirror(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
}

/// The secrets and config maps a container reads through its environment.
fn container_refs(container: &Value, out: &mut Vec<(Kind, String)>) {
    for env in items(container, "env") {
        if let Some(name) = str_at(env, &["valueFrom", "secretKeyRef", "name"]) {
            out.push((Kind::Secret, name.to_string()));
        }
        if let Some(name) = str_at(env, &["valueFrom", "configMapKeyRef", "name"]) {
            out.push((Kind::ConfigMap, name.to_string()));
        }
    }
    for from in items(container, "envFrom") {
        if let Some(name) = str_at(from, &["secretRef", "name"]) {
            out.push((Kind::Secret, name.to_string()));
        }
        if let Some(name) = str_at(from, &["configMapRef", "name"]) {
            out.push((Kind::ConfigMap, name.to_string()));
        }
    }
}

/// Volume sources whose secret the kubelet reads, with where its name is kept.
const POD_SECRET_SOURCES: &[(&str, &[&str])] = &[
    ("secret", &["secretName"]),
    ("csi", &["nodePublishSecretRef", "name"]),
    ("azureFile", &["secretName"]),
    ("cephfs", &["secretRef", "name"]),
    ("cinder", &["secretRef", "name"]),
    ("flexVolume", &["secretRef", "name"]),
    ("rbd", &["secretRef", "name"]),
    ("scaleIO", &["secretRef", "name"]),
    ("iscsi", &["secretRef", "name"]),
    ("storageos", &["secretRef", "name"]),
];

/// The references of a pod (bound or not; mirror pods reference nothing).
pub fn pod_references(pod: &Value) -> PodReferences {
    let mut refs = Vec::new();
    if is_mirror(pod) {
        return PodReferences { refs };
    }
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let pod_name = str_at(pod, &["metadata", "name"]).unwrap_or_default();
    if let Some(sa) = str_at(spec, &["serviceAccountName"]) {
        refs.push((Kind::ServiceAccount, sa.to_string()));
    }
    for s in items(spec, "imagePullSecrets") {
        if let Some(name) = str_at(s, &["name"]) {
            refs.push((Kind::Secret, name.to_string()));
        }
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(spec, list) {
            container_refs(c, &mut refs);
        }
    }
    for volume in items(spec, "volumes") {
        for (source, path) in POD_SECRET_SOURCES {
            if let Some(name) = volume.get(source).and_then(|s| str_at(s, path)) {
                refs.push((Kind::Secret, name.to_string()));
            }
        }
        if let Some(name) = str_at(volume, &["configMap", "name"]) {
            refs.push((Kind::ConfigMap, name.to_string()));
        }
        for source in volume
            .get("projected")
            .map(|p| items(p, "sources"))
            .into_iter()
            .flatten()
        {
            if let Some(name) = str_at(source, &["secret", "name"]) {
                refs.push((Kind::Secret, name.to_string()));
            }
            if let Some(name) = str_at(source, &["configMap", "name"]) {
                refs.push((Kind::ConfigMap, name.to_string()));
            }
        }
        if let Some(claim) = str_at(volume, &["persistentVolumeClaim", "claimName"]) {
            refs.push((Kind::PersistentVolumeClaim, claim.to_string()));
        }
        // A generic ephemeral volume's claim is named after the pod and the volume.
        if volume.get("ephemeral").is_some()
            && let Some(volume_name) = str_at(volume, &["name"])
        {
            refs.push((
                Kind::PersistentVolumeClaim,
                format!("{pod_name}-{volume_name}"),
            ));
        }
    }
    for claim in items(spec, "resourceClaims") {
        if let Some(name) = resource_claim_name(pod, claim) {
            refs.push((Kind::ResourceClaim, name.to_string()));
        }
    }
    refs.sort();
    refs.dedup();
    PodReferences { refs }
}

/// The ResourceClaim a `spec.resourceClaims` entry stands for: named directly, or made from a
/// template and recorded in `status.resourceClaimStatuses` (none until then).
fn resource_claim_name<'a>(pod: &'a Value, claim: &'a Value) -> Option<&'a str> {
    if let Some(name) = str_at(claim, &["resourceClaimName"]) {
        return Some(name);
    }
    let entry = str_at(claim, &["name"])?;
    pod.pointer("/status/resourceClaimStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| str_at(s, &["name"]) == Some(entry))
        .and_then(|s| str_at(s, &["resourceClaimName"]))
}

/// What a PersistentVolume links: the claim bound to it and the secrets the kubelet reads to
/// mount it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeReferences {
    /// `(namespace, name)` of `spec.claimRef`.
    pub claim: Option<(String, String)>,
    /// `(namespace, name)` of each kubelet-visible secret.
    pub secrets: Vec<(String, String)>,
}

/// PersistentVolume sources whose secrets the kubelet reads: (source, reference fields).
/// The controller-side CSI secrets (publish, expand on the controller) are not the node's.
const VOLUME_SECRET_SOURCES: &[(&str, &str)] = &[
    ("csi", "nodePublishSecretRef"),
    ("csi", "nodeStageSecretRef"),
    ("csi", "nodeExpandSecretRef"),
    ("cephfs", "secretRef"),
    ("cinder", "secretRef"),
    ("flexVolume", "secretRef"),
    ("rbd", "secretRef"),
    ("scaleIO", "secretRef"),
    ("iscsi", "secretRef"),
    ("storageos", "secretRef"),
];

pub fn volume_references(pv: &Value) -> VolumeReferences {
    let spec = pv.get("spec").unwrap_or(&Value::Null);
    let claim = spec.get("claimRef").and_then(|c| {
        Some((
            str_at(c, &["namespace"]).unwrap_or_default().to_string(),
            str_at(c, &["name"])?.to_string(),
        ))
    });
    // Secret references without a namespace are in the claim's.
    let claim_namespace = claim.as_ref().map(|(ns, _)| ns.as_str()).unwrap_or("");
    let mut secrets = Vec::new();
    for (source, field) in VOLUME_SECRET_SOURCES {
        if let Some(r) = spec.get(source).and_then(|s| s.get(field))
            && let Some(name) = str_at(r, &["name"])
        {
            let ns = str_at(r, &["namespace"]).unwrap_or(claim_namespace);
            secrets.push((ns.to_string(), name.to_string()));
        }
    }
    if let Some(azure) = spec.get("azureFile")
        && let Some(name) = str_at(azure, &["secretName"])
    {
        let ns = str_at(azure, &["secretNamespace"]).unwrap_or(claim_namespace);
        secrets.push((ns.to_string(), name.to_string()));
    }
    secrets.sort();
    secrets.dedup();
    VolumeReferences { claim, secrets }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_references_what_its_containers_and_volumes_read() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {
                "serviceAccountName": "runner",
                "imagePullSecrets": [{"name": "pull"}],
                "initContainers": [{"env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "init-secret", "key": "k"}}}
                ]}],
                "containers": [{"envFrom": [
                    {"configMapRef": {"name": "settings"}}, {"secretRef": {"name": "env-secret"}}
                ], "env": [
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm-key", "key": "k"}}},
                    {"name": "C", "value": "plain"}
                ]}],
                "ephemeralContainers": [{"env": [
                    {"name": "D", "valueFrom": {"secretKeyRef": {"name": "debug", "key": "k"}}}
                ]}],
                "volumes": [
                    {"name": "s", "secret": {"secretName": "vol-secret"}},
                    {"name": "c", "configMap": {"name": "vol-cm"}},
                    {"name": "p", "projected": {"sources": [
                        {"secret": {"name": "proj-secret"}}, {"configMap": {"name": "proj-cm"}},
                        {"serviceAccountToken": {"path": "token"}}
                    ]}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                    {"name": "x", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi-secret"}}},
                    {"name": "e", "emptyDir": {}}
                ],
                "resourceClaims": [
                    {"name": "gpu", "resourceClaimName": "shared-gpu"},
                    {"name": "made", "resourceClaimTemplateName": "tpl"},
                    {"name": "pending", "resourceClaimTemplateName": "tpl"}
                ]
            },
            "status": {"resourceClaimStatuses": [{"name": "made", "resourceClaimName": "web-made-x"}]}
        });
        let refs = pod_references(&pod).refs;
        let names = |kind: Kind| -> Vec<&str> {
            refs.iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, n)| n.as_str())
                .collect()
        };
        assert_eq!(
            names(Kind::Secret),
            [
                "csi-secret",
                "debug",
                "env-secret",
                "init-secret",
                "proj-secret",
                "pull",
                "vol-secret"
            ]
        );
        assert_eq!(
            names(Kind::ConfigMap),
            ["cm-key", "proj-cm", "settings", "vol-cm"]
        );
        assert_eq!(names(Kind::PersistentVolumeClaim), ["data", "web-scratch"]);
        assert_eq!(names(Kind::ServiceAccount), ["runner"]);
        assert_eq!(names(Kind::ResourceClaim), ["shared-gpu", "web-made-x"]);
    }

    #[test]
    fn mirror_pods_reference_nothing() {
        let pod = json!({
            "metadata": {"name": "static", "annotations": {"kubernetes.io/config.mirror": "x"}},
            "spec": {"serviceAccountName": "default", "volumes": [
                {"name": "s", "secret": {"secretName": "s"}}
            ]}
        });
        assert!(pod_references(&pod).refs.is_empty());
    }

    #[test]
    fn a_volume_links_its_claim_and_the_kubelets_secrets() {
        let pv = json!({"spec": {
            "claimRef": {"namespace": "ns", "name": "data"},
            "csi": {
                "driver": "d", "volumeHandle": "h",
                "nodePublishSecretRef": {"name": "publish"},
                "nodeStageSecretRef": {"name": "stage", "namespace": "other"},
                "controllerPublishSecretRef": {"name": "controller-only", "namespace": "ns"}
            }
        }});
        let refs = volume_references(&pv);
        assert_eq!(refs.claim, Some(("ns".into(), "data".into())));
        assert_eq!(
            refs.secrets,
            [
                ("ns".to_string(), "publish".to_string()),
                ("other".to_string(), "stage".to_string())
            ]
        );
        let azure = json!({"spec": {"azureFile": {"secretName": "az", "shareName": "s"}}});
        assert_eq!(
            volume_references(&azure).secrets,
            [(String::new(), "az".to_string())]
        );
    }
}
