//! Which requests admission match rules select, as upstream's `matching` package decides for
//! policies (and its webhook rules for webhooks): rules by operation, group, version,
//! resource (`pods/status`, `pods/*` and `*/*` for subresources and the resource itself,
//! `*/scale`), scope and
//! resource names; namespaces by label selector (cluster-scoped requests always match);
//! objects by label selector on the new or the old object.

use super::{Attributes, Source};
use crate::errors::Result;
use apimachinery::labels::Selector;
use serde_json::Value;

/// The request's Namespace: None for cluster-scoped requests, and for requests in a
/// namespace that is gone (the last deletions of its contents), whose labels then select
/// nothing; for namespace requests the Namespace itself.
pub async fn namespace_of(namespaces: &Source, attrs: &Attributes<'_>) -> Result<Option<Value>> {
    if attrs.info.group.is_empty() && attrs.info.resource == "namespaces" {
        return Ok(attrs.object.or(attrs.old).cloned());
    }
    if attrs.namespace.is_empty() {
        return Ok(None);
    }
    namespaces.value("", attrs.namespace).await
}

/// The request as rules see it.
pub struct Request<'a> {
    pub attrs: &'a Attributes<'a>,
    /// The labels of the request's namespace (of the Namespace itself for namespace
    /// requests); None for cluster-scoped requests.
    pub namespace_labels: Option<&'a Value>,
}

impl Request<'_> {
    fn is_namespace(&self) -> bool {
        self.attrs.info.group.is_empty() && self.attrs.info.resource == "namespaces"
    }

    fn cluster_scoped(&self) -> bool {
        self.is_namespace() || self.attrs.namespace.is_empty()
    }
}

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|item| item == "*" || item == value)
}

/// Whether a resource pattern (`pods`, `pods/status`, `pods/*`, `*`, `*/scale`, `*/*`)
/// selects the resource and subresource requested.
fn resource_matches(pattern: &str, resource: &str, subresource: Option<&str>) -> bool {
    let (want_resource, want_sub) = match pattern.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (pattern, None),
    };
    let resource_ok = want_resource == "*" || want_resource == resource;
    // As upstream's: a `*` subresource selects the resource itself too.
    let sub_ok = want_sub == Some("*") || want_sub.unwrap_or("") == subresource.unwrap_or("");
    resource_ok && sub_ok
}

/// One `RuleWithOperations` (or `NamedRuleWithOperations`: `resourceNames` then apply).
pub fn rule_matches(rule: &Value, request: &Request<'_>) -> bool {
    let attrs = request.attrs;
    let scope_ok = match rule.get("scope").and_then(Value::as_str) {
        Some("Cluster") => request.cluster_scoped(),
        Some("Namespaced") => !request.cluster_scoped(),
        _ => true,
    };
    let names = strings(rule, "resourceNames");
    scope_ok
        && listed(&strings(rule, "operations"), attrs.operation.name())
        && listed(&strings(rule, "apiGroups"), attrs.info.group)
        && listed(&strings(rule, "apiVersions"), attrs.info.version)
        && strings(rule, "resources")
            .iter()
            .any(|p| resource_matches(p, attrs.info.resource, attrs.subresource))
        && (names.is_empty() || names.iter().any(|n| n == attrs.name))
}

/// Whether a label selector (absent or `{}`: everything) selects any of `objects` (of which
/// only the labels are read); a selector that does not parse is an error.
fn selects<'v>(
    selector: Option<&Value>,
    objects: impl IntoIterator<Item = &'v Value>,
) -> std::result::Result<bool, String> {
    let Some(selector) = selector.filter(|s| s.as_object().is_some_and(|o| !o.is_empty())) else {
        return Ok(true);
    };
    let parsed = Selector::from_label_selector(selector).map_err(|e| e.to_string())?;
    Ok(objects
        .into_iter()
        .any(|o| parsed.matches_json(o.pointer("/metadata/labels"))))
}

/// Upstream's `Matches` for a `MatchResources`: the namespace and object selectors, the
/// excluded rules, then the rules (none listed selects every resource, as a binding's
/// `matchResources` without rules does). A selector error counts only when the rules match.
pub fn matches(
    match_resources: &Value,
    request: &Request<'_>,
) -> std::result::Result<bool, String> {
    let namespace_ok = if request.cluster_scoped() && !request.is_namespace() {
        Ok(true)
    } else {
        let namespace = serde_json::json!({"metadata": {"labels": request.namespace_labels}});
        selects(match_resources.get("namespaceSelector"), [&namespace])
    };
    if matches!(namespace_ok, Ok(false)) {
        return Ok(false);
    }
    let objects = [request.attrs.object, request.attrs.old];
    let object_ok = selects(
        match_resources.get("objectSelector"),
        objects.into_iter().flatten(),
    );
    if matches!(object_ok, Ok(false)) {
        return Ok(false);
    }
    let rules = |field: &str| {
        match_resources
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if rules("excludeResourceRules")
        .iter()
        .any(|r| rule_matches(r, request))
    {
        return Ok(false);
    }
    let included = rules("resourceRules");
    if !included.is_empty() && !included.iter().any(|r| rule_matches(r, request)) {
        return Ok(false);
    }
    namespace_ok?;
    object_ok?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_patterns_select_subresources_as_upstream() {
        assert!(resource_matches("pods", "pods", None));
        assert!(!resource_matches("pods", "pods", Some("status")));
        assert!(resource_matches("pods/status", "pods", Some("status")));
        assert!(resource_matches("pods/*", "pods", Some("exec")));
        assert!(resource_matches("pods/*", "pods", None));
        assert!(!resource_matches("pods/status", "pods", None));
        assert!(resource_matches("*", "deployments", None));
        assert!(!resource_matches("*", "deployments", Some("scale")));
        assert!(resource_matches("*/scale", "deployments", Some("scale")));
        assert!(resource_matches("*/*", "deployments", None));
        assert!(resource_matches("*/*", "deployments", Some("scale")));
        assert!(!resource_matches("services", "pods", None));
    }
}
