//! Start-up reconciliation of the bootstrap objects with what is stored (upstream's
//! `pkg/registry/rbac/reconciliation`, run by the apiserver's RBAC post-start hook with
//! `RemoveExtraPermissions: false`): missing objects are created, and existing ones only ever
//! gain what the policy adds, so that administrators' additions survive restarts and upgrades.
//!
//! Per object, as upstream:
//! - absent: create it as wanted;
//! - annotated `rbac.authorization.kubernetes.io/autoupdate: "false"`: leave it untouched,
//!   whatever differs (roleRef included);
//! - a binding whose roleRef differs: delete and recreate it as wanted (a roleRef is immutable);
//! - otherwise add the wanted labels and annotations it lacks (its own values win), the wanted
//!   rules its rules do not cover, the wanted aggregation selectors it lacks (or drop its
//!   aggregation rule if the policy has none), and the wanted subjects it lacks.
//!
//! Coverage is upstream's `validation.Covers`: a wanted rule is broken into one rule per
//! (group, resource, verb, name) or (URL, verb), and each piece must be granted by a single
//! existing rule, wildcards and `parent/*` / `*/sub` subresource forms included. The pieces that
//! are not are what gets appended, as upstream appends them.
//!
//! ```ignore
//! match reconcile_role(stored.as_ref(), &wanted) {
//!     Reconcile::Create(obj) => create(obj),
//!     Reconcile::Update(obj) => update(obj),
//!     Reconcile::Recreate(obj) => { delete(&obj); create(obj) }
//!     Reconcile::Keep => {}
//! }
//! ```

use serde_json::{Map, Value};

use super::builder::{AUTOUPDATE_ANNOTATION, Rule};

/// What to write for one bootstrap object given what is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Reconcile {
    /// Nothing is stored: create this object.
    Create(Value),
    /// Replace the stored object with this one (the stored object plus what the policy adds;
    /// it keeps the stored metadata, resourceVersion included, for an optimistic update).
    Update(Value),
    /// The binding's roleRef differs: delete the stored binding, then create this one.
    Recreate(Value),
    /// The stored object already has everything, or opted out of reconciliation.
    Keep,
}

/// Reconciles a Role or ClusterRole.
pub fn reconcile_role(existing: Option<&Value>, wanted: &Value) -> Reconcile {
    let Some(existing) = existing else {
        return Reconcile::Create(wanted.clone());
    };
    if opted_out(existing) {
        return Reconcile::Keep;
    }
    let mut result = existing.clone();
    let mut changed = merge_metadata(&mut result, wanted);

    let missing = uncovered(&rules(existing), &rules(wanted));
    if !missing.is_empty() {
        let mut merged = existing["rules"].as_array().cloned().unwrap_or_default();
        merged.extend(missing.iter().map(Rule::to_json));
        changed |= set(&mut result, "rules", Value::Array(merged));
    }

    changed |= reconcile_aggregation(&mut result, existing, wanted);
    if changed {
        Reconcile::Update(result)
    } else {
        Reconcile::Keep
    }
}

/// Reconciles a RoleBinding or ClusterRoleBinding.
pub fn reconcile_binding(existing: Option<&Value>, wanted: &Value) -> Reconcile {
    let Some(existing) = existing else {
        return Reconcile::Create(wanted.clone());
    };
    if opted_out(existing) {
        return Reconcile::Keep;
    }
    if role_ref(existing) != role_ref(wanted) {
        return Reconcile::Recreate(wanted.clone());
    }
    let mut result = existing.clone();
    let mut changed = merge_metadata(&mut result, wanted);

    let have = subjects(existing);
    let mut missing: Vec<&Value> = Vec::new();
    for subject in subjects(wanted) {
        let key = subject_key(subject);
        let known = |s: &&Value| subject_key(s) == key;
        if !have.iter().any(known) && !missing.iter().any(known) {
            missing.push(subject);
        }
    }
    if !missing.is_empty() {
        let merged = have.into_iter().chain(missing).cloned().collect();
        changed |= set(&mut result, "subjects", Value::Array(merged));
    }
    if changed {
        Reconcile::Update(result)
    } else {
        Reconcile::Keep
    }
}

fn opted_out(existing: &Value) -> bool {
    existing["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] == "false"
}

/// Adds the wanted labels and annotations the object lacks; values it has win.
fn merge_metadata(result: &mut Value, wanted: &Value) -> bool {
    let mut changed = false;
    for field in ["labels", "annotations"] {
        let Some(wanted_map) = wanted["metadata"][field].as_object() else {
            continue;
        };
        let mut merged = result["metadata"][field]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let before = merged.len();
        for (key, value) in wanted_map {
            if !merged.contains_key(key) {
                merged.insert(key.clone(), value.clone());
            }
        }
        if merged.len() != before
            && let Some(meta) = result.get_mut("metadata")
        {
            changed |= set(meta, field, Value::Object(merged));
        }
    }
    changed
}

fn reconcile_aggregation(result: &mut Value, existing: &Value, wanted: &Value) -> bool {
    let have = selectors(existing);
    let Some(want) = selectors(wanted) else {
        // The policy does not aggregate this role: drop a stored aggregation rule.
        return match result.as_object_mut() {
            Some(obj) if have.is_some() => obj.remove("aggregationRule").is_some(),
            _ => false,
        };
    };
    let have = have.unwrap_or_default();
    let missing: Vec<Value> = want.into_iter().filter(|s| !have.contains(s)).collect();
    if missing.is_empty() {
        return false;
    }
    let merged = have.into_iter().chain(missing).collect();
    let mut rule = Map::new();
    rule.insert("clusterRoleSelectors".into(), Value::Array(merged));
    set(result, "aggregationRule", Value::Object(rule))
}

/// Sets a field of a JSON object; stored objects always are objects, and anything else is left
/// as it is rather than panicking as `value[key] = ...` would.
fn set(target: &mut Value, key: &str, value: Value) -> bool {
    match target.as_object_mut() {
        Some(obj) => {
            obj.insert(key.to_owned(), value);
            true
        }
        None => false,
    }
}

/// The aggregation rule's selectors, or `None` when the role is not aggregated.
fn selectors(role: &Value) -> Option<Vec<Value>> {
    let rule = role.get("aggregationRule").filter(|r| !r.is_null())?;
    Some(
        rule["clusterRoleSelectors"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    )
}

fn rules(role: &Value) -> Vec<Rule> {
    role["rules"]
        .as_array()
        .map(|rules| rules.iter().map(Rule::from_json).collect())
        .unwrap_or_default()
}

fn subjects(binding: &Value) -> Vec<&Value> {
    binding["subjects"]
        .as_array()
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

/// Subjects and roleRefs compare field by field as upstream's structs do; an absent field
/// equals an empty one (a ServiceAccount subject is stored without `apiGroup`).
fn fields<'a>(value: &'a Value, names: &[&str]) -> Vec<&'a str> {
    names
        .iter()
        .map(|name| value[*name].as_str().unwrap_or_default())
        .collect()
}

fn subject_key(subject: &Value) -> Vec<&str> {
    fields(subject, &["kind", "apiGroup", "name", "namespace"])
}

fn role_ref(binding: &Value) -> Vec<&str> {
    fields(&binding["roleRef"], &["apiGroup", "kind", "name"])
}

/// The pieces of `wanted` that no single rule of `owner` grants.
fn uncovered(owner: &[Rule], wanted: &[Rule]) -> Vec<Rule> {
    wanted
        .iter()
        .flat_map(breakdown)
        .filter(|piece| !owner.iter().any(|o| covers(o, piece)))
        .collect()
}

/// One rule per (group, resource, verb[, name]) and per (URL, verb), as upstream's
/// `BreakdownRule`.
fn breakdown(rule: &Rule) -> Vec<Rule> {
    let one = |s: &String| vec![s.clone()];
    let mut pieces = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let piece = Rule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    ..Rule::default()
                };
                if rule.resource_names.is_empty() {
                    pieces.push(piece);
                } else {
                    for name in &rule.resource_names {
                        pieces.push(Rule {
                            resource_names: one(name),
                            ..piece.clone()
                        });
                    }
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            pieces.push(Rule {
                verbs: one(verb),
                non_resource_urls: one(url),
                ..Rule::default()
            });
        }
    }
    pieces
}

/// Upstream's `ruleCovers`: does `owner` alone grant everything `piece` names?
fn covers(owner: &Rule, piece: &Rule) -> bool {
    let verbs = has(&owner.verbs, "*") || has_all(&owner.verbs, &piece.verbs);
    let groups = has(&owner.api_groups, "*") || has_all(&owner.api_groups, &piece.api_groups);
    let resources = resources_cover(&owner.resources, &piece.resources);
    let urls = piece.non_resource_urls.iter().all(|url| {
        owner
            .non_resource_urls
            .iter()
            .any(|own| url_covers(own, url))
    });
    let names = if piece.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &piece.resource_names)
    };
    verbs && groups && resources && urls && names
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|item| has(set, item))
}

/// `*` covers every resource; `parent/*` and `*/sub` cover subresources.
fn resources_cover(owner: &[String], wanted: &[String]) -> bool {
    if has(owner, "*") || has_all(owner, wanted) {
        return true;
    }
    wanted
        .iter()
        .all(|resource| match resource.split_once('/') {
            Some((parent, sub)) => {
                has(owner, &format!("{parent}/*")) || has(owner, &format!("*/{sub}"))
            }
            None => false,
        })
}

/// A URL ending in `*` covers every URL with that prefix.
fn url_covers(owner: &str, url: &str) -> bool {
    owner == url
        || owner
            .strip_suffix('*')
            .is_some_and(|prefix| url.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::builder::{CORE, READ, Subject, cluster_role, cluster_role_binding, rule};
    use super::*;

    fn wanted_role() -> Value {
        cluster_role(
            "system:test",
            vec![
                rule(READ).groups(&[CORE]).resources(&["pods"]),
                rule(&["get"]).urls(&["/healthz"]),
            ],
        )
    }

    fn stored(mut obj: Value) -> Value {
        obj["metadata"]["resourceVersion"] = json!("7");
        obj
    }

    fn updated(r: Reconcile) -> Value {
        match r {
            Reconcile::Update(obj) => obj,
            other => panic!("expected an update, got {other:?}"),
        }
    }

    #[test]
    fn absent_objects_are_created_as_wanted() {
        let wanted = wanted_role();
        assert_eq!(
            reconcile_role(None, &wanted),
            Reconcile::Create(wanted.clone())
        );
        let binding = cluster_role_binding("system:test", &[Subject::Group("g")]);
        assert_eq!(
            reconcile_binding(None, &binding),
            Reconcile::Create(binding.clone())
        );
    }

    #[test]
    fn an_object_as_wanted_is_kept() {
        let wanted = wanted_role();
        assert_eq!(
            reconcile_role(Some(&stored(wanted.clone())), &wanted),
            Reconcile::Keep
        );
        let binding = cluster_role_binding("system:test", &[Subject::Group("g")]);
        assert_eq!(
            reconcile_binding(Some(&stored(binding.clone())), &binding),
            Reconcile::Keep
        );
    }

    #[test]
    fn missing_rules_are_appended_as_pieces_and_extra_rules_stay() {
        let wanted = wanted_role();
        let mut existing = stored(wanted.clone());
        existing["rules"] = json!([
            { "verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"] },
            { "verbs": ["delete"], "apiGroups": ["apps"], "resources": ["deployments"] },
        ]);
        let result = updated(reconcile_role(Some(&existing), &wanted));
        assert_eq!(
            result["rules"],
            json!([
                { "verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"] },
                { "verbs": ["delete"], "apiGroups": ["apps"], "resources": ["deployments"] },
                { "verbs": ["watch"], "apiGroups": [""], "resources": ["pods"] },
                { "verbs": ["get"], "nonResourceURLs": ["/healthz"] },
            ])
        );
        assert_eq!(result["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn rules_covered_by_wildcards_count_as_present() {
        let wanted = wanted_role();
        let mut existing = stored(wanted.clone());
        existing["rules"] = json!([
            { "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] },
            { "verbs": ["get"], "nonResourceURLs": ["/health*"] },
        ]);
        assert_eq!(reconcile_role(Some(&existing), &wanted), Reconcile::Keep);
    }

    #[test]
    fn subresource_wildcards_cover_subresources_only() {
        let owner = [rule(&["get"]).groups(&[CORE]).resources(&["pods/*"])];
        let wanted = [rule(&["get"])
            .groups(&[CORE])
            .resources(&["pods/log", "pods"])];
        let missing = uncovered(&owner, &wanted);
        assert_eq!(
            missing,
            vec![rule(&["get"]).groups(&[CORE]).resources(&["pods"])]
        );
        let owner = [rule(&["get"]).groups(&[CORE]).resources(&["*/scale"])];
        let wanted = [rule(&["get"])
            .groups(&["apps"])
            .resources(&["deployments/scale"])];
        assert_eq!(
            uncovered(&owner, &wanted).len(),
            1,
            "the group still has to match"
        );
    }

    #[test]
    fn resource_names_narrow_coverage() {
        let named = [rule(&["get"])
            .groups(&[CORE])
            .resources(&["configmaps"])
            .names(&["a"])];
        let all = [rule(&["get"]).groups(&[CORE]).resources(&["configmaps"])];
        assert!(uncovered(&all, &named).is_empty());
        assert_eq!(uncovered(&named, &all).len(), 1);
    }

    #[test]
    fn autoupdate_false_keeps_the_object_untouched() {
        let wanted = wanted_role();
        let mut existing = stored(wanted.clone());
        existing["rules"] = json!([]);
        existing["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] = json!("false");
        assert_eq!(reconcile_role(Some(&existing), &wanted), Reconcile::Keep);

        let binding = cluster_role_binding("system:test", &[Subject::Group("g")]);
        let mut existing = stored(binding.clone());
        existing["roleRef"]["name"] = json!("other");
        existing["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] = json!("false");
        assert_eq!(
            reconcile_binding(Some(&existing), &binding),
            Reconcile::Keep
        );
    }

    #[test]
    fn missing_labels_and_annotations_are_added_and_stored_values_win() {
        let wanted = wanted_role();
        let mut existing = stored(wanted.clone());
        existing["metadata"]["labels"] = json!({ "team": "a" });
        existing["metadata"]["annotations"] = json!({ AUTOUPDATE_ANNOTATION: "TRUE" });
        let result = updated(reconcile_role(Some(&existing), &wanted));
        assert_eq!(
            result["metadata"]["labels"],
            json!({ "team": "a", "kubernetes.io/bootstrapping": "rbac-defaults" })
        );
        assert_eq!(
            result["metadata"]["annotations"][AUTOUPDATE_ANNOTATION],
            "TRUE"
        );
    }

    #[test]
    fn aggregation_selectors_are_unioned() {
        let selector = |to: &str| json!({ "matchLabels": { to: "true" } });
        let mut wanted = wanted_role();
        wanted["aggregationRule"] =
            json!({ "clusterRoleSelectors": [selector("a"), selector("b")] });
        let mut existing = stored(wanted.clone());
        existing["aggregationRule"] =
            json!({ "clusterRoleSelectors": [selector("c"), selector("a")] });
        let result = updated(reconcile_role(Some(&existing), &wanted));
        assert_eq!(
            result["aggregationRule"]["clusterRoleSelectors"],
            json!([selector("c"), selector("a"), selector("b")])
        );

        // A role the policy does not aggregate loses a stored aggregation rule.
        let plain = wanted_role();
        let result = updated(reconcile_role(Some(&existing), &plain));
        assert!(result.get("aggregationRule").is_none());
    }

    #[test]
    fn aggregated_roles_keep_the_rules_the_controller_filled_in() {
        let wanted = super::super::builder::aggregated_from("admin", "admin", &[]);
        let mut existing = stored(wanted.clone());
        existing["rules"] = json!([{ "verbs": ["get"], "apiGroups": [""], "resources": ["pods"] }]);
        assert_eq!(reconcile_role(Some(&existing), &wanted), Reconcile::Keep);
    }

    #[test]
    fn missing_subjects_are_added_and_extra_subjects_stay() {
        let wanted = cluster_role_binding(
            "system:test",
            &[
                Subject::Group("g"),
                Subject::ServiceAccount("kube-system", "sa"),
            ],
        );
        let mut existing = stored(wanted.clone());
        existing["subjects"] = json!([
            { "kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "admin" },
            { "kind": "ServiceAccount", "apiGroup": "", "name": "sa", "namespace": "kube-system" },
        ]);
        let result = updated(reconcile_binding(Some(&existing), &wanted));
        assert_eq!(
            result["subjects"],
            json!([
                { "kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "admin" },
                { "kind": "ServiceAccount", "apiGroup": "", "name": "sa", "namespace": "kube-system" },
                { "kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g" },
            ])
        );
    }

    #[test]
    fn a_changed_role_ref_recreates_the_binding() {
        let wanted = cluster_role_binding("system:test", &[Subject::Group("g")]);
        let mut existing = stored(wanted.clone());
        existing["roleRef"]["name"] = json!("system:other");
        existing["subjects"] = json!([]);
        assert_eq!(
            reconcile_binding(Some(&existing), &wanted),
            Reconcile::Recreate(wanted.clone())
        );
    }
}
