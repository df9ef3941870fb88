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
    rules: Option<super::schema::cel::Validator>,
}

impl VersionSchema {
    pub fn new(schema: JSONSchemaProps) -> Self {
        let has_defaults = has_defaults(&schema);
        let rules = match super::schema::cel::Validator::new(&schema, "") {
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
