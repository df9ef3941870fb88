use super::*;
use crate::authn::user::UserInfo;
use crate::authz::feed::Index;
use serde_json::json;

fn node_user(name: &str) -> UserInfo {
    UserInfo {
        name: format!("{NODE_USER_PREFIX}{name}"),
        groups: vec![NODES_GROUP.into(), "system:authenticated".into()],
        ..Default::default()
    }
}

fn request(
    user: UserInfo,
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
    name: &str,
) -> Attributes {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    Attributes {
        user,
        verb: verb.into(),
        resource_request: true,
        namespace: ns.into(),
        api_group: group.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// An authorizer whose graph has pod `ns/web` on node `a`, using secret `creds`, config map
/// `settings`, claim `data` (bound to volume `pv1`, which mounts with secret `stage`) and
/// service account `runner`; and attachment `va1` on `a`.
fn authorizer() -> NodeAuthorizer {
    let authz = NodeAuthorizer::default();
    {
        let mut g = authz.graph().write().unwrap();
        g.apply(
            "pods",
            &json!({
                "metadata": {"name": "web", "namespace": "ns"},
                "spec": {"nodeName": "a", "serviceAccountName": "runner", "volumes": [
                    {"name": "s", "secret": {"secretName": "creds"}},
                    {"name": "c", "configMap": {"name": "settings"}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}
                ]}
            }),
        );
        g.apply(
            "persistentvolumes",
            &json!({"metadata": {"name": "pv1"}, "spec": {
                "claimRef": {"namespace": "ns", "name": "data"},
                "csi": {"driver": "d", "volumeHandle": "h", "nodeStageSecretRef": {"name": "stage"}}
            }}),
        );
        g.apply(
            "volumeattachments",
            &json!({"metadata": {"name": "va1"}, "spec": {"nodeName": "a"}}),
        );
    }
    authz
}

fn decide(
    authz: &NodeAuthorizer,
    node: &str,
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
    name: &str,
) -> (Decision, String) {
    authz.authorize(&request(node_user(node), verb, group, resource, ns, name))
}

#[test]
fn a_node_reads_what_its_pods_use_and_nothing_else() {
    let authz = authorizer();
    let allowed = |node, verb, group, resource, ns, name| {
        decide(&authz, node, verb, group, resource, ns, name).0 == Decision::Allow
    };
    assert!(allowed("a", "get", "", "secrets", "ns", "creds"));
    assert!(allowed("a", "watch", "", "secrets", "ns", "creds"));
    assert!(allowed("a", "get", "", "configmaps", "ns", "settings"));
    assert!(allowed(
        "a",
        "get",
        "",
        "persistentvolumeclaims",
        "ns",
        "data"
    ));
    assert!(allowed("a", "get", "", "persistentvolumes", "", "pv1"));
    assert!(
        allowed("a", "get", "", "secrets", "ns", "stage"),
        "a volume's secret"
    );
    assert!(allowed(
        "a",
        "create",
        "",
        "serviceaccounts/token",
        "ns",
        "runner"
    ));
    assert!(allowed(
        "a",
        "get",
        "storage.k8s.io",
        "volumeattachments",
        "",
        "va1"
    ));
    assert!(allowed("a", "get", "", "pods", "ns", "web"));
    // Another node, another name, another namespace.
    assert!(!allowed("b", "get", "", "secrets", "ns", "creds"));
    assert!(!allowed("a", "get", "", "secrets", "ns", "other"));
    assert!(!allowed("a", "get", "", "secrets", "other", "creds"));
    assert!(!allowed("b", "get", "", "pods", "ns", "web"));
    assert!(!allowed(
        "b",
        "get",
        "storage.k8s.io",
        "volumeattachments",
        "",
        "va1"
    ));
    assert_eq!(
        decide(&authz, "b", "get", "", "secrets", "ns", "creds"),
        (
            Decision::NoOpinion,
            "no relationship found between node 'b' and this object".to_string()
        )
    );
}

#[test]
fn refusals_say_why_as_upstreams() {
    let authz = authorizer();
    let reason =
        |verb, group, resource, ns, name| decide(&authz, "a", verb, group, resource, ns, name).1;
    assert_eq!(
        reason("list", "", "secrets", "ns", ""),
        "No Object name found"
    );
    assert_eq!(
        reason("delete", "", "secrets", "ns", "creds"),
        "can only read resources of this type"
    );
    assert_eq!(
        reason("get", "", "secrets", "", "creds"),
        "can only read namespaced object of this type"
    );
    assert_eq!(
        reason("list", "", "persistentvolumes", "", ""),
        "can only get individual resources of this type"
    );
    assert_eq!(
        reason("get", "", "persistentvolumeclaims/status", "ns", "data"),
        "can only get/update/patch this type"
    );
    assert_eq!(
        reason("get", "", "serviceaccounts", "ns", "runner"),
        "can only create tokens for individual service accounts"
    );
    assert_eq!(
        reason("list", "", "pods", "", ""),
        "can only list/watch pods with spec.nodeName field selector"
    );
    assert_eq!(
        reason("list", "", "nodes", "", ""),
        "node 'a' cannot read all nodes, only its own Node object"
    );
    assert_eq!(
        reason("get", "", "nodes", "", "b"),
        "node 'a' cannot read 'b', only its own Node object"
    );
    assert_eq!(
        reason("get", "coordination.k8s.io", "leases", "default", "a"),
        "can only access leases in the \"kube-node-lease\" system namespace"
    );
    assert_eq!(
        reason(
            "update",
            "coordination.k8s.io",
            "leases",
            "kube-node-lease",
            "b"
        ),
        "can only access node lease with the same name as the requesting node"
    );
    assert_eq!(
        reason("list", "storage.k8s.io", "csinodes", "", ""),
        "can only get, create, update, patch, or delete a CSINode"
    );
}

#[test]
fn own_objects_pods_by_node_and_the_node_role() {
    let authz = authorizer();
    let allowed = |attrs: &Attributes| authz.authorize(attrs).0 == Decision::Allow;
    let a =
        |verb, group, resource, ns, name| request(node_user("a"), verb, group, resource, ns, name);
    assert!(allowed(&a("get", "", "nodes", "", "a")));
    assert!(
        allowed(&a("watch", "", "nodes", "", "a")),
        "by metadata.name"
    );
    assert!(allowed(&a("patch", "", "nodes/status", "", "a")));
    assert!(!allowed(&a("delete", "", "nodes", "", "a")));
    assert!(allowed(&a(
        "update",
        "coordination.k8s.io",
        "leases",
        "kube-node-lease",
        "a"
    )));
    assert!(allowed(&a(
        "create",
        "coordination.k8s.io",
        "leases",
        "kube-node-lease",
        ""
    )));
    assert!(allowed(&a("get", "storage.k8s.io", "csinodes", "", "a")));
    assert!(!allowed(&a("get", "storage.k8s.io", "csinodes", "", "b")));
    // Pods of the node by field selector; mirror pods and status are admission's to limit.
    let mut list = a("list", "", "pods", "", "");
    list.field_selector = apimachinery::fields::Selector::parse("spec.nodeName=a").ok();
    assert!(allowed(&list));
    list.field_selector = apimachinery::fields::Selector::parse("spec.nodeName=b").ok();
    assert!(!allowed(&list));
    list.field_selector = apimachinery::fields::Selector::parse("spec.nodeName!=a").ok();
    assert!(!allowed(&list));
    assert!(allowed(&a("create", "", "pods", "ns", "")));
    assert!(allowed(&a("update", "", "pods/status", "ns", "web")));
    assert!(allowed(&a("create", "", "pods/eviction", "ns", "web")));
    assert!(!allowed(&a("get", "", "pods/log", "ns", "web")));
    // The system:node role: services, events, reviews, CSRs; not everything.
    assert!(allowed(&a("list", "", "services", "", "")));
    assert!(allowed(&a("create", "", "events", "ns", "")));
    assert!(allowed(&a(
        "create",
        "authentication.k8s.io",
        "tokenreviews",
        "",
        ""
    )));
    assert!(allowed(&a(
        "create",
        "certificates.k8s.io",
        "certificatesigningrequests",
        "",
        ""
    )));
    assert!(!allowed(&a("list", "apps", "deployments", "", "")));
    assert!(!allowed(&a("get", "", "namespaces", "", "ns")));
}

#[test]
fn only_node_users_are_judged() {
    let authz = authorizer();
    let mut not_a_node = request(node_user("a"), "get", "", "secrets", "ns", "creds");
    not_a_node.user.groups.clear();
    assert_eq!(
        authz.authorize(&not_a_node),
        (Decision::NoOpinion, String::new())
    );
    let mut nameless = request(node_user(""), "get", "", "secrets", "ns", "creds");
    nameless.user.name = NODE_USER_PREFIX.into();
    assert_eq!(
        authz.authorize(&nameless),
        (
            Decision::NoOpinion,
            "unknown node for user \"system:node:\"".to_string()
        )
    );
}
