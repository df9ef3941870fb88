//! StorageClasses: a provisioner and its parameters. The one annotated as the default class
//! prints as `NAME (default)`. Provisioner, parameters, reclaim policy and binding mode are
//! fixed at creation.

use crate::registry::resources::shared::{arr, immutable, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::is_qualified_name;
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{Value, json};

/// The annotation marking the cluster's default StorageClass.
pub const DEFAULT_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
/// The beta annotation upstream still honours.
pub const BETA_DEFAULT_ANNOTATION: &str = "storageclass.beta.kubernetes.io/is-default-class";
const MAX_PARAMETERS: usize = 512;
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;
const RECLAIM_POLICIES: &[&str] = &["Delete", "Retain"];
const BINDING_MODES: &[&str] = &["Immediate", "WaitForFirstConsumer"];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            super::GROUP,
            "v1",
            "storageclasses",
            "StorageClass",
            "storageclass",
            false,
        )
        .short_names(&["sc"]),
        StorageClasses,
    )
}

pub struct StorageClasses;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Provisioner",
        "string",
        "provisioner indicates the type of the provisioner.",
    ),
    Column::new(
        "ReclaimPolicy",
        "string",
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.",
    ),
    Column::new(
        "VolumeBindingMode",
        "string",
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.",
    ),
    Column::new(
        "AllowVolumeExpansion",
        "string",
        "allowVolumeExpansion shows whether the storage class allow volume expand.",
    ),
    AGE,
];

/// Whether the object is annotated as its kind's default (`"true"` exactly).
pub fn is_default(obj: &Value) -> bool {
    let ann = obj.pointer("/metadata/annotations");
    let get = |k: &str| ann.and_then(|a| a.get(k)).and_then(Value::as_str);
    get(DEFAULT_ANNOTATION) == Some("true") || get(BETA_DEFAULT_ANNOTATION) == Some("true")
}

impl Strategy for StorageClasses {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<StorageClass>(body)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.entry("reclaimPolicy").or_insert(json!("Delete"));
            m.entry("volumeBindingMode").or_insert(json!("Immediate"));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let provisioner = s(obj, "/provisioner");
        if provisioner.is_empty() {
            errs.push(FieldError::required("provisioner", ""));
        } else {
            for msg in is_qualified_name(&provisioner.to_lowercase()) {
                errs.push(FieldError::invalid("provisioner", provisioner, msg));
            }
        }
        if let Some(params) = obj.get("parameters").and_then(Value::as_object) {
            if params.len() > MAX_PARAMETERS {
                errs.push(FieldError::too_long("parameters", MAX_PARAMETERS));
            }
            let mut total = 0;
            for (k, v) in params {
                if k.is_empty() {
                    errs.push(FieldError::invalid(
                        "parameters",
                        k.as_str(),
                        "field can not be empty.",
                    ));
                }
                total += k.len() + v.as_str().map_or(0, str::len);
            }
            if total > MAX_PARAMETERS_SIZE {
                errs.push(FieldError::too_long("parameters", MAX_PARAMETERS_SIZE));
            }
        }
        if let Some(p) = obj.get("reclaimPolicy").and_then(Value::as_str)
            && !RECLAIM_POLICIES.contains(&p)
        {
            errs.push(FieldError::not_supported(
                "reclaimPolicy",
                p,
                RECLAIM_POLICIES,
            ));
        }
        match obj.get("volumeBindingMode").and_then(Value::as_str) {
            None => errs.push(FieldError::required("volumeBindingMode", "")),
            Some(m) if !BINDING_MODES.contains(&m) => errs.push(FieldError::not_supported(
                "volumeBindingMode",
                m,
                BINDING_MODES,
            )),
            Some(_) => {}
        }
        for (i, term) in arr(obj, "/allowedTopologies").iter().enumerate() {
            let tp = index("allowedTopologies", i);
            let exprs = arr(term, "/matchLabelExpressions");
            if exprs.is_empty() {
                errs.push(FieldError::required(
                    child(&tp, "matchLabelExpressions"),
                    "must have at least one label selector requirement",
                ));
            }
            for (j, e) in exprs.iter().enumerate() {
                let ep = index(&child(&tp, "matchLabelExpressions"), j);
                let key = s(e, "/key");
                for msg in is_qualified_name(key) {
                    errs.push(FieldError::invalid(child(&ep, "key"), key, msg));
                }
                if arr(e, "/values").is_empty() {
                    errs.push(FieldError::required(
                        child(&ep, "values"),
                        "must specify as least one value",
                    ));
                }
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        if new.get("parameters") != old.get("parameters") {
            errs.push(FieldError::forbidden(
                "parameters",
                "updates to parameters are forbidden.",
            ));
        }
        if new.get("provisioner") != old.get("provisioner") {
            errs.push(FieldError::forbidden(
                "provisioner",
                "updates to provisioner are forbidden.",
            ));
        }
        if new.get("reclaimPolicy") != old.get("reclaimPolicy") {
            errs.push(FieldError::forbidden(
                "reclaimPolicy",
                "updates to reclaimPolicy are forbidden.",
            ));
        }
        errs.extend(immutable(
            new,
            old,
            "/volumeBindingMode",
            "volumeBindingMode",
        ));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let mut name = apimachinery::meta::name(obj).to_string();
        if is_default(obj) {
            name.push_str(" (default)");
        }
        let reclaim = obj
            .get("reclaimPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Delete");
        let mode = obj
            .get("volumeBindingMode")
            .and_then(Value::as_str)
            .unwrap_or("Immediate");
        let expansion = obj
            .get("allowVolumeExpansion")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        vec![
            json!(name),
            json!(s(obj, "/provisioner")),
            json!(reclaim),
            json!(mode),
            json!(expansion),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_and_default_class_name() {
        let mut sc = json!({"metadata": {"name": "fast", "annotations": {DEFAULT_ANNOTATION: "true"}}, "provisioner": "example.com/csi"});
        StorageClasses.default(&mut sc);
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "Immediate");
        assert!(StorageClasses.validate(&sc).is_empty());
        let row = StorageClasses.table_row(&sc);
        assert_eq!(row[0], "fast (default)");
        assert_eq!(row[4], false);
    }

    #[test]
    fn immutable_fields() {
        let old = json!({"provisioner": "a.io/x", "parameters": {"type": "ssd"}, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"});
        let new = json!({"provisioner": "a.io/y", "parameters": {"type": "hdd"}, "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"});
        assert_eq!(
            messages(&StorageClasses.validate_update(&new, &old)),
            vec![
                "parameters: Forbidden: updates to parameters are forbidden.",
                "provisioner: Forbidden: updates to provisioner are forbidden.",
                "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
                "volumeBindingMode: Invalid value: \"WaitForFirstConsumer\": field is immutable",
            ]
        );
    }
}
