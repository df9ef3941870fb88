//! ConfigMaps: string and binary data by key; `immutable` freezes them.

use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::key;
use apimachinery::validation::is_config_map_key;
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;

/// Upstream's cap on the total size of a ConfigMap's (and Secret's) data.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "configmaps", "ConfigMap", "configmap", true)
            .short_names(&["cm"]),
        ConfigMaps,
    )
}

pub struct ConfigMaps;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Data",
        "string",
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
    ),
    AGE,
];

impl Strategy for ConfigMaps {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ConfigMap>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let mut total = 0;
        let data = obj.get("data").and_then(Value::as_object);
        for (k, v) in data.into_iter().flatten() {
            for msg in is_config_map_key(k) {
                errs.push(FieldError::invalid(key("data", k), k.as_str(), msg));
            }
            total += v.as_str().map_or(0, str::len);
        }
        for (k, v) in obj
            .get("binaryData")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            for msg in is_config_map_key(k) {
                errs.push(FieldError::invalid(key("binaryData", k), k.as_str(), msg));
            }
            if data.is_some_and(|d| d.contains_key(k)) {
                errs.push(FieldError::invalid(
                    key("binaryData", k),
                    k.as_str(),
                    "duplicate of key present in data",
                ));
            }
            // Stored base64; the limit is on the decoded bytes.
            total += v.as_str().map_or(0, |s| s.len() / 4 * 3);
        }
        if total > MAX_DATA_SIZE {
            errs.push(FieldError::too_long("", MAX_DATA_SIZE));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        if old.get("immutable").and_then(Value::as_bool) == Some(true) {
            if new.get("immutable") != old.get("immutable") {
                errs.push(FieldError::forbidden(
                    "immutable",
                    "field is immutable when `immutable` is set",
                ));
            }
            if new.get("data") != old.get("data") {
                errs.push(FieldError::forbidden(
                    "data",
                    "field is immutable when `immutable` is set",
                ));
            }
            if new.get("binaryData") != old.get("binaryData") {
                errs.push(FieldError::forbidden(
                    "binaryData",
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        errs.extend(self.validate(new));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let n = table::count_keys(obj, "data") + table::count_keys(obj, "binaryData");
        vec![table::name(obj), n.into(), table::age(obj)]
    }
}
