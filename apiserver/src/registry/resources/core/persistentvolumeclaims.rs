//! PersistentVolumeClaims: requests for storage, bound to volumes by the volume controller.

use super::common::{str_at, strings_at, validate_resource_list};
use super::docs;
use super::persistentvolumes::{
    access_modes_string, storage_class, storage_of, validate_access_modes,
};
use super::quantity::{self, Quantity};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] =
    &[SubresourceInfo::status("", "v1", "PersistentVolumeClaim")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            "persistentvolumeclaim",
            true,
        )
        .short_names(&["pvc"])
        .subresources(SUBRESOURCES),
        PersistentVolumeClaims,
    )
}

pub struct PersistentVolumeClaims;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", docs::PVC_PHASE),
    Column::new("Volume", "string", docs::PVC_VOLUME_NAME),
    Column::new("Capacity", "string", docs::PVC_CAPACITY),
    Column::new("Access Modes", "string", docs::PVC_ACCESS_MODES),
    Column::new("StorageClass", "string", "StorageClass of the pvc"),
    Column::new(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    Column::new("VolumeMode", "string", docs::PVC_VOLUME_MODE).wide(),
];

/// Upstream's claim spec rules, at `spec` (claim templates reuse them).
pub fn validate_claim_spec(spec: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let data_source = spec.get("dataSource").is_some_and(|d| !d.is_null());
    if !data_source || spec.get("accessModes").is_some() {
        errs.extend(validate_access_modes(
            &strings_at(spec, "/accessModes"),
            &format!("{path}.accessModes"),
        ));
    }
    match spec
        .pointer("/resources/requests/storage")
        .map(Quantity::from_json)
    {
        None => errs.push(FieldError::required(
            format!("{path}.resources[storage]"),
            "",
        )),
        Some(Ok(q)) if q.nanos() <= 0 => errs.push(FieldError::invalid(
            format!("{path}.resources[storage]"),
            q.canonical(),
            "must be greater than zero",
        )),
        _ => {}
    }
    errs.extend(validate_resource_list(
        spec.pointer("/resources/requests"),
        &format!("{path}.resources.requests"),
    ));
    errs.extend(super::common::one_of(
        spec.get("volumeMode").and_then(Value::as_str),
        &format!("{path}.volumeMode"),
        &["Block", "Filesystem"],
        false,
    ));
    let class = str_at(spec, "/storageClassName");
    if !class.is_empty() {
        errs.extend(super::common::dns_subdomain(
            class,
            &format!("{path}.storageClassName"),
        ));
    }
    errs
}

/// The spec without the fields an update of a claim may change.
fn frozen(spec: &Value, old: &Value) -> Value {
    let mut s = spec.clone();
    if let Some(m) = s.as_object_mut() {
        if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
            r.remove("requests");
        }
        m.remove("volumeAttributesClassName");
        // A claim may be bound (volumeName set) once.
        if str_at(old, "/volumeName").is_empty() {
            m.remove("volumeName");
        }
    }
    s
}

impl Strategy for PersistentVolumeClaims {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        quantity::canonicalize_at(
            &mut body,
            &[
                "/spec/resources/requests",
                "/spec/resources/limits",
                "/status/capacity",
                "/status/allocatedResources",
            ],
        )?;
        typed::round_trip::<PersistentVolumeClaim>(body)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
            super::common::default_str(spec, "volumeMode", "Filesystem");
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Pending"});
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_claim_spec(obj.get("spec").unwrap_or(&Value::Null), "spec")
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        let (ns, os) = (
            new.get("spec").unwrap_or(&Value::Null),
            old.get("spec").unwrap_or(&Value::Null),
        );
        let mut old_frozen = frozen(os, os);
        if str_at(os, "/volumeName").is_empty()
            && let Some(m) = old_frozen.as_object_mut()
        {
            m.remove("volumeName");
        }
        if frozen(ns, os) != old_frozen {
            errs.push(FieldError::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n  core.PersistentVolumeClaimSpec{...}\n",
            ));
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let phase = if apimachinery::meta::deletion_timestamp(obj).is_some() {
            "Terminating".to_string()
        } else {
            str_at(obj, "/status/phase").to_string()
        };
        let bound = !str_at(obj, "/spec/volumeName").is_empty();
        let (capacity, modes) = if bound {
            (
                storage_of(obj.pointer("/status/capacity")),
                access_modes_string(&strings_at(obj, "/status/accessModes")),
            )
        } else {
            (String::new(), String::new())
        };
        let unset = |s: &str| {
            if s.is_empty() {
                "<unset>".to_string()
            } else {
                s.to_string()
            }
        };
        vec![
            table::name(obj),
            json!(phase),
            json!(str_at(obj, "/spec/volumeName")),
            json!(capacity),
            json!(modes),
            json!(storage_class(obj)),
            json!(unset(str_at(obj, "/spec/volumeAttributesClassName"))),
            table::age(obj),
            json!(unset(str_at(obj, "/spec/volumeMode"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let c = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        assert!(PersistentVolumeClaims.validate(&c).is_empty());
        let e: Vec<String> = PersistentVolumeClaims
            .validate(&json!({"spec": {}}))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                "spec.accessModes: Required value",
                "spec.resources[storage]: Required value"
            ]
        );
    }

    #[test]
    fn rows() {
        let c = json!({"metadata": {"name": "c"}, "spec": {"volumeName": "pv1", "storageClassName": "fast", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"]}});
        let row = PersistentVolumeClaims.table_row(&c);
        assert_eq!(row[1], "Bound");
        assert_eq!(row[2], "pv1");
        assert_eq!(row[3], "5Gi");
        assert_eq!(row[4], "RWO");
        assert_eq!(row[5], "fast");
        assert_eq!(row[6], "<unset>");
        let pending =
            json!({"metadata": {"name": "c"}, "spec": {}, "status": {"phase": "Pending"}});
        assert_eq!(PersistentVolumeClaims.table_row(&pending)[3], "");
    }

    #[test]
    fn spec_is_mostly_immutable() {
        let old = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        let mut grow = old.clone();
        grow["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        grow["spec"]["volumeName"] = json!("pv");
        assert!(
            PersistentVolumeClaims
                .validate_update(&grow, &old)
                .is_empty()
        );
        let mut change = old.clone();
        change["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        assert!(
            PersistentVolumeClaims.validate_update(&change, &old)[0]
                .to_string()
                .starts_with("spec: Forbidden: spec is immutable after creation")
        );
    }
}
