//! RBAC: the authorizer that grants what Roles and ClusterRoles, bound to users, groups
//! and service accounts by RoleBindings and ClusterRoleBindings, allow. It owns the
//! in-memory [`RbacIndex`] of those objects (fed from storage events), the per-request
//! decision ([`RbacIndex::authorize`], which never denies), the rule listing behind
//! SelfSubjectRulesReview ([`RbacIndex::rules_for`], [`review_status`]) and the
//! escalation checks on role and binding writes ([`covers`],
//! [`RbacIndex::confirm_no_escalation`]). All of it follows upstream's
//! `plugin/pkg/auth/authorizer/rbac` and `pkg/registry/rbac/validation`, messages included.
//!
//! ```
//! use apiserver::authn::user::UserInfo;
//! use apiserver::authz::rbac::RbacIndex;
//! use apiserver::authz::{Attributes, Decision};
//! use serde_json::json;
//!
//! let mut index = RbacIndex::new();
//! index.apply("clusterroles", &json!({
//!     "metadata": {"name": "cluster-admin"},
//!     "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
//! }));
//! index.apply("clusterrolebindings", &json!({
//!     "metadata": {"name": "cluster-admin"},
//!     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
//!     "subjects": [{"kind": "Group", "name": "system:masters"}],
//! }));
//! let attrs = Attributes {
//!     user: UserInfo { name: "admin".into(), groups: vec!["system:masters".into()], ..Default::default() },
//!     verb: "list".into(),
//!     resource_request: true,
//!     resource: "pods".into(),
//!     ..Default::default()
//! };
//! let (decision, reason) = index.authorize(&attrs);
//! assert_eq!(decision, Decision::Allow);
//! assert_eq!(
//!     reason,
//!     r#"RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters""#
//! );
//! ```

mod authorizer;
mod escalation;
mod format;
mod index;
mod resolver;
mod review;
mod rules;

#[cfg(test)]
mod tests;

pub use escalation::{
    AGGREGATION_RULE_FORBIDDEN, breakdown_rule, compact_rules, covers, escalation_allowed,
    escalation_message, forbidden_message, full_authority,
};
pub use index::{RbacIndex, RoleRefError};
pub use review::review_status;
pub use rules::{Rule, compact_string};
