//! Upstream's `RBACAuthorizer.Authorize` (`plugin/pkg/auth/authorizer/rbac/rbac.go`).

use std::ops::ControlFlow;

use super::format::aggregate;
use super::index::RbacIndex;
use super::resolver::Visit;
use crate::authz::{Attributes, Decision};

impl RbacIndex {
    /// `Allow` with `RBAC: allowed by <binding>` when a rule reachable through a binding
    /// naming the user grants the request; otherwise `NoOpinion` (RBAC never denies) with
    /// `RBAC: <errors>` when some binding's role could not be resolved, or an empty reason.
    pub fn authorize(&self, attrs: &Attributes) -> (Decision, String) {
        let mut allowed_by = None;
        let mut errors = Vec::new();
        self.visit_rules_for(&attrs.user, &attrs.namespace, |visit| match visit {
            Visit::Rule(source, rule) if rule.allows(attrs) => {
                allowed_by = Some(source);
                ControlFlow::Break(())
            }
            Visit::Rule(..) => ControlFlow::Continue(()),
            Visit::Error(error) => {
                errors.push(error.to_string());
                ControlFlow::Continue(())
            }
        });
        if let Some(source) = allowed_by {
            return (Decision::Allow, format!("RBAC: allowed by {source}"));
        }
        let reason = aggregate(&errors)
            .map(|errors| format!("RBAC: {errors}"))
            .unwrap_or_default();
        (Decision::NoOpinion, reason)
    }
}
