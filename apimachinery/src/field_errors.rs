//! Field-level validation errors, as upstream's `field.ErrorList`: each error names a field path,
//! a kind (Required, Invalid, ...) and a detail; the apiserver turns a list of them into a 422
//! `Invalid` status whose `details.causes` carry one entry per error.

use serde_json::Value;
use std::fmt;

/// What is wrong with a field. The reason strings are the `StatusCause.reason` values upstream
/// sends, the type strings are the prefixes of its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    Forbidden,
    Duplicate,
    NotSupported,
    TooLong,
    TooMany,
    NotFound,
    Internal,
    /// A value of the wrong type for its schema (custom resources); prints like Invalid.
    TypeInvalid,
}

impl FieldErrorKind {
    /// The `StatusCause.reason` for this kind of error.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate => "FieldValueDuplicate",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::NotFound => "FieldValueNotFound",
            Self::Internal => "InternalError",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    fn type_string(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid => "Invalid value",
            Self::Forbidden => "Forbidden",
            Self::Duplicate => "Duplicate value",
            Self::NotSupported => "Unsupported value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::NotFound => "Not found",
            Self::Internal => "Internal error",
            Self::TypeInvalid => "Invalid value",
        }
    }

    /// Whether upstream prints the offending value in the message for this kind (when there
    /// is one: a Too many without a count omits it).
    fn shows_value(self) -> bool {
        matches!(
            self,
            Self::Invalid
                | Self::TypeInvalid
                | Self::Duplicate
                | Self::NotSupported
                | Self::NotFound
                | Self::TooMany
        )
    }
}

/// One validation error on one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// Dotted path such as `metadata.name` or `spec.ports[0].port`.
    pub field: String,
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    pub fn new(kind: FieldErrorKind, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind,
            field: field.into(),
            value: None,
            detail: detail.into(),
        }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, detail)
    }

    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::new(FieldErrorKind::Invalid, field, detail)
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, detail)
    }

    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::new(FieldErrorKind::Duplicate, field, "")
        }
    }

    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::new(FieldErrorKind::NotFound, field, "")
        }
    }

    /// An unsupported enum value; `supported` are listed quoted, as upstream does.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self {
            value: Some(value.into()),
            ..Self::new(FieldErrorKind::NotSupported, field, detail)
        }
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(
            FieldErrorKind::TooLong,
            field,
            format!("may not be more than {max} bytes"),
        )
    }

    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self {
            value: Some(Value::from(actual)),
            ..Self::new(
                FieldErrorKind::TooMany,
                field,
                format!("must have at most {max} items"),
            )
        }
    }

    /// The message without the field path, as in `StatusCause.message`.
    pub fn body(&self) -> String {
        let mut out = self.kind.type_string().to_string();
        if self.kind.shows_value()
            && let Some(v) = &self.value
        {
            out.push_str(": ");
            out.push_str(&render_value(v));
        }
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }
}

/// Renders a value as Go's `%q`/`%v` would for the common cases: strings quoted, numbers and
/// booleans bare, anything else as JSON.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}")),
        // Go substitutes the string "null" for a nil value and then quotes it.
        Value::Null => "\"null\"".to_string(),
        other => other.to_string(),
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.body())
        } else {
            write!(f, "{}: {}", self.field, self.body())
        }
    }
}

/// A list of field errors; empty means valid.
pub type FieldErrors = Vec<FieldError>;

/// Joins a path and a child name the way upstream's `field.Path` prints: `a.b`, `a[0]`, `a[key]`.
pub fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Appends an index to a path: `spec.ports[0]`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Appends a map key to a path: `metadata.labels[app]`.
pub fn key(path: &str, k: &str) -> String {
    format!("{path}[{k}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_upstream() {
        let e = FieldError::invalid("metadata.name", "Bad", "must be lowercase");
        assert_eq!(
            e.to_string(),
            "metadata.name: Invalid value: \"Bad\": must be lowercase"
        );
        let e = FieldError::required("metadata.name", "name or generateName is required");
        assert_eq!(
            e.to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let e = FieldError::not_supported("spec.type", "X", &["ClusterIP", "NodePort"]);
        assert_eq!(
            e.to_string(),
            "spec.type: Unsupported value: \"X\": supported values: \"ClusterIP\", \"NodePort\""
        );
        let e = FieldError::invalid(
            "spec.ports[0].port",
            70000,
            "must be between 1 and 65535, inclusive",
        );
        assert_eq!(
            e.body(),
            "Invalid value: 70000: must be between 1 and 65535, inclusive"
        );
    }
}
