//! Strategic merge patch, driven by the schema as upstream drives it: lists whose field says
//! `x-kubernetes-patch-strategy: merge` merge element by element (by the
//! `x-kubernetes-patch-merge-key` for lists of objects, as a set for lists of scalars); every
//! other list is replaced whole. Maps merge key by key; `null` deletes.
//!
//! Directives, as kubectl writes them:
//! - `$patch: replace` in a map replaces the map; as a list element, replaces the list;
//! - `$patch: delete` in a map deletes its content; as a list element, deletes the element
//!   with that merge key;
//! - `$retainKeys: [..]` drops the keys of the original map that are not listed;
//! - `$deleteFromPrimitiveList/<field>: [..]` removes values from a merged list of scalars;
//! - `$setElementOrder/<field>: [..]` orders a merged list (see `order`).
//!
//! Fields the schema does not know (and everything beneath them) merge as JSON merge patch
//! does; decoding afterwards reports or drops them per `fieldValidation`.

mod order;

use crate::schema::walk::Node;
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Why a patch cannot be applied; the two kinds answer 400 and 422 as upstream.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// The patch is malformed (400 BadRequest).
    BadPatch(String),
    /// The patch contradicts itself (422 Invalid), e.g. a field outside `$retainKeys`.
    Unprocessable(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadPatch(m) | Error::Unprocessable(m) => f.write_str(m),
        }
    }
}

type Result<T> = std::result::Result<T, Error>;

/// Applies `patch` to `original`; `schema` is the kind's root.
pub fn apply(original: Value, patch: &Value, schema: Option<Node<'_>>) -> Result<Value> {
    let Value::Object(patch) = patch else {
        return Err(Error::BadPatch(
            "strategic merge patch must be a JSON object".into(),
        ));
    };
    let original = match original {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    merge_map(original, patch, schema).map(Value::Object)
}

fn bad_type(directive: &Value, map: &Map<String, Value>) -> Error {
    Error::BadPatch(format!(
        "Unknown patch type: {directive} in map: {}",
        Value::Object(map.clone())
    ))
}

fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Option<Node<'_>>,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                let mut replacement = Map::new();
                for (k, v) in patch.iter().filter(|(k, _)| *k != DIRECTIVE) {
                    replacement.insert(k.clone(), v.clone());
                }
                merge_map(Map::new(), &replacement, schema)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(bad_type(directive, patch)),
        };
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        retain_keys(&mut original, retain, patch)?;
    }
    // Removals from scalar lists come before the merge, as upstream applies them.
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(gone) = v else {
                return Err(Error::BadPatch(format!(
                    "invalid patch: {DELETE_FROM_PRIMITIVE_LIST}{field} must be a list of scalars"
                )));
            };
            if let Some(Value::Array(list)) = original.get_mut(field) {
                list.retain(|item| !gone.contains(item));
            }
        }
    }
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            original.remove(k);
            continue;
        }
        let field = schema.and_then(|s| s.field(k));
        let merged = match (original.remove(k), v) {
            (Some(Value::Object(o)), Value::Object(p)) => Value::Object(merge_map(o, p, field)?),
            (Some(Value::Array(o)), Value::Array(p)) => Value::Array(merge_list(o, p, field, k)?),
            // A new field: merged into nothing, so its directives are applied too.
            (None, Value::Object(p)) => Value::Object(merge_map(Map::new(), p, field)?),
            (None, Value::Array(p)) => Value::Array(merge_list(Vec::new(), p, field, k)?),
            (_, v) => v.clone(),
        };
        original.insert(k.clone(), merged);
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(SET_ELEMENT_ORDER) {
            let Value::Array(wanted) = v else {
                return Err(Error::BadPatch(format!(
                    "invalid patch: {SET_ELEMENT_ORDER}{field} must be a list"
                )));
            };
            let key = schema
                .and_then(|s| s.field(field))
                .and_then(|f| f.merge_key());
            if let Some(Value::Array(list)) = original.get_mut(field) {
                let server_order = std::mem::take(list);
                *list = order::normalize(server_order, wanted, key);
            }
        }
    }
    Ok(original)
}

/// `$retainKeys`: every field the patch sets must be listed; original fields not listed go.
fn retain_keys(
    original: &mut Map<String, Value>,
    retain: &Value,
    patch: &Map<String, Value>,
) -> Result<()> {
    let Value::Array(keys) = retain else {
        return Err(Error::BadPatch(
            "invalid patch: $retainKeys must be a list of strings".into(),
        ));
    };
    let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
    for k in patch.keys().filter(|k| !k.starts_with('$')) {
        if !keys.contains(&k.as_str()) {
            return Err(Error::Unprocessable(format!(
                "The patch has a field {k:?} that is not in the $retainKeys list {keys:?}"
            )));
        }
    }
    original.retain(|k, _| keys.contains(&k.as_str()));
    Ok(())
}

fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    schema: Option<Node<'_>>,
    name: &str,
) -> Result<Vec<Value>> {
    let items = schema.and_then(|s| s.items());
    if !schema.is_some_and(|s| s.merges()) {
        return Ok(patch.to_vec());
    }
    if patch.iter().chain(&original).all(|v| !v.is_object()) {
        // A set of scalars: the union, each value once, in first-seen order.
        let mut out: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.into_iter().chain(patch.iter().cloned()) {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        return Ok(out);
    }
    let Some(key) = schema.and_then(|s| s.merge_key()) else {
        return Err(Error::BadPatch(format!(
            "cannot merge lists without merge key for {name}"
        )));
    };
    let mut out = original;
    let mut elements = Vec::with_capacity(patch.len());
    for p in patch {
        let Value::Object(p) = p else {
            return Err(Error::BadPatch(format!(
                "unable to merge a list of {name}: an element is not an object: {p}"
            )));
        };
        match p.get(DIRECTIVE) {
            Some(d) if d == "replace" => {
                // The rest of the patch's elements become the list.
                let rest: Vec<Value> = patch
                    .iter()
                    .filter(|e| e.get(DIRECTIVE).is_none())
                    .cloned()
                    .collect();
                return merge_list(Vec::new(), &rest, schema, name);
            }
            Some(d) if d == "delete" => {
                let id = key_of(p, key, name)?;
                out.retain(|e| e.get(key) != Some(id));
            }
            Some(d) => return Err(bad_type(d, p)),
            None => elements.push(p),
        }
    }
    for p in elements {
        let id = key_of(p, key, name)?;
        match out.iter().position(|e| e.get(key) == Some(id)) {
            Some(i) => {
                let current = match std::mem::take(&mut out[i]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                out[i] = Value::Object(merge_map(current, p, items)?);
            }
            None => out.push(Value::Object(merge_map(Map::new(), p, items)?)),
        }
    }
    Ok(out)
}

fn key_of<'v>(element: &'v Map<String, Value>, key: &str, name: &str) -> Result<&'v Value> {
    element.get(key).ok_or_else(|| {
        Error::BadPatch(format!(
            "map: {} does not contain declared merge key: {key} (in {name})",
            Value::Object(element.clone())
        ))
    })
}

#[cfg(test)]
mod tests;
