//! Secrets: base64 `data` by key, with `stringData` merged into it on write; each built-in
//! `type` requires its keys; `immutable` freezes them.

use super::common::{IMMUTABLE, str_at};
use super::configmaps::MAX_DATA_SIZE;
use super::docs;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{FieldError, FieldErrors, key};
use apimachinery::validation::is_config_map_key;
use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "secrets", "Secret", "secret", true),
        Secrets,
    )
}

pub struct Secrets;

pub const SERVICE_ACCOUNT_NAME_KEY: &str = "kubernetes.io/service-account.name";

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Type", "string", docs::SECRET_TYPE),
    Column::new("Data", "string", docs::SECRET_DATA),
    AGE,
];

fn decoded(obj: &Value, k: &str) -> Option<Vec<u8>> {
    obj.pointer("/data")
        .and_then(|d| d.get(k))
        .and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
}

fn has_key(obj: &Value, k: &str) -> bool {
    decoded(obj, k).is_some_and(|v| !v.is_empty())
}

/// Upstream's `ValidateSecret`.
fn validate_secret(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let mut total = 0;
    for (k, v) in obj
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for msg in is_config_map_key(k) {
            errs.push(FieldError::invalid(key("data", k), k.as_str(), msg));
        }
        total += v
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .map_or(0, |b| b.len());
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long("data", MAX_DATA_SIZE));
    }
    let required = |errs: &mut FieldErrors, k: &str| {
        if !has_key(obj, k) {
            errs.push(FieldError::required(key("data", k), ""));
        }
    };
    match str_at(obj, "/type") {
        "kubernetes.io/service-account-token"
            if obj
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(SERVICE_ACCOUNT_NAME_KEY))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty) =>
        {
            errs.push(FieldError::required(
                key("metadata.annotations", SERVICE_ACCOUNT_NAME_KEY),
                "",
            ));
        }
        "kubernetes.io/dockercfg" => {
            required(&mut errs, ".dockercfg");
            if let Some(b) = decoded(obj, ".dockercfg").filter(|b| !b.is_empty())
                && let Err(e) = serde_json::from_slice::<Value>(&b)
            {
                errs.push(FieldError::invalid(
                    key("data", ".dockercfg"),
                    "<secret contents redacted>",
                    e.to_string(),
                ));
            }
        }
        "kubernetes.io/dockerconfigjson" => {
            required(&mut errs, ".dockerconfigjson");
            if let Some(b) = decoded(obj, ".dockerconfigjson").filter(|b| !b.is_empty())
                && let Err(e) = serde_json::from_slice::<Value>(&b)
            {
                errs.push(FieldError::invalid(
                    key("data", ".dockerconfigjson"),
                    "<secret contents redacted>",
                    e.to_string(),
                ));
            }
        }
        "kubernetes.io/basic-auth" if !has_key(obj, "username") && !has_key(obj, "password") => {
            errs.push(FieldError::required(key("data", "username"), ""));
            errs.push(FieldError::required(key("data", "password"), ""));
        }
        "kubernetes.io/ssh-auth" => required(&mut errs, "ssh-privatekey"),
        "kubernetes.io/tls" => {
            required(&mut errs, "tls.key");
            required(&mut errs, "tls.crt");
        }
        _ => {}
    }
    errs
}

impl Strategy for Secrets {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Secret>(body)
    }

    fn default(&self, obj: &mut Value) {
        if str_at(obj, "/type").is_empty() {
            obj["type"] = json!("Opaque");
        }
        // stringData is write-only: it overwrites data and is never stored.
        if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
            if !obj.get("data").is_some_and(Value::is_object) {
                obj["data"] = json!({});
            }
            for (k, v) in sd {
                let raw = v.as_str().unwrap_or_default();
                obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(raw));
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_secret(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let (nt, ot) = (str_at(new, "/type"), str_at(old, "/type"));
        if nt != ot {
            errs.push(FieldError::invalid("type", nt, IMMUTABLE));
        }
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
        }
        errs.extend(validate_secret(new));
        errs
    }

    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![("type", str_at(obj, "/type").to_string())]
    }

    fn selectable_field_names(&self) -> &'static [&'static str] {
        &["type"]
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![
            table::name(obj),
            json!(str_at(obj, "/type")),
            table::count_keys(obj, "data").into(),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_data_merges_into_data() {
        let mut s = json!({"data": {"a": "eA=="}, "stringData": {"a": "y", "b": "z"}});
        Secrets.default(&mut s);
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"], json!({"a": "eQ==", "b": "eg=="}));
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn typed_secrets_need_their_keys() {
        let e = |v: Value| -> Vec<String> {
            validate_secret(&v)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            e(json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}})),
            vec!["data[tls.key]: Required value"]
        );
        assert_eq!(
            e(json!({"type": "kubernetes.io/basic-auth"})),
            vec![
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
        assert_eq!(
            e(json!({"type": "kubernetes.io/service-account-token", "metadata": {}})),
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        assert_eq!(
            e(json!({"type": "Opaque", "data": {"bad key": "eA=="}}))[0],
            "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
        );
    }

    #[test]
    fn rows_and_fields() {
        let s = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "", "b": ""}});
        let row = Secrets.table_row(&s);
        assert_eq!(row[1], "Opaque");
        assert_eq!(row[2], 2);
        assert_eq!(
            Secrets.selectable_fields(&s),
            vec![("type", "Opaque".to_string())]
        );
    }

    #[test]
    fn type_is_immutable() {
        let old = json!({"type": "Opaque"});
        let new =
            json!({"type": "kubernetes.io/tls", "data": {"tls.key": "eA==", "tls.crt": "eA=="}});
        assert_eq!(
            Secrets.validate_update(&new, &old)[0].to_string(),
            "type: Invalid value: \"kubernetes.io/tls\": field is immutable"
        );
    }
}
