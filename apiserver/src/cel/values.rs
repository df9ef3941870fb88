//! Custom object data as CEL values, typed by the schema the way upstream's
//! `UnstructuredToVal` types them: objects with properties become maps keyed by escaped
//! property names (null and undeclared fields are not visible), `additionalProperties`
//! objects are maps, `x-kubernetes-int-or-string` is an int or a string, strings with a
//! `byte`, `duration`, `date` or `date-time` format become bytes, durations and timestamps,
//! and `x-kubernetes-list-type` `set` and `map` lists compare and concatenate as sets and
//! keyed maps.
//!
//! Undeclared fields of objects that preserve unknown fields still take part in equality,
//! as upstream compares them; they are stored under keys no CEL identifier can spell.

use super::library::{parse_date, parse_strfmt_date_time, parse_strfmt_duration};
use super::types::{
    additional_properties, escape, is_embedded, is_int_or_string, items, properties, type_name,
    with_type_and_object_meta,
};
use base64::Engine;
use cel::ExecutionError;
use cel::common::traits::{Adder, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelNull,
    CelString, CelTimestamp, LIST_TYPE, Type,
};
use cel::common::value::{CowVal, Val};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// The prefix of the keys undeclared fields are kept under.
const HIDDEN: char = '\u{0}';

/// Converts `value` to a CEL value as typed by `schema`.
pub(super) fn to_val(value: &Value, schema: &JSONSchemaProps) -> Box<dyn Val> {
    if value.is_null() {
        return Box::new(CelNull);
    }
    if is_int_or_string(schema) {
        return untyped(value);
    }
    match (type_name(schema), value) {
        ("object", Value::Object(map)) => {
            if is_embedded(schema) || properties(schema).is_some() {
                let schema: Cow<'_, JSONSchemaProps> = if is_embedded(schema) {
                    with_type_and_object_meta(schema)
                } else {
                    Cow::Borrowed(schema)
                };
                let props = schema.properties.as_ref();
                let mut out: HashMap<CelMapKey<'static>, Box<dyn Val>> = HashMap::new();
                for (k, v) in map {
                    match (props.and_then(|p| p.get(k)), escape(k)) {
                        (Some(_), _) if v.is_null() => {}
                        (Some(prop), Some(escaped)) => {
                            out.insert(escaped.into(), to_val(v, prop));
                        }
                        _ => {
                            out.insert(format!("{HIDDEN}{k}").into(), untyped(v));
                        }
                    }
                }
                return Box::new(CelMap::from(out));
            }
            if let Some(ap) = additional_properties(schema) {
                let out: HashMap<CelMapKey<'static>, Box<dyn Val>> = map
                    .iter()
                    .map(|(k, v)| (k.clone().into(), to_val(v, ap)))
                    .collect();
                return Box::new(CelMap::from(out));
            }
            // No declared fields: only equality can see the content.
            let out: HashMap<CelMapKey<'static>, Box<dyn Val>> = map
                .iter()
                .map(|(k, v)| (format!("{HIDDEN}{k}").into(), untyped(v)))
                .collect();
            Box::new(CelMap::from(out))
        }
        ("array", Value::Array(list)) => {
            let Some(item_schema) = items(schema) else {
                return untyped(value);
            };
            let elements: Vec<Box<dyn Val>> = list.iter().map(|v| to_val(v, item_schema)).collect();
            let items = CelList::from(elements);
            match schema.x_kubernetes_list_type.as_deref() {
                Some("set") => Box::new(TypedList { items, keys: None }),
                Some("map") => {
                    let keys = schema
                        .x_kubernetes_list_map_keys
                        .iter()
                        .flatten()
                        .map(|k| escape(k).unwrap_or_else(|| k.clone()))
                        .collect();
                    Box::new(TypedList {
                        items,
                        keys: Some(keys),
                    })
                }
                _ => Box::new(items),
            }
        }
        ("string", Value::String(s)) => match schema.format.as_deref() {
            Some("byte") => match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(bytes) => Box::new(CelBytes::from(bytes)),
                Err(_) => Box::new(CelString::from(s.clone())),
            },
            Some("duration") => match parse_strfmt_duration(s) {
                Some(d) => Box::new(CelDuration::from(d)),
                None => Box::new(CelString::from(s.clone())),
            },
            Some("date") => match parse_date(s) {
                Some(t) => Box::new(CelTimestamp::from(t)),
                None => Box::new(CelString::from(s.clone())),
            },
            Some("date-time") => match parse_strfmt_date_time(s) {
                Some(t) => Box::new(CelTimestamp::from(t)),
                None => Box::new(CelString::from(s.clone())),
            },
            _ => Box::new(CelString::from(s.clone())),
        },
        ("number", Value::Number(n)) => Box::new(CelDouble::from(n.as_f64().unwrap_or(0.0))),
        _ => untyped(value),
    }
}

/// A JSON value without a schema: numbers as ints when whole and in range, as Go's
/// unstructured decoding does.
pub(super) fn untyped(value: &Value) -> Box<dyn Val> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Box::new(CelInt::from(i)),
            None => Box::new(CelDouble::from(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => Box::new(CelString::from(s.clone())),
        Value::Array(list) => {
            let items: Vec<Box<dyn Val>> = list.iter().map(untyped).collect();
            Box::new(CelList::from(items))
        }
        Value::Object(map) => {
            let out: HashMap<CelMapKey<'static>, Box<dyn Val>> = map
                .iter()
                .map(|(k, v)| (k.clone().into(), untyped(v)))
                .collect();
            Box::new(CelMap::from(out))
        }
    }
}

/// A list with `x-kubernetes-list-type: set` (no keys) or `map` (the escaped key fields):
/// equality ignores order (map lists match elements by key), and `+` is a union (sets) or a
/// merge by key (map lists), as upstream's `unstructuredSetList` and `unstructuredMapList`.
#[derive(Clone, Debug)]
struct TypedList<'v> {
    items: CelList<'v>,
    keys: Option<Arc<[String]>>,
}

impl TypedList<'_> {
    /// Whether two map-list elements have equal key fields (absent keys match absent keys).
    fn same_key(&self, a: &dyn Val, b: &dyn Val) -> bool {
        let Some(keys) = &self.keys else {
            return false;
        };
        let (Some(ia), Some(ib)) = (a.as_indexer(), b.as_indexer()) else {
            return false;
        };
        keys.iter().all(|k| {
            let key = CelString::from(k.as_str());
            match (ia.get(&key), ib.get(&key)) {
                (Ok(x), Ok(y)) => x.equals(y.as_ref()),
                (Err(_), Err(_)) => true,
                _ => false,
            }
        })
    }
}

/// The elements of any list value.
fn iterate<'b, 'v>(v: &'b (dyn Val + 'v)) -> Option<Vec<&'b (dyn Val + 'v)>> {
    let mut iter = v.as_iterable()?.iter();
    let mut out = Vec::new();
    while let Some(x) = iter.next() {
        out.push(x);
    }
    Some(out)
}

impl<'v> Val for TypedList<'v> {
    fn get_type(&self) -> &Type {
        &LIST_TYPE
    }

    fn cel_type() -> &'static Type {
        &LIST_TYPE
    }

    fn as_adder<'b, 'w>(&'b self) -> Option<&'b (dyn Adder + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.items.as_container()
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(&self.items)
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        Some(&self.items)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.items.as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        self.items.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        let Some(others) = iterate(other) else {
            return false;
        };
        let mine = self.items.inner();
        if others.len() != mine.len() {
            return false;
        }
        others.iter().all(|o| match &self.keys {
            None => mine.iter().any(|e| e.equals(*o)),
            Some(_) => mine
                .iter()
                .find(|e| self.same_key(e.as_ref(), *o))
                .is_some_and(|e| e.equals(*o)),
        })
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }
}

impl<'v> Adder for TypedList<'v> {
    fn add<'b, 'w>(&'b self, rhs: &(dyn Val + 'w)) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        let others = iterate(rhs).ok_or_else(|| {
            ExecutionError::function_error("_+_", super::library::NO_SUCH_OVERLOAD)
        })?;
        let mut out: Vec<Box<dyn Val + 'w>> = self
            .items
            .inner()
            .iter()
            .map(|e| e.clone_as_boxed())
            .collect();
        for o in others {
            let existing = match &self.keys {
                None => out.iter().position(|e| e.equals(o)),
                Some(_) => out.iter().position(|e| self.same_key(e.as_ref(), o)),
            };
            match (existing, &self.keys) {
                (Some(_), None) => {}
                (Some(i), Some(_)) => out[i] = o.clone_as_boxed(),
                (None, _) => out.push(o.clone_as_boxed()),
            }
        }
        Ok(CowVal::Owned(Box::new(TypedList {
            items: CelList::from(out),
            keys: self.keys.clone(),
        })))
    }
}
