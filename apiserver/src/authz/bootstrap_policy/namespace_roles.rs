//! The namespaced Roles and RoleBindings in `kube-system` and `kube-public` (upstream's
//! `namespace_policy.go`): reading the authentication ConfigMap that aggregated API servers
//! start from, leader election for the controller manager and the scheduler, and the
//! bootstrap-token controllers.
//!
//! ```ignore
//! assert!(roles().iter().all(|r| r["metadata"]["namespace"].is_string()));
//! ```

use serde_json::Value;

use super::builder::*;

const KUBE_SYSTEM: &str = "kube-system";
const KUBE_PUBLIC: &str = "kube-public";

/// By namespace, then by name, as upstream's fixture lists them.
// Tables read one rule per line, as upstream's policy does; rustfmt would spread each
// builder chain over several lines.
#[rustfmt::skip]
pub(super) fn roles() -> Vec<Value> {
    vec![
        role(KUBE_PUBLIC, "system:controller:bootstrap-signer", vec![
            rule(READ).groups(&[CORE]).resources(&["configmaps"]),
            rule(&["update"]).groups(&[CORE]).resources(&["configmaps"]).names(&["cluster-info"]),
            events_rule(),
        ]),
        role(KUBE_SYSTEM, "extension-apiserver-authentication-reader", vec![
            rule(READ).groups(&[CORE]).resources(&["configmaps"]).names(&["extension-apiserver-authentication"]),
        ]),
        leader_locking("kube-controller-manager"),
        leader_locking("kube-scheduler"),
        // The bootstrap signer inspects the token Secrets.
        role(KUBE_SYSTEM, "system:controller:bootstrap-signer", vec![
            rule(READ).groups(&[CORE]).resources(&["secrets"]),
        ]),
        // Deprecated upstream since 1.10 and still created.
        role(KUBE_SYSTEM, "system:controller:cloud-provider", vec![
            rule(&["create", "get", "list", "watch"]).groups(&[CORE]).resources(&["configmaps"]),
        ]),
        role(KUBE_SYSTEM, "system:controller:token-cleaner", vec![
            rule(&["delete", "get", "list", "watch"]).groups(&[CORE]).resources(&["secrets"]),
            events_rule(),
        ]),
    ]
}

#[rustfmt::skip]
fn leader_locking(component: &str) -> Value {
    role(KUBE_SYSTEM, &format!("system::leader-locking-{component}"), vec![
        rule(&["watch"]).groups(&[CORE]).resources(&["configmaps"]),
        rule(&["get", "update"]).groups(&[CORE]).resources(&["configmaps"]).names(&[component]),
        rule(&["create", "get", "list", "update", "watch"]).groups(&[COORDINATION]).resources(&["leases"]),
        rule(&["create", "get", "list", "update", "watch"]).groups(&[COORDINATION]).resources(&["leasecandidates"]),
    ])
}

/// In the same order as [`roles`].
pub(super) fn role_bindings() -> Vec<Value> {
    use Subject::{ServiceAccount, User};
    let bootstrap_signer = [ServiceAccount(KUBE_SYSTEM, "bootstrap-signer")];
    let locking = |component: &str| {
        let name = format!("system::leader-locking-{component}");
        let user = format!("system:{component}");
        role_binding(
            KUBE_SYSTEM,
            &name,
            &name,
            &[User(&user), ServiceAccount(KUBE_SYSTEM, component)],
        )
    };
    let controller = |name: &str| {
        let role = format!("system:controller:{name}");
        role_binding(
            KUBE_SYSTEM,
            &role,
            &role,
            &[ServiceAccount(KUBE_SYSTEM, name)],
        )
    };
    vec![
        role_binding(
            KUBE_PUBLIC,
            "system:controller:bootstrap-signer",
            "system:controller:bootstrap-signer",
            &bootstrap_signer,
        ),
        // The one binding upstream names apart from the role it grants.
        role_binding(
            KUBE_SYSTEM,
            "system::extension-apiserver-authentication-reader",
            "extension-apiserver-authentication-reader",
            &[
                User("system:kube-controller-manager"),
                User("system:kube-scheduler"),
            ],
        ),
        locking("kube-controller-manager"),
        locking("kube-scheduler"),
        controller("bootstrap-signer"),
        controller("cloud-provider"),
        controller("token-cleaner"),
    ]
}
