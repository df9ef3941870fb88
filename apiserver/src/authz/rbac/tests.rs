//! Behaviour of the RBAC authorizer, rule listing and escalation checks, with the messages
//! upstream gives for the same policy.

use k8s_openapi::api::authorization::v1::{NonResourceRule, ResourceRule};
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{Value, json};

use super::*;
use crate::authn::user::UserInfo;
use crate::authz::{Attributes, Decision};

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.to_string(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    }
}

fn request(user: &UserInfo, verb: &str, namespace: &str, resource: &str) -> Attributes {
    // `resource.group/subresource`, as kubectl writes it.
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
    Attributes {
        user: user.clone(),
        verb: verb.to_string(),
        resource_request: true,
        namespace: namespace.to_string(),
        api_group: group.to_string(),
        api_version: "v1".to_string(),
        resource: resource.to_string(),
        subresource: subresource.to_string(),
        ..Default::default()
    }
}

fn named(mut attrs: Attributes, name: &str) -> Attributes {
    attrs.name = name.to_string();
    attrs
}

fn non_resource(user: &UserInfo, verb: &str, path: &str) -> Attributes {
    Attributes {
        user: user.clone(),
        verb: verb.to_string(),
        path: path.to_string(),
        ..Default::default()
    }
}

fn role(kind: &str, namespace: &str, name: &str, rules: Value) -> (&'static str, Value) {
    let resource = if kind == "Role" {
        "roles"
    } else {
        "clusterroles"
    };
    (
        resource,
        json!({"metadata": {"name": name, "namespace": namespace}, "rules": rules}),
    )
}

fn binding(
    namespace: &str,
    name: &str,
    role_kind: &str,
    role: &str,
    subjects: Value,
) -> (&'static str, Value) {
    let resource = if namespace.is_empty() {
        "clusterrolebindings"
    } else {
        "rolebindings"
    };
    let mut metadata = json!({"name": name});
    if !namespace.is_empty() {
        metadata["namespace"] = json!(namespace);
    }
    (
        resource,
        json!({
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": subjects,
        }),
    )
}

fn index(objects: &[(&str, Value)]) -> RbacIndex {
    let mut index = RbacIndex::new();
    for (resource, obj) in objects {
        index.apply(resource, obj);
    }
    index
}

fn allow(reason: &str) -> (Decision, String) {
    (Decision::Allow, reason.to_string())
}

fn no_opinion(reason: &str) -> (Decision, String) {
    (Decision::NoOpinion, reason.to_string())
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let list = |items: &[&str]| Some(items.iter().map(|s| s.to_string()).collect());
    PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        api_groups: list(groups),
        resources: list(resources),
        ..Default::default()
    }
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        non_resource_urls: Some(urls.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

fn cluster_admin() -> Vec<(&'static str, Value)> {
    vec![
        role(
            "ClusterRole",
            "",
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
        ),
        binding(
            "",
            "cluster-admin",
            "ClusterRole",
            "cluster-admin",
            json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:masters"}]),
        ),
    ]
}

#[test]
fn cluster_admin_through_system_masters_is_allowed_everywhere() {
    let index = index(&cluster_admin());
    let admin = user("admin", &["system:masters", "system:authenticated"]);
    let reason = r#"RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters""#;
    assert_eq!(
        index.authorize(&request(&admin, "delete", "ns1", "pods")),
        allow(reason)
    );
    assert_eq!(
        index.authorize(&request(
            &admin,
            "create",
            "",
            "clusterroles.rbac.authorization.k8s.io"
        )),
        allow(reason)
    );
    assert_eq!(
        index.authorize(&non_resource(&admin, "get", "/healthz")),
        allow(reason)
    );

    let alice = user("alice", &["system:authenticated"]);
    assert_eq!(
        index.authorize(&request(&alice, "get", "ns1", "pods")),
        no_opinion("")
    );
}

#[test]
fn role_binding_grants_only_in_its_namespace() {
    let index = index(&[
        role(
            "Role",
            "ns1",
            "pod-reader",
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]),
        ),
        role(
            "ClusterRole",
            "",
            "deployer",
            json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}]),
        ),
        binding(
            "ns1",
            "read-pods",
            "Role",
            "pod-reader",
            json!([{"kind": "User", "name": "alice"}]),
        ),
        binding(
            "ns1",
            "deploy",
            "ClusterRole",
            "deployer",
            json!([{"kind": "User", "name": "alice"}]),
        ),
    ]);
    let alice = user("alice", &[]);
    assert_eq!(
        index.authorize(&request(&alice, "list", "ns1", "pods")),
        allow(
            r#"RBAC: allowed by RoleBinding "read-pods/ns1" of Role "pod-reader" to User "alice""#
        )
    );
    assert_eq!(
        index.authorize(&request(&alice, "patch", "ns1", "deployments.apps")),
        allow(
            r#"RBAC: allowed by RoleBinding "deploy/ns1" of ClusterRole "deployer" to User "alice""#
        )
    );
    // A ClusterRole bound by a RoleBinding grants nothing outside that namespace.
    assert_eq!(
        index.authorize(&request(&alice, "list", "ns2", "pods")),
        no_opinion("")
    );
    assert_eq!(
        index.authorize(&request(&alice, "patch", "ns2", "deployments.apps")),
        no_opinion("")
    );
    assert_eq!(
        index.authorize(&request(&alice, "list", "", "pods")),
        no_opinion("")
    );
    assert_eq!(
        index.authorize(&request(&alice, "delete", "ns1", "pods")),
        no_opinion("")
    );
    assert_eq!(
        index.authorize(&request(&user("bob", &[]), "list", "ns1", "pods")),
        no_opinion("")
    );
}

#[test]
fn service_account_subject_defaults_to_the_binding_namespace() {
    let index = index(&[
        role(
            "ClusterRole",
            "",
            "view",
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
        ),
        binding(
            "ns1",
            "builder-view",
            "ClusterRole",
            "view",
            json!([{"kind": "ServiceAccount", "name": "builder"}]),
        ),
        binding(
            "ns1",
            "other-ns-sa",
            "ClusterRole",
            "view",
            json!([{"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}]),
        ),
        // Without a namespace a ClusterRoleBinding's service account matches nobody.
        binding(
            "",
            "unqualified",
            "ClusterRole",
            "view",
            json!([{"kind": "ServiceAccount", "name": "builder"}]),
        ),
    ]);
    let builder = user(
        "system:serviceaccount:ns1:builder",
        &["system:serviceaccounts"],
    );
    assert_eq!(
        index.authorize(&request(&builder, "get", "ns1", "configmaps")),
        allow(
            r#"RBAC: allowed by RoleBinding "builder-view/ns1" of ClusterRole "view" to ServiceAccount "builder/ns1""#
        )
    );
    assert_eq!(
        index.authorize(&request(&builder, "get", "ns2", "configmaps")),
        no_opinion("")
    );
    let other = user("system:serviceaccount:ns2:builder", &[]);
    assert_eq!(
        index.authorize(&request(&other, "get", "ns1", "configmaps")),
        no_opinion("")
    );
    let ci = user("system:serviceaccount:ci:deployer", &[]);
    assert_eq!(
        index.authorize(&request(&ci, "get", "ns1", "configmaps")),
        allow(
            r#"RBAC: allowed by RoleBinding "other-ns-sa/ns1" of ClusterRole "view" to ServiceAccount "deployer/ci""#
        )
    );
    // Near misses of the user name layout.
    for name in [
        "system:serviceaccount:ns1:builder2",
        "system:serviceaccount:ns1builder",
        "system:serviceaccounts:ns1:builder",
        "builder",
    ] {
        let near = user(name, &[]);
        assert_eq!(
            index
                .authorize(&request(&near, "get", "ns1", "configmaps"))
                .0,
            Decision::NoOpinion
        );
    }
}

#[test]
fn resource_names_restrict_to_the_listed_objects() {
    let index = index(&[
        role(
            "Role",
            "ns1",
            "one-secret",
            json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["token"], "verbs": ["get", "list", "create"]}]),
        ),
        binding(
            "ns1",
            "b",
            "Role",
            "one-secret",
            json!([{"kind": "User", "name": "alice"}]),
        ),
    ]);
    let alice = user("alice", &[]);
    let get = request(&alice, "get", "ns1", "secrets");
    assert_eq!(
        index.authorize(&named(get.clone(), "token")).0,
        Decision::Allow
    );
    assert_eq!(index.authorize(&named(get, "other")).0, Decision::NoOpinion);
    // Requests without a name never match a rule with names.
    assert_eq!(
        index
            .authorize(&request(&alice, "list", "ns1", "secrets"))
            .0,
        Decision::NoOpinion
    );
    assert_eq!(
        index
            .authorize(&request(&alice, "create", "ns1", "secrets"))
            .0,
        Decision::NoOpinion
    );
}

#[test]
fn subresources_match_combined_or_star_slash() {
    let index = index(&[
        role(
            "ClusterRole",
            "",
            "sub",
            json!([
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]},
                {"apiGroups": [""], "resources": ["services/*"], "verbs": ["get"]},
            ]),
        ),
        binding(
            "",
            "b",
            "ClusterRole",
            "sub",
            json!([{"kind": "Group", "name": "devs"}]),
        ),
    ]);
    let dev = user("dev", &["devs"]);
    let decide =
        |verb: &str, resource: &str| index.authorize(&request(&dev, verb, "ns1", resource)).0;
    assert_eq!(decide("get", "pods/log"), Decision::Allow);
    assert_eq!(decide("get", "pods"), Decision::NoOpinion);
    assert_eq!(decide("get", "pods/status"), Decision::NoOpinion);
    assert_eq!(decide("update", "deployments.apps/scale"), Decision::Allow);
    assert_eq!(decide("update", "replicasets.apps/scale"), Decision::Allow);
    assert_eq!(decide("update", "deployments.apps"), Decision::NoOpinion);
    assert_eq!(
        decide("update", "deployments.apps/status"),
        Decision::NoOpinion
    );
    // `resource/*` is no wildcard upstream.
    assert_eq!(decide("get", "services/proxy"), Decision::NoOpinion);
    assert_eq!(decide("get", "services"), Decision::NoOpinion);
}

#[test]
fn non_resource_urls_match_exactly_or_by_trailing_star() {
    let index = index(&[
        role(
            "ClusterRole",
            "",
            "probes",
            json!([
                {"nonResourceURLs": ["/healthz/*", "/version"], "verbs": ["get"]},
                {"nonResourceURLs": ["/apis*"], "verbs": ["get"]},
                // Resource rules never grant non-resource requests.
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            ]),
        ),
        binding(
            "",
            "b",
            "ClusterRole",
            "probes",
            json!([{"kind": "User", "name": "p"}]),
        ),
    ]);
    let p = user("p", &[]);
    let decide = |verb: &str, path: &str| index.authorize(&non_resource(&p, verb, path)).0;
    assert_eq!(decide("get", "/healthz/etcd"), Decision::Allow);
    assert_eq!(decide("get", "/healthz/"), Decision::Allow);
    assert_eq!(decide("get", "/healthz"), Decision::NoOpinion);
    assert_eq!(decide("get", "/version"), Decision::Allow);
    assert_eq!(decide("get", "/version/x"), Decision::NoOpinion);
    assert_eq!(decide("get", "/apis"), Decision::Allow);
    assert_eq!(decide("get", "/apis/apps/v1"), Decision::Allow);
    assert_eq!(decide("post", "/apis"), Decision::NoOpinion);
    assert_eq!(decide("get", "/metrics"), Decision::NoOpinion);

    let everything = index_with_star_url();
    assert_eq!(
        everything
            .authorize(&non_resource(&p, "put", "/anything"))
            .0,
        Decision::Allow
    );
}

fn index_with_star_url() -> RbacIndex {
    index(&[
        role(
            "ClusterRole",
            "",
            "all-urls",
            json!([{"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        binding(
            "",
            "b",
            "ClusterRole",
            "all-urls",
            json!([{"kind": "User", "name": "p"}]),
        ),
    ])
}

#[test]
fn missing_roles_give_no_opinion_with_their_errors() {
    let mut index = index(&[
        binding(
            "",
            "dangling",
            "ClusterRole",
            "missing",
            json!([{"kind": "User", "name": "alice"}]),
        ),
        binding(
            "",
            "not-alice",
            "ClusterRole",
            "absent",
            json!([{"kind": "User", "name": "bob"}]),
        ),
    ]);
    let alice = user("alice", &[]);
    assert_eq!(
        index.authorize(&request(&alice, "get", "ns1", "pods")),
        no_opinion(r#"RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found"#)
    );

    let (resource, obj) = binding(
        "ns1",
        "gone",
        "Role",
        "gone",
        json!([{"kind": "User", "name": "alice"}]),
    );
    index.apply(resource, &obj);
    assert_eq!(
        index.authorize(&request(&alice, "get", "ns1", "pods")),
        no_opinion(
            r#"RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "gone" not found]"#
        )
    );
    // Outside ns1 the RoleBinding is not consulted.
    assert_eq!(
        index.authorize(&request(&alice, "get", "ns2", "pods")),
        no_opinion(r#"RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found"#)
    );

    // A working binding still allows despite the broken ones.
    for (resource, obj) in cluster_admin() {
        index.apply(resource, &obj);
    }
    let (resource, obj) = binding(
        "",
        "alice-admin",
        "ClusterRole",
        "cluster-admin",
        json!([{"kind": "User", "name": "alice"}]),
    );
    index.apply(resource, &obj);
    assert_eq!(
        index.authorize(&request(&alice, "get", "ns1", "pods")),
        allow(
            r#"RBAC: allowed by ClusterRoleBinding "alice-admin" of ClusterRole "cluster-admin" to User "alice""#
        )
    );

    let unsupported = self::index(&[binding(
        "",
        "odd",
        "Thing",
        "x",
        json!([{"kind": "User", "name": "alice"}]),
    )]);
    assert_eq!(
        unsupported.authorize(&request(&alice, "get", "", "nodes")),
        no_opinion(r#"RBAC: unsupported role reference kind: "Thing""#)
    );
}

#[test]
fn rules_for_lists_cluster_and_namespace_rules_with_errors() {
    let index = index(&[
        role(
            "ClusterRole",
            "",
            "basic",
            json!([{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]),
        ),
        role(
            "Role",
            "ns1",
            "edit",
            json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"], "verbs": ["update"]}]),
        ),
        binding(
            "",
            "basic",
            "ClusterRole",
            "basic",
            json!([{"kind": "Group", "name": "system:authenticated"}]),
        ),
        binding(
            "ns1",
            "edit",
            "Role",
            "edit",
            json!([{"kind": "User", "name": "alice"}]),
        ),
        binding(
            "ns1",
            "broken",
            "Role",
            "nope",
            json!([{"kind": "User", "name": "alice"}]),
        ),
    ]);
    let alice = user("alice", &["system:authenticated"]);
    let (rules, errors) = index.rules_for(&alice, "ns1");
    let configmaps = PolicyRule {
        resource_names: Some(vec!["cfg".into()]),
        ..rule(&["update"], &[""], &["configmaps"])
    };
    assert_eq!(
        rules,
        vec![url_rule(&["get"], &["/healthz"]), configmaps.clone()]
    );
    assert_eq!(
        errors,
        vec![r#"role.rbac.authorization.k8s.io "nope" not found"#.to_string()]
    );

    let (rules, errors) = index.rules_for(&alice, "");
    assert_eq!(rules, vec![url_rule(&["get"], &["/healthz"])]);
    assert!(errors.is_empty());

    let status = index.rules_review(&alice, "ns1");
    assert_eq!(
        status.resource_rules,
        vec![ResourceRule {
            verbs: vec!["update".into()],
            api_groups: Some(vec!["".into()]),
            resources: Some(vec!["configmaps".into()]),
            resource_names: Some(vec!["cfg".into()]),
        }]
    );
    assert_eq!(
        status.non_resource_rules,
        vec![NonResourceRule {
            verbs: vec!["get".into()],
            non_resource_urls: Some(vec!["/healthz".into()]),
        }]
    );
    assert!(!status.incomplete);
    assert_eq!(
        status.evaluation_error.as_deref(),
        Some(r#"role.rbac.authorization.k8s.io "nope" not found"#)
    );
    assert_eq!(index.rules_review(&alice, "ns2").evaluation_error, None);
}

#[test]
fn covers_accepts_held_permissions() {
    let owner = vec![
        rule(
            &["get", "list", "watch"],
            &["", "apps"],
            &["pods", "deployments"],
        ),
        rule(&["update"], &["*"], &["*/scale"]),
        PolicyRule {
            resource_names: Some(vec!["a".into(), "b".into()]),
            ..rule(&["delete"], &[""], &["secrets"])
        },
        url_rule(&["get"], &["/logs/*"]),
    ];
    let requested = vec![
        rule(&["get", "watch"], &[""], &["pods"]),
        rule(&["update"], &["apps"], &["deployments/scale"]),
        PolicyRule {
            resource_names: Some(vec!["b".into()]),
            ..rule(&["delete"], &[""], &["secrets"])
        },
        url_rule(&["get"], &["/logs/kubelet"]),
    ];
    assert_eq!(covers(&owner, &requested), (true, vec![]));
    assert_eq!(covers(&full_authority(), &owner), (true, vec![]));
}

#[test]
fn covers_returns_the_broken_down_gaps() {
    let owner = vec![
        PolicyRule {
            resource_names: Some(vec!["a".into()]),
            ..rule(&["get"], &[""], &["secrets"])
        },
        url_rule(&["get"], &["/healthz"]),
    ];
    let requested = vec![
        // Named access does not cover the whole resource.
        rule(&["get", "list"], &[""], &["secrets"]),
        url_rule(&["get", "post"], &["/healthz", "/metrics"]),
    ];
    let (covered, missing) = covers(&owner, &requested);
    assert!(!covered);
    assert_eq!(
        missing,
        vec![
            rule(&["get"], &[""], &["secrets"]),
            rule(&["list"], &[""], &["secrets"]),
            url_rule(&["post"], &["/healthz"]),
            url_rule(&["get"], &["/metrics"]),
            url_rule(&["post"], &["/metrics"]),
        ]
    );
    assert_eq!(
        compact_rules(&missing),
        vec![
            url_rule(&["post"], &["/healthz"]),
            url_rule(&["get"], &["/metrics"]),
            url_rule(&["post"], &["/metrics"]),
            rule(&["get", "list"], &[""], &["secrets"]),
        ]
    );
}

#[test]
fn escalation_message_matches_upstream() {
    let alice = user("alice", &["system:authenticated"]);
    let owner = vec![rule(&["get"], &[""], &["pods"])];
    let requested = vec![
        rule(&["get", "list", "watch"], &[""], &["pods"]),
        rule(&["create"], &["apps"], &["deployments"]),
        PolicyRule {
            resource_names: Some(vec!["x".into()]),
            ..rule(&["get"], &[""], &["secrets"])
        },
        url_rule(&["get"], &["/metrics"]),
    ];
    let (_, missing) = covers(&owner, &requested);
    assert_eq!(
        escalation_message(&alice, &missing, &[]),
        "user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"list\" \"watch\"]}\n\
         {APIGroups:[\"\"], Resources:[\"secrets\"], ResourceNames:[\"x\"], Verbs:[\"get\"]}\n\
         {APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"create\"]}\n\
         {NonResourceURLs:[\"/metrics\"], Verbs:[\"get\"]}"
    );

    let errors = vec![
        r#"clusterroles.rbac.authorization.k8s.io "gone" not found"#.to_string(),
        r#"roles.rbac.authorization.k8s.io "old" not found"#.to_string(),
    ];
    let nobody = user("bob", &[]);
    let missing = vec![rule(&["get"], &[""], &["pods"])];
    assert_eq!(
        escalation_message(&nobody, &missing, &errors[..1]),
        "user \"bob\" (groups=[]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}; \
         resolution errors: [clusterroles.rbac.authorization.k8s.io \"gone\" not found]"
    );
    assert!(escalation_message(&nobody, &missing, &errors).ends_with(
        "; resolution errors: [[clusterroles.rbac.authorization.k8s.io \"gone\" not found, \
         roles.rbac.authorization.k8s.io \"old\" not found]]"
    ));
    assert_eq!(
        forbidden_message("roles", "r", "because"),
        r#"roles.rbac.authorization.k8s.io "r" is forbidden: because"#
    );
}

#[test]
fn confirm_no_escalation_uses_the_users_rules_in_the_namespace() {
    let index = index(&[
        role(
            "Role",
            "ns1",
            "pods",
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]),
        ),
        binding(
            "ns1",
            "pods",
            "Role",
            "pods",
            json!([{"kind": "User", "name": "alice"}]),
        ),
        binding(
            "",
            "broken",
            "ClusterRole",
            "gone",
            json!([{"kind": "User", "name": "alice"}]),
        ),
    ]);
    let alice = user("alice", &["system:authenticated"]);
    let requested = vec![rule(&["get"], &[""], &["pods"])];
    assert_eq!(
        index.confirm_no_escalation(&alice, "ns1", &requested),
        Ok(())
    );
    assert_eq!(
        index.confirm_no_escalation(&alice, "", &requested),
        Err("user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}; \
             resolution errors: [clusterroles.rbac.authorization.k8s.io \"gone\" not found]"
            .to_string())
    );
    assert_eq!(
        index.role_reference_rules("Role", "pods", "ns1"),
        Ok(vec![rule(&["get", "list"], &[""], &["pods"])])
    );
    let missing = index.role_reference_rules("ClusterRole", "gone", "");
    assert_eq!(
        missing.map_err(|e| e.registry_message()),
        Err(r#"clusterroles.rbac.authorization.k8s.io "gone" not found"#.to_string())
    );
    assert!(escalation_allowed(&user("root", &["system:masters"])));
    assert!(!escalation_allowed(&alice));
}

#[test]
fn index_updates_and_removals_take_effect() {
    let mut index = index(&[
        role(
            "Role",
            "ns1",
            "r",
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
        ),
        binding(
            "ns1",
            "b",
            "Role",
            "r",
            json!([{"kind": "User", "name": "alice"}]),
        ),
    ]);
    let alice = user("alice", &[]);
    let get = request(&alice, "get", "ns1", "pods");
    let delete = request(&alice, "delete", "ns1", "pods");
    assert_eq!(index.authorize(&get).0, Decision::Allow);
    assert_eq!(index.authorize(&delete).0, Decision::NoOpinion);

    // Replacing the role replaces its rules.
    let (resource, obj) = role(
        "Role",
        "ns1",
        "r",
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]),
    );
    index.apply(resource, &obj);
    assert_eq!(index.authorize(&get).0, Decision::NoOpinion);
    assert_eq!(index.authorize(&delete).0, Decision::Allow);

    // A same-named object in another namespace is a different object.
    index.remove("roles", "ns2", "r");
    assert_eq!(index.authorize(&delete).0, Decision::Allow);

    index.remove("roles", "ns1", "r");
    assert_eq!(
        index.authorize(&delete),
        no_opinion(r#"RBAC: role.rbac.authorization.k8s.io "r" not found"#)
    );
    index.remove("rolebindings", "ns1", "b");
    assert_eq!(index.authorize(&delete), no_opinion(""));

    for (resource, obj) in cluster_admin() {
        index.apply(resource, &obj);
    }
    let root = user("root", &["system:masters"]);
    assert_eq!(
        index.authorize(&request(&root, "get", "", "nodes")).0,
        Decision::Allow
    );
    index.remove("clusterrolebindings", "", "cluster-admin");
    assert_eq!(
        index.authorize(&request(&root, "get", "", "nodes")).0,
        Decision::NoOpinion
    );
    index.apply("secrets", &json!({"metadata": {"name": "ignored"}}));
    index.clear();
    assert_eq!(index.rules_for(&root, "ns1"), (vec![], vec![]));
}

#[test]
fn compact_string_names_only_present_fields() {
    let full = PolicyRule {
        verbs: vec!["get".into(), "list".into()],
        api_groups: Some(vec!["".into(), "apps".into()]),
        resources: Some(vec!["pods".into()]),
        resource_names: Some(vec!["a".into()]),
        non_resource_urls: Some(vec!["/x".into()]),
    };
    assert_eq!(
        compact_string(&full),
        r#"{APIGroups:["" "apps"], Resources:["pods"], NonResourceURLs:["/x"], ResourceNames:["a"], Verbs:["get" "list"]}"#
    );
    assert_eq!(compact_string(&PolicyRule::default()), "{}");
    assert_eq!(
        breakdown_rule(&rule(&["get"], &[], &["pods"])),
        Vec::<PolicyRule>::new(),
        "a resource rule without groups breaks down to nothing, as upstream's"
    );
}
