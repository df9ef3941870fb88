//! ControllerRevisions: immutable snapshots of a StatefulSet's or DaemonSet's template, kept
//! for rollbacks. `data` may not change once written.

use super::common::{IMMUTABLE_MSG, nonnegative};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::apps::v1::ControllerRevision;
use serde_json::{Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "apps",
            "v1",
            "controllerrevisions",
            "ControllerRevision",
            "controllerrevision",
            true,
        ),
        ControllerRevisions,
    )
}

pub struct ControllerRevisions;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Controller", "string", "Controller of the object"),
    Column::new(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
    ),
    AGE,
];

impl Strategy for ControllerRevisions {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ControllerRevision>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        if obj.get("data").is_none_or(Value::is_null) {
            errs.push(FieldError::required("data", "data is mandatory"));
        }
        errs.extend(nonnegative(obj, "/revision", "revision"));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        if new.get("data") != old.get("data") {
            errs.push(FieldError::invalid(
                "data",
                new.get("data").cloned().unwrap_or(Value::Null),
                IMMUTABLE_MSG,
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
            json!(controller_name(obj)),
            json!(obj.get("revision").and_then(Value::as_i64).unwrap_or(0)),
            table::age(obj),
        ]
    }
}

/// The controlling owner as `kind.group/name` in lower case, or `<none>`.
fn controller_name(obj: &Value) -> String {
    let owner = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        });
    let Some(owner) = owner else {
        return "<none>".to_string();
    };
    let get = |k: &str| owner.get(k).and_then(Value::as_str).unwrap_or_default();
    let group = get("apiVersion")
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    let kind = get("kind");
    let group_kind = match (kind.is_empty(), group.is_empty()) {
        (true, true) => return get("name").to_string(),
        (_, true) => kind.to_string(),
        _ => format!("{kind}.{group}"),
    };
    format!("{}/{}", group_kind.to_lowercase(), get("name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_prints() {
        let mut cr = json!({
            "metadata": {"name": "ds-1", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "u", "controller": true}
            ]},
            "revision": 2
        });
        assert_eq!(
            ControllerRevisions.validate(&cr)[0].to_string(),
            "data: Required value: data is mandatory"
        );
        cr["data"] = json!({"spec": {}});
        assert!(ControllerRevisions.validate(&cr).is_empty());
        let mut changed = cr.clone();
        changed["data"] = json!({"spec": {"x": 1}});
        assert_eq!(ControllerRevisions.validate_update(&changed, &cr).len(), 1);
        let row = ControllerRevisions.table_row(&cr);
        assert_eq!(row[1], "daemonset.apps/ds");
        assert_eq!(row[2], 2);
    }
}
