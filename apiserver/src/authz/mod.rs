//! Authorization: may this user do this? Upstream's `authorizer.Attributes` and decisions,
//! the RBAC rule evaluation, and the bootstrap policy the server reconciles on start.

pub mod bootstrap_policy;
pub mod escalation_check;
pub mod feed;
pub mod node;
pub mod rbac;

use crate::authn::user::UserInfo;
use std::sync::{Arc, RwLock};

/// What a request asks to do, as upstream's `authorizer.AttributesRecord`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    /// For resource requests the API verb (`get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete`, `deletecollection`, or a special verb such as `impersonate`,
    /// `bind`, `escalate`, `use`, `approve`, `sign`); for non-resource requests the
    /// lower-case HTTP method (`get`, `post`, `put`, `delete`, ...).
    pub verb: String,
    /// Whether this is a request for an API resource (`/api/...`, `/apis/...` naming a
    /// resource) rather than a non-resource path such as `/healthz` or `/apis`.
    pub resource_request: bool,
    pub namespace: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The request path; only meaningful when `resource_request` is false.
    pub path: String,
    /// A list or watch's field selector (`None` when there is none or it does not parse: the
    /// request then fails on its own), for the Node authorizer's `spec.nodeName` rule.
    pub field_selector: Option<apimachinery::fields::Selector>,
}

/// An authorizer's answer, as upstream's `authorizer.Decision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// This authorizer has nothing to say; the next one in the chain decides.
    NoOpinion,
}

/// The group whose members may do anything, whatever the policy says (upstream's
/// privileged-group authorizer, first in the chain).
pub const MASTERS: &str = "system:masters";

/// One authorizer of `--authorization-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    AlwaysAllow,
    AlwaysDeny,
    Rbac,
    /// The Node authorizer: what a kubelet may do for its pods ([`node`]).
    Node,
}

/// The authorizer chain of `--authorization-mode`: the first authorizer with an opinion
/// decides; no opinion at all denies.
#[derive(Clone)]
pub struct Authorizer {
    modes: Vec<Mode>,
    /// What RBAC knows, kept current from the watch cache by [`feed`].
    rbac: Arc<RwLock<rbac::RbacIndex>>,
    /// With the Node mode: its graph (also fed from the watch cache) and rules.
    node: Option<node::NodeAuthorizer>,
}

impl Authorizer {
    /// `modes` as `--authorization-mode` lists them; unknown modes are an error.
    pub fn new(modes: &[String]) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for m in modes.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
            let mode = match m {
                "AlwaysAllow" => Mode::AlwaysAllow,
                "AlwaysDeny" => Mode::AlwaysDeny,
                "RBAC" => Mode::Rbac,
                "Node" => Mode::Node,
                other => {
                    return Err(format!(
                        "--authorization-mode: unknown authorization mode {other:?} (want AlwaysAllow, AlwaysDeny, Node or RBAC)"
                    ));
                }
            };
            if parsed.contains(&mode) {
                return Err(format!("--authorization-mode: {m} is listed twice"));
            }
            parsed.push(mode);
        }
        if parsed.is_empty() {
            return Err("--authorization-mode: at least one mode is required".into());
        }
        let node = parsed
            .contains(&Mode::Node)
            .then(node::NodeAuthorizer::default);
        Ok(Self {
            modes: parsed,
            rbac: Arc::default(),
            node,
        })
    }

    /// Whether AlwaysAllow is among the modes (upstream then refuses anonymous requests).
    pub fn always_allows(&self) -> bool {
        self.modes.contains(&Mode::AlwaysAllow)
    }

    pub fn uses_rbac(&self) -> bool {
        self.modes.contains(&Mode::Rbac)
    }

    /// The RBAC index, for the feed that keeps it current.
    pub fn rbac(&self) -> &Arc<RwLock<rbac::RbacIndex>> {
        &self.rbac
    }

    /// The Node authorizer's graph, for the feed that keeps it current (`None` without the
    /// Node mode).
    pub fn node_graph(&self) -> Option<&Arc<RwLock<node::graph::Graph>>> {
        self.node.as_ref().map(node::NodeAuthorizer::graph)
    }

    fn index(&self) -> std::sync::RwLockReadGuard<'_, rbac::RbacIndex> {
        self.rbac.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The decision and its reason for `attrs`.
    pub fn authorize(&self, attrs: &Attributes) -> (Decision, String) {
        if attrs.user.groups.iter().any(|g| g == MASTERS) {
            return (Decision::Allow, String::new());
        }
        let mut reasons = Vec::new();
        for mode in &self.modes {
            let (decision, reason) = match mode {
                Mode::AlwaysAllow => (Decision::Allow, String::new()),
                Mode::AlwaysDeny => (Decision::Deny, "Everything is forbidden.".to_string()),
                Mode::Rbac => self.index().authorize(attrs),
                Mode::Node => match &self.node {
                    Some(node) => node.authorize(attrs),
                    None => (Decision::NoOpinion, String::new()),
                },
            };
            if decision != Decision::NoOpinion {
                return (decision, reason);
            }
            if !reason.is_empty() {
                reasons.push(reason);
            }
        }
        (Decision::NoOpinion, reasons.join("\n"))
    }

    pub fn allowed(&self, attrs: &Attributes) -> bool {
        self.authorize(attrs).0 == Decision::Allow
    }

    /// What `user` may do in `namespace`: a SelfSubjectRulesReview's status, from the
    /// authorizers that can list rules (AlwaysAllow: everything; RBAC: its rules).
    pub fn rules_review(&self, user: &UserInfo, namespace: &str) -> serde_json::Value {
        use serde_json::json;
        if self.modes.first() == Some(&Mode::AlwaysAllow) {
            return json!({
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": false,
            });
        }
        if self.uses_rbac() {
            let status = self.index().rules_review(user, namespace);
            return serde_json::to_value(status).unwrap_or_else(|_| json!({"incomplete": true}));
        }
        json!({"resourceRules": [], "nonResourceRules": [], "incomplete": true})
    }
}

/// Upstream's 403 for a request the authorizers did not allow.
pub fn forbidden(attrs: &Attributes, reason: &str) -> crate::errors::ApiError {
    use crate::errors::{ApiError, GroupResource};
    let (group, resource) = if attrs.resource_request {
        (attrs.api_group.as_str(), attrs.resource.as_str())
    } else {
        ("", "")
    };
    let who = &attrs.user.name;
    let mut why = if !attrs.resource_request {
        format!("User {who:?} cannot {} path {:?}", attrs.verb, attrs.path)
    } else {
        let mut resource = attrs.resource.clone();
        if !attrs.subresource.is_empty() {
            resource = format!("{resource}/{}", attrs.subresource);
        }
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", attrs.namespace)
        };
        format!(
            "User {who:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            attrs.verb, attrs.api_group
        )
    };
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    ApiError::forbidden(&GroupResource::new(group, resource), &attrs.name, &why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(user: &str, groups: &[&str], verb: &str, resource: &str, ns: &str) -> Attributes {
        Attributes {
            user: UserInfo {
                name: user.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                ..Default::default()
            },
            verb: verb.into(),
            resource_request: true,
            namespace: ns.into(),
            resource: resource.into(),
            ..Default::default()
        }
    }

    fn modes(m: &str) -> Authorizer {
        Authorizer::new(&m.split(',').map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn the_first_authorizer_with_an_opinion_decides() {
        let rbac = modes("Node,RBAC");
        rbac.rbac().write().unwrap().apply(
            "roles",
            &json!({"metadata": {"name": "r", "namespace": "ns"},
                    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        );
        rbac.rbac().write().unwrap().apply(
            "rolebindings",
            &json!({"metadata": {"name": "b", "namespace": "ns"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                    "subjects": [{"kind": "User", "name": "jane"}]}),
        );
        assert!(rbac.allowed(&attrs("jane", &[], "get", "pods", "ns")));
        assert!(!rbac.allowed(&attrs("jane", &[], "get", "pods", "other")));
        assert!(rbac.allowed(&attrs("root", &[MASTERS], "delete", "nodes", "")));
        assert_eq!(
            modes("AlwaysDeny,AlwaysAllow")
                .authorize(&attrs("jane", &[], "get", "pods", "ns"))
                .0,
            Decision::Deny
        );
        assert!(modes("RBAC,AlwaysAllow").allowed(&attrs("jane", &[], "get", "pods", "ns")));
        assert!(Authorizer::new(&["ABAC".into()]).is_err());
        assert!(Authorizer::new(&[]).is_err());
    }

    #[test]
    fn refusals_read_as_upstreams() {
        let e = forbidden(&attrs("jane", &[], "list", "pods", "default"), "");
        assert_eq!(
            e.message,
            "pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let mut a = attrs("jane", &[], "get", "deployments", "");
        a.api_group = "apps".into();
        a.subresource = "scale".into();
        a.name = "web".into();
        assert_eq!(
            forbidden(&a, "").message,
            "deployments.apps \"web\" is forbidden: User \"jane\" cannot get resource \"deployments/scale\" in API group \"apps\" at the cluster scope"
        );
        let path = Attributes {
            user: a.user.clone(),
            verb: "get".into(),
            path: "/metrics".into(),
            ..Default::default()
        };
        assert_eq!(
            forbidden(&path, "").message,
            "forbidden: User \"jane\" cannot get path \"/metrics\""
        );
        assert_eq!(forbidden(&path, "").code, 403);
    }
}
