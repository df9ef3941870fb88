//! PriorityClasses: named pod priorities. Names starting with `system-` are reserved for the
//! two built-in classes the apiserver bootstraps, and user classes stay at or below one
//! billion. The value and preemption policy are fixed at creation.
//!
//! Upstream's `Priority` admission plugin also allows only one `globalDefault` class; that
//! needs a list of the other classes, which a strategy does not see.

use crate::registry::resources::shared::immutable;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors, meta};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde_json::{Value, json};

/// The prefix reserved for system classes.
pub const SYSTEM_PREFIX: &str = "system-";
/// The highest value a user-defined class may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;
/// The built-in classes: name, value, globalDefault.
pub const SYSTEM_CLASSES: &[(&str, i64, bool)] = &[
    ("system-node-critical", 2_000_001_000, false),
    ("system-cluster-critical", 2_000_000_000, false),
];
const PREEMPTION_POLICIES: &[&str] = &["Never", "PreemptLowerPriority"];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "PriorityClass",
            "priorityclass",
            false,
        )
        .short_names(&["pc"]),
        PriorityClasses,
    )
}

pub struct PriorityClasses;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Value",
        "integer",
        "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
    ),
    Column::new(
        "Global-Default",
        "boolean",
        "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.",
    ),
    AGE,
    Column::new(
        "PreemptionPolicy",
        "string",
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
    ),
];

/// `IsKnownSystemPriorityClass`: `Err` says why a `system-` class is not acceptable.
fn check_system_class(name: &str, value: i64, global_default: bool) -> Result<(), String> {
    let Some((n, v, g)) = SYSTEM_CLASSES.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("{name} is not a known system priority class"));
    };
    if value != *v {
        return Err(format!("value of {n} PriorityClass must be {v}"));
    }
    if global_default != *g {
        return Err(format!("globalDefault of {n} PriorityClass must be {g}"));
    }
    Ok(())
}

impl Strategy for PriorityClasses {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<PriorityClass>(body)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.entry("preemptionPolicy")
                .or_insert(json!("PreemptLowerPriority"));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let name = meta::name(obj);
        let value = obj.get("value").and_then(Value::as_i64).unwrap_or(0);
        let global_default = obj
            .get("globalDefault")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if name.starts_with(SYSTEM_PREFIX) {
            if let Err(why) = check_system_class(name, value, global_default) {
                errs.push(FieldError::forbidden(
                    "metadata.name",
                    format!(
                        "priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system use only. error: {why}"
                    ),
                ));
            }
        } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
            errs.push(FieldError::forbidden(
                "value",
                format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
                ),
            ));
        }
        if let Some(p) = obj.get("preemptionPolicy").and_then(Value::as_str)
            && !PREEMPTION_POLICIES.contains(&p)
        {
            errs.push(FieldError::not_supported(
                "preemptionPolicy",
                p,
                PREEMPTION_POLICIES,
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        if new.get("value") != old.get("value") {
            errs.push(FieldError::forbidden(
                "value",
                "may not be changed in an update.",
            ));
        }
        errs.extend(immutable(new, old, "/preemptionPolicy", "preemptionPolicy"));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![
            table::name(obj),
            json!(obj.get("value").and_then(Value::as_i64).unwrap_or(0)),
            json!(
                obj.get("globalDefault")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            table::age(obj),
            json!(
                obj.get("preemptionPolicy")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(obj: &Value) -> Vec<String> {
        PriorityClasses
            .validate(obj)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn system_classes_are_reserved() {
        assert!(
            messages(
                &json!({"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000})
            )
            .is_empty()
        );
        assert!(
            messages(
                &json!({"metadata": {"name": "system-cluster-critical"}, "value": 2_000_000_000})
            )
            .is_empty()
        );
        assert_eq!(
            messages(&json!({"metadata": {"name": "system-mine"}, "value": 5})),
            vec![
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"
            ]
        );
        assert_eq!(
            messages(&json!({"metadata": {"name": "system-node-critical"}, "value": 5})),
            vec![
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: value of system-node-critical PriorityClass must be 2000001000"
            ]
        );
        assert_eq!(
            messages(&json!({"metadata": {"name": "high"}, "value": 1_000_000_001})),
            vec![
                "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
            ]
        );
    }

    #[test]
    fn defaults_value_immutability_and_row() {
        let mut pc = json!({"metadata": {"name": "high"}, "value": 1000});
        PriorityClasses.default(&mut pc);
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
        let mut new = pc.clone();
        new["value"] = json!(2000);
        assert_eq!(
            PriorityClasses.validate_update(&new, &pc)[0].to_string(),
            "value: Forbidden: may not be changed in an update."
        );
        let row = PriorityClasses.table_row(&pc);
        assert_eq!(row[1], 1000);
        assert_eq!(row[2], false);
        assert_eq!(row[4], "PreemptLowerPriority");
    }
}
