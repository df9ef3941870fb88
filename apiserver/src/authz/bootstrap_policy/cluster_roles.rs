//! The general ClusterRoles and ClusterRoleBindings (upstream's `policy.go`: `ClusterRoles()`
//! and `ClusterRoleBindings()`), as a v1.33 server with default feature gates creates them.
//!
//! Left out because their feature gates are off by default in v1.33: the `resource.k8s.io`
//! rules of `system:aggregate-to-{edit,view}`, `system:node` and `system:kube-scheduler`
//! (DynamicResourceAllocation, DRADeviceTaints), `system:cluster-trust-bundle-discovery` and its
//! binding plus the node's `clustertrustbundles` rule (ClusterTrustBundle), the node's
//! `serviceaccounts` get (KubeletServiceAccountTokenForCredentialProviders), and the
//! `/flagz` and `/statusz` URLs of `system:monitoring` (ComponentFlagz, ComponentStatusz).
//! Kept because their gates are on: the kubelet-api-admin `nodes/{configz,healthz,pods}` rule
//! (KubeletFineGrainedAuthz, beta) and the node-proxier `servicecidrs` rule
//! (MultiCIDRServiceAllocator, GA).
//!
//! ```ignore
//! let roles = cluster_roles();
//! assert_eq!(roles[1]["metadata"]["name"], "cluster-admin");
//! ```

use serde_json::Value;

use super::builder::*;

/// In the order of upstream's fixture (by name). Rules keep upstream's order; within a rule
/// lists are sorted by [`Rule::to_json`].
// Tables read one rule per line, as upstream's policy does; rustfmt would spread each
// builder chain over several lines.
#[rustfmt::skip]
pub(super) fn cluster_roles() -> Vec<Value> {
    vec![
        aggregated_from("admin", "admin", &[]),
        cluster_role("cluster-admin", vec![
            rule(&["*"]).groups(&["*"]).resources(&["*"]),
            rule(&["*"]).urls(&["*"]),
        ]),
        aggregated_from("edit", "edit", &["admin"]),
        aggregated_into("system:aggregate-to-admin", &["admin"], vec![
            rule(&["create"]).groups(&[AUTHORIZATION]).resources(&["localsubjectaccessreviews"]),
            rule(READ_WRITE).groups(&[RBAC]).resources(&["rolebindings", "roles"]),
        ]),
        aggregated_into("system:aggregate-to-edit", &["edit"], vec![
            rule(READ).groups(&[CORE]).resources(&["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
            rule(&["impersonate"]).groups(&[CORE]).resources(&["serviceaccounts"]),
            rule(WRITE).groups(&[CORE]).resources(&["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
            rule(&["create"]).groups(&[CORE]).resources(&["pods/eviction"]),
            rule(WRITE).groups(&[CORE]).resources(&["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"]),
            rule(&["create"]).groups(&[CORE]).resources(&["serviceaccounts/token"]),
            rule(WRITE).groups(&[APPS]).resources(&["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"]),
            rule(WRITE).groups(&[AUTOSCALING]).resources(&["horizontalpodautoscalers"]),
            rule(WRITE).groups(&[BATCH]).resources(&["cronjobs", "jobs"]),
            rule(WRITE).groups(&[EXTENSIONS]).resources(&["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses", "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"]),
            rule(WRITE).groups(&[POLICY]).resources(&["poddisruptionbudgets"]),
            rule(WRITE).groups(&[NETWORKING]).resources(&["ingresses", "networkpolicies"]),
            rule(READ_WRITE).groups(&[COORDINATION]).resources(&["leases"]),
        ]),
        aggregated_into("system:aggregate-to-view", &["view"], vec![
            rule(READ).groups(&[CORE]).resources(&["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"]),
            rule(READ).groups(&[CORE]).resources(&["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"]),
            // Reading namespaces at namespace scope means reading *this* namespace.
            rule(READ).groups(&[CORE]).resources(&["namespaces"]),
            rule(READ).groups(&[DISCOVERY]).resources(&["endpointslices"]),
            rule(READ).groups(&[APPS]).resources(&["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"]),
            rule(READ).groups(&[AUTOSCALING]).resources(&["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            rule(READ).groups(&[BATCH]).resources(&["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
            rule(READ).groups(&[EXTENSIONS]).resources(&["daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale"]),
            rule(READ).groups(&[POLICY]).resources(&["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            rule(READ).groups(&[NETWORKING]).resources(&["ingresses", "ingresses/status", "networkpolicies"]),
        ]),
        cluster_role("system:auth-delegator", vec![
            rule(&["create"]).groups(&[AUTHENTICATION]).resources(&["tokenreviews"]),
            rule(&["create"]).groups(&[AUTHORIZATION]).resources(&["subjectaccessreviews"]),
        ]),
        cluster_role("system:basic-user", vec![
            rule(&["create"]).groups(&[AUTHORIZATION]).resources(&["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(&["create"]).groups(&[AUTHENTICATION]).resources(&["selfsubjectreviews"]),
        ]),
        cluster_role("system:certificates.k8s.io:certificatesigningrequests:nodeclient", vec![
            rule(&["create"]).groups(&[CERTIFICATES]).resources(&["certificatesigningrequests/nodeclient"]),
        ]),
        cluster_role("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", vec![
            rule(&["create"]).groups(&[CERTIFICATES]).resources(&["certificatesigningrequests/selfnodeclient"]),
        ]),
        signer_approver("kube-apiserver-client-approver", "kubernetes.io/kube-apiserver-client"),
        signer_approver("kube-apiserver-client-kubelet-approver", "kubernetes.io/kube-apiserver-client-kubelet"),
        signer_approver("kubelet-serving-approver", "kubernetes.io/kubelet-serving"),
        signer_approver("legacy-unknown-approver", "kubernetes.io/legacy-unknown"),
        cluster_role("system:discovery", vec![
            rule(&["get"]).urls(&["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]),
        ]),
        cluster_role("system:heapster", vec![
            rule(READ).groups(&[CORE]).resources(&["events", "namespaces", "nodes", "pods"]),
            rule(READ).groups(&[EXTENSIONS]).resources(&["deployments"]),
        ]),
        cluster_role("system:kube-aggregator", vec![
            rule(READ).groups(&[CORE]).resources(&["endpoints", "services"]),
        ]),
        cluster_role("system:kube-controller-manager", vec![
            events_rule(),
            // Leader election.
            rule(&["create"]).groups(&[COORDINATION]).resources(&["leases"]),
            rule(&["get", "update"]).groups(&[COORDINATION]).resources(&["leases"]).names(&["kube-controller-manager"]),
            rule(&["create"]).groups(&[CORE]).resources(&["secrets", "serviceaccounts"]),
            rule(&["delete"]).groups(&[CORE]).resources(&["secrets"]),
            rule(&["get"]).groups(&[CORE]).resources(&["configmaps", "namespaces", "secrets", "serviceaccounts"]),
            rule(&["update"]).groups(&[CORE]).resources(&["secrets", "serviceaccounts"]),
            rule(&["create"]).groups(&[AUTHENTICATION]).resources(&["tokenreviews"]),
            rule(&["create"]).groups(&[AUTHORIZATION]).resources(&["subjectaccessreviews"]),
            // Every shared informer.
            rule(&["list", "watch"]).groups(&["*"]).resources(&["*"]),
            rule(&["create"]).groups(&[CORE]).resources(&["serviceaccounts/token"]),
        ]),
        cluster_role("system:kube-dns", vec![
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["endpoints", "services"]),
        ]),
        cluster_role("system:kube-scheduler", vec![
            events_rule(),
            // Leader election.
            rule(&["create"]).groups(&[COORDINATION]).resources(&["leases"]),
            rule(&["get", "list", "update", "watch"]).groups(&[COORDINATION]).resources(&["leases"]).names(&["kube-scheduler"]),
            rule(READ_WRITE).groups(&[COORDINATION]).resources(&["leasecandidates"]),
            rule(READ).groups(&[CORE]).resources(&["nodes"]),
            rule(&["delete", "get", "list", "watch"]).groups(&[CORE]).resources(&["pods"]),
            rule(&["create"]).groups(&[CORE]).resources(&["bindings", "pods/binding"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["pods/status"]),
            // Things that select pods.
            rule(READ).groups(&[CORE]).resources(&["replicationcontrollers", "services"]),
            rule(READ).groups(&[APPS, EXTENSIONS]).resources(&["replicasets"]),
            rule(READ).groups(&[APPS]).resources(&["statefulsets"]),
            // Things pods use or that apply to them.
            rule(READ).groups(&[POLICY]).resources(&["poddisruptionbudgets"]),
            rule(READ).groups(&[CORE]).resources(&["persistentvolumeclaims", "persistentvolumes"]),
            rule(&["create"]).groups(&[AUTHENTICATION]).resources(&["tokenreviews"]),
            rule(&["create"]).groups(&[AUTHORIZATION]).resources(&["subjectaccessreviews"]),
            // Volume limits.
            rule(READ).groups(&[STORAGE]).resources(&["csinodes"]),
            rule(READ).groups(&[STORAGE]).resources(&["volumeattachments"]),
            // Pod affinity's namespaceSelector.
            rule(READ).groups(&[CORE]).resources(&["namespaces"]),
            rule(READ).groups(&[STORAGE]).resources(&["csidrivers"]),
            rule(READ).groups(&[STORAGE]).resources(&["csistoragecapacities"]),
        ]),
        cluster_role("system:kubelet-api-admin", vec![
            rule(READ).groups(&[CORE]).resources(&["nodes"]),
            rule(&["proxy"]).groups(&[CORE]).resources(&["nodes"]),
            rule(&["*"]).groups(&[CORE]).resources(&["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"]),
            rule(&["*"]).groups(&[CORE]).resources(&["nodes/configz", "nodes/healthz", "nodes/pods"]),
        ]),
        cluster_role("system:monitoring", vec![
            rule(&["get"]).urls(&["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"]),
        ]),
        cluster_role("system:node", vec![
            // Checking API access; these creates do not mutate.
            rule(&["create"]).groups(&[AUTHENTICATION]).resources(&["tokenreviews"]),
            rule(&["create"]).groups(&[AUTHORIZATION]).resources(&["localsubjectaccessreviews", "subjectaccessreviews"]),
            // Service environment variables.
            rule(READ).groups(&[CORE]).resources(&["services"]),
            // The NodeRestriction admission plugin limits a node to its own Node object.
            rule(&["create", "get", "list", "watch"]).groups(&[CORE]).resources(&["nodes"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["nodes/status"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["nodes"]),
            rule(&["create", "patch", "update"]).groups(&[CORE]).resources(&["events"]),
            rule(READ).groups(&[CORE]).resources(&["pods"]),
            // Mirror pods.
            rule(&["create", "delete"]).groups(&[CORE]).resources(&["pods"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["pods/status"]),
            rule(&["create"]).groups(&[CORE]).resources(&["pods/eviction"]),
            // The Node authorizer narrows these to what the node's pods reference.
            rule(READ).groups(&[CORE]).resources(&["configmaps", "secrets"]),
            rule(&["get"]).groups(&[CORE]).resources(&["persistentvolumeclaims", "persistentvolumes"]),
            rule(&["get"]).groups(&[CORE]).resources(&["endpoints"]),
            // Client certificate rotation.
            rule(&["create", "get", "list", "watch"]).groups(&[CERTIFICATES]).resources(&["certificatesigningrequests"]),
            rule(&["create", "delete", "get", "patch", "update"]).groups(&[COORDINATION]).resources(&["leases"]),
            rule(&["get"]).groups(&[STORAGE]).resources(&["volumeattachments"]),
            rule(&["create"]).groups(&[CORE]).resources(&["serviceaccounts/token"]),
            rule(&["get", "patch", "update"]).groups(&[CORE]).resources(&["persistentvolumeclaims/status"]),
            rule(READ).groups(&[STORAGE]).resources(&["csidrivers"]),
            rule(&["create", "delete", "get", "patch", "update"]).groups(&[STORAGE]).resources(&["csinodes"]),
            rule(READ).groups(&[NODE]).resources(&["runtimeclasses"]),
        ]),
        cluster_role("system:node-bootstrapper", vec![
            rule(&["create", "get", "list", "watch"]).groups(&[CERTIFICATES]).resources(&["certificatesigningrequests"]),
        ]),
        cluster_role("system:node-problem-detector", vec![
            rule(&["get"]).groups(&[CORE]).resources(&["nodes"]),
            rule(&["patch"]).groups(&[CORE]).resources(&["nodes/status"]),
            events_rule(),
        ]),
        cluster_role("system:node-proxier", vec![
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["endpoints", "services"]),
            rule(READ).groups(&[CORE]).resources(&["nodes"]),
            events_rule(),
            rule(&["list", "watch"]).groups(&[NETWORKING]).resources(&["servicecidrs"]),
            rule(&["list", "watch"]).groups(&[DISCOVERY]).resources(&["endpointslices"]),
        ]),
        cluster_role("system:persistent-volume-provisioner", vec![
            rule(&["create", "delete", "get", "list", "watch"]).groups(&[CORE]).resources(&["persistentvolumes"]),
            // Update sets the lock annotation on claims.
            rule(&["get", "list", "update", "watch"]).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
            rule(READ).groups(&[STORAGE]).resources(&["storageclasses"]),
            // Watching for provisioning success and failure events.
            rule(&["watch"]).groups(&[CORE]).resources(&["events"]),
            events_rule(),
        ]),
        cluster_role("system:public-info-viewer", vec![
            rule(&["get"]).urls(&["/healthz", "/livez", "/readyz", "/version", "/version/"]),
        ]),
        // The trailing-slash URLs keep clients generated from older OpenAPI documents working.
        cluster_role("system:service-account-issuer-discovery", vec![
            rule(&["get"]).urls(&["/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"]),
        ]),
        cluster_role("system:volume-scheduler", vec![
            rule(READ_UPDATE).groups(&[CORE]).resources(&["persistentvolumes"]),
            rule(READ).groups(&[STORAGE]).resources(&["storageclasses"]),
            rule(READ_UPDATE).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
        ]),
        aggregated_from("view", "view", &["edit"]),
    ]
}

fn signer_approver(role: &str, signer: &str) -> Value {
    cluster_role(
        &format!("system:certificates.k8s.io:{role}"),
        vec![
            rule(&["approve"])
                .groups(&[CERTIFICATES])
                .resources(&["signers"])
                .names(&[signer]),
        ],
    )
}

/// In the order of upstream's fixture (by name).
pub(super) fn cluster_role_bindings() -> Vec<Value> {
    use Subject::{Group, ServiceAccount, User};
    vec![
        cluster_role_binding("cluster-admin", &[Group("system:masters")]),
        cluster_role_binding("system:basic-user", &[Group("system:authenticated")]),
        cluster_role_binding("system:discovery", &[Group("system:authenticated")]),
        cluster_role_binding(
            "system:kube-controller-manager",
            &[User("system:kube-controller-manager")],
        ),
        cluster_role_binding(
            "system:kube-dns",
            &[ServiceAccount("kube-system", "kube-dns")],
        ),
        cluster_role_binding("system:kube-scheduler", &[User("system:kube-scheduler")]),
        cluster_role_binding("system:monitoring", &[Group("system:monitoring")]),
        // Bound to nobody since the Node authorizer (1.7); kept so reconciliation can empty
        // bindings of old clusters.
        cluster_role_binding("system:node", &[]),
        cluster_role_binding("system:node-proxier", &[User("system:kube-proxy")]),
        cluster_role_binding(
            "system:public-info-viewer",
            &[
                Group("system:authenticated"),
                Group("system:unauthenticated"),
            ],
        ),
        // Service accounts may read the OIDC discovery documents of their own issuer.
        cluster_role_binding(
            "system:service-account-issuer-discovery",
            &[Group("system:serviceaccounts")],
        ),
        cluster_role_binding("system:volume-scheduler", &[User("system:kube-scheduler")]),
    ]
}
