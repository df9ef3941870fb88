//! Selection predicates: a label selector and a field selector, matched against the [`Attrs`]
//! (labels and selectable fields) a resource's strategy extracts from each object.

use apimachinery::{fields, labels};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The parts of an object that selectors look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs {
    pub labels: BTreeMap<String, String>,
    /// Selectable fields and their values, always including `metadata.name` and
    /// `metadata.namespace`.
    pub fields: Vec<(String, String)>,
}

impl Attrs {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Extracts [`Attrs`] from a stored object's JSON; one per resource, from its strategy. Working
/// on bytes lets kinds selected only by metadata skip building the whole object.
pub type AttrsFn = Arc<dyn Fn(&[u8]) -> Result<Attrs, String> + Send + Sync>;

#[derive(serde::Deserialize, Default)]
struct PartialObject {
    #[serde(default)]
    metadata: PartialMeta,
}

#[derive(serde::Deserialize, Default)]
struct PartialMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// [`default_attrs`] from JSON bytes, reading only the metadata it needs.
pub fn metadata_attrs(raw: &[u8]) -> Result<Attrs, String> {
    let p: PartialObject = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    Ok(Attrs {
        labels: p.metadata.labels.unwrap_or_default(),
        fields: vec![
            ("metadata.name".to_string(), p.metadata.name),
            ("metadata.namespace".to_string(), p.metadata.namespace),
        ],
    })
}

/// Labels and the two metadata fields every kind can be selected by.
pub fn default_attrs(obj: &Value) -> Attrs {
    let meta = obj.get("metadata");
    let labels = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Attrs {
        labels,
        fields: vec![
            ("metadata.name".to_string(), field("name")),
            ("metadata.namespace".to_string(), field("namespace")),
        ],
    }
}

/// A label selector and a field selector; the default matches everything.
#[derive(Debug, Clone, Default)]
pub struct Predicate {
    pub label: labels::Selector,
    pub field: fields::Selector,
}

impl Predicate {
    pub fn is_everything(&self) -> bool {
        self.label.is_empty() && self.field.is_empty()
    }

    pub fn matches(&self, attrs: &Attrs) -> bool {
        self.label.matches(&attrs.labels)
            && self.field.matches(|f| attrs.field(f).map(str::to_string))
    }

    /// The single object name the field selector pins, if any (lets lists skip the scan).
    pub fn name(&self) -> Option<&str> {
        self.field.required_value("metadata.name")
    }
}
