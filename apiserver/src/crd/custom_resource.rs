//! The strategy of one served version of a custom resource: decoding with pruning, defaults,
//! schema and CEL validation, the status and scale subresources, printer columns and
//! selectable fields, all read from the CustomResourceDefinition.

use super::jsonpath::JsonPath;
use super::schema_ops::VersionSchema;
use crate::intern::intern;
use crate::registry::strategy::{Decoded, Strategy};
use crate::registry::table::{self, Column};
use apimachinery::FieldErrors;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where the scale subresource reads and writes replicas.
pub struct ScalePaths {
    pub spec_replicas: JsonPath,
    pub status_replicas: JsonPath,
    pub label_selector: Option<JsonPath>,
}

/// One additional printer column.
pub struct PrinterColumn {
    pub column: Column,
    pub path: JsonPath,
}

pub struct CustomResource {
    pub schema: Arc<VersionSchema>,
    /// Whether the version has the status subresource.
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// `Name` first, then the version's columns (`Age` when it declares none).
    pub columns: Vec<Column>,
    pub printer_columns: Vec<PrinterColumn>,
    pub selectable_names: &'static [&'static str],
    pub selectable_paths: Vec<(&'static str, JsonPath)>,
}

/// The column upstream serves when a version declares no printer columns.
pub fn default_printer_columns() -> Vec<PrinterColumn> {
    vec![PrinterColumn {
        column: Column::new("Age", "date", table::AGE_DESCRIPTION),
        path: JsonPath::of_fields(&["metadata", "creationTimestamp"]),
    }]
}

/// A printer column as declared in a CRD version.
pub fn printer_column(
    name: &str,
    type_: &str,
    format: &str,
    description: &str,
    priority: i32,
    path: JsonPath,
    json_path: &str,
) -> PrinterColumn {
    let description = if description.is_empty() {
        format!("Custom resource definition column (in JSONPath format): {json_path}")
    } else {
        description.to_string()
    };
    let mut column =
        Column::new(intern(name), intern(type_), intern(&description)).format(intern(format));
    column.priority = priority;
    PrinterColumn { column, path }
}

fn first<'a>(path: &JsonPath, obj: &'a Value) -> Option<&'a Value> {
    path.find(obj).into_iter().next()
}

fn set_at(obj: &mut Value, fields: &[&str], value: Value) {
    let mut at = obj;
    for (i, f) in fields.iter().enumerate() {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(m) = at.as_object_mut() else { return };
        if i + 1 == fields.len() {
            m.insert((*f).to_string(), value);
            return;
        }
        at = m.entry((*f).to_string()).or_insert_with(|| json!({}));
    }
}

/// A cell of a printer column: the value when it has the column's type (numbers converted
/// between integer and number, dates as ages), `null` otherwise, as upstream.
fn cell(type_: &str, v: &Value) -> Value {
    match (type_, v) {
        ("string", Value::String(s)) => Value::String(s.clone()),
        ("string", Value::Null) => Value::Null,
        ("string", other) => Value::String(other.to_string()),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, Value::from),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(ts)) => match chrono::DateTime::parse_from_rfc3339(ts) {
            Ok(_) => Value::String(table::age_of(ts)),
            Err(_) => Value::String("<invalid>".to_string()),
        },
        _ => Value::Null,
    }
}

impl Strategy for CustomResource {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        let unknown_fields = self.schema.prune(&mut body)?;
        Ok(Decoded {
            value: body,
            unknown_fields,
        })
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    /// Without a status subresource, status is part of what moves the generation on, as
    /// upstream compares everything but metadata.
    fn generation_changes(&self, new: &Value, old: &Value) -> bool {
        if self.status {
            return crate::registry::strategy::spec_of(new)
                != crate::registry::strategy::spec_of(old);
        }
        // Map equality ignores key order, as Go's DeepEqual of maps does.
        let without_metadata = |v: &Value| -> Value {
            match v {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .filter(|(k, _)| k.as_str() != "metadata")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => other.clone(),
            }
        };
        without_metadata(new) != without_metadata(old)
    }

    fn default(&self, obj: &mut Value) {
        self.schema.default(obj);
    }

    /// A status write changes only the status: metadata comes from the stored object too,
    /// except the managedFields the write recorded (upstream's status strategy).
    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let Some(mut metadata) = old.get("metadata").cloned() else {
            return;
        };
        for kept in ["managedFields", "resourceVersion"] {
            match new.pointer(&format!("/metadata/{kept}")) {
                Some(v) => metadata[kept] = v.clone(),
                None => {
                    if let Some(m) = metadata.as_object_mut() {
                        m.remove(kept);
                    }
                }
            }
        }
        new["metadata"] = metadata;
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        self.schema.validate(obj, None)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        self.schema.validate(new, Some(old))
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> FieldErrors {
        self.schema.validate(new, Some(old))
    }

    fn selectable_field_names(&self) -> &'static [&'static str] {
        self.selectable_names
    }

    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        self.selectable_paths
            .iter()
            .map(|(name, path)| {
                let v = match first(path, obj) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                (*name, v)
            })
            .collect()
    }

    fn table_columns(&self) -> &[Column] {
        &self.columns
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let mut row = vec![table::name(obj)];
        for c in &self.printer_columns {
            let cell = match first(&c.path, obj) {
                None => Value::Null,
                Some(v) => cell(c.column.type_, v),
            };
            row.push(cell);
        }
        row
    }

    fn takes_strategic_merge_patch(&self) -> bool {
        false
    }

    fn openapi_definitions(&self, info: &crate::registry::ResourceInfo) -> Vec<(String, Value)> {
        super::openapi::definitions(
            info.group,
            info.version,
            info.kind,
            info.resource,
            &self.schema.schema,
        )
    }

    fn to_scale(&self, obj: &Value) -> Value {
        let Some(paths) = &self.scale else {
            return crate::registry::scale::to_scale(obj);
        };
        let replicas = |p: &JsonPath| first(p, obj).and_then(Value::as_i64).unwrap_or(0);
        let mut scale = crate::registry::scale::to_scale(&json!({"metadata": obj.get("metadata")}));
        scale["spec"] = json!({"replicas": replicas(&paths.spec_replicas)});
        scale["status"] = json!({"replicas": replicas(&paths.status_replicas)});
        if let Some(sel) = paths
            .label_selector
            .as_ref()
            .and_then(|p| first(p, obj))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            scale["status"]["selector"] = json!(sel);
        }
        scale
    }

    fn set_replicas(&self, obj: &mut Value, replicas: i64) {
        match self.scale.as_ref().and_then(|p| p.spec_replicas.fields()) {
            Some(fields) => set_at(obj, &fields, json!(replicas)),
            None => crate::registry::scale::set_replicas(obj, replicas),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(status: bool) -> CustomResource {
        CustomResource {
            schema: Arc::new(VersionSchema::new(Default::default())),
            status,
            scale: None,
            columns: vec![table::NAME],
            printer_columns: default_printer_columns(),
            selectable_names: &[],
            selectable_paths: Vec::new(),
        }
    }

    #[test]
    fn status_moves_the_generation_only_without_a_status_subresource() {
        let old = json!({"metadata": {"name": "a"}, "spec": {"x": 1, "y": 2}, "status": {"n": 1}});
        let status_only =
            json!({"metadata": {"name": "a"}, "spec": {"y": 2, "x": 1}, "status": {"n": 2}});
        let labels_only = json!({"metadata": {"name": "a", "labels": {"l": "v"}}, "spec": {"x": 1, "y": 2}, "status": {"n": 1}});
        assert!(!strategy(true).generation_changes(&status_only, &old));
        assert!(strategy(false).generation_changes(&status_only, &old));
        assert!(!strategy(false).generation_changes(&labels_only, &old));
    }

    #[test]
    fn printer_cells_take_the_column_type() {
        assert_eq!(cell("integer", &json!(3.7)), json!(3));
        assert_eq!(cell("number", &json!(2)), json!(2.0));
        assert_eq!(cell("string", &json!(5)), json!("5"));
        assert_eq!(cell("boolean", &json!("true")), Value::Null);
        assert_eq!(cell("date", &json!("yesterday")), json!("<invalid>"));
    }
}
