//! CSIDrivers: how Kubernetes talks to an installed CSI driver (attach, pod info, tokens,
//! capacity tracking). `attachRequired` and `volumeLifecycleModes` are fixed at creation.

use super::csi_driver_name_validator;
use crate::registry::resources::shared::{arr, immutable, object_at};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::NameValidator;
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::storage::v1::CSIDriver;
use serde_json::{Value, json};

const FS_GROUP_POLICIES: &[&str] = &["File", "None", "ReadWriteOnceWithFSType"];
const LIFECYCLE_MODES: &[&str] = &["Ephemeral", "Persistent"];
const MIN_TOKEN_SECONDS: i64 = 600;
const MAX_TOKEN_SECONDS: i64 = 1 << 32;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            super::GROUP,
            "v1",
            "csidrivers",
            "CSIDriver",
            "csidriver",
            false,
        ),
        CsiDrivers,
    )
}

pub struct CsiDrivers;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "AttachRequired",
        "boolean",
        "attachRequired indicates this CSI volume driver requires an attach operation (because it implements the CSI ControllerPublishVolume() method), and that the Kubernetes attach detach controller should call the attach volume interface which checks the volumeattachment status and waits until the volume is attached before proceeding to mounting. The CSI external-attacher coordinates with CSI volume driver and updates the volumeattachment status when the attach operation is complete. If the value is specified to false, the attach operation will be skipped. Otherwise the attach operation will be called.\n\nThis field is immutable.",
    ),
    Column::new(
        "PodInfoOnMount",
        "boolean",
        "podInfoOnMount indicates this CSI volume driver requires additional pod information (like podName, podUID, etc.) during mount operations, if set to true. If set to false, pod information will not be passed on mount. Default is false.",
    ),
    Column::new(
        "StorageCapacity",
        "boolean",
        "storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity that the driver deployment will report by creating CSIStorageCapacity objects with capacity information, if set to true.",
    ),
    Column::new(
        "TokenRequests",
        "string",
        "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for to do necessary authentication.",
    ),
    Column::new(
        "RequiresRepublish",
        "boolean",
        "requiresRepublish indicates the CSI driver wants `NodePublishVolume` being periodically called to reflect any possible change in the mounted volume.",
    ),
    Column::new(
        "Modes",
        "string",
        "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports. The default if the list is empty is \"Persistent\", which is the usage defined by the CSI specification and implemented in Kubernetes via the usual PV/PVC mechanism.",
    ),
    AGE,
];

impl Strategy for CsiDrivers {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<CSIDriver>(body)
    }

    fn name_validator(&self) -> NameValidator {
        csi_driver_name_validator
    }

    fn default(&self, obj: &mut Value) {
        let m = object_at(obj, &["spec"]);
        {
            m.entry("attachRequired").or_insert(json!(true));
            m.entry("podInfoOnMount").or_insert(json!(false));
            m.entry("storageCapacity").or_insert(json!(false));
            m.entry("fsGroupPolicy")
                .or_insert(json!("ReadWriteOnceWithFSType"));
            m.entry("requiresRepublish").or_insert(json!(false));
            m.entry("seLinuxMount").or_insert(json!(false));
            let empty = m
                .get("volumeLifecycleModes")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
            if empty {
                m.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        for field in ["attachRequired", "podInfoOnMount", "storageCapacity"] {
            if obj.pointer(&format!("/spec/{field}")).is_none() {
                errs.push(FieldError::required(format!("spec.{field}"), ""));
            }
        }
        if let Some(p) = obj.pointer("/spec/fsGroupPolicy").and_then(Value::as_str)
            && !FS_GROUP_POLICIES.contains(&p)
        {
            errs.push(FieldError::not_supported(
                "spec.fsGroupPolicy",
                p,
                FS_GROUP_POLICIES,
            ));
        }
        for mode in arr(obj, "/spec/volumeLifecycleModes") {
            let mode = mode.as_str().unwrap_or_default();
            if !LIFECYCLE_MODES.contains(&mode) {
                errs.push(FieldError::not_supported(
                    "spec.volumeLifecycleModes",
                    mode,
                    LIFECYCLE_MODES,
                ));
            }
        }
        let mut audiences = std::collections::HashSet::new();
        for (i, t) in arr(obj, "/spec/tokenRequests").iter().enumerate() {
            let p = index("spec.tokenRequests", i);
            let audience = t
                .get("audience")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !audiences.insert(audience) {
                errs.push(FieldError::duplicate(child(&p, "audience"), audience));
            }
            if let Some(secs) = t.get("expirationSeconds").and_then(Value::as_i64) {
                if secs < MIN_TOKEN_SECONDS {
                    errs.push(FieldError::invalid(
                        child(&p, "expirationSeconds"),
                        secs,
                        "may not specify a duration less than 10 minutes",
                    ));
                }
                if secs > MAX_TOKEN_SECONDS {
                    errs.push(FieldError::invalid(
                        child(&p, "expirationSeconds"),
                        secs,
                        "may not specify a duration larger than 2^32 seconds",
                    ));
                }
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        // Upstream's path really says `attachedRequired`.
        errs.extend(immutable(
            new,
            old,
            "/spec/attachRequired",
            "spec.attachedRequired",
        ));
        errs.extend(immutable(
            new,
            old,
            "/spec/volumeLifecycleModes",
            "spec.volumeLifecycleModes",
        ));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let flag = |k: &str, d: bool| {
            obj.pointer(&format!("/spec/{k}"))
                .and_then(Value::as_bool)
                .unwrap_or(d)
        };
        let tokens = match obj.pointer("/spec/tokenRequests").and_then(Value::as_array) {
            None => "<unset>".to_string(),
            Some(t) => t
                .iter()
                .map(|t| {
                    t.get("audience")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(","),
        };
        let modes: Vec<&str> = arr(obj, "/spec/volumeLifecycleModes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let modes = if modes.is_empty() {
            "<none>".to_string()
        } else {
            modes.join(",")
        };
        vec![
            table::name(obj),
            json!(flag("attachRequired", true)),
            json!(flag("podInfoOnMount", false)),
            json!(flag("storageCapacity", false)),
            json!(tokens),
            json!(flag("requiresRepublish", false)),
            json!(modes),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_rows() {
        let mut d = json!({"metadata": {"name": "csi.example.com"}});
        CsiDrivers.default(&mut d);
        assert_eq!(d["spec"]["attachRequired"], true);
        assert_eq!(d["spec"]["volumeLifecycleModes"], json!(["Persistent"]));
        assert!(CsiDrivers.validate(&d).is_empty());
        let row = CsiDrivers.table_row(&d);
        assert_eq!(row[4], "<unset>");
        assert_eq!(row[6], "Persistent");
        let mut new = d.clone();
        new["spec"]["attachRequired"] = json!(false);
        assert_eq!(
            CsiDrivers.validate_update(&new, &d)[0].to_string(),
            "spec.attachedRequired: Invalid value: false: field is immutable"
        );
    }
}
