//! CSINodes: the CSI drivers installed on a node, written by the kubelet. Named after the node.

use super::validate_csi_driver_name;
use crate::registry::resources::shared::{arr, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::is_qualified_name;
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::storage::v1::CSINode;
use serde_json::{Value, json};

const NODE_ID_MAX: usize = 192;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(super::GROUP, "v1", "csinodes", "CSINode", "csinode", false),
        CsiNodes,
    )
}

pub struct CsiNodes;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Drivers",
        "integer",
        "Drivers indicates the number of CSI drivers registered on the node",
    ),
    AGE,
];

impl Strategy for CsiNodes {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<CSINode>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, d) in arr(obj, "/spec/drivers").iter().enumerate() {
            let p = index("spec.drivers", i);
            let name = s(d, "/name");
            errs.extend(validate_csi_driver_name(name, &child(&p, "name")));
            if !names.insert(name) {
                errs.push(FieldError::duplicate(child(&p, "name"), name));
            }
            let node_id = s(d, "/nodeID");
            if node_id.is_empty() {
                errs.push(FieldError::required(child(&p, "nodeID"), ""));
            } else if node_id.len() > NODE_ID_MAX {
                errs.push(FieldError::too_long(child(&p, "nodeID"), NODE_ID_MAX));
            }
            let mut keys = std::collections::HashSet::new();
            for key in arr(d, "/topologyKeys") {
                let key = key.as_str().unwrap_or_default();
                let kp = child(&p, "topologyKeys");
                if key.is_empty() {
                    errs.push(FieldError::required(kp.clone(), ""));
                }
                if !keys.insert(key) {
                    errs.push(FieldError::duplicate(kp.clone(), key));
                }
                for msg in is_qualified_name(key) {
                    errs.push(FieldError::invalid(kp.clone(), key, msg));
                }
            }
            if let Some(count) = d.pointer("/allocatable/count").and_then(Value::as_i64)
                && count < 0
            {
                errs.push(FieldError::invalid(
                    child(&p, "allocatable.count"),
                    count,
                    "must be greater than or equal to 0",
                ));
            }
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![
            table::name(obj),
            json!(arr(obj, "/spec/drivers").len()),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_need_ids() {
        let n = json!({"metadata": {"name": "n1"}, "spec": {"drivers": [{"name": "csi.example.com", "nodeID": ""}]}});
        assert_eq!(
            CsiNodes.validate(&n)[0].to_string(),
            "spec.drivers[0].nodeID: Required value"
        );
        assert_eq!(CsiNodes.table_row(&n)[1], 1);
    }
}
