//! ClusterRoleBindings: grant a ClusterRole cluster-wide. The role is fixed at creation.

use super::{
    CLUSTER_BINDING_COLUMNS, binding_row, default_binding, validate_binding,
    validate_role_ref_unchanged,
};
use crate::registry::table::Column;
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::FieldErrors;
use apimachinery::validation::{NameValidator, name_is_path_segment};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use serde_json::Value;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            super::GROUP,
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            "clusterrolebinding",
            false,
        ),
        ClusterRoleBindings,
    )
}

pub struct ClusterRoleBindings;

impl Strategy for ClusterRoleBindings {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ClusterRoleBinding>(body)
    }

    fn name_validator(&self) -> NameValidator {
        name_is_path_segment
    }

    fn default(&self, obj: &mut Value) {
        default_binding(obj);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_binding(obj, false)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(validate_role_ref_unchanged(new, old));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        CLUSTER_BINDING_COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        binding_row(obj)
    }
}
