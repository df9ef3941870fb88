//! Namespaces. Deleting one marks it `Terminating`; the namespace controller empties it and
//! removes `kubernetes` from `spec.finalizers` through the `finalize` subresource, after which
//! it is gone.

use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::validation::{NameValidator, name_is_dns_label};
use apimachinery::{FieldErrors, meta};
use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};

/// The finalizer the namespace controller removes once a namespace is empty.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";
/// The label every namespace carries with its own name.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

const SUBRESOURCES: &[SubresourceInfo] = &[
    SubresourceInfo {
        name: "finalize",
        group: "",
        version: "v1",
        kind: "Namespace",
        verbs: &["update"],
    },
    SubresourceInfo::status("", "v1", "Namespace"),
];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "namespaces", "Namespace", "namespace", false)
            .short_names(&["ns"])
            .verbs(&[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ])
            .subresources(SUBRESOURCES),
        Namespaces,
    )
}

pub struct Namespaces;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the namespace"),
    AGE,
];

fn spec_finalizers(obj: &Value) -> Vec<Value> {
    obj.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl Strategy for Namespaces {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Namespace>(body)
    }

    fn name_validator(&self) -> NameValidator {
        name_is_dns_label
    }

    fn default(&self, obj: &mut Value) {
        let name = meta::name(obj).to_string();
        if !name.is_empty() {
            let labels = meta::nested_mut(obj, &["metadata", "labels"]);
            if !labels.is_object() {
                *labels = json!({});
            }
            labels[NAME_LABEL] = json!(name);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let mut finalizers = spec_finalizers(obj);
        if !finalizers.iter().any(|f| f == KUBERNETES_FINALIZER) {
            finalizers.push(json!(KUBERNETES_FINALIZER));
        }
        obj["spec"] = json!({ "finalizers": finalizers });
        obj["status"] = json!({ "phase": "Active" });
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // Only the finalize subresource changes spec.finalizers.
        new["spec"] = old.get("spec").cloned().unwrap_or_else(|| json!({}));
        // The name label follows the name, whatever an update says.
        self.default(new);
    }

    fn prepare_for_subresource_update(&self, subresource: &str, new: &mut Value, old: &Value) {
        let requested = new.pointer("/spec/finalizers").cloned();
        *new = old.clone();
        if subresource == "finalize" {
            match requested {
                Some(f) => new["spec"]["finalizers"] = f,
                None => {
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("finalizers");
                    }
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        for (i, f) in spec_finalizers(obj).iter().enumerate() {
            let f = f.as_str().unwrap_or_default();
            for msg in apimachinery::validation::is_qualified_name(f) {
                errs.push(apimachinery::FieldError::invalid(
                    format!("spec.finalizers[{i}]"),
                    f,
                    msg,
                ));
            }
        }
        errs
    }

    fn holds_deletion(&self, obj: &Value) -> bool {
        !spec_finalizers(obj).is_empty()
    }

    fn prepare_for_delete(&self, obj: &mut Value) {
        obj["status"] = json!({ "phase": "Terminating" });
    }

    fn returns_deleted_object(&self) -> bool {
        true
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or_default();
        vec![table::name(obj), json!(phase), table::age(obj)]
    }
}
