//! The rule union an aggregating ClusterRole is given: for each of its selectors in turn, the
//! rules of the other ClusterRoles it selects, those roles taken by name, each rule kept unless
//! an equal one is already in. Equality is upstream's semantic one, under which a missing list
//! and an empty list are the same.

use crate::selector;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use std::sync::Arc;

/// Whether `role` is one the controller fills: it has an aggregation rule, even one without
/// selectors (validation refuses those, but a role stored before that still gets its rules
/// cleared, as upstream).
pub fn aggregates(role: &ClusterRole) -> bool {
    role.aggregation_rule.is_some()
}

fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or_default()
}

/// Whether two rules grant the same, field by field, with the lists in the same order.
pub fn same_rule(a: &PolicyRule, b: &PolicyRule) -> bool {
    a.verbs == b.verbs
        && list(&a.api_groups) == list(&b.api_groups)
        && list(&a.resources) == list(&b.resources)
        && list(&a.resource_names) == list(&b.resource_names)
        && list(&a.non_resource_urls) == list(&b.non_resource_urls)
}

/// Whether two rule lists are the same, rule by rule; no rules and a missing list are equal.
pub fn same_rules(a: &[PolicyRule], b: &[PolicyRule]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_rule(x, y))
}

/// The rules `role` aggregates from `roles` (the whole cache; `role` itself among them is
/// skipped, so a role that matches its own selector does not feed on its own rules).
pub fn aggregate(role: &ClusterRole, roles: &[Arc<ClusterRole>]) -> Vec<PolicyRule> {
    let selectors = role
        .aggregation_rule
        .as_ref()
        .and_then(|r| r.cluster_role_selectors.as_deref())
        .unwrap_or_default();
    let own_name = role.metadata.name.as_deref();
    let mut rules: Vec<PolicyRule> = Vec::new();
    for sel in selectors {
        let mut selected: Vec<&ClusterRole> = roles
            .iter()
            .map(|r| &**r)
            .filter(|r| r.metadata.name.as_deref() != own_name)
            .filter(|r| selector::matches(Some(sel), r.metadata.labels.as_ref()))
            .collect();
        selected.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        for rule in selected.iter().flat_map(|r| r.rules.iter().flatten()) {
            if !rules.iter().any(|have| same_rule(have, rule)) {
                rules.push(rule.clone());
            }
        }
    }
    rules
}

/// `rule` as an apply configuration carries it: upstream's builder leaves empty lists out.
pub fn for_apply(rule: &PolicyRule) -> PolicyRule {
    let keep = |v: &Option<Vec<String>>| v.clone().filter(|v| !v.is_empty());
    PolicyRule {
        api_groups: keep(&rule.api_groups),
        non_resource_urls: keep(&rule.non_resource_urls),
        resource_names: keep(&rule.resource_names),
        resources: keep(&rule.resources),
        verbs: rule.verbs.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::AggregationRule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
    use std::collections::BTreeMap;

    fn rule(verb: &str, resource: &str) -> PolicyRule {
        PolicyRule {
            verbs: vec![verb.to_string()],
            resources: Some(vec![resource.to_string()]),
            ..Default::default()
        }
    }

    fn hammer() -> Vec<PolicyRule> {
        vec![rule("hammer", "nails"), rule("hammer", "wedges")]
    }

    fn chisel() -> Vec<PolicyRule> {
        vec![rule("chisel", "mortises")]
    }

    fn saw() -> Vec<PolicyRule> {
        vec![rule("saw", "boards")]
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn role(name: &str, foo: &str, rules: Vec<PolicyRule>) -> Arc<ClusterRole> {
        Arc::new(ClusterRole {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(labels(&[("foo", foo)])),
                ..Default::default()
            },
            rules: Some(rules),
            aggregation_rule: None,
        })
    }

    fn combined(selecting: &[&str], rules: Vec<PolicyRule>) -> Arc<ClusterRole> {
        Arc::new(ClusterRole {
            metadata: ObjectMeta {
                name: Some("combined".to_string()),
                ..Default::default()
            },
            rules: Some(rules),
            aggregation_rule: Some(AggregationRule {
                cluster_role_selectors: Some(
                    selecting
                        .iter()
                        .map(|v| LabelSelector {
                            match_labels: Some(labels(&[("foo", v)])),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
        })
    }

    fn union(roles: &[Arc<ClusterRole>]) -> Vec<PolicyRule> {
        let target = roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some("combined"))
            .unwrap();
        aggregate(target, roles)
    }

    #[test]
    fn rules_of_roles_no_longer_selected_go() {
        let roles = [role("hammer", "bar", hammer()), combined(&["bar"], saw())];
        assert_eq!(union(&roles), hammer());
        let roles = [
            role("hammer", "not-bar", hammer()),
            combined(&["bar"], hammer()),
        ];
        assert!(union(&roles).is_empty());
    }

    #[test]
    fn selected_roles_are_taken_by_name() {
        let roles = [
            role("hammer", "bar", hammer()),
            role("chisel", "bar", chisel()),
            role("saw", "not-bar", saw()),
            combined(&["bar"], vec![]),
        ];
        assert_eq!(union(&roles), [chisel(), hammer()].concat());
    }

    #[test]
    fn each_selector_in_turn() {
        let roles = [
            role("saw", "not-bar", saw()),
            role("hammer", "bar", hammer()),
            role("chisel", "bar", chisel()),
            combined(&["bar", "not-bar"], vec![]),
        ];
        assert_eq!(union(&roles), [chisel(), hammer(), saw()].concat());
        // The selectors' order wins over the names'.
        let roles = [
            role("saw", "not-bar", saw()),
            role("hammer", "bar", hammer()),
            combined(&["not-bar", "bar"], vec![]),
        ];
        assert_eq!(union(&roles), [saw(), hammer()].concat());
    }

    #[test]
    fn duplicates_are_kept_once_where_first_seen() {
        let roles = [
            role("hammer", "bar", hammer()),
            role("chisel", "bar", chisel()),
            role("saw", "bar", saw()),
            role("other-saw", "not-bar", saw()),
            combined(&["bar", "not-bar"], vec![]),
        ];
        assert_eq!(union(&roles), [chisel(), hammer(), saw()].concat());
        // A role matched by two selectors counts once, too.
        let roles = [
            role("hammer", "bar", hammer()),
            combined(&["bar", "bar"], vec![]),
        ];
        assert_eq!(union(&roles), hammer());
    }

    #[test]
    fn a_role_never_aggregates_itself() {
        let mut own = (*combined(&["bar"], vec![rule("get", "own")])).clone();
        own.metadata.labels = Some(labels(&[("foo", "bar")]));
        let roles = [Arc::new(own), role("hammer", "bar", hammer())];
        assert_eq!(union(&roles), hammer());
    }

    #[test]
    fn aggregating_roles_are_aggregated_too() {
        let mut inner = (*combined(&["bar"], chisel())).clone();
        inner.metadata.name = Some("inner".to_string());
        inner.metadata.labels = Some(labels(&[("foo", "outer")]));
        let roles = [Arc::new(inner), combined(&["outer"], vec![])];
        assert_eq!(union(&roles), chisel());
    }

    #[test]
    fn missing_and_empty_lists_are_the_same() {
        let mut a = rule("get", "pods");
        a.api_groups = Some(vec![]);
        let b = rule("get", "pods");
        assert!(same_rule(&a, &b));
        assert!(!same_rule(&a, &rule("list", "pods")));
        let mut reordered = rule("get", "pods");
        reordered.verbs = vec!["list".to_string(), "get".to_string()];
        let mut ordered = rule("get", "pods");
        ordered.verbs = vec!["get".to_string(), "list".to_string()];
        assert!(!same_rule(&reordered, &ordered));
        let (one_a, one_b) = (vec![a.clone()], vec![b.clone()]);
        assert!(same_rules(&one_a, &one_b));
        assert!(!same_rules(&one_a, &[b.clone(), a.clone()]));
        assert!(same_rules(&[], &[]));
        // Semantically equal rules are not added twice.
        let roles = [
            role("a", "bar", vec![a.clone()]),
            role("b", "bar", vec![b]),
            combined(&["bar"], vec![]),
        ];
        assert_eq!(union(&roles), vec![a.clone()]);
        assert_eq!(for_apply(&a).api_groups, None);
    }
}
