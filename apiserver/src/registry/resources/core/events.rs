//! Events (core/v1). Selectable by the involved object, reason, source, type and reporting
//! component, as upstream's field label conversions allow.

use super::common::{int_at, str_at};
use super::docs;
use crate::registry::table::{self, Column, NAME_DESCRIPTION};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::core::v1::Event;
use serde_json::{Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "events", "Event", "event", true).short_names(&["ev"]),
        Events,
    )
}

pub struct Events;

const COLUMNS: &[Column] = &[
    Column::new("Last Seen", "string", docs::EVENT_LAST_TIMESTAMP),
    Column::new("Type", "string", docs::EVENT_TYPE),
    Column::new("Reason", "string", docs::EVENT_REASON),
    Column::new("Object", "string", docs::EVENT_INVOLVED_OBJECT),
    Column::new("Subobject", "string", docs::OBJECT_REFERENCE_FIELD_PATH).wide(),
    Column::new("Source", "string", docs::EVENT_SOURCE).wide(),
    Column::new("Message", "string", docs::EVENT_MESSAGE),
    Column::new("First Seen", "string", docs::EVENT_FIRST_TIMESTAMP).wide(),
    Column::new("Count", "string", docs::EVENT_COUNT).wide(),
    Column::new("Name", "string", NAME_DESCRIPTION)
        .format("name")
        .wide(),
];

const FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

fn age_or_unknown(ts: &str) -> String {
    if ts.is_empty() {
        "<unknown>".to_string()
    } else {
        table::age_of(ts)
    }
}

/// Upstream's `printEvent` cells (always wide on the server).
pub fn event_row(obj: &Value) -> Vec<Value> {
    let first_ts = str_at(obj, "/firstTimestamp");
    let first = if first_ts.is_empty() {
        age_or_unknown(str_at(obj, "/eventTime"))
    } else {
        age_or_unknown(first_ts)
    };
    let last_ts = str_at(obj, "/lastTimestamp");
    let mut last = if last_ts.is_empty() {
        first.clone()
    } else {
        age_or_unknown(last_ts)
    };
    let mut count = int_at(obj, "/count").unwrap_or(0);
    if obj.get("series").is_some_and(Value::is_object) {
        last = age_or_unknown(str_at(obj, "/series/lastObservedTime"));
        count = int_at(obj, "/series/count").unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(obj, "/involvedObject/kind").to_lowercase();
    let name = str_at(obj, "/involvedObject/name");
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let component = match str_at(obj, "/source/component") {
        "" => str_at(obj, "/reportingComponent"),
        c => c,
    };
    let instance = match str_at(obj, "/source/host") {
        "" => str_at(obj, "/reportingInstance"),
        h => h,
    };
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(str_at(obj, "/type")),
        json!(str_at(obj, "/reason")),
        json!(target),
        json!(str_at(obj, "/involvedObject/fieldPath")),
        json!(source),
        json!(str_at(obj, "/message").trim()),
        json!(first),
        json!(count),
        table::name(obj),
    ]
}

/// Upstream's `ToSelectableFields` for Events, plus the events.k8s.io names of the same
/// fields (`regarding.*`, `reportingController`), which upstream's field label conversion for
/// that group maps onto these. Both groups' Events live in this store and are matched against
/// this set, so each group's selectors work on the other group's writes.
pub fn selectable_fields(obj: &Value) -> Vec<(&'static str, String)> {
    let s = |p: &str| str_at(obj, p).to_string();
    // Events written through events.k8s.io carry no `source`; upstream falls back to the
    // reporting controller.
    let source = match str_at(obj, "/source/component") {
        "" => s("/reportingComponent"),
        component => component.to_string(),
    };
    let mut fields = Vec::with_capacity(2 * REFERENCE_FIELDS.len() + 5);
    for (core, events, pointer) in REFERENCE_FIELDS {
        fields.push((*core, s(pointer)));
        fields.push((*events, s(pointer)));
    }
    fields.extend([
        ("reason", s("/reason")),
        ("reportingComponent", s("/reportingComponent")),
        ("reportingController", s("/reportingComponent")),
        ("source", source),
        ("type", s("/type")),
    ]);
    fields
}

/// The involved object's selectable fields: core name, events.k8s.io name, stored pointer.
const REFERENCE_FIELDS: &[(&str, &str, &str)] = &[
    (
        "involvedObject.kind",
        "regarding.kind",
        "/involvedObject/kind",
    ),
    (
        "involvedObject.namespace",
        "regarding.namespace",
        "/involvedObject/namespace",
    ),
    (
        "involvedObject.name",
        "regarding.name",
        "/involvedObject/name",
    ),
    ("involvedObject.uid", "regarding.uid", "/involvedObject/uid"),
    (
        "involvedObject.apiVersion",
        "regarding.apiVersion",
        "/involvedObject/apiVersion",
    ),
    (
        "involvedObject.resourceVersion",
        "regarding.resourceVersion",
        "/involvedObject/resourceVersion",
    ),
    (
        "involvedObject.fieldPath",
        "regarding.fieldPath",
        "/involvedObject/fieldPath",
    ),
];

impl Strategy for Events {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Event>(body)
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let ns = apimachinery::meta::namespace(obj);
        let involved_ns = str_at(obj, "/involvedObject/namespace");
        let mismatch = || {
            FieldError::invalid(
                "involvedObject.namespace",
                involved_ns,
                "does not match event.namespace",
            )
        };
        if str_at(obj, "/eventTime").is_empty() {
            // Old-style events: the namespaces agree (cluster-scoped objects may use default).
            if involved_ns.is_empty() {
                if !ns.is_empty() && ns != "default" {
                    errs.push(mismatch());
                }
            } else if ns != involved_ns {
                errs.push(mismatch());
            }
        } else {
            if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
                errs.push(mismatch());
            }
            for (field, path) in [
                ("/reportingComponent", "reportingComponent"),
                ("/reportingInstance", "reportingInstance"),
                ("/action", "action"),
                ("/reason", "reason"),
            ] {
                if str_at(obj, field).is_empty() {
                    errs.push(FieldError::required(path, ""));
                }
            }
            let rc = str_at(obj, "/reportingComponent");
            if !rc.is_empty() {
                errs.extend(super::common::qualified_name(rc, "reportingComponent"));
            }
            if str_at(obj, "/message").len() > 1024 {
                errs.push(FieldError::too_long("message", 1024));
            }
        }
        errs
    }

    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        selectable_fields(obj)
    }

    fn selectable_field_names(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        event_row(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_falls_back_to_the_reporting_controller() {
        let e = json!({"reportingComponent": "test-controller", "involvedObject": {"name": "p"}});
        let attrs = Events.attrs(&e);
        assert_eq!(attrs.field("source"), Some("test-controller"));
        assert_eq!(attrs.field("reportingComponent"), Some("test-controller"));
        assert_eq!(attrs.field("reportingController"), Some("test-controller"));
        assert_eq!(attrs.field("regarding.name"), Some("p"));
        assert_eq!(attrs.field("involvedObject.name"), Some("p"));
        let e = json!({"source": {"component": "kubelet"}, "reportingComponent": "x"});
        assert_eq!(Events.attrs(&e).field("source"), Some("kubelet"));
    }

    #[test]
    fn rows_like_kubectl() {
        let e = json!({"metadata": {"name": "p.1"}, "type": "Normal", "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "source": {"component": "default-scheduler"}, "message": " Assigned ",
            "firstTimestamp": "2020-01-01T00:00:00Z", "count": 0});
        let row = event_row(&e);
        assert_eq!(row[1], "Normal");
        assert_eq!(row[3], "pod/p");
        assert_eq!(row[5], "default-scheduler");
        assert_eq!(row[6], "Assigned");
        assert_eq!(row[8], 1);
        assert_eq!(row[9], "p.1");
        assert_eq!(row[0], row[7]);
        let bare = event_row(
            &json!({"involvedObject": {"kind": "Node"}, "reportingComponent": "kubelet", "reportingInstance": "n1"}),
        );
        assert_eq!(bare[0], "<unknown>");
        assert_eq!(bare[3], "node");
        assert_eq!(bare[5], "kubelet, n1");
    }

    #[test]
    fn namespace_must_match() {
        let mut e = json!({"metadata": {"name": "x", "namespace": "a"}, "involvedObject": {"namespace": "b"}});
        assert_eq!(
            Events.validate(&e)[0].to_string(),
            "involvedObject.namespace: Invalid value: \"b\": does not match event.namespace"
        );
        e["involvedObject"]["namespace"] = json!("a");
        assert!(Events.validate(&e).is_empty());
        let f = Events.selectable_fields(&e);
        assert!(f.contains(&("involvedObject.namespace", "a".to_string())));
    }
}
