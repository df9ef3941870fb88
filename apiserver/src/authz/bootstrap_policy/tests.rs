//! Checks of the assembled policy against upstream's v1.33 objects.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::*;

fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

fn find<'a>(objs: &'a [Value], wanted: &str) -> &'a Value {
    objs.iter()
        .find(|o| name(o) == wanted)
        .unwrap_or_else(|| panic!("{wanted} is missing"))
}

fn all(policy: &Policy) -> impl Iterator<Item = &Value> {
    policy
        .cluster_roles
        .iter()
        .chain(&policy.cluster_role_bindings)
        .chain(&policy.roles)
        .chain(&policy.role_bindings)
}

#[test]
fn counts_match_upstream_v1_33() {
    let policy = policy();
    let controllers = policy
        .cluster_roles
        .iter()
        .filter(|r| name(r).starts_with(CONTROLLER_ROLE_PREFIX))
        .count();
    assert_eq!(
        policy.cluster_roles.len() - controllers,
        31,
        "general cluster roles"
    );
    assert_eq!(controllers, 35, "controller roles");
    assert_eq!(policy.cluster_role_bindings.len(), 12 + 35);
    assert_eq!(policy.roles.len(), 7);
    assert_eq!(policy.role_bindings.len(), 7);
}

#[test]
fn every_object_is_labelled_annotated_and_typed() {
    let policy = policy();
    for obj in all(&policy) {
        let meta = &obj["metadata"];
        assert_eq!(
            meta["labels"][BOOTSTRAPPING_LABEL],
            BOOTSTRAPPING_VALUE,
            "{}",
            name(obj)
        );
        assert_eq!(
            meta["annotations"][AUTOUPDATE_ANNOTATION],
            "true",
            "{}",
            name(obj)
        );
        assert_eq!(
            obj["apiVersion"],
            "rbac.authorization.k8s.io/v1",
            "{}",
            name(obj)
        );
    }
    let kinds = |objs: &[Value], kind: &str| objs.iter().all(|o| o["kind"] == kind);
    assert!(kinds(&policy.cluster_roles, "ClusterRole"));
    assert!(kinds(&policy.cluster_role_bindings, "ClusterRoleBinding"));
    assert!(kinds(&policy.roles, "Role"));
    assert!(kinds(&policy.role_bindings, "RoleBinding"));
    for obj in policy.roles.iter().chain(&policy.role_bindings) {
        let namespace = obj["metadata"]["namespace"].as_str();
        assert!(
            matches!(namespace, Some("kube-system" | "kube-public")),
            "{}",
            name(obj)
        );
    }
    for obj in policy
        .cluster_roles
        .iter()
        .chain(&policy.cluster_role_bindings)
    {
        assert!(obj["metadata"].get("namespace").is_none(), "{}", name(obj));
    }
}

#[test]
fn names_are_unique_and_every_binding_grants_a_policy_role() {
    let policy = policy();
    let key = |o: &Value| {
        format!(
            "{}/{}",
            o["metadata"]["namespace"].as_str().unwrap_or(""),
            name(o)
        )
    };
    for list in [
        &policy.cluster_roles,
        &policy.cluster_role_bindings,
        &policy.roles,
        &policy.role_bindings,
    ] {
        let keys: HashSet<String> = list.iter().map(key).collect();
        assert_eq!(keys.len(), list.len());
    }
    for binding in &policy.cluster_role_bindings {
        assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
        let role = binding["roleRef"]["name"].as_str().unwrap_or_default();
        find(&policy.cluster_roles, role);
    }
    for binding in &policy.role_bindings {
        assert_eq!(binding["roleRef"]["kind"], "Role");
        let namespace = &binding["metadata"]["namespace"];
        let role = &binding["roleRef"]["name"];
        assert!(
            policy.roles.iter().any(|r| &r["metadata"]["namespace"] == namespace && &r["metadata"]["name"] == role),
            "{} grants a missing role",
            name(binding)
        );
    }
}

#[test]
fn every_rule_is_well_formed_and_sorted() {
    let policy = policy();
    for role in policy.cluster_roles.iter().chain(&policy.roles) {
        let Some(rules) = role["rules"].as_array() else {
            assert!(
                role["aggregationRule"].is_object(),
                "{} has no rules",
                name(role)
            );
            continue;
        };
        assert!(!rules.is_empty(), "{}", name(role));
        for rule in rules {
            assert!(
                !rule["verbs"].as_array().is_none_or(Vec::is_empty),
                "{}",
                name(role)
            );
            let resource = rule.get("resources").is_some();
            assert!(
                resource != rule.get("nonResourceURLs").is_some(),
                "{}",
                name(role)
            );
            assert_eq!(resource, rule.get("apiGroups").is_some(), "{}", name(role));
            for list in rule.as_object().into_iter().flat_map(|r| r.values()) {
                let items: Vec<&str> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                assert!(items.is_sorted(), "{}: {items:?}", name(role));
            }
        }
    }
}

#[test]
fn cluster_admin_may_do_anything() {
    let policy = policy();
    let role = find(&policy.cluster_roles, "cluster-admin");
    assert_eq!(
        role["rules"],
        json!([
            { "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] },
            { "verbs": ["*"], "nonResourceURLs": ["*"] },
        ])
    );
    assert!(role.get("aggregationRule").is_none());
    let binding = find(&policy.cluster_role_bindings, "cluster-admin");
    assert_eq!(
        binding["subjects"],
        json!([{ "kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:masters" }])
    );
}

#[test]
fn public_info_viewer_is_open_to_everyone() {
    let policy = policy();
    let role = find(&policy.cluster_roles, "system:public-info-viewer");
    assert_eq!(
        role["rules"],
        json!([{ "verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"] }])
    );
    let binding = find(&policy.cluster_role_bindings, "system:public-info-viewer");
    let groups: Vec<&Value> = binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| &s["name"])
        .collect();
    assert_eq!(
        groups,
        [
            &json!("system:authenticated"),
            &json!("system:unauthenticated")
        ]
    );
}

#[test]
fn view_edit_and_admin_are_aggregated_with_null_rules() {
    let policy = policy();
    let view = find(&policy.cluster_roles, "view");
    assert_eq!(
        view["aggregationRule"],
        json!({ "clusterRoleSelectors": [{ "matchLabels": { "rbac.authorization.k8s.io/aggregate-to-view": "true" } }] })
    );
    assert_eq!(view["rules"], Value::Null);
    assert_eq!(
        view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
        "true"
    );
    let edit = find(&policy.cluster_roles, "edit");
    assert_eq!(
        edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"],
        "true"
    );
    let admin = find(&policy.cluster_roles, "admin");
    assert_eq!(
        admin["metadata"]["labels"].as_object().map(|l| l.len()),
        Some(1)
    );
    for (part, label) in [("admin", "admin"), ("edit", "edit"), ("view", "view")] {
        let role = find(
            &policy.cluster_roles,
            &format!("system:aggregate-to-{part}"),
        );
        let key = format!("rbac.authorization.k8s.io/aggregate-to-{label}");
        assert_eq!(role["metadata"]["labels"][key.as_str()], "true");
        assert!(role["rules"].as_array().is_some_and(|r| !r.is_empty()));
    }
}

#[test]
fn the_deployment_controller_role_and_binding() {
    let policy = policy();
    let role = find(
        &policy.cluster_roles,
        "system:controller:deployment-controller",
    );
    let events = json!({ "verbs": ["create", "patch", "update"], "apiGroups": ["", "events.k8s.io"], "resources": ["events"] });
    assert_eq!(
        role["rules"],
        json!([
            { "verbs": ["get", "list", "update", "watch"], "apiGroups": ["apps", "extensions"], "resources": ["deployments"] },
            { "verbs": ["update"], "apiGroups": ["apps", "extensions"], "resources": ["deployments/status"] },
            { "verbs": ["update"], "apiGroups": ["apps", "extensions"], "resources": ["deployments/finalizers"] },
            { "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "apiGroups": ["apps", "extensions"], "resources": ["replicasets"] },
            { "verbs": ["get", "list", "update", "watch"], "apiGroups": [""], "resources": ["pods"] },
            events,
        ])
    );
    let binding = find(
        &policy.cluster_role_bindings,
        "system:controller:deployment-controller",
    );
    assert_eq!(
        binding,
        &json!({
            "kind": "ClusterRoleBinding",
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {
                "name": "system:controller:deployment-controller",
                "labels": { "kubernetes.io/bootstrapping": "rbac-defaults" },
                "annotations": { "rbac.authorization.kubernetes.io/autoupdate": "true" },
            },
            "subjects": [{ "kind": "ServiceAccount", "name": "deployment-controller", "namespace": "kube-system" }],
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:controller:deployment-controller" },
        })
    );
}

#[test]
fn every_controller_role_is_bound_to_its_service_account() {
    let policy = policy();
    for role in policy
        .cluster_roles
        .iter()
        .filter(|r| name(r).starts_with(CONTROLLER_ROLE_PREFIX))
    {
        let binding = find(&policy.cluster_role_bindings, name(role));
        let account = name(role).trim_start_matches(CONTROLLER_ROLE_PREFIX);
        assert_eq!(
            binding["subjects"],
            json!([{ "kind": "ServiceAccount", "name": account, "namespace": "kube-system" }])
        );
    }
}

#[test]
fn the_kube_system_leader_locking_role_and_binding() {
    let policy = policy();
    let role = find(&policy.roles, "system::leader-locking-kube-scheduler");
    assert_eq!(
        role,
        &json!({
            "kind": "Role",
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {
                "name": "system::leader-locking-kube-scheduler",
                "namespace": "kube-system",
                "labels": { "kubernetes.io/bootstrapping": "rbac-defaults" },
                "annotations": { "rbac.authorization.kubernetes.io/autoupdate": "true" },
            },
            "rules": [
                { "verbs": ["watch"], "apiGroups": [""], "resources": ["configmaps"] },
                { "verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kube-scheduler"] },
                { "verbs": ["create", "get", "list", "update", "watch"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"] },
                { "verbs": ["create", "get", "list", "update", "watch"], "apiGroups": ["coordination.k8s.io"], "resources": ["leasecandidates"] },
            ],
        })
    );
    let binding = find(
        &policy.role_bindings,
        "system::leader-locking-kube-scheduler",
    );
    assert_eq!(
        binding["subjects"],
        json!([
            { "kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "system:kube-scheduler" },
            { "kind": "ServiceAccount", "name": "kube-scheduler", "namespace": "kube-system" },
        ])
    );
}

#[test]
fn the_node_binding_has_no_subjects_and_default_off_gates_are_absent() {
    let policy = policy();
    let binding = find(&policy.cluster_role_bindings, "system:node");
    assert!(binding.get("subjects").is_none());
    let names: HashSet<&str> = policy.cluster_roles.iter().map(name).collect();
    for absent in [
        "system:cluster-trust-bundle-discovery",
        "system:controller:resource-claim-controller",
        "system:controller:volumeattributesclass-protection-controller",
        "system:controller:kube-apiserver-serving-clustertrustbundle-publisher",
    ] {
        assert!(!names.contains(absent), "{absent}");
    }
    let text = serde_json::to_string(&policy.cluster_roles).unwrap_or_default();
    assert!(!text.contains("resource.k8s.io"));
    assert!(
        text.contains("servicecidrs"),
        "MultiCIDRServiceAllocator is GA in v1.33"
    );
}
