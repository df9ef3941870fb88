//! RBAC escalation prevention on role and binding writes, as upstream's RBAC registry does
//! it: a user may write a Role or ClusterRole only with permissions they already hold (or
//! with the `escalate` verb on it), and bind a role only if they hold its permissions (or
//! the `bind` verb on it). Setting a ClusterRole's `aggregationRule` takes full authority.
//! Members of `system:masters` are not checked. Runs with the validating admission plugins
//! when RBAC authorizes.

use super::rbac::{self, AGGREGATION_RULE_FORBIDDEN, RoleRefError};
use super::{Attributes as AuthzAttributes, Authorizer};
use crate::admission::{Attributes, Operation, Validator};
use crate::errors::{ApiError, GroupResource, Result};
use async_trait::async_trait;
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;

const GROUP: &str = "rbac.authorization.k8s.io";

pub struct EscalationCheck {
    authorizer: Authorizer,
}

impl EscalationCheck {
    pub fn new(authorizer: Authorizer) -> Self {
        Self { authorizer }
    }

    /// Whether the user holds `verb` (`escalate` or `bind`) on the named role.
    fn holds(&self, attrs: &Attributes<'_>, verb: &str, resource: &str, name: &str) -> bool {
        self.authorizer.allowed(&AuthzAttributes {
            user: attrs.user.clone(),
            verb: verb.into(),
            resource_request: true,
            namespace: attrs.namespace.into(),
            api_group: GROUP.into(),
            resource: resource.into(),
            name: name.into(),
            ..Default::default()
        })
    }

    fn forbidden(attrs: &Attributes<'_>, why: &str) -> ApiError {
        ApiError::forbidden(
            &GroupResource::new(GROUP, attrs.info.resource),
            attrs.name,
            why,
        )
    }

    fn no_escalation(&self, attrs: &Attributes<'_>, requested: &[PolicyRule]) -> Result<()> {
        let index = self
            .authorizer
            .rbac()
            .read()
            .unwrap_or_else(|p| p.into_inner());
        index
            .confirm_no_escalation(attrs.user, attrs.namespace, requested)
            .map_err(|why| Self::forbidden(attrs, &why))
    }

    fn check_role(&self, attrs: &Attributes<'_>, role: &Value) -> Result<()> {
        if self.holds(attrs, "escalate", attrs.info.resource, attrs.name) {
            return Ok(());
        }
        if let Some(old) = attrs.old
            && only_gc_fields_changed(role, old)
        {
            return Ok(());
        }
        let aggregation = role.get("aggregationRule").filter(|a| !a.is_null());
        let old_aggregation = attrs
            .old
            .and_then(|o| o.get("aggregationRule"))
            .filter(|a| !a.is_null());
        if aggregation.is_some() && aggregation != old_aggregation {
            let index = self
                .authorizer
                .rbac()
                .read()
                .unwrap_or_else(|p| p.into_inner());
            if index
                .confirm_no_escalation(attrs.user, attrs.namespace, &rbac::full_authority())
                .is_err()
            {
                return Err(Self::forbidden(attrs, AGGREGATION_RULE_FORBIDDEN));
            }
        }
        let rules: Vec<PolicyRule> = role
            .get("rules")
            .cloned()
            .and_then(|r| serde_json::from_value(r).ok())
            .unwrap_or_default();
        self.no_escalation(attrs, &rules)
    }

    fn check_binding(&self, attrs: &Attributes<'_>, binding: &Value) -> Result<()> {
        if let Some(old) = attrs.old
            && only_gc_fields_changed(binding, old)
        {
            return Ok(());
        }
        let kind = binding
            .pointer("/roleRef/kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = binding
            .pointer("/roleRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let resource = if kind == "ClusterRole" {
            "clusterroles"
        } else {
            "roles"
        };
        if self.holds(attrs, "bind", resource, name) {
            return Ok(());
        }
        let rules = {
            let index = self
                .authorizer
                .rbac()
                .read()
                .unwrap_or_else(|p| p.into_inner());
            index.role_reference_rules(kind, name, attrs.namespace)
        };
        let rules = match rules {
            Ok(rules) => rules,
            Err(RoleRefError::NotFound { .. }) => {
                return Err(ApiError::not_found(
                    &GroupResource::new(GROUP, resource),
                    name,
                ));
            }
            Err(e) => return Err(ApiError::internal(e.registry_message())),
        };
        self.no_escalation(attrs, &rules)
    }
}

/// Whether an update touches only what the garbage collector writes (owner references and
/// finalizers), which upstream lets through unchecked.
fn only_gc_fields_changed(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "ownerReferences",
                "finalizers",
                "resourceVersion",
                "managedFields",
                "generation",
            ] {
                meta.remove(field);
            }
        }
        v
    };
    strip(new) == strip(old)
}

#[async_trait]
impl Validator for EscalationCheck {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        if attrs.info.group != GROUP
            || !matches!(attrs.operation, Operation::Create | Operation::Update)
            || rbac::escalation_allowed(attrs.user)
        {
            return Ok(());
        }
        let Some(object) = attrs.object else {
            return Ok(());
        };
        match attrs.info.resource {
            "roles" | "clusterroles" => self.check_role(attrs, object),
            "rolebindings" | "clusterrolebindings" => self.check_binding(attrs, object),
            _ => Ok(()),
        }
    }
}
