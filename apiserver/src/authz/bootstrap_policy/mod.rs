//! The bootstrap RBAC policy: every ClusterRole, ClusterRoleBinding, Role and RoleBinding a
//! v1.33 kube-apiserver with default feature gates writes on start (upstream's
//! `plugin/pkg/auth/authorizer/rbac/bootstrappolicy`), as the JSON objects it stores, and the
//! rules by which start-up [`reconcile`]s them with what is already stored.
//!
//! Every object carries the label `kubernetes.io/bootstrapping: rbac-defaults` and the
//! annotation `rbac.authorization.kubernetes.io/autoupdate: "true"`. `admin`, `edit` and `view`
//! are stored with an aggregation rule and null rules; the clusterrole-aggregation controller
//! fills them from the `system:aggregate-to-*` roles (and from any role an administrator labels
//! the same way).
//!
//! Where the facts come from (upstream kubernetes/kubernetes; the store holds no v1.33 tag, so
//! the v1.33 policy is assembled from the nearest versions it does hold):
//! - general cluster roles: `bootstrappolicy/testdata/cluster-roles-featuregates.yaml` at
//!   01899a7c86337b05a16a4155c9351cf947beaee9, a v1.33 tree (it has the v1.33 DRADeviceTaints
//!   and KubeletServiceAccountTokenForCredentialProviders rules and none of v1.34's
//!   PodCertificateRequest ones), with the rules of gates off by default in v1.33 removed
//!   (`kube_features.go` versioned specs; the list is in `cluster_roles.rs`);
//! - cluster role bindings: `policy.go` `ClusterRoleBindings()`, same gates;
//! - controller roles: `controller_policy.go` at a9de9a3d078789487723bb90b83f66a9c303f397
//!   (v1.31) plus the v1.32/v1.33 changes kubernetes#125995 (glusterfs and OpenStack rules
//!   dropped from the volume controllers), #126920 (statefulset PVC rules), #128242
//!   (selinux-warning-controller), #129201 and #130405 (watch for controllers using WatchList),
//!   cross-checked against later `controller-roles.yaml` fixtures;
//! - namespaced roles: `testdata/namespace-roles.yaml` at
//!   1892e4deb967a2b39cfc2fea87a8bd49274449ef; their bindings: `namespace_policy.go` at
//!   1b85f343aa15b9c3c6cdb0109b6d23d29316ac69.
//!
//! ```
//! use apiserver::authz::bootstrap_policy::{Reconcile, policy, reconcile_role};
//!
//! let policy = policy();
//! let admin = policy.cluster_roles.iter().find(|r| r["metadata"]["name"] == "cluster-admin");
//! assert!(matches!(admin.map(|r| reconcile_role(None, r)), Some(Reconcile::Create(_))));
//! ```

mod builder;
mod cluster_roles;
mod controller_roles;
mod namespace_roles;
mod reconcile;

use serde_json::Value;

pub use builder::{AUTOUPDATE_ANNOTATION, BOOTSTRAPPING_LABEL, BOOTSTRAPPING_VALUE};
pub use reconcile::{Reconcile, reconcile_binding, reconcile_role};

/// The prefix of the controllers' ClusterRoles and ClusterRoleBindings.
pub const CONTROLLER_ROLE_PREFIX: &str = "system:controller:";

/// The whole policy. Each object is a full JSON object as it would be stored (apiVersion
/// `rbac.authorization.k8s.io/v1`, kind, metadata, rules/aggregationRule or roleRef/subjects),
/// without server-set metadata.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The general roles, then the controller roles, each group by name.
    pub cluster_roles: Vec<Value>,
    /// The general bindings, then one per controller role, each group by name.
    pub cluster_role_bindings: Vec<Value>,
    /// Namespaced (`metadata.namespace` set), by namespace then name.
    pub roles: Vec<Value>,
    /// Namespaced, by namespace then name.
    pub role_bindings: Vec<Value>,
}

pub fn policy() -> Policy {
    let mut cluster_roles = cluster_roles::cluster_roles();
    let mut cluster_role_bindings = cluster_roles::cluster_role_bindings();
    for (controller, rules) in controller_roles::controller_roles() {
        let name = format!("{CONTROLLER_ROLE_PREFIX}{controller}");
        cluster_roles.push(builder::cluster_role(&name, rules));
        let account = builder::Subject::ServiceAccount("kube-system", controller);
        cluster_role_bindings.push(builder::cluster_role_binding(&name, &[account]));
    }
    Policy {
        cluster_roles,
        cluster_role_bindings,
        roles: namespace_roles::roles(),
        role_bindings: namespace_roles::role_bindings(),
    }
}

#[cfg(test)]
mod tests;
