//! The Node authorizer (`--authorization-mode=Node`), as upstream's: a kubelet
//! (`system:node:<name>` in `system:nodes`) may read the secrets, config maps, claims,
//! volumes, service account tokens and attachments its pods need (the [`graph`]), its own Node
//! and Lease and CSINode, its pods (listed by `spec.nodeName`), and what the `system:node`
//! role lists. It allows or has no opinion, never denies: RBAC still decides after it.

pub mod graph;
pub mod references;

use super::rbac::Rule;
use super::{Attributes, Decision};
use graph::Graph;
use references::Kind;
use std::sync::{Arc, RwLock};

pub const NODES_GROUP: &str = "system:nodes";
pub const NODE_USER_PREFIX: &str = "system:node:";
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Clone)]
pub struct NodeAuthorizer {
    graph: Arc<RwLock<Graph>>,
    /// The `system:node` role's rules: what every node may do beyond the graph.
    rules: Arc<[Rule]>,
}

impl Default for NodeAuthorizer {
    fn default() -> Self {
        let policy = super::bootstrap_policy::policy();
        let rules = policy
            .cluster_roles
            .iter()
            .find(|r| apimachinery::meta::name(r) == "system:node")
            .and_then(|r| r.get("rules"))
            .and_then(serde_json::Value::as_array)
            .map(|rules| rules.iter().map(Rule::from_json).collect())
            .unwrap_or_default();
        Self {
            graph: Arc::default(),
            rules,
        }
    }
}

/// The node a user speaks for: `Some("")` for a node user without a name.
pub fn node_of(user: &crate::authn::user::UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    user.groups.iter().any(|g| g == NODES_GROUP).then_some(name)
}

fn allow() -> (Decision, String) {
    (Decision::Allow, String::new())
}

fn no_opinion(reason: impl Into<String>) -> (Decision, String) {
    (Decision::NoOpinion, reason.into())
}

impl NodeAuthorizer {
    /// The graph, for the feed that keeps it current.
    pub fn graph(&self) -> &Arc<RwLock<Graph>> {
        &self.graph
    }

    pub fn authorize(&self, attrs: &Attributes) -> (Decision, String) {
        let Some(node) = node_of(&attrs.user) else {
            return no_opinion("");
        };
        if node.is_empty() {
            return no_opinion(format!("unknown node for user {:?}", attrs.user.name));
        }
        if !attrs.resource_request {
            return self.by_rules(attrs);
        }
        match (attrs.api_group.as_str(), attrs.resource.as_str()) {
            ("", "secrets") => self.read(node, attrs, Kind::Secret),
            ("", "configmaps") => self.read(node, attrs, Kind::ConfigMap),
            ("", "persistentvolumeclaims") if attrs.subresource == "status" => {
                if !matches!(attrs.verb.as_str(), "update" | "patch") {
                    return no_opinion("can only get/update/patch this type");
                }
                self.related(node, attrs, Kind::PersistentVolumeClaim)
            }
            ("", "persistentvolumeclaims") => {
                self.get_only(node, attrs, Kind::PersistentVolumeClaim)
            }
            ("", "persistentvolumes") => {
                self.get_only_with(node, attrs, |g, node, a| g.volume_of(node, &a.name))
            }
            ("resource.k8s.io", "resourceclaims") => {
                self.get_only(node, attrs, Kind::ResourceClaim)
            }
            ("storage.k8s.io", "volumeattachments") => {
                self.get_only_with(node, attrs, |g, node, a| g.attachment_of(node, &a.name))
            }
            ("", "serviceaccounts") => {
                if attrs.verb != "create" || attrs.name.is_empty() {
                    return no_opinion("can only create tokens for individual service accounts");
                }
                if attrs.subresource != "token" {
                    return no_opinion("can only create token subresource of serviceaccount");
                }
                self.related(node, attrs, Kind::ServiceAccount)
            }
            ("coordination.k8s.io", "leases") => lease(node, attrs),
            ("storage.k8s.io", "csinodes") => csi_node(node, attrs),
            ("", "nodes") => own_node(node, attrs),
            ("", "pods") => self.pods(node, attrs),
            _ => self.by_rules(attrs),
        }
    }

    fn by_rules(&self, attrs: &Attributes) -> (Decision, String) {
        if self.rules.iter().any(|r| r.allows(attrs)) {
            return allow();
        }
        no_opinion("")
    }

    /// Secrets and config maps: read, one by one, when a pod of the node uses them.
    fn read(&self, node: &str, attrs: &Attributes, kind: Kind) -> (Decision, String) {
        if !matches!(attrs.verb.as_str(), "get" | "list" | "watch") {
            return no_opinion("can only read resources of this type");
        }
        if !attrs.subresource.is_empty() {
            return no_opinion("cannot read subresource");
        }
        if attrs.namespace.is_empty() {
            return no_opinion("can only read namespaced object of this type");
        }
        self.related(node, attrs, kind)
    }

    fn get_only(&self, node: &str, attrs: &Attributes, kind: Kind) -> (Decision, String) {
        self.get_only_with(node, attrs, |g, node, a| {
            g.referenced_by(node, kind, &a.namespace, &a.name)
        })
    }

    fn get_only_with(
        &self,
        node: &str,
        attrs: &Attributes,
        related: impl Fn(&Graph, &str, &Attributes) -> bool,
    ) -> (Decision, String) {
        if attrs.verb != "get" {
            return no_opinion("can only get individual resources of this type");
        }
        if !attrs.subresource.is_empty() {
            return no_opinion("cannot get subresource");
        }
        self.related_with(node, attrs, related)
    }

    fn related(&self, node: &str, attrs: &Attributes, kind: Kind) -> (Decision, String) {
        self.related_with(node, attrs, |g, node, a| match kind {
            Kind::Secret => g.secret_of(node, &a.namespace, &a.name),
            _ => g.referenced_by(node, kind, &a.namespace, &a.name),
        })
    }

    /// Upstream's graph check: the named object must be connected to the node.
    fn related_with(
        &self,
        node: &str,
        attrs: &Attributes,
        related: impl Fn(&Graph, &str, &Attributes) -> bool,
    ) -> (Decision, String) {
        if attrs.name.is_empty() {
            return no_opinion("No Object name found");
        }
        let graph = self.graph.read().unwrap_or_else(|p| p.into_inner());
        if related(&graph, node, attrs) {
            return allow();
        }
        no_opinion(format!(
            "no relationship found between node '{node}' and this object"
        ))
    }

    /// Pods: one bound to the node by name, all of the node's by `spec.nodeName`; creating and
    /// deleting (mirror pods) and their status and evictions are NodeRestriction's to limit.
    fn pods(&self, node: &str, attrs: &Attributes) -> (Decision, String) {
        match (attrs.subresource.as_str(), attrs.verb.as_str()) {
            ("", "get") => self.related_with(node, attrs, |g, node, a| {
                g.pod_on(node, &a.namespace, &a.name)
            }),
            ("", "list" | "watch") => {
                if selects(attrs, "spec.nodeName", node) {
                    return allow();
                }
                if !attrs.name.is_empty() {
                    return self.related_with(node, attrs, |g, node, a| {
                        g.pod_on(node, &a.namespace, &a.name)
                    });
                }
                no_opinion("can only list/watch pods with spec.nodeName field selector")
            }
            ("", "create" | "delete") | ("status", "update" | "patch") | ("eviction", "create") => {
                allow()
            }
            _ => no_opinion(""),
        }
    }
}

/// Whether the request's field selector asks for `field` equal to `value`.
fn selects(attrs: &Attributes, field: &str, value: &str) -> bool {
    attrs.field_selector.as_ref().is_some_and(|s| {
        s.requirements
            .iter()
            .any(|r| r.field == field && !r.negated && r.value == value)
    })
}

/// Nodes: writes are NodeRestriction's to limit; reads only of the node's own object.
fn own_node(node: &str, attrs: &Attributes) -> (Decision, String) {
    match (attrs.subresource.as_str(), attrs.verb.as_str()) {
        ("", "create" | "update" | "patch") | ("status", "update" | "patch") => allow(),
        ("", "get" | "list" | "watch") => {
            if attrs.name == node {
                allow()
            } else if attrs.name.is_empty() {
                no_opinion(format!(
                    "node '{node}' cannot read all nodes, only its own Node object"
                ))
            } else {
                no_opinion(format!(
                    "node '{node}' cannot read '{}', only its own Node object",
                    attrs.name
                ))
            }
        }
        _ => no_opinion(""),
    }
}

fn lease(node: &str, attrs: &Attributes) -> (Decision, String) {
    if !matches!(
        attrs.verb.as_str(),
        "get" | "create" | "update" | "patch" | "delete"
    ) {
        return no_opinion("can only get, create, update, patch, or delete a node lease");
    }
    if attrs.namespace != NODE_LEASE_NAMESPACE {
        return no_opinion(format!(
            "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
        ));
    }
    // A create names its object in the body; NodeRestriction checks that name.
    if attrs.verb != "create" && attrs.name != node {
        return no_opinion("can only access node lease with the same name as the requesting node");
    }
    allow()
}

fn csi_node(node: &str, attrs: &Attributes) -> (Decision, String) {
    if !matches!(
        attrs.verb.as_str(),
        "get" | "create" | "update" | "patch" | "delete"
    ) {
        return no_opinion("can only get, create, update, patch, or delete a CSINode");
    }
    if !attrs.subresource.is_empty() {
        return no_opinion("cannot authorize CSINode subresources");
    }
    if attrs.verb != "create" && attrs.name != node {
        return no_opinion("can only access CSINode with the same name as the requesting node");
    }
    allow()
}

#[cfg(test)]
mod tests;
