//! PodDisruptionBudgets: how many selected pods voluntary disruptions (evictions) must leave
//! running, as `minAvailable` or `maxUnavailable` (one of the two). The disruption controller
//! writes the status; evictions read it.

use crate::registry::resources::apps::common::{self, int_or_string_text, nonnegative};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrorKind, FieldErrors};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(
    "policy",
    "v1",
    "PodDisruptionBudget",
)];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            "poddisruptionbudget",
            true,
        )
        .short_names(&["pdb"])
        .subresources(SUBRESOURCES),
        PodDisruptionBudgets,
    )
}

pub struct PodDisruptionBudgets;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    Column::new(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    Column::new(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

impl Strategy for PodDisruptionBudgets {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<PodDisruptionBudget>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        common::reset_status(
            obj,
            &[
                "currentHealthy",
                "desiredHealthy",
                "disruptionsAllowed",
                "expectedPods",
            ],
        );
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_spec(obj.get("spec").unwrap_or(&Value::Null), false)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        // Selectors stored before label values were checked strictly stay acceptable.
        let old_sel = old.pointer("/spec/selector");
        let allow = common::validate_label_selector(old_sel, "spec.selector", false)
            .iter()
            .any(|e| e.field.contains(".values["));
        validate_spec(new.get("spec").unwrap_or(&Value::Null), allow)
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let s = new.get("status").unwrap_or(&Value::Null);
        let mut errs = Vec::new();
        let conditions = s.get("conditions").and_then(Value::as_array);
        for (i, c) in conditions.into_iter().flatten().enumerate() {
            let p = format!("status.conditions[{i}]");
            for f in ["type", "status", "reason"] {
                if c.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("{p}.{f}"), ""));
                }
            }
            if c.get("lastTransitionTime").is_none_or(Value::is_null) {
                errs.push(FieldError::required(
                    format!("{p}.lastTransitionTime"),
                    "must be set",
                ));
            }
        }
        for f in [
            "disruptionsAllowed",
            "currentHealthy",
            "desiredHealthy",
            "expectedPods",
        ] {
            errs.extend(nonnegative(s, &format!("/{f}"), &format!("status.{f}")));
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let cell = |f: &str| {
            obj.pointer(&format!("/spec/{f}"))
                .filter(|v| !v.is_null())
                .map_or_else(|| "N/A".to_string(), int_or_string_text)
        };
        vec![
            table::name(obj),
            json!(cell("minAvailable")),
            json!(cell("maxUnavailable")),
            json!(
                obj.pointer("/status/disruptionsAllowed")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            ),
            table::age(obj),
        ]
    }
}

fn validate_spec(spec: &Value, allow_invalid_selector_values: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let min = spec.get("minAvailable").filter(|v| !v.is_null());
    let max = spec.get("maxUnavailable").filter(|v| !v.is_null());
    if min.is_some() && max.is_some() {
        // Upstream prints the spec struct with Go's %#v, pointers as addresses.
        errs.push(FieldError {
            kind: FieldErrorKind::Invalid,
            field: "spec".into(),
            value: None,
            detail: format!(
                "policy.PodDisruptionBudgetSpec{{MinAvailable:(*intstr.IntOrString)(0xc000000000), Selector:{}, MaxUnavailable:(*intstr.IntOrString)(0xc000000000), UnhealthyPodEvictionPolicy:{}}}: minAvailable and maxUnavailable cannot be both set",
                if spec.get("selector").is_some_and(|s| !s.is_null()) {
                    "(*v1.LabelSelector)(0xc000000000)"
                } else {
                    "(*v1.LabelSelector)(nil)"
                },
                if spec.get("unhealthyPodEvictionPolicy").is_some_and(|s| !s.is_null()) {
                    "(*policy.UnhealthyPodEvictionPolicyType)(0xc000000000)"
                } else {
                    "(*policy.UnhealthyPodEvictionPolicyType)(nil)"
                }
            ),
        });
    }
    for (v, f) in [(min, "minAvailable"), (max, "maxUnavailable")] {
        if let Some(v) = v {
            let p = format!("spec.{f}");
            errs.extend(common::validate_positive_int_or_percent(v, &p));
            errs.extend(common::not_more_than_100_percent(v, &p));
        }
    }
    errs.extend(common::validate_label_selector(
        spec.get("selector"),
        "spec.selector",
        allow_invalid_selector_values,
    ));
    if let Some(policy) = spec
        .get("unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        && !matches!(policy, "AlwaysAllow" | "IfHealthyBudget")
    {
        errs.push(FieldError::not_supported(
            "spec.unhealthyPodEvictionPolicy",
            policy,
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb() -> Value {
        json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "d"}}, "minAvailable": 1}
        })
    }

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn validation_messages() {
        assert!(PodDisruptionBudgets.validate(&pdb()).is_empty());
        let mut p = pdb();
        p["spec"]["maxUnavailable"] = json!("120%");
        let errs = messages(&PodDisruptionBudgets.validate(&p));
        assert!(errs[0].starts_with("spec: Invalid value: policy.PodDisruptionBudgetSpec{"));
        assert!(errs[0].ends_with(": minAvailable and maxUnavailable cannot be both set"));
        assert_eq!(
            errs[1],
            "spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"120%\"}: must not be greater than 100%"
        );
        let mut p = pdb();
        p["spec"]["selector"] = json!({"matchLabels": {"app": "-bad-"}});
        p["spec"]["unhealthyPodEvictionPolicy"] = json!("Never");
        let errs = messages(&PodDisruptionBudgets.validate(&p));
        assert!(errs[0].starts_with("spec.selector.matchLabels: Invalid value: \"-bad-\""));
        assert_eq!(
            errs[1],
            "spec.unhealthyPodEvictionPolicy: Unsupported value: \"Never\": supported values: \"AlwaysAllow\", \"IfHealthyBudget\""
        );
    }

    #[test]
    fn status_and_row() {
        let mut p = pdb();
        PodDisruptionBudgets.prepare_for_create(&mut p);
        assert_eq!(
            p["status"],
            json!({"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0})
        );
        p["status"]["disruptionsAllowed"] = json!(-1);
        assert_eq!(
            messages(&PodDisruptionBudgets.validate_status_update(&p, &p)),
            vec![
                "status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0"
            ]
        );
        p["status"]["disruptionsAllowed"] = json!(2);
        let row = PodDisruptionBudgets.table_row(&p);
        assert_eq!(row[1], "1");
        assert_eq!(row[2], "N/A");
        assert_eq!(row[3], 2);
    }
}
