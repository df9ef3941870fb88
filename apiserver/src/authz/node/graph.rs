//! Which objects each node's pods need, kept from the watch cache (upstream's node authorizer
//! graph): pods bound to a node, what they reference, PersistentVolumes bound to referenced
//! claims and the secrets those volumes mount with, and VolumeAttachments.

use super::references::{Kind, pod_references, volume_references};
use crate::authz::feed::Index;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

type Key = (String, String);

#[derive(Debug, Default)]
pub struct Graph {
    /// Bound pods by (namespace, name): their node and what they reference.
    pods: HashMap<Key, (String, Vec<(Kind, String)>)>,
    /// (kind, namespace, name) -> node -> how many of the node's pods reference it.
    referenced: HashMap<(Kind, String, String), HashMap<String, usize>>,
    /// PersistentVolumes by name: the claim bound to each and its secrets.
    volumes: HashMap<String, (Option<Key>, Vec<Key>)>,
    /// Secret (namespace, name) -> the volumes that mount with it.
    volume_secrets: HashMap<Key, HashSet<String>>,
    /// VolumeAttachments by name: their node.
    attachments: HashMap<String, String>,
}

fn key(obj: &Value) -> Key {
    (
        apimachinery::meta::namespace(obj).to_string(),
        apimachinery::meta::name(obj).to_string(),
    )
}

impl Graph {
    /// Whether the pod `namespace/name` is bound to `node`.
    pub fn pod_on(&self, node: &str, namespace: &str, name: &str) -> bool {
        self.pods
            .get(&(namespace.to_string(), name.to_string()))
            .is_some_and(|(n, _)| n == node)
    }

    /// Whether a pod bound to `node` references the object.
    pub fn referenced_by(&self, node: &str, kind: Kind, namespace: &str, name: &str) -> bool {
        self.referenced
            .get(&(kind, namespace.to_string(), name.to_string()))
            .is_some_and(|nodes| nodes.contains_key(node))
    }

    /// Whether a secret is `node`'s: referenced by one of its pods, or mounting a volume bound
    /// to a claim one of its pods uses.
    pub fn secret_of(&self, node: &str, namespace: &str, name: &str) -> bool {
        if self.referenced_by(node, Kind::Secret, namespace, name) {
            return true;
        }
        self.volume_secrets
            .get(&(namespace.to_string(), name.to_string()))
            .is_some_and(|pvs| pvs.iter().any(|pv| self.volume_of(node, pv)))
    }

    /// Whether a PersistentVolume is bound to a claim one of `node`'s pods uses.
    pub fn volume_of(&self, node: &str, name: &str) -> bool {
        self.volumes
            .get(name)
            .and_then(|(claim, _)| claim.as_ref())
            .is_some_and(|(ns, claim)| {
                self.referenced_by(node, Kind::PersistentVolumeClaim, ns, claim)
            })
    }

    /// Whether a VolumeAttachment attaches to `node`.
    pub fn attachment_of(&self, node: &str, name: &str) -> bool {
        self.attachments.get(name).is_some_and(|n| n == node)
    }

    fn set_pod(&mut self, pod: &Value) {
        let key = key(pod);
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let refs = if node.is_empty() {
            Vec::new()
        } else {
            pod_references(pod).refs
        };
        if self
            .pods
            .get(&key)
            .is_some_and(|(n, r)| n == node && *r == refs)
        {
            return;
        }
        self.remove_pod(&key);
        if node.is_empty() {
            return;
        }
        for (kind, name) in &refs {
            *self
                .referenced
                .entry((*kind, key.0.clone(), name.clone()))
                .or_default()
                .entry(node.to_string())
                .or_default() += 1;
        }
        self.pods.insert(key, (node.to_string(), refs));
    }

    fn remove_pod(&mut self, key: &Key) {
        let Some((node, refs)) = self.pods.remove(key) else {
            return;
        };
        for (kind, name) in refs {
            let ref_key = (kind, key.0.clone(), name);
            let Some(nodes) = self.referenced.get_mut(&ref_key) else {
                continue;
            };
            if let Some(count) = nodes.get_mut(&node) {
                *count -= 1;
                if *count == 0 {
                    nodes.remove(&node);
                }
            }
            if nodes.is_empty() {
                self.referenced.remove(&ref_key);
            }
        }
    }

    fn set_volume(&mut self, pv: &Value) {
        let name = apimachinery::meta::name(pv).to_string();
        self.remove_volume(&name);
        let refs = volume_references(pv);
        for secret in &refs.secrets {
            self.volume_secrets
                .entry(secret.clone())
                .or_default()
                .insert(name.clone());
        }
        self.volumes.insert(name, (refs.claim, refs.secrets));
    }

    fn remove_volume(&mut self, name: &str) {
        let Some((_, secrets)) = self.volumes.remove(name) else {
            return;
        };
        for secret in secrets {
            if let Some(pvs) = self.volume_secrets.get_mut(&secret) {
                pvs.remove(name);
                if pvs.is_empty() {
                    self.volume_secrets.remove(&secret);
                }
            }
        }
    }
}

/// The resources the graph is fed from.
pub const RESOURCES: &[&str] = &["pods", "persistentvolumes", "volumeattachments"];

impl Index for Graph {
    fn clear(&mut self) {
        *self = Graph::default();
    }

    fn apply(&mut self, resource: &str, obj: &Value) {
        match resource {
            "pods" => self.set_pod(obj),
            "persistentvolumes" => self.set_volume(obj),
            "volumeattachments" => {
                let name = apimachinery::meta::name(obj).to_string();
                match obj.pointer("/spec/nodeName").and_then(Value::as_str) {
                    Some(node) if !node.is_empty() => {
                        self.attachments.insert(name, node.to_string());
                    }
                    _ => {
                        self.attachments.remove(&name);
                    }
                }
            }
            _ => {}
        }
    }

    fn remove(&mut self, resource: &str, obj: &Value) {
        match resource {
            "pods" => self.remove_pod(&key(obj)),
            "persistentvolumes" => self.remove_volume(apimachinery::meta::name(obj)),
            "volumeattachments" => {
                self.attachments.remove(apimachinery::meta::name(obj));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, secret: &str, claim: &str) -> Value {
        json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"nodeName": node, "volumes": [
                {"name": "s", "secret": {"secretName": secret}},
                {"name": "d", "persistentVolumeClaim": {"claimName": claim}}
            ]}
        })
    }

    #[test]
    fn references_follow_pods_as_they_bind_move_and_go() {
        let mut g = Graph::default();
        g.apply("pods", &pod("a", "", "s1", "c1"));
        assert!(!g.secret_of("n1", "ns", "s1"), "unbound pods give nothing");
        g.apply("pods", &pod("a", "n1", "s1", "c1"));
        g.apply("pods", &pod("b", "n1", "s1", "c1"));
        assert!(g.pod_on("n1", "ns", "a"));
        assert!(g.secret_of("n1", "ns", "s1"));
        assert!(!g.secret_of("n2", "ns", "s1"));
        assert!(!g.secret_of("n1", "other", "s1"), "namespaces differ");
        // One of two referencing pods gone: still referenced.
        g.remove("pods", &pod("a", "n1", "s1", "c1"));
        assert!(g.secret_of("n1", "ns", "s1"));
        // The other changes its secret.
        g.apply("pods", &pod("b", "n1", "s2", "c1"));
        assert!(!g.secret_of("n1", "ns", "s1"));
        assert!(g.secret_of("n1", "ns", "s2"));
        g.remove("pods", &pod("b", "n1", "s2", "c1"));
        assert!(!g.secret_of("n1", "ns", "s2"));
        assert!(g.referenced.is_empty() && g.pods.is_empty());
    }

    #[test]
    fn volumes_reach_a_node_through_bound_claims() {
        let mut g = Graph::default();
        let pv = json!({"metadata": {"name": "pv1"}, "spec": {
            "claimRef": {"namespace": "ns", "name": "c1"},
            "csi": {"driver": "d", "volumeHandle": "h", "nodeStageSecretRef": {"name": "stage"}}
        }});
        g.apply("persistentvolumes", &pv);
        assert!(!g.volume_of("n1", "pv1"));
        g.apply("pods", &pod("a", "n1", "s1", "c1"));
        assert!(g.volume_of("n1", "pv1"));
        assert!(g.secret_of("n1", "ns", "stage"));
        assert!(!g.volume_of("n2", "pv1"));
        g.remove("persistentvolumes", &pv);
        assert!(!g.volume_of("n1", "pv1"));
        assert!(!g.secret_of("n1", "ns", "stage"));
        g.apply(
            "volumeattachments",
            &json!({"metadata": {"name": "va"}, "spec": {"nodeName": "n1"}}),
        );
        assert!(g.attachment_of("n1", "va"));
        assert!(!g.attachment_of("n2", "va"));
    }
}
