//! Field sets: which fields of an object a manager owns, as upstream's `FieldsV1` writes them.
//!
//! A set is a tree of path elements: `f:<field>`, `k:<json of the key fields>` (an element of
//! a list keyed by its map keys), `v:<json value>` (an element of a set), `i:<index>`. A node
//! is a *member* when the path itself is owned; a member with children is written with a `.`
//! entry, a member without children as `{}`.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One step of a path, ordered as upstream orders them (fields, then keys, values, indexes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Element {
    Field(String),
    /// The key fields of a keyed list element, sorted by name.
    Key(Vec<(String, String)>),
    /// A set element, as its JSON text.
    Value(String),
    Index(usize),
}

impl Element {
    /// The key fields of `item` named by `keys`; `None` when one is missing.
    pub fn key_of(item: &Value, keys: &[&str]) -> Option<Self> {
        let mut fields = Vec::with_capacity(keys.len());
        for k in keys {
            fields.push((k.to_string(), item.get(*k)?.to_string()));
        }
        fields.sort();
        Some(Element::Key(fields))
    }

    fn encode(&self) -> String {
        match self {
            Element::Field(f) => format!("f:{f}"),
            Element::Key(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            Element::Value(v) => format!("v:{v}"),
            Element::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_at_checked(2)?;
        match kind {
            "f:" => Some(Element::Field(rest.to_string())),
            "v:" => Some(Element::Value(rest.to_string())),
            "i:" => rest.parse().ok().map(Element::Index),
            "k:" => {
                let Ok(Value::Object(m)) = serde_json::from_str::<Value>(rest) else {
                    return None;
                };
                let mut fields: Vec<(String, String)> =
                    m.into_iter().map(|(k, v)| (k, v.to_string())).collect();
                fields.sort();
                Some(Element::Key(fields))
            }
            _ => None,
        }
    }

    /// How upstream prints the element inside a path (`.spec`, `[name="app"]`, `[="x"]`).
    fn display(&self) -> String {
        match self {
            Element::Field(f) => format!(".{f}"),
            Element::Key(fields) => {
                let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", inner.join(","))
            }
            Element::Value(v) => format!("[={v}]"),
            Element::Index(i) => format!("[{i}]"),
        }
    }
}

/// A path from the object's root.
pub type Path = Vec<Element>;

/// Prints a path as upstream does in conflict messages: `.spec.containers[name="app"].image`.
pub fn display(path: &[Element]) -> String {
    path.iter().map(Element::display).collect()
}

/// A set of paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    member: bool,
    children: BTreeMap<Element, Set>,
}

impl Set {
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(Set::is_empty)
    }

    /// Adds `path` as a member.
    pub fn insert(&mut self, path: &[Element]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[Element]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// The child set under one element, if any.
    pub fn child(&self, e: &Element) -> Option<&Set> {
        self.children.get(e)
    }

    pub fn union(&mut self, other: &Set) {
        self.member |= other.member;
        for (e, c) in &other.children {
            self.children.entry(e.clone()).or_default().union(c);
        }
    }

    /// Members of `self` that are not members of `other`.
    pub fn difference(&self, other: &Set) -> Set {
        let mut out = Set {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (e, c) in &self.children {
            let d = match other.children.get(e) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(e.clone(), d);
            }
        }
        out
    }

    /// Members of both.
    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (e, c) in &self.children {
            if let Some(o) = other.children.get(e) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(e.clone(), i);
                }
            }
        }
        out
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (e, c) in &self.children {
            prefix.push(e.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The set as `FieldsV1` JSON.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (e, c) in &self.children {
            if !c.is_empty() {
                m.insert(e.encode(), c.to_fields_v1());
            }
        }
        Value::Object(m)
    }

    /// Reads `FieldsV1` JSON; entries it cannot parse are skipped.
    pub fn from_fields_v1(v: &Value) -> Set {
        let mut out = Set::default();
        if let Value::Object(m) = v {
            for (k, c) in m {
                if k == "." {
                    out.member = true;
                    continue;
                }
                let Some(e) = Element::decode(k) else {
                    continue;
                };
                let mut child = Set::from_fields_v1(c);
                // A leaf (`{}`) is a member.
                if c.as_object().is_some_and(|m| m.is_empty()) {
                    child.member = true;
                }
                out.children.insert(e, child);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips_with_dots_for_members_with_children() {
        let v = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}},
        });
        let s = Set::from_fields_v1(&v);
        assert_eq!(s.to_fields_v1(), v);
        let image = [
            Element::Field("spec".into()),
            Element::Field("containers".into()),
            Element::Key(vec![("name".into(), "\"app\"".into())]),
            Element::Field("image".into()),
        ];
        assert!(s.contains(&image));
        assert_eq!(display(&image), ".spec.containers[name=\"app\"].image");
        assert!(s.contains(&image[..3]), "the element itself is a member");
        assert!(!s.contains(&image[..2]));
    }

    #[test]
    fn set_algebra_is_by_member() {
        let a = Set::from_fields_v1(&json!({"f:a": {}, "f:b": {"f:c": {}}}));
        let b = Set::from_fields_v1(&json!({"f:b": {"f:c": {}, "f:d": {}}}));
        assert_eq!(a.difference(&b).to_fields_v1(), json!({"f:a": {}}));
        assert_eq!(
            a.intersection(&b).to_fields_v1(),
            json!({"f:b": {"f:c": {}}})
        );
        let mut u = a.clone();
        u.union(&b);
        assert_eq!(u.paths().len(), 3);
    }
}
