//! One RBAC `PolicyRule` in the compact form the index keeps, and upstream's `RuleAllows`:
//! whether a rule grants a request (`pkg/apis/rbac/v1/evaluation_helpers.go` and
//! `plugin/pkg/auth/authorizer/rbac/rbac.go`).

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;

use super::format::push_go_quoted_list;
use crate::authz::Attributes;

/// Matches every verb, API group, resource or non-resource URL.
const ALL: &str = "*";

/// A policy rule with absent lists read as empty, so evaluation never branches on
/// `Option` or touches JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl Rule {
    /// Reads one element of a stored role's `rules`; entries that are not strings are
    /// skipped, as validation has already rejected them for stored objects.
    pub fn from_json(value: &Value) -> Self {
        Self {
            verbs: string_list(value, "verbs"),
            api_groups: string_list(value, "apiGroups"),
            resources: string_list(value, "resources"),
            resource_names: string_list(value, "resourceNames"),
            non_resource_urls: string_list(value, "nonResourceURLs"),
        }
    }

    /// The API form; empty lists become absent, as upstream's `omitempty` writes them.
    pub fn to_policy_rule(&self) -> PolicyRule {
        PolicyRule {
            verbs: self.verbs.clone(),
            api_groups: non_empty(&self.api_groups),
            resources: non_empty(&self.resources),
            resource_names: non_empty(&self.resource_names),
            non_resource_urls: non_empty(&self.non_resource_urls),
        }
    }

    /// Upstream's `RuleAllows`: resource requests match on verb, API group, resource
    /// (with subresource) and name; other requests on verb and path.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !self.verb_matches(&attrs.verb) {
            return false;
        }
        if attrs.resource_request {
            self.api_group_matches(&attrs.api_group)
                && self.resource_matches(&attrs.resource, &attrs.subresource)
                && self.resource_name_matches(&attrs.name)
        } else {
            self.non_resource_url_matches(&attrs.path)
        }
    }

    fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == ALL || v == verb)
    }

    fn api_group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == ALL || g == group)
    }

    /// `*`, the exact `resource` or `resource/subresource`, or `*/subresource`. A
    /// `resource/*` rule is not a wildcard upstream: it only matches itself literally.
    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == ALL
                || is_combined(r, resource, subresource)
                || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
        })
    }

    /// An empty `resourceNames` allows every name; otherwise the request must name one of
    /// them, so a `list` or `create` (which carry no name) never matches.
    fn resource_name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    fn non_resource_url_matches(&self, path: &str) -> bool {
        self.non_resource_urls.iter().any(|u| {
            u == ALL || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
        })
    }

    /// Upstream's `CompactString`, used in escalation messages:
    /// `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`, naming only non-empty lists.
    pub fn compact_string(&self) -> String {
        let parts: [(&str, &[String]); 5] = [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ];
        let mut out = String::from("{");
        for (label, items) in parts.into_iter().filter(|(_, items)| !items.is_empty()) {
            if out.len() > 1 {
                out.push_str(", ");
            }
            out.push_str(label);
            out.push(':');
            push_go_quoted_list(&mut out, items);
        }
        out.push('}');
        out
    }
}

impl From<&PolicyRule> for Rule {
    fn from(rule: &PolicyRule) -> Self {
        Self {
            verbs: rule.verbs.clone(),
            api_groups: rule.api_groups.clone().unwrap_or_default(),
            resources: rule.resources.clone().unwrap_or_default(),
            resource_names: rule.resource_names.clone().unwrap_or_default(),
            non_resource_urls: rule.non_resource_urls.clone().unwrap_or_default(),
        }
    }
}

/// Upstream's `CompactString` of an API-form rule.
pub fn compact_string(rule: &PolicyRule) -> String {
    Rule::from(rule).compact_string()
}

/// Whether `rule` is `resource + "/" + subresource` (or just `resource` when there is no
/// subresource), compared in place so authorizing a request allocates nothing.
fn is_combined(rule: &str, resource: &str, subresource: &str) -> bool {
    if subresource.is_empty() {
        return rule == resource;
    }
    rule.strip_prefix(resource)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| rest == subresource)
}

fn string_list(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn non_empty(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.to_vec())
}
