//! NodeRestriction: a kubelet (`system:node:<name>` in `system:nodes`) may only change its
//! own Node (not its taints, nor labels under kubernetes.io or k8s.io other than the ones
//! kubelets set), its own Lease, the status of pods bound to it, and mirror pods bound to and
//! owned by its Node that reference nothing else in the API; and it may ask the node signers
//! only for certificates naming itself.

use super::certificates::{NODE_SIGNERS, request_subject, signer_name};
use super::{Attributes, Operation, Source, Validator};
use crate::authz::node::{NODE_LEASE_NAMESPACE, node_of as node_name};
use crate::errors::{ApiError, GroupResource, Result};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeSet;

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
const RESTRICTED_NAMESPACE: &str = "node-restriction.kubernetes.io";

/// Labels under kubernetes.io and k8s.io kubelets may set on their Node.
const KUBELET_LABELS: [&str; 12] = [
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "node.kubernetes.io/windows-build",
];
/// Label namespaces kubelets may use freely.
const KUBELET_LABEL_NAMESPACES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];

fn label_namespace(label: &str) -> &str {
    label.split_once('/').map_or("", |(ns, _)| ns)
}

fn in_domain(namespace: &str, domain: &str) -> bool {
    namespace == domain || namespace.ends_with(&format!(".{domain}"))
}

/// The labels in `changed` a kubelet may not set.
fn forbidden_labels(changed: &BTreeSet<String>) -> Vec<String> {
    changed
        .iter()
        .filter(|label| {
            let ns = label_namespace(label);
            let kubernetes = in_domain(ns, "kubernetes.io") || in_domain(ns, "k8s.io");
            let kubelet = KUBELET_LABELS.contains(&label.as_str())
                || KUBELET_LABEL_NAMESPACES.iter().any(|d| in_domain(ns, d));
            in_domain(ns, RESTRICTED_NAMESPACE) || (kubernetes && !kubelet)
        })
        .cloned()
        .collect()
}

fn labels(obj: Option<&Value>) -> serde_json::Map<String, Value> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Labels added, removed or changed.
fn changed_labels(new: Option<&Value>, old: Option<&Value>) -> BTreeSet<String> {
    let (new, old) = (labels(new), labels(old));
    let mut changed: BTreeSet<String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    changed.extend(old.keys().filter(|k| !new.contains_key(*k)).cloned());
    changed
}

/// What a kubelet may change in a claim's status: the capacity and conditions it reports after
/// expanding the volume, and the allocated resources of expansion recovery.
const CLAIM_STATUS_FIELDS: [&str; 4] = [
    "capacity",
    "conditions",
    "allocatedResources",
    "allocatedResourceStatuses",
];

/// A kubelet's claim status update may change only [`CLAIM_STATUS_FIELDS`].
fn claim_status(node: &str, attrs: &Attributes<'_>) -> std::result::Result<(), String> {
    let comparable = |obj: Option<&Value>| {
        let mut obj = obj.cloned().unwrap_or(Value::Null);
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            // An update may leave the resourceVersion out; managedFields record the write.
            meta.remove("resourceVersion");
            meta.remove("managedFields");
        }
        if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
            for field in CLAIM_STATUS_FIELDS {
                status.remove(field);
            }
        }
        obj
    };
    let (old, new) = (comparable(attrs.old), comparable(attrs.object));
    if old == new {
        return Ok(());
    }
    // Upstream appends a Go diff of the two objects; this names the fields that differ.
    Err(format!(
        "node {node:?} is not allowed to update fields other than status.quantity and status.conditions: {}",
        differing_fields(&old, &new).join(", ")
    ))
}

/// The fields (two levels deep, as `status.phase`) whose values differ.
fn differing_fields(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let fields = |v: &Value| v.as_object().cloned().unwrap_or_default();
    let (old, new) = (fields(old), fields(new));
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        let (a_obj, b_obj) = (
            a.and_then(Value::as_object).unwrap_or(&empty),
            b.and_then(Value::as_object).unwrap_or(&empty),
        );
        let inner: BTreeSet<&String> = a_obj.keys().chain(b_obj.keys()).collect();
        let changed: Vec<String> = inner
            .into_iter()
            .filter(|k| a_obj.get(*k) != b_obj.get(*k))
            .map(|k| format!("{key}.{k}"))
            .collect();
        if changed.is_empty() {
            out.push(key.clone());
        } else {
            out.extend(changed);
        }
    }
    out
}

/// The name of the object a request is about: on create it is only in the object.
fn object_name<'a>(attrs: &Attributes<'a>) -> &'a str {
    match attrs.operation {
        Operation::Create => attrs
            .object
            .and_then(|o| o.pointer("/metadata/name"))
            .and_then(Value::as_str)
            .unwrap_or_default(),
        _ => attrs.name,
    }
}

fn node_of_pod(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub struct NodeRestriction {
    pods: Source,
    nodes: Source,
}

impl NodeRestriction {
    pub fn new(pods: Source, nodes: Source) -> Self {
        Self { pods, nodes }
    }

    /// The stored pod the request is about; NotFound as upstream when it is gone.
    async fn existing_pod(&self, attrs: &Attributes<'_>) -> Result<Value> {
        self.pods
            .value(attrs.namespace, attrs.name)
            .await?
            .ok_or_else(|| ApiError::not_found(&GroupResource::new("", "pods"), attrs.name))
    }

    /// A kubelet's TokenRequest must bind the token to a pod (by uid) bound to the node, so
    /// that the token dies with the pod.
    async fn admit_token_request(
        &self,
        node: &str,
        attrs: &Attributes<'_>,
    ) -> Result<std::result::Result<(), String>> {
        let bound = attrs
            .object
            .and_then(|o| o.pointer("/spec/boundObjectRef"))
            .unwrap_or(&Value::Null);
        let field = |f: &str| bound.get(f).and_then(Value::as_str).unwrap_or_default();
        if field("apiVersion") != "v1" || field("kind") != "Pod" || field("name").is_empty() {
            return Ok(Err("node requested token not bound to a pod".into()));
        }
        if field("uid").is_empty() {
            return Ok(Err(
                "node requested token with a pod binding without a uid".into()
            ));
        }
        let pod = self
            .pods
            .value(attrs.namespace, field("name"))
            .await?
            .ok_or_else(|| ApiError::not_found(&GroupResource::new("", "pods"), field("name")))?;
        if apimachinery::meta::uid(&pod) != field("uid") {
            return Ok(Err(format!(
                "the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
                field("uid")
            )));
        }
        if node_of_pod(&pod) != node {
            return Ok(Err(
                "node requested token bound to a pod scheduled on a different node".into(),
            ));
        }
        Ok(Ok(()))
    }

    async fn admit_node(
        &self,
        node: &str,
        attrs: &Attributes<'_>,
    ) -> std::result::Result<(), String> {
        if attrs.name != node {
            return Err(format!(
                "node {node:?} is not allowed to modify node {:?}",
                attrs.name
            ));
        }
        match attrs.operation {
            Operation::Create => {
                let forbidden = forbidden_labels(&changed_labels(attrs.object, None));
                if !forbidden.is_empty() {
                    return Err(format!(
                        "node {node:?} is not allowed to set the following labels: {}",
                        forbidden.join(", ")
                    ));
                }
            }
            Operation::Update => {
                let taints = |o: Option<&Value>| {
                    o.and_then(|o| o.pointer("/spec/taints"))
                        .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
                        .cloned()
                };
                if taints(attrs.object) != taints(attrs.old) {
                    return Err(format!("node {node:?} is not allowed to modify taints"));
                }
                let forbidden = forbidden_labels(&changed_labels(attrs.object, attrs.old));
                if !forbidden.is_empty() {
                    return Err(format!(
                        "is not allowed to modify labels: {}",
                        forbidden.join(", ")
                    ));
                }
            }
            Operation::Delete | Operation::Connect => {}
        }
        Ok(())
    }

    async fn admit_pod(
        &self,
        node: &str,
        attrs: &Attributes<'_>,
    ) -> Result<std::result::Result<(), String>> {
        Ok(match (attrs.subresource, attrs.operation) {
            (None, Operation::Create) => match attrs.object {
                Some(pod) => self.admit_mirror_pod(node, pod).await?,
                None => Ok(()),
            },
            (None, Operation::Delete) => {
                if node_of_pod(&self.existing_pod(attrs).await?) != node {
                    Err(format!(
                        "node {node:?} can only delete pods with spec.nodeName set to itself"
                    ))
                } else {
                    Ok(())
                }
            }
            (None, op) => Err(format!(
                "unexpected operation {:?}, node {node:?} can only create and delete mirror pods",
                op.name()
            )),
            (Some("status"), Operation::Update) => {
                if attrs.old.map(node_of_pod) != Some(node) {
                    Err(format!(
                        "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
                    ))
                } else {
                    Ok(())
                }
            }
            (Some("status"), op) => Err(format!("unexpected operation {:?}", op.name())),
            (Some("eviction"), Operation::Create) => {
                if node_of_pod(&self.existing_pod(attrs).await?) != node {
                    Err(format!(
                        "node {node} can only evict pods with spec.nodeName set to itself"
                    ))
                } else {
                    Ok(())
                }
            }
            (Some("eviction"), op) => Err(format!("unexpected operation {:?}", op.name())),
            (Some(other), _) => Err(format!(
                "unexpected pod subresource {other:?}, only 'status' and 'eviction' are allowed"
            )),
        })
    }

    /// Nodes create only mirror pods of their own, owned by their Node and using nothing
    /// else in the API.
    async fn admit_mirror_pod(
        &self,
        node: &str,
        pod: &Value,
    ) -> Result<std::result::Result<(), String>> {
        let annotated = pod
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
        if !annotated {
            return Ok(Err(format!(
                "pod does not have {MIRROR_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"
            )));
        }
        if node_of_pod(pod) != node {
            return Ok(Err(format!(
                "node {node:?} can only create pods with spec.nodeName set to itself"
            )));
        }
        let owners = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let owner = match owners {
            [] => {
                return Ok(Err(format!(
                    "node {node:?} can only create pods with an owner reference set to itself"
                )));
            }
            [owner] => owner,
            _ => {
                return Ok(Err(format!(
                    "node {node:?} can only create pods with a single owner reference set to itself"
                )));
            }
        };
        let field = |f: &str| owner.get(f).and_then(Value::as_str).unwrap_or_default();
        if field("apiVersion") != "v1" || field("kind") != "Node" || field("name") != node {
            return Ok(Err(format!(
                "node {node:?} can only create pods with an owner reference set to itself"
            )));
        }
        if owner.get("controller").and_then(Value::as_bool) != Some(true) {
            return Ok(Err(format!(
                "node {node:?} can only create pods with a controller owner reference set to itself"
            )));
        }
        if owner.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true) {
            return Ok(Err(format!(
                "node {node:?} must not set blockOwnerDeletion on an owner reference"
            )));
        }
        let Some(stored) = self.nodes.value("", node).await? else {
            return Err(ApiError::not_found(&GroupResource::new("", "nodes"), node));
        };
        let uid = stored
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if field("uid") != uid {
            return Ok(Err(format!(
                "node {node} UID mismatch: expected {uid} got {}",
                field("uid")
            )));
        }
        Ok(references(pod).map_or(Ok(()), |what| {
            Err(format!(
                "node {node:?} can not create pods that reference {what}"
            ))
        }))
    }
}

/// A kubelet asks the node signers only for certificates naming itself (upstream since 1.31,
/// unless the deprecated AllowInsecureKubeletCertificateSigningRequests gate is on).
fn node_csr(node: &str, attrs: &Attributes<'_>) -> std::result::Result<(), String> {
    let Some(csr) = attrs.object else {
        return Ok(());
    };
    if !NODE_SIGNERS.contains(&signer_name(csr)) {
        return Ok(());
    }
    let subject = request_subject(csr).map_err(|e| format!("unable to parse csr: {e}"))?;
    if subject.common_name != format!("system:node:{node}") {
        return Err(format!(
            "can only create a node CSR with CN=system:node:{node}"
        ));
    }
    Ok(())
}

/// The first kind of API object a pod references, in upstream's order of checking.
fn references(pod: &Value) -> Option<&'static str> {
    let spec = pod.get("spec")?;
    if spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Some("a service account");
    }
    let volumes = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let containers: Vec<&Value> = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .filter_map(|f| spec.get(*f).and_then(Value::as_array))
        .flatten()
        .collect();
    let env_refers = |kind: &str, from: &str| {
        containers.iter().any(|c| {
            c.get("env")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|e| e.pointer(&format!("/valueFrom/{kind}KeyRef")).is_some())
                || c.get("envFrom")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|e| e.get(from).is_some())
        })
    };
    let projected = |kind: &str| {
        volumes.iter().any(|v| {
            v.pointer("/projected/sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|s| s.get(kind).is_some())
        })
    };
    let secrets = volumes.iter().any(|v| v.get("secret").is_some())
        || projected("secret")
        || env_refers("secret", "secretRef")
        || spec
            .get("imagePullSecrets")
            .and_then(Value::as_array)
            .is_some_and(|s| !s.is_empty());
    if secrets {
        return Some("secrets");
    }
    if volumes.iter().any(|v| v.get("configMap").is_some())
        || projected("configMap")
        || env_refers("configMap", "configMapRef")
    {
        return Some("configmaps");
    }
    if volumes
        .iter()
        .any(|v| v.get("persistentVolumeClaim").is_some())
    {
        return Some("persistentvolumeclaims");
    }
    if spec
        .get("resourceClaims")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        return Some("resourceclaims");
    }
    None
}

#[async_trait]
impl Validator for NodeRestriction {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let Some(node) = node_name(attrs.user) else {
            return Ok(());
        };
        let resource = GroupResource::new(attrs.info.group, attrs.info.resource);
        let forbidden = |why: &str| ApiError::forbidden(&resource, attrs.name, why);
        if node.is_empty() {
            return Err(forbidden(&format!(
                "could not determine node from user {:?}",
                attrs.user.name
            )));
        }
        let verdict = match (attrs.info.group, attrs.info.resource) {
            ("", "nodes") => self.admit_node(node, attrs).await,
            ("", "pods") => self.admit_pod(node, attrs).await?,
            ("coordination.k8s.io", "leases") => {
                if attrs.namespace != NODE_LEASE_NAMESPACE {
                    Err(format!(
                        "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
                    ))
                } else if object_name(attrs) != node {
                    Err(
                        "can only access node lease with the same name as the requesting node"
                            .into(),
                    )
                } else {
                    Ok(())
                }
            }
            ("", "serviceaccounts")
                if attrs.subresource == Some("token") && attrs.operation == Operation::Create =>
            {
                self.admit_token_request(node, attrs).await?
            }
            ("", "persistentvolumeclaims") => match (attrs.subresource, attrs.operation) {
                (Some("status"), Operation::Update) => claim_status(node, attrs),
                (Some("status"), op) => Err(format!("unexpected operation {:?}", op.name())),
                _ => Err("may only update PVC status".into()),
            },
            ("storage.k8s.io", "csinodes") => {
                if object_name(attrs) == node {
                    Ok(())
                } else {
                    Err("can only access CSINode with the same name as the requesting node".into())
                }
            }
            ("certificates.k8s.io", "certificatesigningrequests")
                if attrs.operation == Operation::Create =>
            {
                node_csr(node, attrs)
            }
            _ => Ok(()),
        };
        verdict.map_err(|why| forbidden(&why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::user::UserInfo;
    use serde_json::json;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn nodes_are_users_named_for_them_in_the_nodes_group() {
        assert_eq!(
            node_name(&user("system:node:a", &["system:nodes"])),
            Some("a")
        );
        assert_eq!(
            node_name(&user("system:node:", &["system:nodes"])),
            Some("")
        );
        assert_eq!(node_name(&user("system:node:a", &[])), None);
        assert_eq!(node_name(&user("alice", &["system:nodes"])), None);
    }

    #[test]
    fn kubelets_set_only_their_labels() {
        let changed: BTreeSet<String> = [
            "kubernetes.io/hostname",
            "node-role.kubernetes.io/master",
            "node-restriction.kubernetes.io/pool",
            "kubelet.kubernetes.io/x",
            "example.com/team",
            "foo.k8s.io/bar",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(
            forbidden_labels(&changed),
            [
                "foo.k8s.io/bar",
                "node-restriction.kubernetes.io/pool",
                "node-role.kubernetes.io/master"
            ]
        );
        let old = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let new = json!({"metadata": {"labels": {"a": "1", "b": "3", "c": "4"}}});
        assert_eq!(
            changed_labels(Some(&new), Some(&old))
                .into_iter()
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
    }

    #[test]
    fn mirror_pods_reference_nothing() {
        let pod = |spec: Value| json!({"spec": spec});
        assert_eq!(
            references(&pod(json!({"containers": [{"name": "c"}]}))),
            None
        );
        assert_eq!(
            references(&pod(json!({"serviceAccountName": "default"}))),
            Some("a service account")
        );
        assert_eq!(
            references(&pod(
                json!({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "x"}}]}]})
            )),
            Some("configmaps")
        );
        assert_eq!(
            references(&pod(
                json!({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "x"}}]})
            )),
            Some("persistentvolumeclaims")
        );
        assert_eq!(
            references(&pod(json!({"imagePullSecrets": [{"name": "x"}]}))),
            Some("secrets")
        );
    }
}
