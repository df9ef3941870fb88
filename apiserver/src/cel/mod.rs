//! The Kubernetes CEL environment. [`dynamic`] compiles and runs the expressions of admission
//! policies over objects of any kind; the rest of this module is CRD validation rules:
//!
//! `x-kubernetes-validations`: the CEL rules of a custom resource schema, compiled once per CRD
//! version ([`Validator::new`], which also reports the CRD-time errors upstream reports for
//! rules) and evaluated against each custom object written ([`Validator::validate`]), as
//! upstream's `apiextensions-apiserver/pkg/apiserver/schema/cel` does.
//!
//! A rule sees the value at its schema node as `self` (and, on updates, the stored value there
//! as `oldSelf`), typed by the schema; it runs once per list item or map value when declared
//! under `items` or `additionalProperties`. Failures become field errors worded as upstream's
//! (`spec: Invalid value: "object": failed rule: self.a > 0`), at the rule's `fieldPath` when
//! it has one, with its `reason`; on updates, failures of rules that do not read `oldSelf` on
//! values that did not change are downgraded to warnings (CRD validation ratcheting, on by
//! default since 1.30).
//!
//! The `cel` crate (cel-rust, formerly `cel-interpreter`) provides the parser, the macros and
//! the interpreter: it is the maintained CEL implementation for Rust, follows cel-go's grammar
//! and error texts, and has the extension points the Kubernetes libraries need (overloads,
//! custom value types, optional values). It has no type checker, so [`check`] ports cel-go's,
//! which is what makes CRD-time compilation errors (`undefined field 'foo'`, `found no
//! matching overload ...`) match upstream. Evaluation cost limits are not enforced.
//!
//! Layout: [`dynamic`] (admission expressions), [`types`] (CEL types of schema nodes), [`decls`] (declared functions), [`check`]
//! (type checker), [`compile`] (per-node compilation), [`comprehensions`] (two-variable
//! macros), [`values`] (objects as CEL values), [`library`] (Kubernetes CEL libraries),
//! [`runtime`] (environment and error texts), [`field_path`] (`fieldPath` resolution).

mod check;
mod compile;
mod comprehensions;
mod decls;
pub mod dynamic;
mod field_path;
mod library;
mod runtime;
mod types;
mod values;

#[cfg(test)]
mod tests;

use apimachinery::field_errors::{child, index, key};
use apimachinery::{FieldError, FieldErrorKind, FieldErrors};
use cel::Context;
use cel::common::types::CelOptional;
use compile::{Compilation, Compiled, compile_rules};
use field_path::valid_field_path;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, ValidationRule,
};
use serde_json::Value;
use types::{Decl, additional_properties, escape, is_embedded, items, schema_decl, type_name};

/// The longest message a `messageExpression` may produce (upstream's
/// `MaxEvaluatedMessageExpressionSizeBytes`); longer ones fall back to the rule's message.
const MAX_MESSAGE_EXPRESSION_BYTES: usize = 5 * 1024;

/// The reasons a rule may give, as upstream lists them in its error.
const SUPPORTED_REASONS: &[&str] = &[
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// The compiled rules of one schema (built once per CRD version, reused per request).
pub struct Validator {
    root: Option<Node>,
}

/// What validating an object found: errors, and the failures ratcheting turned into
/// warnings (upstream sends them as `Warning` headers).
#[derive(Debug, Default)]
pub struct Outcome {
    pub errors: FieldErrors,
    pub warnings: Vec<String>,
}

/// A schema node that has rules, or descendants with rules.
struct Node {
    /// The node's schema, with `apiVersion`, `kind` and `metadata` declared at resource roots.
    schema: JSONSchemaProps,
    rules: Vec<(ValidationRule, Compilation)>,
    /// Set when the node's rules could not be compiled at all.
    broken: Option<String>,
    properties: Vec<(String, Node)>,
    items: Option<Box<Node>>,
    additional_properties: Option<Box<Node>>,
    all_of: Vec<Node>,
}

impl Validator {
    /// Compiles every rule in the schema tree; Err carries CRD-time field errors at `path`
    /// (e.g. `spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule:
    /// Invalid value: ...: compilation failed: ...`) as upstream reports them.
    pub fn new(schema: &JSONSchemaProps, path: &str) -> Result<Self, FieldErrors> {
        let mut crd = CrdErrors::default();
        crd.walk(schema, path, schema_decl(schema, true).as_ref(), true, None);
        if !crd.schema.is_empty() || !crd.cel.is_empty() {
            let mut errors = crd.schema;
            errors.extend(crd.cel);
            return Err(errors);
        }
        let root = build_node(schema, schema, true, schema_decl(schema, true).as_ref());
        Ok(Validator { root })
    }

    /// Evaluates rules against a whole custom object; `old` is the stored object on updates
    /// (transition rules using `oldSelf` run only when the old value exists at that path,
    /// unless optionalOldSelf).
    pub fn validate(&self, new: &Value, old: Option<&Value>) -> FieldErrors {
        self.validate_with_warnings(new, old).errors
    }

    /// As [`Validator::validate`], also returning the failures ratcheting downgraded.
    pub fn validate_with_warnings(&self, new: &Value, old: Option<&Value>) -> Outcome {
        let mut out = Outcome::default();
        if let Some(root) = &self.root {
            let correlation = Correlation {
                current: old.map(|old| Pair {
                    new,
                    old,
                    schema: &root.schema,
                }),
                parent: None,
            };
            root.validate("", new, old, correlation, &mut out);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("empty", &self.is_empty())
            .finish_non_exhaustive()
    }
}

/// Upstream's `MapIsCorrelatable`: whether map entries pair with their old values by key.
fn map_correlatable(s: &JSONSchemaProps) -> bool {
    matches!(
        s.x_kubernetes_map_type.as_deref(),
        None | Some("granular") | Some("atomic")
    )
}

fn list_type(s: &JSONSchemaProps) -> Option<&str> {
    s.x_kubernetes_list_type.as_deref()
}

/// The rules of a schema node.
fn rules(s: &JSONSchemaProps) -> &[ValidationRule] {
    s.x_kubernetes_validations.as_deref().unwrap_or_default()
}

/// The error upstream reports for an `Invalid` value it prints with Go's `%#v`: the value is
/// part of the detail, since it is not JSON.
fn invalid_go_value(field: String, go_value: String, detail: &str) -> FieldError {
    FieldError::new(
        FieldErrorKind::Invalid,
        field,
        format!("{go_value}: {detail}"),
    )
}

/// A rule as Go's `%#v` prints the internal `apiextensions.ValidationRule` type; pointer
/// fields print as addresses, which vary between upstream processes too.
fn go_rule(rule: &ValidationRule) -> String {
    let quote = library::go_quote;
    let reason = match &rule.reason {
        None => "(*apiextensions.FieldValueErrorReason)(nil)".to_string(),
        Some(_) => "(*apiextensions.FieldValueErrorReason)(0xc000a1c0f0)".to_string(),
    };
    let optional_old_self = match rule.optional_old_self {
        None => "(*bool)(nil)".to_string(),
        Some(_) => "(*bool)(0xc000a1c0f8)".to_string(),
    };
    format!(
        "apiextensions.ValidationRule{{Rule:{}, Message:{}, MessageExpression:{}, Reason:{reason}, FieldPath:{}, OptionalOldSelf:{optional_old_self}}}",
        quote(&rule.rule),
        quote(rule.message.as_deref().unwrap_or_default()),
        quote(rule.message_expression.as_deref().unwrap_or_default()),
        quote(rule.field_path.as_deref().unwrap_or_default()),
    )
}

fn has_newlines(s: &str) -> bool {
    s.contains(['\n', '\r'])
}

/// The errors upstream's CRD validation reports for `x-kubernetes-validations`: schema errors
/// (malformed rules, messages, reasons, field paths) come before CEL errors (rules that do not
/// compile), as in upstream's `OpenAPISchemaErrorList.AllErrors`.
#[derive(Default)]
struct CrdErrors {
    schema: FieldErrors,
    cel: FieldErrors,
}

impl CrdErrors {
    /// Checks the rules of `s` and below, in upstream's traversal order. `decl` is the CEL
    /// type of the node; `typed` is false inside `allOf`, `anyOf`, `oneOf` and `not`, whose
    /// rules upstream does not compile; `forbid_old_self` is the path of the nearest list or
    /// map whose elements cannot be paired with their old values.
    fn walk(
        &mut self,
        s: &JSONSchemaProps,
        path: &str,
        decl: Option<&Decl>,
        typed: bool,
        forbid_old_self: Option<&str>,
    ) {
        let schema_errors_before = self.schema.len();
        if let Some(ap) = additional_properties(s) {
            let ap_path = format!("{path}.additionalProperties");
            self.walk(
                ap,
                &ap_path,
                decl.and_then(Decl::elem),
                typed,
                forbid_old_self,
            );
        }
        for (name, prop) in s.properties.iter().flatten() {
            let forbid = match forbid_old_self {
                None if !map_correlatable(s) => Some(path),
                other => other,
            };
            let prop_decl = match escape(name) {
                Some(escaped) => decl.and_then(|d| d.field(&escaped)).cloned(),
                None => schema_decl(prop, is_embedded(prop)),
            };
            let prop_path = format!("{path}.properties[{name}]");
            self.walk(prop, &prop_path, prop_decl.as_ref(), typed, forbid);
        }
        if let Some(not) = &s.not {
            self.walk(not, &format!("{path}.not"), None, false, forbid_old_self);
        }
        for (field, list) in [
            ("allOf", &s.all_of),
            ("oneOf", &s.one_of),
            ("anyOf", &s.any_of),
        ] {
            for (i, sub) in list.iter().flatten().enumerate() {
                self.walk(
                    sub,
                    &format!("{path}.{field}[{i}]"),
                    None,
                    false,
                    forbid_old_self,
                );
            }
        }
        if let Some(JSONSchemaPropsOrArray::Schema(item)) = &s.items {
            let forbid = match forbid_old_self {
                None if list_type(s) != Some("map") => Some(path),
                other => other,
            };
            let item_path = format!("{path}.items");
            self.walk(item, &item_path, decl.and_then(Decl::elem), typed, forbid);
        }
        let rules = rules(s);
        if rules.is_empty() {
            return;
        }
        let rules_path = format!("{path}.x-kubernetes-validations");
        for (i, rule) in rules.iter().enumerate() {
            self.check_rule_fields(s, &index(&rules_path, i), rule);
        }
        if self.schema.len() != schema_errors_before || !typed {
            return;
        }
        let Some(decl) = decl else {
            self.cel.push(FieldError::new(
                FieldErrorKind::Internal,
                rules_path,
                "internal error: failed to retrieve type information for x-kubernetes-validations",
            ));
            return;
        };
        let compiled = match compile_rules(rules, decl, s) {
            Ok(c) => c,
            Err(e) => {
                self.cel
                    .push(FieldError::new(FieldErrorKind::Internal, rules_path, e));
                return;
            }
        };
        for (i, (rule, compilation)) in rules.iter().zip(&compiled).enumerate() {
            let rule_path = index(&rules_path, i);
            let mut uses_old_self = false;
            match compilation {
                Compilation::Empty => {}
                Compilation::Failed(detail) => self.cel.push(invalid_go_value(
                    child(&rule_path, "rule"),
                    go_rule(rule),
                    detail,
                )),
                Compilation::Ready {
                    compiled,
                    message_expression_error,
                } => {
                    uses_old_self = compiled.uses_old_self;
                    if let Some(detail) = message_expression_error {
                        self.cel.push(invalid_go_value(
                            child(&rule_path, "messageExpression"),
                            go_rule(rule),
                            detail,
                        ));
                    }
                }
            }
            if uses_old_self {
                if let Some(uncorrelatable) = forbid_old_self {
                    self.cel.push(FieldError::invalid(
                        child(&rule_path, "rule"),
                        rule.rule.clone(),
                        format!(
                            "oldSelf cannot be used on the uncorrelatable portion of the schema within {uncorrelatable}"
                        ),
                    ));
                }
            } else if let Some(optional) = rule.optional_old_self {
                self.cel.push(FieldError::invalid(
                    child(&rule_path, "optionalOldSelf"),
                    optional,
                    "may not be set if oldSelf is not used in rule",
                ));
            }
        }
    }

    /// Upstream's checks of a rule's own fields.
    fn check_rule_fields(&mut self, s: &JSONSchemaProps, rule_path: &str, rule: &ValidationRule) {
        let message = rule.message.as_deref().unwrap_or_default();
        let message_expression = rule.message_expression.as_deref().unwrap_or_default();
        let field_path = rule.field_path.as_deref().unwrap_or_default();
        let trimmed_rule = rule.rule.trim();
        let trimmed_message = message.trim();
        if trimmed_rule.is_empty() {
            self.schema.push(FieldError::required(
                child(rule_path, "rule"),
                "rule is not specified",
            ));
        } else if !message.is_empty() && trimmed_message.is_empty() {
            self.schema.push(FieldError::invalid(
                child(rule_path, "message"),
                message,
                "message must be non-empty if specified",
            ));
        } else if has_newlines(trimmed_message) {
            self.schema.push(FieldError::invalid(
                child(rule_path, "message"),
                message,
                "message must not contain line breaks",
            ));
        } else if has_newlines(trimmed_rule) && trimmed_message.is_empty() {
            self.schema.push(FieldError::required(
                child(rule_path, "message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if !message_expression.is_empty() && message_expression.trim().is_empty() {
            self.schema.push(FieldError::required(
                child(rule_path, "messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = &rule.reason
            && !SUPPORTED_REASONS.contains(&reason.as_str())
        {
            self.schema.push(FieldError::not_supported(
                child(rule_path, "reason"),
                reason.clone(),
                SUPPORTED_REASONS,
            ));
        }
        if !field_path.is_empty() && field_path.trim().is_empty() {
            self.schema.push(FieldError::invalid(
                child(rule_path, "fieldPath"),
                field_path,
                "fieldPath must be non-empty if specified",
            ));
        }
        if has_newlines(field_path) {
            self.schema.push(FieldError::invalid(
                child(rule_path, "fieldPath"),
                field_path,
                "fieldPath must not contain line breaks",
            ));
        }
        if !field_path.is_empty() && valid_field_path(field_path, s).is_err() {
            self.schema.push(FieldError::invalid(
                child(rule_path, "fieldPath"),
                field_path,
                "fieldPath must be a valid path",
            ));
        }
    }
}

/// Builds the runtime tree for the rules of `vs` applied to values of `ns` (the same schema
/// except under `allOf`, whose rules apply to the node's values), keeping only nodes with rules
/// at or below them (upstream's `validator`).
fn build_node(
    vs: &JSONSchemaProps,
    ns: &JSONSchemaProps,
    resource_root: bool,
    decl: Option<&Decl>,
) -> Option<Node> {
    let rules = rules(vs);
    let (compiled, broken) = match (rules.is_empty(), decl) {
        (true, _) => (Vec::new(), None),
        (false, Some(decl)) => match compile_rules(rules, decl, ns) {
            Ok(c) => (c, None),
            Err(e) => (Vec::new(), Some(e)),
        },
        (false, None) => (
            Vec::new(),
            Some(format!(
                "rule declared on schema that does not support validation rules type: '{}'",
                type_name(ns)
            )),
        ),
    };
    let items = match (items(vs), items(ns)) {
        (Some(vi), Some(ni)) => build_node(vi, ni, is_embedded(ni), decl.and_then(Decl::elem)),
        _ => None,
    };
    let mut properties = Vec::new();
    for (name, vp) in vs.properties.iter().flatten() {
        let Some(np) = ns.properties.as_ref().and_then(|p| p.get(name)) else {
            continue;
        };
        let prop_decl = match escape(name) {
            Some(escaped) => match decl.and_then(|d| d.field(&escaped)) {
                Some(d) => d.clone(),
                None => continue,
            },
            None => match schema_decl(np, is_embedded(np)) {
                Some(d) => d,
                None => continue,
            },
        };
        if let Some(node) = build_node(vp, np, is_embedded(np), Some(&prop_decl)) {
            properties.push((name.clone(), node));
        }
    }
    let additional_properties = match (&vs.additional_properties, &ns.additional_properties) {
        (Some(JSONSchemaPropsOrBool::Schema(va)), Some(JSONSchemaPropsOrBool::Schema(na))) => {
            build_node(va, na, is_embedded(na), decl.and_then(Decl::elem))
        }
        _ => None,
    };
    let all_of: Vec<Node> = vs
        .all_of
        .iter()
        .flatten()
        .filter_map(|sub| build_node(sub, ns, resource_root, decl))
        .collect();
    if rules.is_empty()
        && items.is_none()
        && properties.is_empty()
        && additional_properties.is_none()
        && all_of.is_empty()
    {
        return None;
    }
    let schema = if resource_root {
        types::with_type_and_object_meta(ns).into_owned()
    } else {
        ns.clone()
    };
    Some(Node {
        schema,
        rules: rules.iter().cloned().zip(compiled).collect(),
        broken,
        properties,
        items: items.map(Box::new),
        additional_properties: additional_properties.map(Box::new),
        all_of,
    })
}

/// A value paired with its old value, for ratcheting (upstream's `CorrelatedObject`).
#[derive(Clone, Copy)]
struct Pair<'a> {
    new: &'a Value,
    old: &'a Value,
    schema: &'a JSONSchemaProps,
}

/// Where ratcheting stands at a node: the node's own pair if it correlates with an old value,
/// and the nearest ancestor's that did.
#[derive(Clone, Copy)]
struct Correlation<'a> {
    current: Option<Pair<'a>>,
    parent: Option<Pair<'a>>,
}

impl<'a> Correlation<'a> {
    fn key(self, field: &str) -> Correlation<'a> {
        let Some(current) = self.current else {
            return self;
        };
        if self.parent.is_none() && (field == "apiVersion" || field == "kind") {
            // Both versions are converted to the served version: a change cannot be seen.
            return Correlation {
                current: None,
                parent: None,
            };
        }
        Correlation {
            current: current.key(field),
            parent: Some(current),
        }
    }

    fn index(self, i: usize) -> Correlation<'a> {
        let Some(current) = self.current else {
            return self;
        };
        Correlation {
            current: current.index(i),
            parent: Some(current),
        }
    }

    /// Whether failures here are only warnings: the node, or its nearest correlated ancestor,
    /// is unchanged.
    fn should_ratchet(&self) -> bool {
        match (self.current, self.parent) {
            (Some(p), _) | (None, Some(p)) => p.unchanged(),
            (None, None) => false,
        }
    }
}

impl<'a> Pair<'a> {
    fn key(self, field: &str) -> Option<Pair<'a>> {
        let new = self.new.as_object()?.get(field)?;
        let old = self.old.as_object()?.get(field)?;
        let schema = self
            .schema
            .properties
            .as_ref()
            .and_then(|p| p.get(field))
            .or_else(|| additional_properties(self.schema))?;
        Some(Pair { new, old, schema })
    }

    fn index(self, i: usize) -> Option<Pair<'a>> {
        let new = self.new.as_array()?.get(i)?;
        let old_list = self.old.as_array()?;
        let schema = items(self.schema)?;
        let old = match list_type(self.schema) {
            Some("map") => map_list_match(self.schema, old_list, new)?,
            Some(_) => return None,
            None => old_list.get(i)?,
        };
        if old.is_null() {
            return None;
        }
        Some(Pair { new, old, schema })
    }

    fn unchanged(self) -> bool {
        deep_equal(self.new, self.old, Some(self.schema))
    }
}

/// Upstream's `CachedDeepEqual`: structural equality, with map lists compared by key and
/// objects with undeclared fields never equal.
fn deep_equal(new: &Value, old: &Value, schema: Option<&JSONSchemaProps>) -> bool {
    match (new, old) {
        (Value::Array(n), Value::Array(o)) => {
            let Some(schema) = schema else {
                return new == old;
            };
            if n.len() != o.len() {
                return false;
            }
            let item_schema = items(schema);
            match list_type(schema) {
                Some("map") => n.iter().all(|e| {
                    map_list_match(schema, o, e).is_some_and(|oe| deep_equal(e, oe, item_schema))
                }),
                Some(_) => new == old,
                None => n.iter().zip(o).all(|(a, b)| deep_equal(a, b, item_schema)),
            }
        }
        (Value::Object(n), Value::Object(o)) => {
            let Some(schema) = schema else {
                return new == old;
            };
            n.len() == o.len()
                && n.iter().all(|(k, v)| {
                    let prop = schema
                        .properties
                        .as_ref()
                        .and_then(|p| p.get(k))
                        .or_else(|| additional_properties(schema));
                    match (prop, o.get(k)) {
                        (Some(prop), Some(ov)) => deep_equal(v, ov, Some(prop)),
                        _ => false,
                    }
                })
        }
        _ => new == old,
    }
}

/// The element of a `map` list whose key fields equal those of `element`.
fn map_list_match<'v>(
    schema: &JSONSchemaProps,
    list: &'v [Value],
    element: &Value,
) -> Option<&'v Value> {
    let keys = schema
        .x_kubernetes_list_map_keys
        .as_deref()
        .unwrap_or_default();
    let key_of = |e: &Value| -> Vec<Option<Value>> {
        keys.iter()
            .map(|k| e.get(k).filter(|v| !v.is_null()).cloned())
            .collect()
    };
    let wanted = key_of(element);
    list.iter().find(|e| key_of(e) == wanted)
}

/// The field path a rule's error is reported at: the root is `<nil>`, as upstream prints a nil
/// path.
fn error_path(path: &str) -> String {
    if path.is_empty() {
        "<nil>".to_string()
    } else {
        path.to_string()
    }
}

impl Node {
    fn type_name(&self) -> Value {
        Value::String(type_name(&self.schema).to_string())
    }

    /// Upstream's `validate`: the node's rules, its `allOf` rules, then its elements.
    fn validate(
        &self,
        path: &str,
        obj: &Value,
        old: Option<&Value>,
        correlation: Correlation<'_>,
        out: &mut Outcome,
    ) {
        if obj.is_null() {
            return;
        }
        let old = old.filter(|o| !o.is_null());
        self.run_rules(path, obj, old, correlation, out);
        for sub in &self.all_of {
            let c = Correlation {
                current: None,
                parent: correlation.parent,
            };
            sub.validate(path, obj, old, c, out);
        }
        match obj {
            Value::Array(list) => {
                let Some(item_node) = &self.items else {
                    return;
                };
                let old_list = old.and_then(Value::as_array);
                for (i, v) in list.iter().enumerate() {
                    // Only map lists pair items with old items for transition rules.
                    let old_item = match (list_type(&self.schema), old_list) {
                        (Some("map"), Some(ol)) => map_list_match(&self.schema, ol, v),
                        _ => None,
                    };
                    item_node.validate(&index(path, i), v, old_item, correlation.index(i), out);
                }
            }
            Value::Object(map) => {
                let old_map = old
                    .and_then(Value::as_object)
                    .filter(|_| map_correlatable(&self.schema));
                if let Some(ap) = &self.additional_properties {
                    for (k, v) in map {
                        let old_v = old_map.and_then(|m| m.get(k));
                        ap.validate(&key(path, k), v, old_v, correlation.key(k), out);
                    }
                }
                if !self.properties.is_empty() {
                    for (k, v) in map {
                        let Some((_, sub)) = self.properties.iter().find(|(name, _)| name == k)
                        else {
                            continue;
                        };
                        let old_v = old_map.and_then(|m| m.get(k));
                        sub.validate(&child(path, k), v, old_v, correlation.key(k), out);
                    }
                }
            }
            _ => {}
        }
    }

    /// Upstream's `validateExpressions`.
    fn run_rules(
        &self,
        path: &str,
        obj: &Value,
        old: Option<&Value>,
        correlation: Correlation<'_>,
        out: &mut Outcome,
    ) {
        let here = error_path(path);
        if let Some(e) = &self.broken {
            out.errors.push(FieldError::invalid(
                here,
                self.type_name(),
                format!("rule compiler initialization error: {e}"),
            ));
            return;
        }
        if self.rules.is_empty() {
            return;
        }
        let env = match runtime::env() {
            Ok(env) => env,
            Err(e) => {
                out.errors.push(FieldError::invalid(
                    here,
                    self.type_name(),
                    format!("rule compiler initialization error: {e}"),
                ));
                return;
            }
        };
        let uses_old_self = self.rules.iter().any(
            |(_, c)| matches!(c, Compilation::Ready { compiled, .. } if compiled.uses_old_self),
        );
        let self_val = values::to_val(obj, &self.schema);
        let old_val = old
            .filter(|_| uses_old_self)
            .map(|o| values::to_val(o, &self.schema));
        let mut plain = Context::with_env(env.clone());
        plain.add_variable_as_val("self", self_val.clone_as_boxed());
        if let Some(o) = &old_val {
            plain.add_variable_as_val("oldSelf", o.clone_as_boxed());
        }
        let mut optional: Option<Context<'_, '_>> = None;
        for (rule, compilation) in &self.rules {
            let compiled = match compilation {
                Compilation::Empty => continue,
                Compilation::Failed(detail) => {
                    out.errors.push(FieldError::invalid(
                        here.clone(),
                        self.type_name(),
                        format!("rule compile error: {detail}"),
                    ));
                    continue;
                }
                Compilation::Ready { compiled, .. } => compiled,
            };
            let optional_old_self = rule.optional_old_self == Some(true);
            if compiled.uses_old_self && old.is_none() && !optional_old_self {
                continue;
            }
            let ctx = if optional_old_self {
                optional.get_or_insert_with(|| {
                    let mut ctx = Context::with_env(env.clone());
                    ctx.add_variable_as_val("self", self_val.clone_as_boxed());
                    let old_self = match &old_val {
                        Some(o) => CelOptional::of(o.clone_as_boxed()),
                        None => CelOptional::none(),
                    };
                    ctx.add_variable_as_val("oldSelf", Box::new(old_self));
                    ctx
                })
            } else {
                &plain
            };
            match cel::Value::resolve(&compiled.expr, ctx) {
                Ok(cel::Value::Bool(true)) => {}
                Ok(_) => {
                    let error = self.failure(path, rule, compiled, &plain);
                    if !compiled.uses_old_self && correlation.should_ratchet() {
                        out.warnings.push(error.to_string());
                    } else {
                        out.errors.push(error);
                    }
                }
                Err(e) => {
                    let message = runtime::error_message(&e);
                    let detail = if message.starts_with(library::NO_SUCH_OVERLOAD) {
                        format!(
                            "'{message}': call arguments did not match a supported operator, function or macro signature for rule: {}",
                            rule_error_string(rule)
                        )
                    } else {
                        format!("{message} evaluating rule: {}", rule_error_string(rule))
                    };
                    out.errors
                        .push(FieldError::invalid(here.clone(), self.type_name(), detail));
                }
            }
        }
    }

    /// The error for a rule that evaluated to false: at its `fieldPath`, with its reason, and
    /// the message from its `messageExpression` when that yields one.
    fn failure(
        &self,
        path: &str,
        rule: &ValidationRule,
        compiled: &Compiled,
        ctx: &Context<'_, '_>,
    ) -> FieldError {
        let at = match &compiled.field_path {
            Some(fp) => child(path, fp),
            None => error_path(path),
        };
        let detail = compiled
            .message_expression
            .as_ref()
            .and_then(|e| match cel::Value::resolve(e, ctx) {
                Ok(cel::Value::String(s)) => {
                    let trimmed = s.trim();
                    let usable = !trimmed.is_empty()
                        && !trimmed.contains('\n')
                        && trimmed.len() <= MAX_MESSAGE_EXPRESSION_BYTES;
                    usable.then(|| trimmed.to_string())
                }
                _ => None,
            })
            .unwrap_or_else(|| rule_message_or_default(rule));
        match rule.reason.as_deref() {
            Some("FieldValueForbidden") => FieldError::forbidden(at, detail),
            Some("FieldValueRequired") => FieldError::required(at, detail),
            Some("FieldValueDuplicate") => FieldError::duplicate(at, self.type_name()),
            _ => FieldError::invalid(at, self.type_name(), detail),
        }
    }
}

/// Upstream's `ruleErrorString`: the message if there is one, else the rule.
fn rule_error_string(rule: &ValidationRule) -> String {
    match rule.message.as_deref() {
        Some(m) if !m.is_empty() => m.trim().to_string(),
        _ => rule.rule.trim().to_string(),
    }
}

/// Upstream's `ruleMessageOrDefault`.
fn rule_message_or_default(rule: &ValidationRule) -> String {
    match rule.message.as_deref() {
        Some(m) if !m.is_empty() => m.trim().to_string(),
        _ => format!("failed rule: {}", rule_error_string(rule)),
    }
}
