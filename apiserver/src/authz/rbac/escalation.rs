//! Escalation prevention: a user may only write a role, or bind one, whose permissions
//! they already hold. Upstream's `Covers` (`component-helpers/auth/rbac/validation/
//! policy_comparator.go`), `CompactRules` (`pkg/registry/rbac/validation/
//! policy_compact.go`), the message of `ConfirmNoEscalation` (`pkg/registry/rbac/
//! validation/rule.go`) and `EscalationAllowed` (`pkg/registry/rbac/escalation_check.go`).

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::format::{aggregate, push_go_quoted, push_go_quoted_list};
use super::rules::Rule;
use crate::authn::user::UserInfo;

const ALL: &str = "*";

/// The group whose members (the apiserver's own loopback client among them) may grant
/// anything without the covering check.
const SYSTEM_PRIVILEGED_GROUP: &str = "system:masters";

/// The Forbidden reason for creating or changing a ClusterRole's `aggregationRule`
/// without holding [`full_authority`] (`pkg/registry/rbac/clusterrole/policybased`).
pub const AGGREGATION_RULE_FORBIDDEN: &str =
    "must have cluster-admin privileges to use the aggregationRule";

/// Upstream's `EscalationAllowed`: members of `system:masters` skip escalation checks.
pub fn escalation_allowed(user: &UserInfo) -> bool {
    user.groups
        .iter()
        .any(|group| group == SYSTEM_PRIVILEGED_GROUP)
}

/// `*` on every resource of every group plus `*` on every non-resource URL: what a user
/// must hold to set a ClusterRole's `aggregationRule`.
pub fn full_authority() -> Vec<PolicyRule> {
    let all = || Some(vec![ALL.to_string()]);
    vec![
        PolicyRule {
            verbs: vec![ALL.to_string()],
            api_groups: all(),
            resources: all(),
            ..Default::default()
        },
        PolicyRule {
            verbs: vec![ALL.to_string()],
            non_resource_urls: all(),
            ..Default::default()
        },
    ]
}

/// Upstream's `Covers`: whether `owner` grants everything `requested` does, and if not
/// the requested permissions it lacks, each broken down (by [`breakdown_rule`]) to one
/// verb on one group/resource/name or one non-resource URL, in the order of `requested`
/// and not compacted (the escalation message compacts them).
pub fn covers(owner: &[PolicyRule], requested: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let owner: Vec<Rule> = owner.iter().map(Rule::from).collect();
    let owner: Vec<&Rule> = owner.iter().collect();
    let requested: Vec<Rule> = requested.iter().map(Rule::from).collect();
    let missing = uncovered(&owner, &requested);
    (
        missing.is_empty(),
        missing.iter().map(Rule::to_policy_rule).collect(),
    )
}

/// Upstream's `BreakdownRule`: one rule per group × resource × verb (× name, when names
/// are listed), then one per non-resource URL × verb. A resource rule listing no API
/// group breaks down to nothing, as upstream's does.
pub fn breakdown_rule(rule: &PolicyRule) -> Vec<PolicyRule> {
    breakdown(&Rule::from(rule))
        .iter()
        .map(Rule::to_policy_rule)
        .collect()
}

/// Upstream's `CompactRules`: rules naming exactly one group and one resource and nothing
/// but verbs are merged per group/resource, their verbs concatenated; other rules are kept
/// as they are, first. Upstream appends the merged rules in Go map order; here they come
/// in the order first met.
pub fn compact_rules(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    compact(rules.iter().map(Rule::from).collect())
        .iter()
        .map(Rule::to_policy_rule)
        .collect()
}

/// The message of upstream's `ConfirmNoEscalation` error, for `missing` as [`covers`]
/// returns it and the errors met resolving the user's own rules:
///
/// ```text
/// user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
/// {APIGroups:[""], Resources:["pods"], Verbs:["get"]}
/// ```
///
/// The missing rules are compacted, written with [`super::compact_string`], sorted and
/// deduplicated, one per line; when there were resolution errors,
/// `; resolution errors: [<errors>]` follows.
pub fn escalation_message(
    user: &UserInfo,
    missing: &[PolicyRule],
    resolution_errors: &[String],
) -> String {
    escalation_message_for(
        user,
        missing.iter().map(Rule::from).collect(),
        resolution_errors,
    )
}

/// The text of upstream's `NewForbidden(<resource>.rbac.authorization.k8s.io, name, err)`
/// that wraps an escalation message: `roles.rbac.authorization.k8s.io "x" is forbidden:
/// <reason>`.
pub fn forbidden_message(resource: &str, name: &str, reason: &str) -> String {
    let mut out = format!("{resource}.rbac.authorization.k8s.io");
    if !name.is_empty() {
        out.push(' ');
        push_go_quoted(&mut out, name);
    }
    out.push_str(" is forbidden: ");
    out.push_str(reason);
    out
}

pub(super) fn escalation_message_for(
    user: &UserInfo,
    missing: Vec<Rule>,
    resolution_errors: &[String],
) -> String {
    let descriptions: BTreeSet<String> =
        compact(missing).iter().map(Rule::compact_string).collect();
    let mut out = String::from("user ");
    push_go_quoted(&mut out, &user.name);
    out.push_str(" (groups=");
    push_go_quoted_list(&mut out, &user.groups);
    out.push_str(") is attempting to grant RBAC permissions not currently held:\n");
    out.push_str(&descriptions.into_iter().collect::<Vec<_>>().join("\n"));
    // Upstream prints a one-element `[]error` holding the aggregate with `%v`, hence the
    // outer brackets.
    if let Some(errors) = aggregate(resolution_errors) {
        out.push_str("; resolution errors: [");
        out.push_str(&errors);
        out.push(']');
    }
    out
}

/// The broken-down `requested` permissions no rule of `owner` covers. Because each
/// broken-down rule is atomic, a single owner rule either covers it or does not.
pub(super) fn uncovered(owner: &[&Rule], requested: &[Rule]) -> Vec<Rule> {
    requested
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|owner| rule_covers(owner, sub)))
        .collect()
}

fn breakdown(rule: &Rule) -> Vec<Rule> {
    let one = |s: &String| vec![s.clone()];
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let base = Rule {
                    api_groups: one(group),
                    resources: one(resource),
                    verbs: one(verb),
                    ..Default::default()
                };
                if rule.resource_names.is_empty() {
                    out.push(base);
                } else {
                    out.extend(rule.resource_names.iter().map(|name| Rule {
                        resource_names: one(name),
                        ..base.clone()
                    }));
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(Rule {
                non_resource_urls: one(url),
                verbs: one(verb),
                ..Default::default()
            });
        }
    }
    out
}

fn compact(rules: Vec<Rule>) -> Vec<Rule> {
    let mut compacted = Vec::with_capacity(rules.len());
    let mut simple: Vec<Rule> = Vec::new();
    let mut by_group_resource: HashMap<(String, String), usize> = HashMap::new();
    for rule in rules {
        match simple_key(&rule) {
            Some(key) => match by_group_resource.get(&key) {
                Some(&i) => simple[i].verbs.extend(rule.verbs),
                None => {
                    by_group_resource.insert(key, simple.len());
                    simple.push(rule);
                }
            },
            None => compacted.push(rule),
        }
    }
    compacted.extend(simple);
    compacted
}

/// The group and resource of a rule holding one of each plus verbs and nothing else.
fn simple_key(rule: &Rule) -> Option<(String, String)> {
    match (rule.api_groups.as_slice(), rule.resources.as_slice()) {
        ([group], [resource])
            if rule.resource_names.is_empty() && rule.non_resource_urls.is_empty() =>
        {
            Some((group.clone(), resource.clone()))
        }
        _ => None,
    }
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|item| has(set, item))
}

/// Upstream's `ruleCovers`, for an atomic `sub` from [`breakdown`].
fn rule_covers(owner: &Rule, sub: &Rule) -> bool {
    let verbs = has(&owner.verbs, ALL) || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, ALL) || has_all(&owner.api_groups, &sub.api_groups);
    let names = if sub.resource_names.is_empty() {
        // A rule limited to names cannot grant access to a whole resource.
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs
        && groups
        && resources_cover_all(&owner.resources, &sub.resources)
        && names
        && non_resource_urls_cover_all(&owner.non_resource_urls, &sub.non_resource_urls)
}

/// `*`, the exact resource, or for `resource/subresource` an owner's `*/subresource`.
fn resources_cover_all(owner: &[String], requested: &[String]) -> bool {
    if has(owner, ALL) || has_all(owner, requested) {
        return true;
    }
    requested.iter().all(|path| {
        has(owner, path)
            || path.split_once('/').is_some_and(|(_, subresource)| {
                owner
                    .iter()
                    .any(|o| o.strip_prefix("*/") == Some(subresource))
            })
    })
}

fn non_resource_urls_cover_all(owner: &[String], requested: &[String]) -> bool {
    requested.iter().all(|path| {
        owner
            .iter()
            .any(|o| o == path || (o.ends_with('*') && path.starts_with(o.trim_end_matches('*'))))
    })
}
