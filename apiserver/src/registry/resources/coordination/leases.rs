//! Leases: a holder identity with acquire/renew times, used for node heartbeats and leader
//! election. The coordinated-leader-election fields (`strategy`, `preferredHolder`) belong to
//! a feature gate that is off, so they are dropped as upstream drops disabled fields.

use crate::registry::resources::shared::s;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::coordination::v1::Lease;
use serde_json::{Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            "lease",
            true,
        ),
        Leases,
    )
}

pub struct Leases;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
    ),
    AGE,
];

fn drop_disabled(obj: &mut Value, old: Option<&Value>) {
    for field in ["strategy", "preferredHolder"] {
        let in_use = old.is_some_and(|o| o.pointer(&format!("/spec/{field}")).is_some());
        if !in_use && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove(field);
        }
    }
}

impl Strategy for Leases {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Lease>(body)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        drop_disabled(obj, None);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        drop_disabled(new, Some(old));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        if let Some(d) = obj
            .pointer("/spec/leaseDurationSeconds")
            .and_then(Value::as_i64)
            && d <= 0
        {
            errs.push(FieldError::invalid(
                "spec.leaseDurationSeconds",
                d,
                "must be greater than 0",
            ));
        }
        if let Some(t) = obj
            .pointer("/spec/leaseTransitions")
            .and_then(Value::as_i64)
            && t < 0
        {
            errs.push(FieldError::invalid(
                "spec.leaseTransitions",
                t,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(st) = obj.pointer("/spec/strategy").and_then(Value::as_str)
            && st != "OldestEmulationVersion"
        {
            errs.push(FieldError::not_supported(
                "spec.strategy",
                st,
                &["OldestEmulationVersion"],
            ));
        }
        if !s(obj, "/spec/preferredHolder").is_empty() && obj.pointer("/spec/strategy").is_none() {
            errs.push(FieldError::forbidden(
                "spec.preferredHolder",
                "may only be specified if `strategy` is defined",
            ));
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![
            table::name(obj),
            json!(s(obj, "/spec/holderIdentity")),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_durations_and_prints_holder() {
        let l = json!({"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 0, "leaseTransitions": -1}});
        let errs: Vec<String> = Leases
            .validate(&l)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
        assert_eq!(Leases.table_row(&l)[1], "n1");
        let mut l = json!({"spec": {"strategy": "OldestEmulationVersion", "preferredHolder": "x"}});
        Leases.prepare_for_create(&mut l);
        assert_eq!(l, json!({"spec": {}}));
    }
}
