//! PersistentVolumes (cluster-scoped) and the access-mode and class helpers claims share.

use super::common::{one_of, str_at, strings_at, validate_resource_list};
use super::docs;
use super::quantity::{self, Quantity};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{FieldError, FieldErrors, index};
use k8s_openapi::api::core::v1::PersistentVolume;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status("", "v1", "PersistentVolume")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "",
            "v1",
            "persistentvolumes",
            "PersistentVolume",
            "persistentvolume",
            false,
        )
        .short_names(&["pv"])
        .subresources(SUBRESOURCES),
        PersistentVolumes,
    )
}

pub struct PersistentVolumes;

pub const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
/// The beta annotation that still names a volume's class when present.
pub const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Capacity", "string", docs::PV_CAPACITY),
    Column::new("Access Modes", "string", docs::PV_ACCESS_MODES),
    Column::new("Reclaim Policy", "string", docs::PV_RECLAIM_POLICY),
    Column::new("Status", "string", docs::PV_PHASE),
    Column::new("Claim", "string", docs::PV_CLAIM_REF),
    Column::new("StorageClass", "string", "StorageClass of the pv"),
    Column::new(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    Column::new("Reason", "string", docs::PV_REASON),
    AGE,
    Column::new("VolumeMode", "string", docs::PV_VOLUME_MODE).wide(),
];

/// Upstream's `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, each once.
pub fn access_modes_string(modes: &[String]) -> String {
    let order = [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ];
    order
        .iter()
        .filter(|(m, _)| modes.iter().any(|x| x == m))
        .map(|(_, s)| *s)
        .collect::<Vec<_>>()
        .join(",")
}

/// The class of a volume or claim: the beta annotation wins over `spec.storageClassName`.
pub fn storage_class(obj: &Value) -> String {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(obj, "/spec/storageClassName"))
        .to_string()
}

/// The canonical `storage` quantity of a resource map, or "".
pub fn storage_of(list: Option<&Value>) -> String {
    list.and_then(|l| l.get("storage"))
        .and_then(|v| Quantity::from_json(v).ok())
        .map(|q| q.canonical())
        .unwrap_or_else(|| "0".to_string())
}

/// Validates access modes at `path`: required, known, and `ReadWriteOncePod` alone.
pub fn validate_access_modes(modes: &[String], path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    if modes.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(path, m.as_str(), ACCESS_MODES));
        }
    }
    if modes.iter().any(|m| m == "ReadWriteOncePod") && modes.len() > 1 {
        errs.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errs
}

/// The volume sources a PersistentVolume may have.
const PV_SOURCES: &[&str] = &[
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "hostPath",
    "glusterfs",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "local",
    "iscsi",
    "cinder",
    "fc",
    "flocker",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
];

fn validate_pv(obj: &Value) -> FieldErrors {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let mut errs = validate_access_modes(&strings_at(spec, "/accessModes"), "spec.accessModes");
    match spec.get("capacity").and_then(Value::as_object) {
        None => errs.push(FieldError::required("spec.capacity", "")),
        Some(c) if c.is_empty() => errs.push(FieldError::required("spec.capacity", "")),
        Some(c) => {
            for k in c.keys().filter(|k| *k != "storage") {
                errs.push(FieldError::not_supported(
                    "spec.capacity",
                    k.as_str(),
                    &["storage"],
                ));
            }
            errs.extend(validate_resource_list(
                spec.get("capacity"),
                "spec.capacity",
            ));
        }
    }
    let sources: Vec<&str> = PV_SOURCES
        .iter()
        .copied()
        .filter(|s| spec.get(*s).is_some_and(|v| !v.is_null()))
        .collect();
    match sources.len() {
        0 => errs.push(FieldError::required("spec", "must specify a volume type")),
        1 => {}
        _ => errs.push(FieldError::forbidden(
            format!("spec.{}", sources[1]),
            "may not specify more than 1 volume type",
        )),
    }
    if let Some(h) = spec.get("hostPath").filter(|h| h.is_object())
        && str_at(h, "/path").is_empty()
    {
        errs.push(FieldError::required("spec.hostPath.path", ""));
    }
    if let Some(l) = spec.get("local").filter(|l| l.is_object())
        && str_at(l, "/path").is_empty()
    {
        errs.push(FieldError::required("spec.local.path", ""));
    }
    errs.extend(one_of(
        spec.get("persistentVolumeReclaimPolicy")
            .and_then(Value::as_str),
        "spec.persistentVolumeReclaimPolicy",
        &["Delete", "Recycle", "Retain"],
        false,
    ));
    errs.extend(one_of(
        spec.get("volumeMode").and_then(Value::as_str),
        "spec.volumeMode",
        &["Block", "Filesystem"],
        false,
    ));
    let class = str_at(spec, "/storageClassName");
    if !class.is_empty() {
        errs.extend(super::common::dns_subdomain(class, "spec.storageClassName"));
    }
    for (i, o) in strings_at(spec, "/mountOptions").iter().enumerate() {
        if o.is_empty() {
            errs.push(FieldError::required(index("spec.mountOptions", i), ""));
        }
    }
    errs
}

impl Strategy for PersistentVolumes {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        quantity::canonicalize_at(&mut body, &["/spec/capacity"])?;
        typed::round_trip::<PersistentVolume>(body)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
            super::common::default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
            super::common::default_str(spec, "volumeMode", "Filesystem");
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({
            "phase": "Pending",
            "lastPhaseTransitionTime": crate::clock::now(),
        });
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        // A phase change stamps its time unless the writer did.
        let (np, op) = (str_at(new, "/status/phase"), str_at(old, "/status/phase"));
        if np != op
            && new.pointer("/status/lastPhaseTransitionTime")
                == old.pointer("/status/lastPhaseTransitionTime")
        {
            new["status"]["lastPhaseTransitionTime"] = json!(crate::clock::now());
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_pv(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = validate_pv(new);
        // The volume source is immutable; other spec fields may change.
        for src in PV_SOURCES {
            let p = format!("/spec/{src}");
            if old.pointer(&p).is_some() && new.pointer(&p) != old.pointer(&p) {
                errs.push(FieldError::forbidden(
                    "spec.persistentvolumesource",
                    format!(
                        "spec.persistentvolumesource is immutable after creation\n{}",
                        new.pointer(&p).cloned().unwrap_or(Value::Null)
                    ),
                ));
                break;
            }
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let claim = match obj.pointer("/spec/claimRef").filter(|c| c.is_object()) {
            Some(c) => format!("{}/{}", str_at(c, "/namespace"), str_at(c, "/name")),
            None => String::new(),
        };
        let phase = if apimachinery::meta::deletion_timestamp(obj).is_some() {
            "Terminating".to_string()
        } else {
            str_at(obj, "/status/phase").to_string()
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
            json!(storage_of(obj.pointer("/spec/capacity"))),
            json!(access_modes_string(&strings_at(obj, "/spec/accessModes"))),
            json!(str_at(obj, "/spec/persistentVolumeReclaimPolicy")),
            json!(phase),
            json!(claim),
            json!(storage_class(obj)),
            json!(unset(str_at(obj, "/spec/volumeAttributesClassName"))),
            json!(str_at(obj, "/status/reason")),
            table::age(obj),
            json!(unset(str_at(obj, "/spec/volumeMode"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv() -> Value {
        let mut v = json!({"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "hostPath": {"path": "/d"},
            "claimRef": {"namespace": "ns", "name": "c"}}, "status": {"phase": "Bound"}});
        PersistentVolumes.default(&mut v);
        v
    }

    #[test]
    fn defaults_and_rows() {
        let v = pv();
        assert_eq!(v["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(v["spec"]["volumeMode"], "Filesystem");
        let row = PersistentVolumes.table_row(&v);
        assert_eq!(row[1], "1Gi");
        assert_eq!(row[2], "RWO,RWX");
        assert_eq!(row[3], "Retain");
        assert_eq!(row[4], "Bound");
        assert_eq!(row[5], "ns/c");
        assert_eq!(row[6], "");
        assert_eq!(row[7], "<unset>");
        assert_eq!(row[10], "Filesystem");
        assert!(validate_pv(&v).is_empty());
    }

    #[test]
    fn validation() {
        let v = json!({"spec": {"accessModes": ["Sometimes"]}});
        let e: Vec<String> = validate_pv(&v).iter().map(ToString::to_string).collect();
        assert!(
            e.contains(&"spec.capacity: Required value".to_string()),
            "{e:?}"
        );
        assert!(
            e.contains(&"spec: Required value: must specify a volume type".to_string()),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("spec.accessModes: Unsupported value: \"Sometimes\"")),
            "{e:?}"
        );
    }

    #[test]
    fn create_starts_pending() {
        let mut v = pv();
        PersistentVolumes.prepare_for_create(&mut v);
        assert_eq!(v["status"]["phase"], "Pending");
    }
}
