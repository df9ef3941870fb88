//! `events.k8s.io/v1` Events: the same objects as core v1 Events under newer field names.
//! Conversion follows upstream's `pkg/apis/events/v1/conversion.go`: `regarding` is
//! `involvedObject`, `note` is `message`, `reportingController` is `reportingComponent`, and
//! the `deprecated*` fields carry the core-only `source`, `firstTimestamp`, `lastTimestamp`
//! and `count`. Everything else keeps its name.
//!
//! Storage is the core Events' store, so the store's validation is the core strategy's;
//! upstream's extra checks for `events.k8s.io` writes are not applied here.

use crate::registry::resources::shared::s;
use crate::registry::table::{self, Column, NAME_DESCRIPTION};
use crate::registry::{
    Conversion, Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use k8s_openapi::api::events::v1::Event;
use serde_json::{Map, Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("events.k8s.io", "v1", "events", "Event", "event", true)
            .short_names(&["ev"])
            .storage_path("events"),
        Events,
    )
    .with_conversion(EventConversion)
}

/// Field renames between events.k8s.io/v1 (left) and core v1 (right).
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: Value, api_version: &str, to_core: bool) -> Result<Value, String> {
    let Value::Object(mut m) = obj else {
        return Err("an Event must be an object".to_string());
    };
    let mut out = Map::new();
    for (from, to) in RENAMES {
        let (src, dst) = if to_core { (from, to) } else { (to, from) };
        if let Some(v) = m.remove(*src) {
            out.insert((*dst).to_string(), v);
        }
    }
    out.extend(m);
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("Event"));
    // Core requires an involvedObject; an events.k8s.io Event may have no `regarding`.
    if to_core {
        out.entry("involvedObject").or_insert_with(|| json!({}));
    } else if out.get("regarding") == Some(&json!({})) {
        out.remove("regarding");
    }
    Ok(Value::Object(out))
}

/// events.k8s.io/v1 <-> core v1.
pub struct EventConversion;

impl Conversion for EventConversion {
    fn to_storage(&self, obj: Value) -> Result<Value, String> {
        rename(obj, "v1", true)
    }

    fn to_served(&self, obj: Value) -> Result<Value, String> {
        rename(obj, "events.k8s.io/v1", false)
    }
}

/// Decoding and printing of the served version; the store uses the core Events strategy.
pub struct Events;

/// Upstream prints both groups' Events with the core Event printer.
const COLUMNS: &[Column] = &[
    Column::new(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    Column::new("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    Column::new("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    Column::new("Object", "string", "The object that this event is about."),
    Column::new("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.").wide(),
    Column::new("Source", "string", "The component reporting this event. Should be a short machine understandable string.").wide(),
    Column::new("Message", "string", "A human-readable description of the status of this operation."),
    Column::new("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)").wide(),
    Column::new("Count", "string", "The number of times this event has occurred.").wide(),
    Column::new("Name", "string", NAME_DESCRIPTION).wide().format("name"),
];

/// A timestamp's age as the core Event printer shows it.
fn since(ts: &str) -> String {
    if ts.is_empty() {
        "<unknown>".to_string()
    } else {
        table::age_of(ts)
    }
}

/// The row of upstream's `printEvent` for an Event in core form.
pub fn core_event_row(obj: &Value) -> Vec<Value> {
    let first = match s(obj, "/firstTimestamp") {
        "" => since(s(obj, "/eventTime")),
        ts => since(ts),
    };
    let mut last = match s(obj, "/lastTimestamp") {
        "" => first.clone(),
        ts => since(ts),
    };
    let mut count = obj.get("count").and_then(Value::as_i64).unwrap_or(0);
    if obj.get("series").is_some_and(|v| !v.is_null()) {
        last = since(s(obj, "/series/lastObservedTime"));
        count = obj
            .pointer("/series/count")
            .and_then(Value::as_i64)
            .unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = s(obj, "/involvedObject/kind").to_lowercase();
    let target = match s(obj, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(s(obj, "/source/component"), s(obj, "/reportingComponent"));
    let host = first_non_empty(s(obj, "/source/host"), s(obj, "/reportingInstance"));
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(s(obj, "/type")),
        json!(s(obj, "/reason")),
        json!(target),
        json!(s(obj, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(obj, "/message").trim()),
        json!(first),
        json!(count),
        table::name(obj),
    ]
}

impl Strategy for Events {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Event>(body)
    }

    /// Upstream's field label conversion for events.k8s.io Events; the stored (core) Events'
    /// attributes carry these names too (see `core::events::selectable_fields`).
    fn selectable_field_names(&self) -> &'static [&'static str] {
        &[
            "reason",
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reportingController",
            "source",
            "type",
        ]
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        // Rows are printed from the served (events.k8s.io) form.
        match rename(obj.clone(), "v1", true) {
            Ok(core) => core_event_row(&core),
            Err(_) => vec![Value::Null; COLUMNS.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::resources::core::events::selectable_fields;

    #[test]
    fn field_selectors_match_the_stored_form() {
        let stored = EventConversion.to_storage(served()).unwrap();
        let fields = selectable_fields(&stored);
        for name in Events.selectable_field_names() {
            assert!(
                fields.iter().any(|(f, _)| f == name),
                "{name} is not among the stored attributes"
            );
        }
        let get = |name: &str| {
            fields
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("reportingController"), Some("kubelet"));
        assert_eq!(get("regarding.name"), Some("web"));
    }

    fn served() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "series": {"count": 3, "lastObservedTime": "2024-01-01T00:01:00.000000Z"},
            "reportingController": "kubelet",
            "reportingInstance": "node1",
            "action": "Pulling",
            "reason": "Pulling",
            "regarding": {"kind": "Pod", "name": "web", "namespace": "default", "fieldPath": "spec.containers{web}"},
            "related": {"kind": "Node", "name": "node1"},
            "note": "Pulling image \"nginx\"",
            "type": "Normal",
            "deprecatedSource": {"component": "kubelet", "host": "node1"},
            "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2024-01-01T00:01:00Z",
            "deprecatedCount": 3,
        })
    }

    #[test]
    fn converts_to_core_and_back() {
        let core = EventConversion.to_storage(served()).unwrap();
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "Pulling image \"nginx\"");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(core["reportingInstance"], "node1");
        assert_eq!(
            core["source"],
            json!({"component": "kubelet", "host": "node1"})
        );
        assert_eq!(core["firstTimestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(core["lastTimestamp"], "2024-01-01T00:01:00Z");
        assert_eq!(core["count"], 3);
        assert_eq!(core["series"]["count"], 3);
        assert_eq!(core["related"]["name"], "node1");
        for gone in [
            "regarding",
            "note",
            "reportingController",
            "deprecatedSource",
            "deprecatedCount",
        ] {
            assert!(core.get(gone).is_none(), "{gone}");
        }
        let back = EventConversion.to_served(core).unwrap();
        assert_eq!(back, served());
    }

    #[test]
    fn core_event_without_regarding_round_trips() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e2", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "n1"},
            "reason": "Starting", "message": " Starting kubelet. ", "type": "Normal",
            "source": {"component": "kubelet", "host": "n1"},
            "count": 2,
        });
        let served = EventConversion.to_served(core.clone()).unwrap();
        assert_eq!(served["regarding"]["kind"], "Node");
        assert_eq!(served["deprecatedCount"], 2);
        assert_eq!(EventConversion.to_storage(served.clone()).unwrap(), core);
        let row = Events.table_row(&served);
        assert_eq!(row[0], "<unknown>");
        assert_eq!(row[3], "node/n1");
        assert_eq!(row[5], "kubelet, n1");
        assert_eq!(row[6], "Starting kubelet.");
        assert_eq!(row[8], 2);
        let stored = EventConversion
            .to_storage(json!({"metadata": {"name": "x"}, "reason": "r"}))
            .unwrap();
        assert_eq!(stored["involvedObject"], json!({}));
        assert!(
            EventConversion
                .to_served(stored)
                .unwrap()
                .get("regarding")
                .is_none()
        );
    }

    #[test]
    fn series_drives_count_and_last_seen() {
        let row = Events.table_row(&served());
        assert_eq!(row[8], 3);
        assert_eq!(row[3], "pod/web");
        assert_eq!(row[4], "spec.containers{web}");
    }
}
