//! The vocabulary the policy tables are written in: a [`Rule`] builder that yields upstream's
//! PolicyRule JSON, and constructors for roles, bindings and subjects carrying the bootstrap
//! label and annotation.
//!
//! ```ignore
//! let read_pods = rule(READ).groups(&[CORE]).resources(&["pods"]);
//! let role = cluster_role("pod-reader", vec![read_pods]);
//! ```

use serde_json::{Map, Value, json};

pub(super) const RBAC_API_VERSION: &str = "rbac.authorization.k8s.io/v1";
/// The label upstream puts on every bootstrap object (its `bootstrappolicy.Label`).
pub const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
pub const BOOTSTRAPPING_VALUE: &str = "rbac-defaults";
/// The annotation whose value `"false"` makes start-up reconciliation leave an object alone.
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
const AGGREGATE_LABEL_PREFIX: &str = "rbac.authorization.k8s.io/aggregate-to-";

pub(super) const CORE: &str = "";
pub(super) const ADMISSION_REGISTRATION: &str = "admissionregistration.k8s.io";
pub(super) const APPS: &str = "apps";
pub(super) const AUTHENTICATION: &str = "authentication.k8s.io";
pub(super) const AUTHORIZATION: &str = "authorization.k8s.io";
pub(super) const AUTOSCALING: &str = "autoscaling";
pub(super) const BATCH: &str = "batch";
pub(super) const CERTIFICATES: &str = "certificates.k8s.io";
pub(super) const COORDINATION: &str = "coordination.k8s.io";
pub(super) const CUSTOM_METRICS: &str = "custom.metrics.k8s.io";
pub(super) const DISCOVERY: &str = "discovery.k8s.io";
pub(super) const EVENTS: &str = "events.k8s.io";
pub(super) const EXTENSIONS: &str = "extensions";
pub(super) const EXTERNAL_METRICS: &str = "external.metrics.k8s.io";
pub(super) const METRICS: &str = "metrics.k8s.io";
pub(super) const NETWORKING: &str = "networking.k8s.io";
pub(super) const NODE: &str = "node.k8s.io";
pub(super) const POLICY: &str = "policy";
pub(super) const RBAC: &str = "rbac.authorization.k8s.io";
pub(super) const STORAGE: &str = "storage.k8s.io";

pub(super) const READ: &[&str] = &["get", "list", "watch"];
pub(super) const READ_UPDATE: &[&str] = &["get", "list", "watch", "update", "patch"];
pub(super) const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
pub(super) const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// One PolicyRule. Lists keep the order they were given until [`Rule::to_json`], which sorts
/// and deduplicates them as upstream's `PolicyRuleBuilder.Rule()` does, so stored objects read
/// exactly as upstream's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Rule {
    pub(super) verbs: Vec<String>,
    pub(super) api_groups: Vec<String>,
    pub(super) resources: Vec<String>,
    pub(super) resource_names: Vec<String>,
    pub(super) non_resource_urls: Vec<String>,
}

pub(super) fn rule(verbs: &[&str]) -> Rule {
    Rule {
        verbs: owned(verbs),
        ..Rule::default()
    }
}

/// Upstream's `eventsRule()`: every controller may record events through either events API.
pub(super) fn events_rule() -> Rule {
    rule(&["create", "update", "patch"])
        .groups(&[CORE, EVENTS])
        .resources(&["events"])
}

impl Rule {
    pub(super) fn groups(mut self, groups: &[&str]) -> Self {
        self.api_groups.extend(owned(groups));
        self
    }

    pub(super) fn resources(mut self, resources: &[&str]) -> Self {
        self.resources.extend(owned(resources));
        self
    }

    pub(super) fn names(mut self, names: &[&str]) -> Self {
        self.resource_names.extend(owned(names));
        self
    }

    pub(super) fn urls(mut self, urls: &[&str]) -> Self {
        self.non_resource_urls.extend(owned(urls));
        self
    }

    /// Reads a stored rule; absent or malformed lists read as empty.
    pub(super) fn from_json(value: &Value) -> Rule {
        let list = |key: &str| -> Vec<String> {
            value[key]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Rule {
            verbs: list("verbs"),
            api_groups: list("apiGroups"),
            resources: list("resources"),
            resource_names: list("resourceNames"),
            non_resource_urls: list("nonResourceURLs"),
        }
    }

    /// The rule as the API serves it: fields in upstream's order, empty lists omitted except
    /// `verbs`, which the API always carries.
    pub(super) fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("verbs".into(), sorted(&self.verbs));
        for (key, list) in [
            ("apiGroups", &self.api_groups),
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !list.is_empty() {
                out.insert(key.into(), sorted(list));
            }
        }
        Value::Object(out)
    }
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn sorted(items: &[String]) -> Value {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    json!(items)
}

fn aggregate_label(to: &str) -> String {
    format!("{AGGREGATE_LABEL_PREFIX}{to}")
}

/// Metadata with the bootstrap label (plus `aggregate-to-<x>: "true"` for each of
/// `aggregate_to`) and the autoupdate annotation.
fn metadata(name: &str, namespace: Option<&str>, aggregate_to: &[&str]) -> Value {
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    if let Some(namespace) = namespace {
        meta.insert("namespace".into(), json!(namespace));
    }
    let mut labels = Map::new();
    labels.insert(BOOTSTRAPPING_LABEL.into(), json!(BOOTSTRAPPING_VALUE));
    for to in aggregate_to {
        labels.insert(aggregate_label(to), json!("true"));
    }
    meta.insert("labels".into(), Value::Object(labels));
    meta.insert(
        "annotations".into(),
        json!({ AUTOUPDATE_ANNOTATION: "true" }),
    );
    Value::Object(meta)
}

fn rules_json(rules: &[Rule]) -> Value {
    Value::Array(rules.iter().map(Rule::to_json).collect())
}

pub(super) fn cluster_role(name: &str, rules: Vec<Rule>) -> Value {
    aggregated_into(name, &[], rules)
}

/// A ClusterRole whose rules are folded into the roles selecting `aggregate-to-<x>` for each
/// of `aggregate_to`.
pub(super) fn aggregated_into(name: &str, aggregate_to: &[&str], rules: Vec<Rule>) -> Value {
    json!({
        "kind": "ClusterRole",
        "apiVersion": RBAC_API_VERSION,
        "metadata": metadata(name, None, aggregate_to),
        "rules": rules_json(&rules),
    })
}

/// A ClusterRole built by the clusterrole-aggregation controller from the roles labelled
/// `aggregate-to-<selects>`. Upstream stores it with null rules and lets the controller fill
/// them, so a fresh server serves `rules: null` until the controller has run.
pub(super) fn aggregated_from(name: &str, selects: &str, aggregate_to: &[&str]) -> Value {
    json!({
        "kind": "ClusterRole",
        "apiVersion": RBAC_API_VERSION,
        "metadata": metadata(name, None, aggregate_to),
        "rules": null,
        "aggregationRule": {
            "clusterRoleSelectors": [{ "matchLabels": { aggregate_label(selects): "true" } }],
        },
    })
}

pub(super) fn role(namespace: &str, name: &str, rules: Vec<Rule>) -> Value {
    json!({
        "kind": "Role",
        "apiVersion": RBAC_API_VERSION,
        "metadata": metadata(name, Some(namespace), &[]),
        "rules": rules_json(&rules),
    })
}

/// Who a binding grants to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject<'a> {
    User(&'a str),
    Group(&'a str),
    /// A ServiceAccount: namespace, name.
    ServiceAccount(&'a str, &'a str),
}

impl Subject<'_> {
    fn to_json(self) -> Value {
        match self {
            Subject::User(name) => json!({ "kind": "User", "apiGroup": RBAC, "name": name }),
            Subject::Group(name) => json!({ "kind": "Group", "apiGroup": RBAC, "name": name }),
            Subject::ServiceAccount(namespace, name) => {
                json!({ "kind": "ServiceAccount", "name": name, "namespace": namespace })
            }
        }
    }
}

/// Upstream's bindings omit `subjects` when there are none (the deprecated `system:node`
/// binding is kept that way so tightening reconciliation can empty it).
fn binding(kind: &str, meta: Value, role_kind: &str, role: &str, subjects: &[Subject]) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!(kind));
    out.insert("apiVersion".into(), json!(RBAC_API_VERSION));
    out.insert("metadata".into(), meta);
    if !subjects.is_empty() {
        let subjects = subjects.iter().map(|s| s.to_json()).collect();
        out.insert("subjects".into(), Value::Array(subjects));
    }
    out.insert(
        "roleRef".into(),
        json!({ "apiGroup": RBAC, "kind": role_kind, "name": role }),
    );
    Value::Object(out)
}

/// A ClusterRoleBinding named after the ClusterRole it grants, as upstream's
/// `NewClusterBinding` makes them.
pub(super) fn cluster_role_binding(role: &str, subjects: &[Subject]) -> Value {
    binding(
        "ClusterRoleBinding",
        metadata(role, None, &[]),
        "ClusterRole",
        role,
        subjects,
    )
}

pub(super) fn role_binding(namespace: &str, name: &str, role: &str, subjects: &[Subject]) -> Value {
    binding(
        "RoleBinding",
        metadata(name, Some(namespace), &[]),
        "Role",
        role,
        subjects,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_json_is_sorted_deduplicated_and_omits_empty_lists() {
        let r = rule(&["watch", "get", "list", "get"])
            .groups(&[CORE])
            .resources(&["pods"]);
        assert_eq!(
            r.to_json(),
            json!({ "verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"] })
        );
        assert_eq!(
            rule(&["get"]).urls(&["/b", "/a"]).to_json(),
            json!({ "verbs": ["get"], "nonResourceURLs": ["/a", "/b"] })
        );
    }

    #[test]
    fn rule_round_trips_through_json() {
        let r = rule(&["get"])
            .groups(&[CORE])
            .resources(&["configmaps"])
            .names(&["x"]);
        assert_eq!(Rule::from_json(&r.to_json()), r);
    }
}
