//! ServiceAccounts: identities for pods; tokens come from the TokenRequest API.

use super::common::{array_at, str_at};
use super::docs;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::FieldErrors;
use apimachinery::field_errors::{FieldError, index};
use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::Value;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            "serviceaccount",
            true,
        )
        .short_names(&["sa"])
        .subresources(&[SubresourceInfo {
            name: "token",
            group: "authentication.k8s.io",
            version: "v1",
            kind: "TokenRequest",
            verbs: &["create"],
        }]),
        ServiceAccounts,
    )
}

pub struct ServiceAccounts;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Secrets", "string", docs::SERVICE_ACCOUNT_SECRETS),
    AGE,
];

impl Strategy for ServiceAccounts {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ServiceAccount>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        for (i, s) in array_at(obj, "/imagePullSecrets").iter().enumerate() {
            if str_at(s, "/name").is_empty() {
                errs.push(FieldError::required(
                    format!("{}.name", index("imagePullSecrets", i)),
                    "",
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
            (array_at(obj, "/secrets").len() as i64).into(),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn row_counts_secrets() {
        let sa = json!({"metadata": {"name": "default"}, "secrets": [{"name": "a"}]});
        assert_eq!(ServiceAccounts.table_row(&sa)[1], 1);
        assert_eq!(ServiceAccounts.table_row(&json!({}))[1], 0);
    }
}
