//! `storage.k8s.io/v1`: StorageClasses, VolumeAttachments, CSIDrivers, CSINodes and
//! CSIStorageCapacities.

pub mod csidrivers;
pub mod csinodes;
pub mod csistoragecapacities;
pub mod storageclasses;
pub mod volumeattachments;

use crate::registry::Resource;
use apimachinery::validation::{is_dns1123_subdomain, max_len_error};
use apimachinery::{FieldError, FieldErrors};

pub const GROUP: &str = "storage.k8s.io";
const CSI_DRIVER_NAME_MAX: usize = 63;

pub fn resources() -> Vec<Resource> {
    vec![
        csidrivers::resource(),
        csinodes::resource(),
        csistoragecapacities::resource(),
        storageclasses::resource(),
        volumeattachments::resource(),
    ]
}

/// `ValidateCSIDriverName`: required, at most 63 characters, a DNS subdomain.
fn validate_csi_driver_name(name: &str, path: &str) -> FieldErrors {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    if name.len() > CSI_DRIVER_NAME_MAX {
        errs.push(FieldError::too_long(path, CSI_DRIVER_NAME_MAX));
    }
    for msg in is_dns1123_subdomain(&name.to_lowercase()) {
        errs.push(FieldError::invalid(path, name, msg));
    }
    errs
}

/// The same rule as a metadata name validator (CSIDriver names are driver names).
fn csi_driver_name_validator(name: &str, _prefix: bool) -> Vec<String> {
    let mut msgs = Vec::new();
    if name.len() > CSI_DRIVER_NAME_MAX {
        msgs.push(max_len_error(CSI_DRIVER_NAME_MAX));
    }
    msgs.extend(is_dns1123_subdomain(&name.to_lowercase()));
    msgs
}
