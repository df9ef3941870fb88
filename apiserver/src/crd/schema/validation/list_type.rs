//! List types (upstream's `listtype.ValidateListSetsAndMaps`): the uniqueness promised by
//! `x-kubernetes-list-type: set` (whole elements) and `map` (the list-map key fields).

use super::{golang, sorted_keys};
use apimachinery::field_errors::{child, index, key};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::{Map, Value};

pub(super) fn walk(s: &JSONSchemaProps, v: &Value, path: &str, errs: &mut FieldErrors) {
    match v {
        Value::Array(items) => lists_in_array(s, items, path, errs),
        Value::Object(map) => lists_in_object(s, map, path, errs),
        _ => {}
    }
}

fn lists_in_object(
    s: &JSONSchemaProps,
    map: &Map<String, Value>,
    path: &str,
    errs: &mut FieldErrors,
) {
    let keys = sorted_keys(map);
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = &s.additional_properties {
        for &k in &keys {
            if let Some(v) = map.get(k) {
                walk(extra, v, &key(path, k), errs);
            }
        }
    }
    if let Some(properties) = &s.properties {
        for &k in &keys {
            if let (Some(sub), Some(v)) = (properties.get(k), map.get(k)) {
                walk(sub, v, &child(path, k), errs);
            }
        }
    }
}

fn lists_in_array(s: &JSONSchemaProps, items: &[Value], path: &str, errs: &mut FieldErrors) {
    match s.x_kubernetes_list_type.as_deref() {
        Some("set") => {
            let keys: Vec<String> = items.iter().map(golang::set_key).collect();
            for i in second_occurrences(&keys) {
                errs.push(FieldError::duplicate(
                    index(path, i),
                    golang::canonical(&items[i]),
                ));
            }
        }
        Some("map") => list_map_duplicates(s, items, path, errs),
        _ => {}
    }
    if let Some(JSONSchemaPropsOrArray::Schema(item)) = &s.items {
        for (i, v) in items.iter().enumerate() {
            walk(item, v, &index(path, i), errs);
        }
    }
}

/// The indices where a key shows up for the second time; later repeats are not reported again.
fn second_occurrences(keys: &[String]) -> Vec<usize> {
    let mut seen = std::collections::HashMap::new();
    let mut out = Vec::new();
    if keys.len() <= 1 {
        return out;
    }
    for (i, k) in keys.iter().enumerate() {
        let times = seen.entry(k.as_str()).or_insert(0usize);
        if *times == 1 {
            out.push(i);
        }
        *times += 1;
    }
    out
}

fn list_map_duplicates(s: &JSONSchemaProps, items: &[Value], path: &str, errs: &mut FieldErrors) {
    if let Some((i, x)) = items
        .iter()
        .enumerate()
        .find(|(_, x)| !(x.is_null() || x.is_object()))
    {
        errs.push(FieldError::invalid(
            index(path, i),
            golang::canonical(x),
            "must be an object for an array of list-type map",
        ));
        return;
    }
    if items.len() <= 1 {
        return;
    }
    let key_fields: Vec<&str> = s
        .x_kubernetes_list_map_keys
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if let [field] = key_fields.as_slice() {
        // One key: an element without it (or a null element) has the "unspecified" key, which
        // is distinct from an explicit null.
        let values: Vec<Option<&Value>> = items.iter().map(|x| x.get(*field)).collect();
        let keys: Vec<String> = values
            .iter()
            .map(|v| v.map_or_else(|| "unspecified".to_string(), golang::set_key))
            .collect();
        for i in second_occurrences(&keys) {
            let mut dup = Map::new();
            if let Some(v) = values[i] {
                dup.insert((*field).to_string(), golang::canonical(v));
            }
            errs.push(FieldError::duplicate(index(path, i), Value::Object(dup)));
        }
        return;
    }
    let key_maps: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut m = Map::new();
            let mut sorted = key_fields.clone();
            sorted.sort_unstable();
            for f in sorted {
                if let Some(v) = x.get(f) {
                    m.insert(f.to_string(), golang::canonical(v));
                }
            }
            Value::Object(m)
        })
        .collect();
    let keys: Vec<String> = key_maps.iter().map(golang::set_key).collect();
    for i in second_occurrences(&keys) {
        errs.push(FieldError::duplicate(index(path, i), key_maps[i].clone()));
    }
}
