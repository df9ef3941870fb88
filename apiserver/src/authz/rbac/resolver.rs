//! Upstream's `DefaultRuleResolver` (`pkg/registry/rbac/validation/rule.go`): which rules
//! reach a user in a namespace, through which binding, and which bindings point at roles
//! that cannot be resolved.

use std::fmt;
use std::ops::ControlFlow;

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::escalation::{escalation_message_for, uncovered};
use super::format::go_quote;
use super::index::{Binding, RbacIndex, RoleRef, RoleRefError, Subject, SubjectKind};
use super::rules::Rule;
use crate::authn::user::UserInfo;

/// The binding and subject through which a rule reached the user; its `Display` is
/// upstream's describer text, e.g. `ClusterRoleBinding "cluster-admin" of ClusterRole
/// "cluster-admin" to Group "system:masters"`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source<'a> {
    binding: &'a Binding,
    subject: &'a Subject,
    cluster: bool,
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let binding = self.binding;
        if self.cluster {
            write!(f, "ClusterRoleBinding {}", go_quote(&binding.name))?;
        } else {
            let qualified = format!("{}/{}", binding.name, binding.namespace);
            write!(f, "RoleBinding {}", go_quote(&qualified))?;
        }
        write!(
            f,
            " of {} {} to {}",
            binding.role_ref.kind,
            go_quote(&binding.role_ref.name),
            self.subject.kind.as_str()
        )?;
        // A service account is written `name/namespace`, its namespace defaulting to the
        // binding's (empty for a ClusterRoleBinding, as upstream prints it).
        if self.subject.kind == SubjectKind::ServiceAccount {
            let namespace = if self.subject.namespace.is_empty() {
                &binding.namespace
            } else {
                &self.subject.namespace
            };
            let qualified = format!("{}/{}", self.subject.name, namespace);
            write!(f, " {}", go_quote(&qualified))
        } else {
            write!(f, " {}", go_quote(&self.subject.name))
        }
    }
}

/// What the resolver hands its visitor: a rule with where it came from, or a binding
/// whose role could not be resolved.
pub(super) enum Visit<'a> {
    Rule(Source<'a>, &'a Rule),
    Error(RoleRefError),
}

impl RbacIndex {
    /// Upstream's `VisitRulesFor`: ClusterRoleBindings first, then (for a non-empty
    /// namespace) that namespace's RoleBindings; stops as soon as `visitor` breaks.
    pub(super) fn visit_rules_for<'a>(
        &'a self,
        user: &UserInfo,
        namespace: &str,
        mut visitor: impl FnMut(Visit<'a>) -> ControlFlow<()>,
    ) {
        let cluster = self.cluster_role_bindings();
        if self
            .visit_bindings(cluster, user, "", true, &mut visitor)
            .is_break()
        {
            return;
        }
        if !namespace.is_empty() {
            let bindings = self.role_bindings(namespace);
            let _ = self.visit_bindings(bindings, user, namespace, false, &mut visitor);
        }
    }

    fn visit_bindings<'a>(
        &'a self,
        bindings: impl Iterator<Item = &'a Binding>,
        user: &UserInfo,
        namespace: &str,
        cluster: bool,
        visitor: &mut impl FnMut(Visit<'a>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for binding in bindings {
            let Some(subject) = binding.subject_for(user, namespace) else {
                continue;
            };
            match self.role_ref_rules(&binding.role_ref, namespace) {
                Err(error) => visitor(Visit::Error(error))?,
                Ok(rules) => {
                    let source = Source {
                        binding,
                        subject,
                        cluster,
                    };
                    for rule in rules {
                        visitor(Visit::Rule(source, rule))?;
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Every rule granted to the user in the namespace, with the errors met on the way.
    fn collect_rules(&self, user: &UserInfo, namespace: &str) -> (Vec<&Rule>, Vec<RoleRefError>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        self.visit_rules_for(user, namespace, |visit| {
            match visit {
                Visit::Rule(_, rule) => rules.push(rule),
                Visit::Error(error) => errors.push(error),
            }
            ControlFlow::Continue(())
        });
        (rules, errors)
    }

    /// Upstream's `RulesFor`: every rule that applies to `user` in `namespace` (cluster
    /// bindings, plus that namespace's bindings when it is not empty), and the messages of
    /// the bindings whose role could not be resolved. The rules found are valid even when
    /// there are errors: RBAC only adds permissions.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let (rules, errors) = self.collect_rules(user, namespace);
        (
            rules.into_iter().map(Rule::to_policy_rule).collect(),
            errors.iter().map(ToString::to_string).collect(),
        )
    }

    /// Upstream's `GetRoleReferenceRules`, which binding writes use to learn what a
    /// `roleRef` grants: `kind` is `Role` (looked up in `binding_namespace`) or
    /// `ClusterRole`. Upstream returns the error as is (a NotFound for a missing role, with
    /// [`RoleRefError::registry_message`] as its text).
    pub fn role_reference_rules(
        &self,
        kind: &str,
        name: &str,
        binding_namespace: &str,
    ) -> Result<Vec<PolicyRule>, RoleRefError> {
        let role_ref = RoleRef {
            kind: kind.to_string(),
            name: name.to_string(),
        };
        let rules = self.role_ref_rules(&role_ref, binding_namespace)?;
        Ok(rules.iter().map(Rule::to_policy_rule).collect())
    }

    /// Upstream's `ConfirmNoEscalation`: whether the rules `user` holds in `namespace`
    /// (empty for cluster-scoped writes) cover `requested`; if not, the message of the
    /// Forbidden error (see [`super::forbidden_message`] for the wrapping). Callers skip
    /// this for [`super::escalation_allowed`] users and for holders of the `escalate` verb
    /// (roles) or `bind` verb (bindings), as upstream does.
    pub fn confirm_no_escalation(
        &self,
        user: &UserInfo,
        namespace: &str,
        requested: &[PolicyRule],
    ) -> Result<(), String> {
        let (owner, errors) = self.collect_rules(user, namespace);
        let requested: Vec<Rule> = requested.iter().map(Rule::from).collect();
        let missing = uncovered(&owner, &requested);
        if missing.is_empty() {
            return Ok(());
        }
        // The registry-backed resolver upstream uses here words its errors as the store
        // does, in the plural.
        let errors: Vec<String> = errors.iter().map(RoleRefError::registry_message).collect();
        Err(escalation_message_for(user, missing, &errors))
    }
}
