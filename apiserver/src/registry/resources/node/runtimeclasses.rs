//! RuntimeClasses: a named container runtime handler, with pod overhead and scheduling
//! constraints. The handler is fixed at creation.

use crate::registry::resources::shared::{immutable, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::validation::{is_dns1123_label, validate_labels};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::node::v1::RuntimeClass;
use serde_json::{Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "node.k8s.io",
            "v1",
            "runtimeclasses",
            "RuntimeClass",
            "runtimeclass",
            false,
        ),
        RuntimeClasses,
    )
}

pub struct RuntimeClasses;

/// Upstream describes the handler column with a key ObjectMeta's docs lack: empty.
const COLUMNS: &[Column] = &[NAME, Column::new("Handler", "string", ""), AGE];

impl Strategy for RuntimeClasses {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<RuntimeClass>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let handler = s(obj, "/handler");
        for msg in is_dns1123_label(handler) {
            errs.push(FieldError::invalid("handler", handler, msg));
        }
        if let Some(sel) = obj.pointer("/scheduling/nodeSelector") {
            errs.extend(validate_labels(sel, "scheduling.nodeSelector"));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(immutable(new, old, "/handler", "handler"));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![table::name(obj), json!(s(obj, "/handler")), table::age(obj)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_is_a_label_and_immutable() {
        let rc = json!({"metadata": {"name": "gvisor"}, "handler": "runsc"});
        assert!(RuntimeClasses.validate(&rc).is_empty());
        assert_eq!(RuntimeClasses.table_row(&rc)[1], "runsc");
        let bad = json!({"handler": "Run_SC"});
        assert!(
            RuntimeClasses.validate(&bad)[0]
                .to_string()
                .starts_with("handler: Invalid value: \"Run_SC\": a lowercase RFC 1123 label")
        );
        let new = json!({"handler": "runc"});
        assert_eq!(
            RuntimeClasses.validate_update(&new, &rc)[0].to_string(),
            "handler: Invalid value: \"runc\": field is immutable"
        );
    }
}
