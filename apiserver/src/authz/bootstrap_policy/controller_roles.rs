//! The roles of the kube-controller-manager's controllers (upstream's `controller_policy.go`):
//! with `--use-service-account-credentials` each controller runs as ServiceAccount
//! `kube-system/<name>` and holds ClusterRole `system:controller:<name>` through a
//! ClusterRoleBinding of the same name.
//!
//! Left out because their feature gates are off by default in v1.33: resource-claim-controller
//! and device-taint-eviction-controller (DynamicResourceAllocation, DRADeviceTaints),
//! kube-apiserver-serving-clustertrustbundle-publisher (ClusterTrustBundle),
//! volumeattributesclass-protection-controller (VolumeAttributesClass),
//! storage-version-garbage-collector (StorageVersionAPI, APIServerIdentity) and
//! storage-version-migrator-controller (StorageVersionMigrator). Kept because their gates are
//! on: selinux-warning-controller (SELinuxChangePolicy, beta) and service-cidrs-controller
//! (MultiCIDRServiceAllocator, GA).
//!
//! ```ignore
//! let (name, rules) = &controller_roles()[0];
//! assert_eq!(*name, "attachdetach-controller");
//! ```

use super::builder::*;

/// The ServiceAccount (and role suffix) of each controller with its rules, in the order of
/// upstream's fixture (by name).
// Tables read one rule per line, as upstream's policy does; rustfmt would spread each
// builder chain over several lines.
#[rustfmt::skip]
pub(super) fn controller_roles() -> Vec<(&'static str, Vec<Rule>)> {
    vec![
        ("attachdetach-controller", vec![
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["persistentvolumeclaims", "persistentvolumes"]),
            rule(READ).groups(&[CORE]).resources(&["nodes"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["nodes/status"]),
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["pods"]),
            events_rule(),
            rule(&["create", "delete", "get", "list", "watch"]).groups(&[STORAGE]).resources(&["volumeattachments"]),
            rule(READ).groups(&[STORAGE]).resources(&["csidrivers"]),
            rule(READ).groups(&[STORAGE]).resources(&["csinodes"]),
        ]),
        ("certificate-controller", vec![
            rule(&["delete", "get", "list", "watch"]).groups(&[CERTIFICATES]).resources(&["certificatesigningrequests"]),
            rule(&["update"]).groups(&[CERTIFICATES]).resources(&["certificatesigningrequests/approval", "certificatesigningrequests/status"]),
            rule(&["approve"]).groups(&[CERTIFICATES]).resources(&["signers"]).names(&["kubernetes.io/kube-apiserver-client-kubelet"]),
            rule(&["sign"]).groups(&[CERTIFICATES]).resources(&["signers"]).names(&["kubernetes.io/kube-apiserver-client", "kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kubelet-serving", "kubernetes.io/legacy-unknown"]),
            rule(&["create"]).groups(&[AUTHORIZATION]).resources(&["subjectaccessreviews"]),
            events_rule(),
        ]),
        // Full power over clusterroles, so that it may write any aggregate.
        ("clusterrole-aggregation-controller", vec![
            rule(&["escalate", "get", "list", "patch", "update", "watch"]).groups(&[RBAC]).resources(&["clusterroles"]),
        ]),
        ("cronjob-controller", vec![
            rule(&["get", "list", "update", "watch"]).groups(&[BATCH]).resources(&["cronjobs"]),
            rule(&["create", "delete", "get", "list", "patch", "update", "watch"]).groups(&[BATCH]).resources(&["jobs"]),
            rule(&["update"]).groups(&[BATCH]).resources(&["cronjobs/status"]),
            rule(&["update"]).groups(&[BATCH]).resources(&["cronjobs/finalizers"]),
            rule(&["delete", "list", "watch"]).groups(&[CORE]).resources(&["pods"]),
            events_rule(),
        ]),
        ("daemon-set-controller", vec![
            rule(READ).groups(&[APPS, EXTENSIONS]).resources(&["daemonsets"]),
            rule(&["update"]).groups(&[APPS, EXTENSIONS]).resources(&["daemonsets/status"]),
            rule(&["update"]).groups(&[APPS, EXTENSIONS]).resources(&["daemonsets/finalizers"]),
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["nodes"]),
            rule(&["create", "delete", "list", "patch", "watch"]).groups(&[CORE]).resources(&["pods"]),
            rule(&["create"]).groups(&[CORE]).resources(&["pods/binding"]),
            rule(&["create", "delete", "get", "list", "patch", "update", "watch"]).groups(&[APPS]).resources(&["controllerrevisions"]),
            events_rule(),
        ]),
        ("deployment-controller", vec![
            rule(&["get", "list", "update", "watch"]).groups(&[APPS, EXTENSIONS]).resources(&["deployments"]),
            rule(&["update"]).groups(&[APPS, EXTENSIONS]).resources(&["deployments/status"]),
            rule(&["update"]).groups(&[APPS, EXTENSIONS]).resources(&["deployments/finalizers"]),
            rule(&["create", "delete", "get", "list", "patch", "update", "watch"]).groups(&[APPS, EXTENSIONS]).resources(&["replicasets"]),
            // Upstream still grants pod updates (kubernetes#36897).
            rule(&["get", "list", "update", "watch"]).groups(&[CORE]).resources(&["pods"]),
            events_rule(),
        ]),
        ("disruption-controller", vec![
            rule(READ).groups(&[APPS, EXTENSIONS]).resources(&["deployments"]),
            rule(READ).groups(&[APPS, EXTENSIONS]).resources(&["replicasets"]),
            rule(READ).groups(&[CORE]).resources(&["replicationcontrollers"]),
            rule(READ).groups(&[POLICY]).resources(&["poddisruptionbudgets"]),
            rule(READ).groups(&[APPS]).resources(&["statefulsets"]),
            rule(&["update"]).groups(&[POLICY]).resources(&["poddisruptionbudgets/status"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["pods/status"]),
            rule(&["get"]).groups(&["*"]).resources(&["*/scale"]),
            events_rule(),
        ]),
        ("endpoint-controller", vec![
            rule(READ).groups(&[CORE]).resources(&["pods", "services"]),
            rule(&["create", "delete", "get", "list", "update", "watch"]).groups(&[CORE]).resources(&["endpoints"]),
            rule(&["create"]).groups(&[CORE]).resources(&["endpoints/restricted"]),
            events_rule(),
        ]),
        ("endpointslice-controller", vec![
            rule(READ).groups(&[CORE]).resources(&["nodes", "pods", "services"]),
            // Owner references with blockOwnerDeletion need the owner's finalizers.
            rule(&["update"]).groups(&[CORE]).resources(&["services/finalizers"]),
            rule(&["create", "delete", "get", "list", "update", "watch"]).groups(&[DISCOVERY]).resources(&["endpointslices"]),
            events_rule(),
        ]),
        ("endpointslicemirroring-controller", vec![
            rule(READ).groups(&[CORE]).resources(&["endpoints", "services"]),
            rule(&["update"]).groups(&[CORE]).resources(&["services/finalizers"]),
            rule(&["update"]).groups(&[CORE]).resources(&["endpoints/finalizers"]),
            rule(&["create", "delete", "get", "list", "update", "watch"]).groups(&[DISCOVERY]).resources(&["endpointslices"]),
            events_rule(),
        ]),
        ("ephemeral-volume-controller", vec![
            rule(READ).groups(&[CORE]).resources(&["pods"]),
            rule(&["update"]).groups(&[CORE]).resources(&["pods/finalizers"]),
            rule(&["create", "get", "list", "watch"]).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
            events_rule(),
        ]),
        ("expand-controller", vec![
            rule(&["get", "list", "patch", "update", "watch"]).groups(&[CORE]).resources(&["persistentvolumes"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["persistentvolumeclaims/status"]),
            rule(READ).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
            events_rule(),
        ]),
        // List, watch, selective gets and updates of every resource.
        ("generic-garbage-collector", vec![
            rule(&["delete", "get", "list", "patch", "update", "watch"]).groups(&["*"]).resources(&["*"]),
            events_rule(),
        ]),
        ("horizontal-pod-autoscaler", vec![
            rule(READ).groups(&[AUTOSCALING]).resources(&["horizontalpodautoscalers"]),
            rule(&["update"]).groups(&[AUTOSCALING]).resources(&["horizontalpodautoscalers/status"]),
            rule(&["get", "update"]).groups(&["*"]).resources(&["*/scale"]),
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["pods"]),
            // Resource, custom and external metrics.
            rule(&["list", "watch"]).groups(&[METRICS]).resources(&["pods"]),
            rule(READ).groups(&[CUSTOM_METRICS]).resources(&["*"]),
            rule(READ).groups(&[EXTERNAL_METRICS]).resources(&["*"]),
            events_rule(),
        ]),
        ("job-controller", vec![
            rule(&["get", "list", "patch", "update", "watch"]).groups(&[BATCH]).resources(&["jobs"]),
            rule(&["update"]).groups(&[BATCH]).resources(&["jobs/status"]),
            rule(&["update"]).groups(&[BATCH]).resources(&["jobs/finalizers"]),
            rule(&["create", "delete", "list", "patch", "watch"]).groups(&[CORE]).resources(&["pods"]),
            events_rule(),
        ]),
        ("legacy-service-account-token-cleaner", vec![
            rule(&["get"]).groups(&[CORE]).resources(&["configmaps"]).names(&["kube-apiserver-legacy-service-account-token-tracking"]),
            rule(&["delete", "patch"]).groups(&[CORE]).resources(&["secrets"]),
        ]),
        ("namespace-controller", vec![
            rule(&["delete", "get", "list", "watch"]).groups(&[CORE]).resources(&["namespaces"]),
            rule(&["update"]).groups(&[CORE]).resources(&["namespaces/finalize", "namespaces/status"]),
            rule(&["delete", "deletecollection", "get", "list", "watch"]).groups(&["*"]).resources(&["*"]),
        ]),
        ("node-controller", vec![
            rule(&["delete", "get", "list", "patch", "update", "watch"]).groups(&[CORE]).resources(&["nodes"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["nodes/status"]),
            // Marking pods not ready and evicting them.
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["pods/status"]),
            rule(&["delete", "get", "list", "watch"]).groups(&[CORE]).resources(&["pods"]),
            events_rule(),
        ]),
        ("persistent-volume-binder", vec![
            rule(&["create", "delete", "get", "list", "update", "watch"]).groups(&[CORE]).resources(&["persistentvolumes"]),
            rule(&["update"]).groups(&[CORE]).resources(&["persistentvolumes/status"]),
            rule(&["get", "list", "update", "watch"]).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
            rule(&["update"]).groups(&[CORE]).resources(&["persistentvolumeclaims/status"]),
            rule(&["create", "delete", "get", "list", "watch"]).groups(&[CORE]).resources(&["pods"]),
            rule(READ).groups(&[STORAGE]).resources(&["storageclasses"]),
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["nodes"]),
            events_rule(),
            // The recycler watches its pod's events.
            rule(&["watch"]).groups(&[CORE]).resources(&["events"]),
        ]),
        ("pod-garbage-collector", vec![
            rule(&["delete", "list", "watch"]).groups(&[CORE]).resources(&["pods"]),
            rule(READ).groups(&[CORE]).resources(&["nodes"]),
            rule(&["patch"]).groups(&[CORE]).resources(&["pods/status"]),
        ]),
        ("pv-protection-controller", vec![
            rule(&["get", "list", "update", "watch"]).groups(&[CORE]).resources(&["persistentvolumes"]),
            events_rule(),
        ]),
        ("pvc-protection-controller", vec![
            rule(&["get", "list", "update", "watch"]).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
            rule(READ).groups(&[CORE]).resources(&["pods"]),
            events_rule(),
        ]),
        ("replicaset-controller", vec![
            rule(&["get", "list", "update", "watch"]).groups(&[APPS, EXTENSIONS]).resources(&["replicasets"]),
            rule(&["update"]).groups(&[APPS, EXTENSIONS]).resources(&["replicasets/status"]),
            rule(&["update"]).groups(&[APPS, EXTENSIONS]).resources(&["replicasets/finalizers"]),
            rule(&["create", "delete", "list", "patch", "watch"]).groups(&[CORE]).resources(&["pods"]),
            events_rule(),
        ]),
        ("replication-controller", vec![
            // 1.0 controllers needed get and update; old controllers still run on new servers.
            rule(&["get", "list", "update", "watch"]).groups(&[CORE]).resources(&["replicationcontrollers"]),
            rule(&["update"]).groups(&[CORE]).resources(&["replicationcontrollers/status"]),
            rule(&["update"]).groups(&[CORE]).resources(&["replicationcontrollers/finalizers"]),
            rule(&["create", "delete", "list", "patch", "watch"]).groups(&[CORE]).resources(&["pods"]),
            events_rule(),
        ]),
        // Quota may count anything, so it reads everything.
        ("resourcequota-controller", vec![
            rule(&["list", "watch"]).groups(&["*"]).resources(&["*"]),
            rule(&["update"]).groups(&[CORE]).resources(&["resourcequotas/status"]),
            events_rule(),
        ]),
        ("root-ca-cert-publisher", vec![
            rule(&["create", "update"]).groups(&[CORE]).resources(&["configmaps"]),
            events_rule(),
        ]),
        ("route-controller", vec![
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["nodes"]),
            rule(&["patch"]).groups(&[CORE]).resources(&["nodes/status"]),
            events_rule(),
        ]),
        ("selinux-warning-controller", vec![
            events_rule(),
            rule(READ).groups(&[CORE]).resources(&["persistentvolumes"]),
            rule(READ).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
            rule(READ).groups(&[CORE]).resources(&["pods"]),
            rule(READ).groups(&[STORAGE]).resources(&["csidrivers"]),
        ]),
        ("service-account-controller", vec![
            rule(&["create"]).groups(&[CORE]).resources(&["serviceaccounts"]),
            events_rule(),
        ]),
        ("service-cidrs-controller", vec![
            rule(&["get", "list", "patch", "update", "watch"]).groups(&[NETWORKING]).resources(&["servicecidrs"]),
            rule(&["patch", "update"]).groups(&[NETWORKING]).resources(&["servicecidrs/finalizers"]),
            rule(&["patch", "update"]).groups(&[NETWORKING]).resources(&["servicecidrs/status"]),
            rule(READ).groups(&[NETWORKING]).resources(&["ipaddresses"]),
            events_rule(),
        ]),
        ("service-controller", vec![
            rule(READ).groups(&[CORE]).resources(&["services"]),
            rule(&["patch", "update"]).groups(&[CORE]).resources(&["services/status"]),
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["nodes"]),
            events_rule(),
        ]),
        ("statefulset-controller", vec![
            rule(&["list", "watch"]).groups(&[CORE]).resources(&["pods"]),
            rule(READ).groups(&[APPS]).resources(&["statefulsets"]),
            rule(&["update"]).groups(&[APPS]).resources(&["statefulsets/status"]),
            rule(&["update"]).groups(&[APPS]).resources(&["statefulsets/finalizers"]),
            rule(&["create", "delete", "get", "patch", "update"]).groups(&[CORE]).resources(&["pods"]),
            rule(&["create", "delete", "get", "list", "patch", "update", "watch"]).groups(&[APPS]).resources(&["controllerrevisions"]),
            rule(&["create", "get", "list", "watch"]).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
            events_rule(),
            // Appended under StatefulSetAutoDeletePVC (GA, still checked in v1.33), hence
            // after the events rule.
            rule(&["delete", "update"]).groups(&[CORE]).resources(&["persistentvolumeclaims"]),
            rule(&["update"]).groups(&[CORE]).resources(&["pods/finalizers"]),
        ]),
        ("ttl-after-finished-controller", vec![
            rule(&["delete", "get", "list", "watch"]).groups(&[BATCH]).resources(&["jobs"]),
            events_rule(),
        ]),
        ("ttl-controller", vec![
            rule(&["list", "patch", "update", "watch"]).groups(&[CORE]).resources(&["nodes"]),
            events_rule(),
        ]),
        ("validatingadmissionpolicy-status-controller", vec![
            rule(READ).groups(&[ADMISSION_REGISTRATION]).resources(&["validatingadmissionpolicies"]),
            rule(&["get", "patch", "update"]).groups(&[ADMISSION_REGISTRATION]).resources(&["validatingadmissionpolicies/status"]),
            events_rule(),
        ]),
    ]
}
