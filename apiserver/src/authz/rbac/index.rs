//! The in-memory copy of every Role, ClusterRole, RoleBinding and ClusterRoleBinding,
//! parsed once from stored JSON into the shapes evaluation reads. It plays the part of
//! upstream's informer listers behind `DefaultRuleResolver`.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::format::go_quote;
use super::rules::Rule;
use crate::authn::user::UserInfo;

/// Prefix of the user name a service account authenticates as.
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The four RBAC resources, as the API names them.
const ROLES: &str = "roles";
const CLUSTER_ROLES: &str = "clusterroles";
const ROLE_BINDINGS: &str = "rolebindings";
const CLUSTER_ROLE_BINDINGS: &str = "clusterrolebindings";

/// All RBAC policy objects of the cluster.
///
/// Bindings are kept ordered by name so that evaluation, and the binding an `Allow`
/// names, are the same on every run (upstream walks its informer cache in hash order).
#[derive(Debug, Clone, Default)]
pub struct RbacIndex {
    /// namespace -> role name -> rules
    roles: HashMap<String, HashMap<String, Vec<Rule>>>,
    cluster_roles: HashMap<String, Vec<Rule>>,
    /// namespace -> binding name -> binding
    role_bindings: HashMap<String, BTreeMap<String, Binding>>,
    cluster_role_bindings: BTreeMap<String, Binding>,
}

/// A RoleBinding or ClusterRoleBinding (whose `namespace` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binding {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) role_ref: RoleRef,
    pub(super) subjects: Vec<Subject>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RoleRef {
    pub(super) kind: String,
    pub(super) name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Subject {
    pub(super) kind: SubjectKind,
    pub(super) name: String,
    pub(super) namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SubjectKind {
    User,
    Group,
    ServiceAccount,
    /// Rejected by validation; kept so a binding with one still parses, and never matches.
    Other(String),
}

impl SubjectKind {
    pub(super) fn as_str(&self) -> &str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
            Self::ServiceAccount => "ServiceAccount",
            Self::Other(kind) => kind,
        }
    }
}

/// Why a binding's role could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefError {
    /// The referenced Role (in the binding's namespace) or ClusterRole does not exist.
    #[error("{}", not_found_message(*.cluster_role, .name, false))]
    NotFound { cluster_role: bool, name: String },
    /// `roleRef.kind` is neither `Role` nor `ClusterRole`.
    #[error("unsupported role reference kind: {}", go_quote(.0))]
    UnsupportedKind(String),
}

impl RoleRefError {
    /// The text upstream's registry-backed resolver gives, which the escalation checks on
    /// role and binding writes report: the store names the resource in the plural
    /// (`clusterroles.rbac.authorization.k8s.io "x" not found`), where the authorizer's
    /// listers (this error's `Display`) use the singular.
    pub fn registry_message(&self) -> String {
        match self {
            Self::NotFound { cluster_role, name } => not_found_message(*cluster_role, name, true),
            Self::UnsupportedKind(_) => self.to_string(),
        }
    }
}

fn not_found_message(cluster_role: bool, name: &str, plural: bool) -> String {
    let resource = match (cluster_role, plural) {
        (true, false) => "clusterrole",
        (true, true) => "clusterroles",
        (false, false) => "role",
        (false, true) => "roles",
    };
    format!(
        "{resource}.rbac.authorization.k8s.io {} not found",
        go_quote(name)
    )
}

impl RbacIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a stored object of `resource` (`roles`, `clusterroles`, `rolebindings` or
    /// `clusterrolebindings`), replacing any earlier one with the same namespace and name.
    /// Other resources are ignored, so a caller may feed every RBAC event through here.
    pub fn apply(&mut self, resource: &str, obj: &Value) {
        let name = meta_str(obj, "name").to_string();
        let namespace = meta_str(obj, "namespace").to_string();
        match resource {
            ROLES => {
                self.roles
                    .entry(namespace)
                    .or_default()
                    .insert(name, parse_rules(obj));
            }
            CLUSTER_ROLES => {
                self.cluster_roles.insert(name, parse_rules(obj));
            }
            ROLE_BINDINGS => {
                let binding = parse_binding(obj, name.clone(), namespace.clone());
                self.role_bindings
                    .entry(namespace)
                    .or_default()
                    .insert(name, binding);
            }
            CLUSTER_ROLE_BINDINGS => {
                let binding = parse_binding(obj, name.clone(), String::new());
                self.cluster_role_bindings.insert(name, binding);
            }
            _ => {}
        }
    }

    /// Forgets an object; `namespace` is ignored for the cluster-scoped resources.
    pub fn remove(&mut self, resource: &str, namespace: &str, name: &str) {
        match resource {
            ROLES => {
                if let Some(roles) = self.roles.get_mut(namespace) {
                    roles.remove(name);
                    if roles.is_empty() {
                        self.roles.remove(namespace);
                    }
                }
            }
            CLUSTER_ROLES => {
                self.cluster_roles.remove(name);
            }
            ROLE_BINDINGS => {
                if let Some(bindings) = self.role_bindings.get_mut(namespace) {
                    bindings.remove(name);
                    if bindings.is_empty() {
                        self.role_bindings.remove(namespace);
                    }
                }
            }
            CLUSTER_ROLE_BINDINGS => {
                self.cluster_role_bindings.remove(name);
            }
            _ => {}
        }
    }

    /// Drops everything, for a relist.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

impl crate::authz::feed::Index for RbacIndex {
    fn clear(&mut self) {
        RbacIndex::clear(self);
    }

    fn apply(&mut self, resource: &str, obj: &Value) {
        RbacIndex::apply(self, resource, obj);
    }

    fn remove(&mut self, resource: &str, obj: &Value) {
        RbacIndex::remove(
            self,
            resource,
            meta_str(obj, "namespace"),
            meta_str(obj, "name"),
        );
    }
}

impl RbacIndex {
    pub(super) fn cluster_role_bindings(&self) -> impl Iterator<Item = &Binding> {
        self.cluster_role_bindings.values()
    }

    pub(super) fn role_bindings(&self, namespace: &str) -> impl Iterator<Item = &Binding> {
        self.role_bindings
            .get(namespace)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// Upstream's `GetRoleReferenceRules`: a `Role` is looked up in the binding's
    /// namespace (empty for a ClusterRoleBinding, where none can exist).
    pub(super) fn role_ref_rules(
        &self,
        role_ref: &RoleRef,
        binding_namespace: &str,
    ) -> Result<&[Rule], RoleRefError> {
        let found = match role_ref.kind.as_str() {
            "Role" => self
                .roles
                .get(binding_namespace)
                .and_then(|roles| roles.get(&role_ref.name)),
            "ClusterRole" => self.cluster_roles.get(&role_ref.name),
            other => return Err(RoleRefError::UnsupportedKind(other.to_string())),
        };
        found
            .map(Vec::as_slice)
            .ok_or_else(|| RoleRefError::NotFound {
                cluster_role: role_ref.kind == "ClusterRole",
                name: role_ref.name.clone(),
            })
    }
}

impl Binding {
    /// Upstream's `appliesTo`: the first subject naming `user`, if any. `namespace` is the
    /// one a ServiceAccount subject without its own namespace falls back to.
    pub(super) fn subject_for(&self, user: &UserInfo, namespace: &str) -> Option<&Subject> {
        self.subjects
            .iter()
            .find(|subject| subject.applies_to(user, namespace))
    }
}

impl Subject {
    /// Upstream's `appliesToUser`.
    fn applies_to(&self, user: &UserInfo, namespace: &str) -> bool {
        match self.kind {
            SubjectKind::User => user.name == self.name,
            SubjectKind::Group => user.groups.contains(&self.name),
            SubjectKind::ServiceAccount => {
                let sa_namespace = if self.namespace.is_empty() {
                    namespace
                } else {
                    &self.namespace
                };
                !sa_namespace.is_empty() && is_service_account(&user.name, sa_namespace, &self.name)
            }
            SubjectKind::Other(_) => false,
        }
    }
}

/// Whether `username` is `system:serviceaccount:<namespace>:<name>`, compared without
/// building the string: this runs for every binding on every request.
fn is_service_account(username: &str, namespace: &str, name: &str) -> bool {
    username
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)
        .and_then(|rest| rest.strip_prefix(namespace))
        .and_then(|rest| rest.strip_prefix(':'))
        == Some(name)
}

fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.pointer("/metadata")
        .and_then(|meta| meta.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn str_field<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn parse_rules(obj: &Value) -> Vec<Rule> {
    obj.get("rules")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().map(Rule::from_json).collect())
        .unwrap_or_default()
}

fn parse_binding(obj: &Value, name: String, namespace: String) -> Binding {
    let role_ref = obj.get("roleRef").unwrap_or(&Value::Null);
    let subjects = obj
        .get("subjects")
        .and_then(Value::as_array)
        .map(|subjects| subjects.iter().map(parse_subject).collect())
        .unwrap_or_default();
    Binding {
        name,
        namespace,
        role_ref: RoleRef {
            kind: str_field(role_ref, "kind").to_string(),
            name: str_field(role_ref, "name").to_string(),
        },
        subjects,
    }
}

fn parse_subject(subject: &Value) -> Subject {
    let kind = match str_field(subject, "kind") {
        "User" => SubjectKind::User,
        "Group" => SubjectKind::Group,
        "ServiceAccount" => SubjectKind::ServiceAccount,
        other => SubjectKind::Other(other.to_string()),
    };
    Subject {
        kind,
        name: str_field(subject, "name").to_string(),
        namespace: str_field(subject, "namespace").to_string(),
    }
}
