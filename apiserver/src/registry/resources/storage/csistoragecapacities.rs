//! CSIStorageCapacities: capacity a CSI driver reports for a storage class in a topology
//! segment, used by the scheduler. Printed without an age column, as upstream does.

use crate::registry::resources::shared::{s, validate_label_selector};
use crate::registry::table::{self, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::validation::is_dns1123_subdomain;
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use serde_json::{Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            super::GROUP,
            "v1",
            "csistoragecapacities",
            "CSIStorageCapacity",
            "csistoragecapacity",
            true,
        ),
        CsiStorageCapacities,
    )
}

pub struct CsiStorageCapacities;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "StorageClassName",
        "string",
        "storageClassName represents the name of the StorageClass that the reported capacity applies to. It must meet the same requirements as the name of a StorageClass object (non-empty, DNS subdomain). If that object no longer exists, the CSIStorageCapacity object is obsolete and should be removed by its creator. This field is immutable.",
    ),
    Column::new(
        "Capacity",
        "string",
        "capacity is the value reported by the CSI driver in its GetCapacityResponse for a GetCapacityRequest with topology and parameters that match the previous fields.\n\nThe semantic is currently (CSI spec 1.2) defined as: The available capacity, in bytes, of the storage that can be used to provision volumes. If not set, that information is currently unavailable.",
    ),
];

impl Strategy for CsiStorageCapacities {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<CSIStorageCapacity>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let class = s(obj, "/storageClassName");
        for msg in is_dns1123_subdomain(class) {
            errs.push(FieldError::invalid("storageClassName", class, msg));
        }
        errs.extend(validate_label_selector(
            obj.get("nodeTopology"),
            "nodeTopology",
        ));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let capacity = obj
            .get("capacity")
            .and_then(Value::as_str)
            .unwrap_or("<unset>");
        vec![
            table::name(obj),
            json!(s(obj, "/storageClassName")),
            json!(capacity),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_without_capacity() {
        let c = json!({"metadata": {"name": "c"}, "storageClassName": "fast"});
        assert!(CsiStorageCapacities.validate(&c).is_empty());
        assert_eq!(
            CsiStorageCapacities.table_row(&c),
            vec![json!("c"), json!("fast"), json!("<unset>")]
        );
    }
}
