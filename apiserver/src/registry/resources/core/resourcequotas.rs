//! ResourceQuotas: hard limits per namespace; the quota controller keeps `status.used`.

use super::common::{array_at, one_of, validate_resource_list};
use super::quantity::{self, Quantity};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{FieldErrors, index};
use k8s_openapi::api::core::v1::ResourceQuota;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status("", "v1", "ResourceQuota")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "",
            "v1",
            "resourcequotas",
            "ResourceQuota",
            "resourcequota",
            true,
        )
        .short_names(&["quota"])
        .subresources(SUBRESOURCES),
        ResourceQuotas,
    )
}

pub struct ResourceQuotas;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    Column::new(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

const SCOPES: &[&str] = &[
    "BestEffort",
    "CrossNamespacePodAffinity",
    "NotBestEffort",
    "NotTerminating",
    "PriorityClass",
    "Terminating",
    "VolumeAttributesClass",
];

/// Upstream's `printResourceQuota`: `resource: used/hard` pairs sorted by name, limits apart.
fn quota_cells(obj: &Value) -> (String, String) {
    let hard = obj.pointer("/status/hard").and_then(Value::as_object);
    let mut names: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
    names.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for name in names {
        let show = |v: Option<&Value>| {
            v.and_then(|v| Quantity::from_json(v).ok())
                .unwrap_or(Quantity::ZERO)
                .canonical()
        };
        let used = show(obj.pointer("/status/used").and_then(|u| u.get(name)));
        let h = show(hard.and_then(|h| h.get(name)));
        let cell = format!("{name}: {used}/{h}");
        if name.split('.').next() == Some("limits") && name.contains('.') {
            limits.push(cell);
        } else {
            requests.push(cell);
        }
    }
    (requests.join(", "), limits.join(", "))
}

impl Strategy for ResourceQuotas {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        quantity::canonicalize_at(&mut body, &["/spec/hard", "/status/hard", "/status/used"])?;
        typed::round_trip::<ResourceQuota>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = validate_resource_list(obj.pointer("/spec/hard"), "spec.hard");
        for (i, s) in array_at(obj, "/spec/scopes").iter().enumerate() {
            errs.extend(one_of(s.as_str(), &index("spec.scopes", i), SCOPES, true));
        }
        for (i, s) in array_at(obj, "/spec/scopeSelector/matchExpressions")
            .iter()
            .enumerate()
        {
            let p = format!("spec.scopeSelector.matchExpressions[{i}]");
            errs.extend(one_of(
                s.get("scopeName").and_then(Value::as_str),
                &format!("{p}.scopeName"),
                SCOPES,
                true,
            ));
            errs.extend(one_of(
                s.get("operator").and_then(Value::as_str),
                &format!("{p}.operator"),
                &["In", "NotIn", "Exists", "DoesNotExist"],
                true,
            ));
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let mut errs = validate_resource_list(new.pointer("/status/hard"), "status.hard");
        errs.extend(validate_resource_list(
            new.pointer("/status/used"),
            "status.used",
        ));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let (req, lim) = quota_cells(obj);
        vec![table::name(obj), json!(req), json!(lim), table::age(obj)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_like_kubectl() {
        let q = json!({"metadata": {"name": "q"}, "status": {
            "hard": {"pods": "10", "limits.cpu": "2", "requests.memory": "1Gi"},
            "used": {"pods": "1", "limits.cpu": "500m"}}});
        let row = ResourceQuotas.table_row(&q);
        assert_eq!(row[1], "pods: 1/10, requests.memory: 0/1Gi");
        assert_eq!(row[2], "limits.cpu: 500m/2");
    }

    #[test]
    fn validation() {
        let q = json!({"spec": {"hard": {"pods": "-1"}, "scopes": ["Sometimes"]}});
        let e: Vec<String> = ResourceQuotas
            .validate(&q)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            e.contains(
                &"spec.hard[pods]: Invalid value: \"-1\": must be greater than or equal to 0"
                    .to_string()
            ),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("spec.scopes[0]: Unsupported value: \"Sometimes\"")),
            "{e:?}"
        );
    }
}
