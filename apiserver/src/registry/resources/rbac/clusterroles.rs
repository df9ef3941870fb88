//! ClusterRoles: cluster-wide policy rules, optionally aggregated from other ClusterRoles by
//! label selectors (the aggregation controller fills `rules`).

use super::validate_rules;
use crate::registry::resources::shared::validate_label_selector;
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::index;
use apimachinery::validation::{NameValidator, name_is_path_segment};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::Value;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            super::GROUP,
            "v1",
            "clusterroles",
            "ClusterRole",
            "clusterrole",
            false,
        ),
        ClusterRoles,
    )
}

pub struct ClusterRoles;

impl Strategy for ClusterRoles {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ClusterRole>(body)
    }

    fn name_validator(&self) -> NameValidator {
        name_is_path_segment
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = validate_rules(obj, false);
        if let Some(rule) = obj.get("aggregationRule").filter(|v| !v.is_null()) {
            let path = "aggregationRule.clusterRoleSelectors";
            let selectors = rule
                .get("clusterRoleSelectors")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if selectors.is_empty() {
                errs.push(FieldError::required(
                    path,
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
            for (i, sel) in selectors.iter().enumerate() {
                errs.extend(validate_label_selector(Some(sel), &index(path, i)));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregation_rule_needs_selectors() {
        let errs = ClusterRoles.validate(&json!({"aggregationRule": {}}));
        assert_eq!(
            errs[0].to_string(),
            "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"
        );
        let decoded = ClusterRoles
            .decode(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "agg"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
            }))
            .unwrap();
        assert_eq!(
            decoded.value["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]["a"],
            "b"
        );
        assert!(ClusterRoles.validate(&decoded.value).is_empty());
    }
}
