//! Server-side printing: `as=Table` responses with each kind's columns, and the helpers row
//! functions share (ages as kubectl prints them, joined lists).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    /// 0 for default columns, 1 for `-o wide` only.
    pub priority: i32,
}

impl Column {
    pub const fn new(name: &'static str, type_: &'static str, description: &'static str) -> Self {
        Self {
            name,
            type_,
            format: "",
            description,
            priority: 0,
        }
    }

    pub const fn wide(self) -> Self {
        Self {
            priority: 1,
            ..self
        }
    }

    pub const fn format(self, format: &'static str) -> Self {
        Self { format, ..self }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub const AGE_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The `Name` column every printer starts with.
pub const NAME: Column = Column::new("Name", "string", NAME_DESCRIPTION).format("name");
/// The `Age` column most printers end with.
pub const AGE: Column = Column::new("Age", "string", AGE_DESCRIPTION);

/// Columns for kinds without a printer of their own, as upstream's default table convertor.
pub const DEFAULT_COLUMNS: &[Column] = &[NAME, Column::new("Created At", "date", AGE_DESCRIPTION)];

pub fn default_row(obj: &Value) -> Vec<Value> {
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .cloned()
        .unwrap_or(Value::Null);
    let created = meta
        .and_then(|m| m.get("creationTimestamp"))
        .cloned()
        .unwrap_or(Value::Null);
    vec![name, created]
}

/// `metadata.name` as a cell.
pub fn name(obj: &Value) -> Value {
    Value::String(apimachinery::meta::name(obj).to_string())
}

/// The age of the object as kubectl prints it (`5m`, `3h12m`, `<unknown>`).
pub fn age(obj: &Value) -> Value {
    Value::String(age_of(apimachinery::meta::str_field(
        obj,
        "creationTimestamp",
    )))
}

/// The time since an RFC 3339 timestamp, or `<unknown>`.
pub fn age_of(ts: &str) -> String {
    match DateTime::parse_from_rfc3339(ts) {
        Ok(t) => human_duration((Utc::now() - t.with_timezone(&Utc)).num_seconds()),
        Err(_) => "<unknown>".to_string(),
    }
}

/// Upstream's `duration.HumanDuration`: coarser the older it is.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let s = seconds.max(0);
    if s < 60 * 2 {
        return format!("{s}s");
    }
    let minutes = s / 60;
    if minutes < 10 {
        let rem = s % 60;
        return if rem == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{rem}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let rem = minutes % 60;
        return if rem == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{rem}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let rem = hours % 24;
        let days = hours / 24;
        return if rem == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{rem}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = hours / 24;
        let rem = days % 365;
        let years = days / 365;
        return if rem == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{rem}d")
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Joins strings as upstream printers do, `<none>` when empty.
pub fn join_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "<none>".to_string()
    } else {
        items.join(",")
    }
}

/// The number of entries of an object-valued field (`data` of a ConfigMap).
pub fn count_keys(obj: &Value, field: &str) -> i64 {
    obj.get(field)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len() as i64)
}

/// A label selector printed as upstream's `metav1.FormatLabelSelector`.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel else {
        return "<none>".to_string();
    };
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default()
            {
                "In" => parts.push(format!("{key} in ({})", values.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    join_or_none(&parts)
}

/// A map selector (`spec.selector` of a Service) printed as `k=v,k2=v2`.
pub fn format_map_selector(sel: Option<&Value>) -> String {
    let parts: Vec<String> = sel
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    join_or_none(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(9 * 3600), "9h");
        assert_eq!(human_duration(50 * 3600), "2d2h");
        assert_eq!(human_duration(30 * 86400), "30d");
        assert_eq!(human_duration(-5), "<invalid>");
    }
}
