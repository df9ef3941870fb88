//! Walking a definition by field: what strategic merge patch and server-side apply ask of the
//! schema at each level (the field's schema, its list type and keys, its patch strategy).

use super::{Schemas, V2_REF_PREFIX};
use serde_json::Value;

/// The schema of one field (or of a whole kind), as written where the field is declared: the
/// Kubernetes extensions live there, beside a reference to the field's type.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    schemas: &'a Schemas,
    declared: &'a Value,
}

impl<'a> Node<'a> {
    /// The root of a kind's definition.
    pub fn kind(schemas: &'a Schemas, group: &str, version: &str, kind: &str) -> Option<Self> {
        let name = schemas.definition_of(group, version, kind)?;
        Some(Self {
            schemas,
            declared: schemas.definitions().get(name)?,
        })
    }

    /// The field's type, references followed.
    fn resolved(&self) -> &'a Value {
        let mut v = self.declared;
        // Definitions never reference each other in a cycle without a property between.
        for _ in 0..8 {
            match v
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(V2_REF_PREFIX))
                .and_then(|name| self.schemas.definitions().get(name))
            {
                Some(next) => v = next,
                None => break,
            }
        }
        v
    }

    fn at(&self, declared: &'a Value) -> Self {
        Self {
            schemas: self.schemas,
            declared,
        }
    }

    /// The schema of the property `name` of an object, or of any key of a map.
    pub fn field(&self, name: &str) -> Option<Self> {
        let t = self.resolved();
        if let Some(p) = t.get("properties").and_then(|p| p.get(name)) {
            return Some(self.at(p));
        }
        t.get("additionalProperties")
            .filter(|a| a.is_object())
            .map(|a| self.at(a))
    }

    /// Whether the field's type declares a property `name` (rather than taking any key).
    pub fn declares(&self, name: &str) -> bool {
        self.resolved()
            .get("properties")
            .is_some_and(|p| p.get(name).is_some())
    }

    /// Whether an object of this type may hold fields it does not declare: a map, an object
    /// with `x-kubernetes-preserve-unknown-fields`, or one without declared properties.
    pub fn takes_undeclared_fields(&self) -> bool {
        let t = self.resolved();
        let preserves = |v: &Value| {
            v.get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true)
        };
        preserves(self.declared)
            || preserves(t)
            || t.get("properties").is_none()
            || t.get("additionalProperties")
                .is_some_and(|a| a != &Value::Bool(false))
    }

    /// Whether the field's type is a map with arbitrary keys (`additionalProperties`).
    pub fn is_map(&self) -> bool {
        let t = self.resolved();
        t.get("properties").is_none() && t.get("additionalProperties").is_some_and(Value::is_object)
    }

    /// The schema of a list's items.
    pub fn items(&self) -> Option<Self> {
        self.resolved().get("items").map(|i| self.at(i))
    }

    fn extension(&self, key: &str) -> Option<&'a str> {
        self.declared.get(key).and_then(Value::as_str)
    }

    /// `x-kubernetes-patch-strategy` (`merge`, `retainKeys`, `merge,retainKeys`, `replace`).
    pub fn patch_strategy(&self) -> Option<&'a str> {
        self.extension("x-kubernetes-patch-strategy")
    }

    /// Whether strategic merge patch merges this list (rather than replacing it whole).
    pub fn merges(&self) -> bool {
        self.patch_strategy()
            .is_some_and(|s| s.split(',').any(|p| p == "merge"))
    }

    /// `x-kubernetes-patch-merge-key`.
    pub fn merge_key(&self) -> Option<&'a str> {
        self.extension("x-kubernetes-patch-merge-key")
    }

    /// `x-kubernetes-list-type` (`atomic`, `set`, `map`).
    pub fn list_type(&self) -> Option<&'a str> {
        self.extension("x-kubernetes-list-type")
    }

    /// `x-kubernetes-list-map-keys`.
    pub fn list_map_keys(&self) -> Vec<&'a str> {
        self.declared
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    /// `x-kubernetes-map-type`, on the field or on its type (`atomic` or `granular`).
    pub fn map_type(&self) -> Option<&'a str> {
        self.extension("x-kubernetes-map-type").or_else(|| {
            self.resolved()
                .get("x-kubernetes-map-type")
                .and_then(Value::as_str)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_fields_items_and_maps() {
        let schemas = Schemas::build(&|_, _, _| true);
        let deploy = Node::kind(&schemas, "apps", "v1", "Deployment").unwrap();
        let containers = deploy
            .field("spec")
            .and_then(|n| n.field("template"))
            .and_then(|n| n.field("spec"))
            .and_then(|n| n.field("containers"))
            .unwrap();
        assert!(containers.merges());
        assert_eq!(containers.merge_key(), Some("name"));
        let ports = containers.items().and_then(|c| c.field("ports")).unwrap();
        assert_eq!(ports.merge_key(), Some("containerPort"));
        assert_eq!(ports.list_map_keys(), ["containerPort", "protocol"]);
        let args = containers.items().and_then(|c| c.field("args")).unwrap();
        assert!(!args.merges());
        let label = deploy
            .field("metadata")
            .and_then(|m| m.field("labels"))
            .and_then(|l| l.field("any-key"))
            .unwrap();
        assert_eq!(label.resolved()["type"], "string");
        let selector = deploy
            .field("spec")
            .and_then(|s| s.field("selector"))
            .unwrap();
        assert_eq!(selector.map_type(), Some("atomic"));
    }
}
