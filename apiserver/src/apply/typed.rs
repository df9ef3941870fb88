//! Walking objects with their schema for server-side apply: the field set an object sets,
//! what changed between two objects, merging an applied configuration into the live object,
//! and removing fields. List and map semantics follow the schema: `x-kubernetes-list-type`
//! and `x-kubernetes-list-map-keys`, falling back to the patch strategy and merge key as
//! upstream's schema conversion does; `x-kubernetes-map-type: atomic` makes a map or struct a
//! single field. Fields without a schema behave as granular maps and atomic lists.

use super::fieldset::{Element, Path, Set};
use crate::schema::walk::Node;
use serde_json::{Map, Value};

/// How a list's elements are identified.
enum ListKind<'a> {
    Atomic,
    Set,
    Keyed(Vec<&'a str>),
}

fn list_kind<'a>(node: Option<Node<'a>>) -> ListKind<'a> {
    let Some(n) = node else {
        return ListKind::Atomic;
    };
    match n.list_type() {
        Some("atomic") => ListKind::Atomic,
        Some("set") => ListKind::Set,
        Some("map") => {
            let keys = n.list_map_keys();
            if keys.is_empty() {
                ListKind::Atomic
            } else {
                ListKind::Keyed(keys)
            }
        }
        _ if n.merges() => match n.merge_key() {
            Some(k) => ListKind::Keyed(vec![k]),
            None => ListKind::Set,
        },
        _ => ListKind::Atomic,
    }
}

fn atomic_map(node: Option<Node<'_>>) -> bool {
    node.and_then(|n| n.map_type()) == Some("atomic")
}

fn element_of(item: &Value, index: usize, kind: &ListKind<'_>) -> Element {
    match kind {
        ListKind::Keyed(keys) => Element::key_of(item, keys).unwrap_or(Element::Index(index)),
        ListKind::Set => Element::Value(item.to_string()),
        ListKind::Atomic => Element::Index(index),
    }
}

/// The fields `v` sets, as upstream counts them for an applied configuration: every scalar,
/// atomic list or map, set or keyed list element, map key, and empty or null field.
pub fn field_set(v: &Value, node: Option<Node<'_>>) -> Set {
    let mut out = Set::default();
    walk_set(v, node, &mut Vec::new(), &mut out);
    out
}

fn walk_set(v: &Value, node: Option<Node<'_>>, path: &mut Path, out: &mut Set) {
    match v {
        Value::Object(m) => {
            if atomic_map(node) {
                out.insert(path);
                return;
            }
            for (k, child) in m {
                path.push(Element::Field(k.clone()));
                walk_set(child, node.and_then(|n| n.field(k)), path, out);
                let declared = node.is_some_and(|n| n.declares(k));
                if child.is_null() || child.as_object().is_some_and(Map::is_empty) || !declared {
                    out.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let kind = list_kind(node);
            if matches!(kind, ListKind::Atomic) {
                out.insert(path);
                return;
            }
            let item_node = node.and_then(|n| n.items());
            for (i, item) in items.iter().enumerate() {
                path.push(element_of(item, i, &kind));
                if matches!(kind, ListKind::Keyed(_)) {
                    walk_set(item, item_node, path, out);
                }
                out.insert(path);
                path.pop();
            }
        }
        _ => out.insert(path),
    }
}

/// The fields of an applied configuration its schema does not declare, as upstream's
/// structured-merge-diff prints them (`.spec.foo`, `.spec.containers[name="app"].bar`);
/// server-side apply refuses those whatever `fieldValidation` says.
pub fn undeclared(v: &Value, node: Option<Node<'_>>) -> Vec<String> {
    let mut out = Vec::new();
    walk_undeclared(v, node, &mut Vec::new(), &mut out);
    out
}

fn walk_undeclared(v: &Value, node: Option<Node<'_>>, path: &mut Path, out: &mut Vec<String>) {
    let Some(n) = node else { return };
    match v {
        Value::Object(m) => {
            let open = n.takes_undeclared_fields();
            for (k, child) in m {
                path.push(Element::Field(k.clone()));
                if !open && !n.declares(k) {
                    out.push(super::fieldset::display(path));
                } else {
                    walk_undeclared(child, n.field(k), path, out);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let kind = list_kind(node);
            for (i, item) in items.iter().enumerate() {
                path.push(element_of(item, i, &kind));
                walk_undeclared(item, n.items(), path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// What changed from `old` to `new`: fields added or modified (one set, as ownership moves
/// for both) and fields removed.
#[derive(Default)]
pub struct Changes {
    pub changed: Set,
    pub removed: Set,
}

pub fn changes(old: &Value, new: &Value, node: Option<Node<'_>>) -> Changes {
    let mut out = Changes::default();
    diff(Some(old), Some(new), node, &mut Vec::new(), &mut out, false);
    out
}

/// Adds `v`'s own field set under `path` to `set`; `member` marks the path itself.
fn insert_subtree(set: &mut Set, path: &mut Path, v: &Value, node: Option<Node<'_>>, member: bool) {
    if member {
        set.insert(path);
    }
    walk_set(v, node, path, set);
}

fn diff(
    old: Option<&Value>,
    new: Option<&Value>,
    node: Option<Node<'_>>,
    path: &mut Path,
    out: &mut Changes,
    member: bool,
) {
    match (old, new) {
        (None, None) => {}
        (Some(o), None) => insert_subtree(&mut out.removed, path, o, node, true),
        (None, Some(n)) => {
            // A new map or list element is itself owned, as is a new map-typed field.
            let own = member || node.is_some_and(|n| n.is_map()) || !n.is_object() && !n.is_array();
            insert_subtree(&mut out.changed, path, n, node, own);
        }
        (Some(Value::Object(o)), Some(Value::Object(n))) if !atomic_map(node) => {
            for (k, nv) in n {
                path.push(Element::Field(k.clone()));
                let declared = node.is_some_and(|nd| nd.declares(k));
                diff(
                    o.get(k),
                    Some(nv),
                    node.and_then(|nd| nd.field(k)),
                    path,
                    out,
                    !declared,
                );
                path.pop();
            }
            for (k, ov) in o {
                if !n.contains_key(k) {
                    path.push(Element::Field(k.clone()));
                    diff(
                        Some(ov),
                        None,
                        node.and_then(|nd| nd.field(k)),
                        path,
                        out,
                        false,
                    );
                    path.pop();
                }
            }
        }
        (Some(Value::Array(o)), Some(Value::Array(n)))
            if !matches!(list_kind(node), ListKind::Atomic) =>
        {
            let kind = list_kind(node);
            let item_node = node.and_then(|nd| nd.items());
            let keyed = |items: &[Value]| -> Vec<(Element, Value)> {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (element_of(v, i, &kind), v.clone()))
                    .collect()
            };
            let (o, n) = (keyed(o), keyed(n));
            for (e, nv) in &n {
                let ov = o.iter().find(|(oe, _)| oe == e).map(|(_, v)| v);
                path.push(e.clone());
                diff(ov, Some(nv), item_node, path, out, true);
                path.pop();
            }
            for (e, ov) in &o {
                if !n.iter().any(|(ne, _)| ne == e) {
                    path.push(e.clone());
                    diff(Some(ov), None, item_node, path, out, true);
                    path.pop();
                }
            }
        }
        (Some(o), Some(n)) => {
            if o != n {
                out.changed.insert(path);
            }
        }
    }
}

/// Merges an applied configuration into the live object: keyed list elements and map keys
/// merge, sets take the union, atomic values are replaced.
pub fn merge(live: &Value, config: &Value, node: Option<Node<'_>>) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !atomic_map(node) => {
            let mut out = l.clone();
            for (k, cv) in c {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, node.and_then(|n| n.field(k))),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match list_kind(node) {
            ListKind::Atomic => config.clone(),
            ListKind::Set => {
                let mut out = l.clone();
                for v in c {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Value::Array(out)
            }
            ListKind::Keyed(keys) => {
                let item_node = node.and_then(|n| n.items());
                let mut out = l.clone();
                for cv in c {
                    let id = Element::key_of(cv, &keys);
                    let at = id.as_ref().and_then(|id| {
                        out.iter()
                            .position(|lv| Element::key_of(lv, &keys).as_ref() == Some(id))
                    });
                    match at {
                        Some(i) => out[i] = merge(&out[i], cv, item_node),
                        None => out.push(cv.clone()),
                    }
                }
                Value::Array(out)
            }
        },
        _ => config.clone(),
    }
}

/// Removes every member of `set` from `v`.
pub fn remove(v: &mut Value, set: &Set) {
    for path in set.paths() {
        remove_path(v, &path);
    }
}

/// Whether `v` is the value an element's JSON text stands for.
fn is(v: &Value, text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|t| t == *v)
}

fn matches(item: &Value, e: &Element) -> bool {
    match e {
        Element::Key(fields) => fields
            .iter()
            .all(|(k, text)| item.get(k).is_some_and(|v| is(v, text))),
        Element::Value(text) => is(item, text),
        _ => false,
    }
}

fn remove_path(v: &mut Value, path: &[Element]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, v) {
        (Element::Field(k), Value::Object(m)) => {
            if rest.is_empty() {
                m.remove(k);
            } else if let Some(child) = m.get_mut(k) {
                remove_path(child, rest);
            }
        }
        (Element::Index(i), Value::Array(items)) => {
            if rest.is_empty() {
                if *i < items.len() {
                    items.remove(*i);
                }
            } else if let Some(child) = items.get_mut(*i) {
                remove_path(child, rest);
            }
        }
        (e, Value::Array(items)) => {
            if rest.is_empty() {
                items.retain(|item| !matches(item, e));
            } else if let Some(child) = items.iter_mut().find(|item| matches(item, e)) {
                remove_path(child, rest);
            }
        }
        _ => {}
    }
}
