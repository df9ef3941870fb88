//! The schema operations a custom object goes through, in upstream's order: pruning on
//! decode, defaulting on decode and on read, then OpenAPI and CEL validation. One compiled
//! [`VersionSchema`] per served version, built when the CRD changes and shared by requests.

use apimachinery::{FieldError, FieldErrorKind, FieldErrors};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;

/// A served version's schema, ready for requests.
pub struct VersionSchema {
    pub schema: JSONSchemaProps,
    has_defaults: bool,
    /// The compiled `x-kubernetes-validations`; `None` when the schema has rules that do not
    /// compile (CRD validation refuses those, so only stored CRDs from elsewhere get here).
    rules: Option<crate::cel::Validator>,
}

impl VersionSchema {
    pub fn new(schema: JSONSchemaProps) -> Self {
        let has_defaults = has_defaults(&schema);
        let rules = match crate::cel::Validator::new(&schema, "") {
            Ok(v) => Some(v).filter(|v| !v.is_empty()),
            Err(errs) => {
                tracing::warn!(errors = ?errs, "A stored CRD schema has CEL rules that do not compile; they are not enforced.");
                None
            }
        };
        Self {
            schema,
            has_defaults,
            rules,
        }
    }

    /// Whether any node carries a `default`, so reads must default stored objects.
    pub fn has_defaults(&self) -> bool {
        self.has_defaults
    }

    /// Drops unknown fields of a request body (metadata coerced to ObjectMeta); returns
    /// their paths (`spec.foo`), or why the metadata does not decode.
    pub fn prune(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        super::schema::prune::prune_request(obj, &self.schema, true).map_err(|e| e.to_string())
    }

    /// Applies defaults (after dropping nulls the schema does not allow).
    pub fn default(&self, obj: &mut Value) {
        super::schema::defaulting::apply_defaults(obj, &self.schema);
    }

    /// OpenAPI validation, embedded resources and list types, then the CEL rules; `old` is
    /// the stored object of an update.
    /// When the schema errors include one that makes rules meaningless (a missing field, a
    /// wrong type, ...), the rules are skipped and a note says so, as upstream.
    pub fn validate(&self, new: &Value, old: Option<&Value>) -> FieldErrors {
        let mut errs = super::schema::validation::validate(&self.schema, new);
        if let Some(old) = old {
            // Ratcheting (upstream's CRDValidationRatcheting, on in 1.33): an update may keep
            // a value that a tightened schema refuses, as long as it does not change it.
            errs.retain(|e| !unchanged(&e.field, new, old));
        }
        if let Some(rules) = &self.rules {
            if errs.iter().any(|e| blocks_rules(e.kind)) {
                errs.push(FieldError::invalid(
                    "<nil>",
                    Value::Null,
                    "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                ));
            } else {
                errs.extend(rules.validate(new, old));
            }
        }
        errs
    }
}

/// One step of a printed field path: `.name`, `[3]` or `[key]`.
enum Step<'a> {
    Field(&'a str),
    Bracket(&'a str),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            out.push(Step::Bracket(&r[..end]));
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(Step::Field(&r[..end]));
            rest = &r[end..];
        }
    }
    out
}

/// Whether the value an error is about is the same in the old object. Lists correlate only
/// as a whole (an element of a changed list counts as changed), which never ratchets more
/// than upstream does.
fn unchanged(field: &str, new: &Value, old: &Value) -> bool {
    if field.is_empty() || field == "<nil>" {
        return new == old;
    }
    let (mut n, mut o) = (Some(new), Some(old));
    for step in steps(field) {
        match step {
            Step::Field(name) | Step::Bracket(name)
                if n.is_some_and(Value::is_object) || o.is_some_and(Value::is_object) =>
            {
                n = n.and_then(|v| v.get(name));
                o = o.and_then(|v| v.get(name));
            }
            Step::Bracket(_) => return n == o,
            Step::Field(_) => return n == o,
        }
    }
    n == o
}

/// Schema errors after which upstream does not run CEL rules.
fn blocks_rules(kind: FieldErrorKind) -> bool {
    matches!(
        kind,
        FieldErrorKind::NotSupported
            | FieldErrorKind::Required
            | FieldErrorKind::TooLong
            | FieldErrorKind::TooMany
            | FieldErrorKind::TypeInvalid
    )
}

fn has_defaults(s: &JSONSchemaProps) -> bool {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    };
    if s.default.is_some() {
        return true;
    }
    let props = s.properties.iter().flat_map(|p| p.values());
    let items: Vec<&JSONSchemaProps> = match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(i)) => vec![i.as_ref()],
        Some(JSONSchemaPropsOrArray::Schemas(list)) => list.iter().collect(),
        None => Vec::new(),
    };
    let additional = match &s.additional_properties {
        Some(JSONSchemaPropsOrBool::Schema(a)) => Some(a.as_ref()),
        _ => None,
    };
    props.chain(items).chain(additional).any(has_defaults)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_keep_values_a_tightened_schema_refuses() {
        let schema: JSONSchemaProps = serde_json::from_value(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 3},
                "size": {"type": "integer", "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 2}},
            }}},
        }))
        .unwrap();
        let vs = VersionSchema::new(schema);
        let old = json!({"spec": {"name": "toolong", "size": 0, "tags": ["abc"]}});
        assert_eq!(vs.validate(&old, None).len(), 3);
        // Unchanged bad values pass; a changed one is checked.
        let new = json!({"spec": {"name": "toolong", "size": 0, "tags": ["abc"]}, "x": 1});
        assert!(vs.validate(&new, Some(&old)).is_empty());
        let new = json!({"spec": {"name": "stilltoolong", "size": 0, "tags": ["abc"]}});
        let errs = vs.validate(&new, Some(&old));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "spec.name");
        // A changed list re-checks its elements.
        let new = json!({"spec": {"name": "toolong", "size": 0, "tags": ["abc", "d"]}});
        let errs = vs.validate(&new, Some(&old));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "spec.tags[0]");
    }
}
