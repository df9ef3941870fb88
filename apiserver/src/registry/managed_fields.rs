//! `metadata.managedFields` for Update operations: which manager last set which fields.
//!
//! With the kind's schema, the fields an update changed are found by list types and map keys
//! (the same field sets server-side apply uses, so the two see each other's ownership).
//! Without one, a schema-less fallback owns lists atomically and gives only well-known map
//! fields their own `.` entry.

use crate::apply::{self, SYSTEM_METADATA, fieldset::Set, typed};
use crate::schema::walk::Node;
use serde_json::{Map, Value, json};

/// Fields whose values are maps with arbitrary keys; they own a `.` entry as upstream's sets do.
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "matchLabels",
    "nodeSelector",
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "parameters",
    "hard",
    "used",
];

/// The FieldsV1 set of everything `obj` sets (top-level `status` excluded unless `status`).
pub fn field_set(obj: &Value, status: bool) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = obj {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "status" if !status => {}
                "metadata" => {
                    let meta = metadata_set(v);
                    if !meta.is_empty() {
                        out.insert("f:metadata".into(), Value::Object(meta));
                    }
                }
                k if status && k != "status" => {}
                _ => {
                    out.insert(format!("f:{k}"), set_of(k, v));
                }
            }
        }
    }
    Value::Object(out)
}

fn metadata_set(meta: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Value::Object(m) = meta {
        for (k, v) in m {
            if SYSTEM_METADATA.contains(&k.as_str()) {
                continue;
            }
            out.insert(format!("f:{k}"), set_of(k, v));
        }
    }
    out
}

fn set_of(name: &str, v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            if MAP_FIELDS.contains(&name) {
                out.insert(".".into(), json!({}));
            }
            for (k, child) in m {
                out.insert(format!("f:{k}"), set_of(k, child));
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

/// Fields set in `new` whose value differs from `old` (all of `new` when `old` is absent).
fn changed(new: &Value, old: Option<&Value>) -> Value {
    match (new, old) {
        (Value::Object(n), Some(Value::Object(o))) => {
            let mut out = Map::new();
            for (k, v) in n {
                let key = format!("f:{k}");
                match o.get(k) {
                    Some(ov) if ov == v => {}
                    Some(ov @ Value::Object(_)) if v.is_object() => {
                        let sub = changed(v, Some(ov));
                        if sub.as_object().is_some_and(|m| !m.is_empty()) {
                            out.insert(key, sub);
                        }
                    }
                    _ => {
                        out.insert(key, set_of(k, v));
                    }
                }
            }
            Value::Object(out)
        }
        _ => set_of("", new),
    }
}

fn is_empty(v: &Value) -> bool {
    v.as_object().is_none_or(|m| m.is_empty())
}

/// Removes from `set` every path present in `remove`.
fn subtract(set: &mut Value, remove: &Value) {
    let (Value::Object(s), Value::Object(r)) = (set, remove) else {
        return;
    };
    for (k, rv) in r {
        if k == "." {
            continue;
        }
        let drop = match s.get_mut(k) {
            Some(sv) => {
                if is_empty(rv) {
                    true
                } else {
                    subtract(sv, rv);
                    sv.as_object().is_some_and(|m| m.keys().all(|k| k == "."))
                }
            }
            None => false,
        };
        if drop {
            s.remove(k);
        }
    }
}

/// Adds every path of `add` to `set`.
fn union(set: &mut Value, add: &Value) {
    let (Value::Object(s), Value::Object(a)) = (set, add) else {
        return;
    };
    for (k, av) in a {
        match s.get_mut(k) {
            Some(sv) => union(sv, av),
            None => {
                s.insert(k.clone(), av.clone());
            }
        }
    }
}

fn strip(obj: &Value, status: bool) -> Value {
    field_set(obj, status)
}

/// Who made an update, and how to read the object's fields.
pub struct Updater<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    /// `Some("status")` for status writes.
    pub subresource: Option<&'a str>,
    pub now: &'a str,
    pub schema: Option<Node<'a>>,
}

fn is_entry_of(e: &Value, by: &Updater<'_>) -> bool {
    e.get("manager").and_then(Value::as_str) == Some(by.manager)
        && e.get("operation").and_then(Value::as_str) == Some("Update")
        && e.get("apiVersion").and_then(Value::as_str) == Some(by.api_version)
        && e.get("subresource").and_then(Value::as_str) == by.subresource
}

/// Records an Update: the updater now owns the fields it changed, which other managers lose;
/// fields it removed are no longer owned by anyone.
pub fn record(new: &mut Value, old: Option<&Value>, by: &Updater<'_>) {
    let Some(schema) = by.schema else {
        return record_update(new, old, by.manager, by.api_version, by.subresource, by.now);
    };
    let status = by.subresource == Some("status");
    let mut entries: Vec<Value> = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let empty = json!({});
    let changes = typed::changes(
        &apply::owned_part(old.unwrap_or(&empty), status),
        &apply::owned_part(new, status),
        Some(schema),
    );
    if old.is_some() && changes.changed.is_empty() && changes.removed.is_empty() {
        set_entries(new, entries);
        return;
    }
    let set_of = |e: &Value| Set::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null));
    let mut mine = Set::default();
    for e in entries.iter_mut() {
        let mut set = set_of(e).difference(&changes.removed);
        if is_entry_of(e, by) {
            mine = set;
            continue;
        }
        set = set.difference(&changes.changed);
        e["fieldsV1"] = set.to_fields_v1();
    }
    mine.union(&changes.changed);
    if !mine.is_empty() {
        let mut entry = json!({
            "manager": by.manager,
            "operation": "Update",
            "apiVersion": by.api_version,
            "time": by.now,
            "fieldsType": "FieldsV1",
            "fieldsV1": mine.to_fields_v1(),
        });
        if let Some(s) = by.subresource {
            entry["subresource"] = s.into();
        }
        entries.retain(|e| !is_entry_of(e, by));
        entries.push(entry);
    } else {
        entries.retain(|e| !is_entry_of(e, by));
    }
    entries.retain(|e| !e.get("fieldsV1").is_some_and(is_empty));
    set_entries(new, entries);
}

/// The schema-less fallback of [`record`].
fn record_update(
    new: &mut Value,
    old: Option<&Value>,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let status = subresource == Some("status");
    let mut entries: Vec<Value> = old
        .and_then(|o| o.get("metadata"))
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new_set = strip(new, status);
    let changed_set = match old {
        Some(o) => {
            let old_set = strip(o, status);
            let mut c = changed(&project(new, &new_set), Some(&project(o, &old_set)));
            // Fields the update removed are no longer owned by anyone.
            let mut removed = old_set.clone();
            subtract(&mut removed, &new_set);
            for e in entries.iter_mut() {
                if let Some(fs) = e.get_mut("fieldsV1") {
                    subtract(fs, &removed);
                }
            }
            if is_empty(&c) {
                c = json!({});
            }
            c
        }
        None => new_set.clone(),
    };
    if is_empty(&changed_set) && old.is_some() {
        set_entries(new, entries);
        return;
    }
    let matches_manager = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Update")
            && e.get("apiVersion").and_then(Value::as_str) == Some(api_version)
            && e.get("subresource").and_then(Value::as_str) == subresource
    };
    for e in entries.iter_mut().filter(|e| !matches_manager(e)) {
        if let Some(fs) = e.get_mut("fieldsV1") {
            subtract(fs, &changed_set);
        }
    }
    let mut mine = entries
        .iter()
        .find(|e| matches_manager(e))
        .and_then(|e| e.get("fieldsV1").cloned())
        .unwrap_or_else(|| json!({}));
    union(&mut mine, &changed_set);
    entries.retain(|e| !matches_manager(e));
    let mut entry = json!({
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": mine,
    });
    if let Some(s) = subresource {
        entry["subresource"] = s.into();
    }
    entries.push(entry);
    entries.retain(|e| !e.get("fieldsV1").is_some_and(is_empty));
    set_entries(new, entries);
}

/// The parts of `obj` its field set covers (so `changed` ignores system metadata).
fn project(obj: &Value, set: &Value) -> Value {
    let (Value::Object(o), Value::Object(s)) = (obj, set) else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (k, v) in o {
        if let Some(sub) = s.get(&format!("f:{k}")) {
            out.insert(
                k.clone(),
                if k == "metadata" {
                    project(v, sub)
                } else {
                    v.clone()
                },
            );
        }
    }
    Value::Object(out)
}

fn set_entries(obj: &mut Value, entries: Vec<Value>) {
    let meta = apimachinery::meta::metadata_mut(obj);
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries));
    }
}

/// The manager name upstream derives from a User-Agent: the part before the first `/`.
pub fn manager_from_user_agent(ua: &str) -> String {
    let name = ua.split('/').next().unwrap_or_default();
    let name: String = name.chars().take(128).collect();
    if name.is_empty() {
        "unknown".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_update_moves_ownership() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k": "v"}});
        record_update(&mut obj, None, "kubectl-create", "v1", None, "t1");
        let mf = &obj["metadata"]["managedFields"][0];
        assert_eq!(mf["manager"], "kubectl-create");
        assert_eq!(
            mf["fieldsV1"],
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );

        let old = obj.clone();
        let mut new = obj.clone();
        new["metadata"]["labels"]["b"] = "2".into();
        record_update(&mut new, Some(&old), "kubectl-label", "v1", None, "t2");
        let entries = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1]["manager"], "kubectl-label");
        assert_eq!(
            entries[1]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:b": {}}}})
        );
    }

    #[test]
    fn no_change_keeps_entries() {
        let mut obj = json!({"metadata": {"name": "x"}, "data": {"k": "v"}});
        record_update(&mut obj, None, "m", "v1", None, "t1");
        let old = obj.clone();
        let mut new = obj.clone();
        record_update(&mut new, Some(&old), "other", "v1", None, "t2");
        assert_eq!(
            new["metadata"]["managedFields"],
            old["metadata"]["managedFields"]
        );
    }

    #[test]
    fn user_agent_prefix() {
        assert_eq!(
            manager_from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd"),
            "kubectl"
        );
        assert_eq!(manager_from_user_agent(""), "unknown");
    }
}
