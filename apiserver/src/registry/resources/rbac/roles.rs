//! Roles: namespaced sets of policy rules. Upstream prints them with the default columns.

use super::validate_rules;
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::FieldErrors;
use apimachinery::validation::{NameValidator, name_is_path_segment};
use k8s_openapi::api::rbac::v1::Role;
use serde_json::Value;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(super::GROUP, "v1", "roles", "Role", "role", true),
        Roles,
    )
}

pub struct Roles;

impl Strategy for Roles {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Role>(body)
    }

    fn name_validator(&self) -> NameValidator {
        name_is_path_segment
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_rules(obj, true)
    }
}
