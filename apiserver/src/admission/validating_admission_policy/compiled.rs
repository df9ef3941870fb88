//! A ValidatingAdmissionPolicy compiled for evaluation: its match conditions, variables,
//! validations and their messages, each compiled once per stored version of the policy.
//! Expressions that do not compile are kept with their error, which evaluating them reports
//! (a policy stored under older rules still applies its failure policy).

use crate::cel::dynamic::{Declarations, Expect, Expression};
use serde_json::Value;

pub type Compilation = Result<Expression, String>;

pub struct Validation {
    pub expression: String,
    pub compiled: Compilation,
    pub message: String,
    pub message_expression: Option<Compilation>,
    /// The Status reason of a failure (`Invalid` when the policy gives none).
    pub reason: Option<String>,
}

pub struct CompiledPolicy {
    pub name: String,
    /// `failurePolicy: Fail` (the default) rather than `Ignore`.
    pub fail: bool,
    /// `spec.paramKind` as (apiVersion, kind).
    pub param_kind: Option<(String, String)>,
    pub match_constraints: Option<Value>,
    pub match_conditions: Vec<Compilation>,
    pub variables: Vec<(String, Compilation)>,
    pub validations: Vec<Validation>,
    /// `spec.auditAnnotations`: keys and their valueExpressions.
    pub audit_annotations: Vec<(String, Compilation)>,
}

fn text(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn items<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// What upstream's runtime reports for an expression that did not compile.
fn compile(decls: &Declarations, source: &str, expect: Expect) -> Compilation {
    decls
        .compile(source, expect)
        .map_err(|e| format!("compilation error: {e}"))
}

impl CompiledPolicy {
    pub fn new(policy: &Value) -> Self {
        let spec = policy.get("spec").cloned().unwrap_or(Value::Null);
        let param_kind = spec
            .get("paramKind")
            .map(|pk| (text(pk, "apiVersion"), text(pk, "kind")));
        let mut decls = Declarations::admission(param_kind.is_some());
        let mut variables = Vec::new();
        for v in items(&spec, "/variables") {
            let name = text(v, "name");
            let compiled = compile(&decls, &text(v, "expression"), Expect::Any);
            decls.declare_variable(&name, compiled.as_ref().ok());
            variables.push((name, compiled));
        }
        let match_conditions = items(&spec, "/matchConditions")
            .iter()
            .map(|c| compile(&decls, &text(c, "expression"), Expect::Bool))
            .collect();
        let validations = items(&spec, "/validations")
            .iter()
            .map(|v| {
                let expression = text(v, "expression");
                let message_expression = v
                    .get("messageExpression")
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| compile(&decls, s, Expect::String));
                Validation {
                    compiled: compile(&decls, &expression, Expect::Bool),
                    expression,
                    message: text(v, "message"),
                    message_expression,
                    reason: v.get("reason").and_then(Value::as_str).map(str::to_string),
                }
            })
            .collect();
        let audit_annotations = items(&spec, "/auditAnnotations")
            .iter()
            .map(|a| {
                let compiled = compile(&decls, &text(a, "valueExpression"), Expect::Any);
                (text(a, "key"), compiled)
            })
            .collect();
        CompiledPolicy {
            audit_annotations,
            name: policy
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            fail: spec.get("failurePolicy").and_then(Value::as_str) != Some("Ignore"),
            param_kind,
            match_constraints: spec.get("matchConstraints").cloned(),
            match_conditions,
            variables,
            validations,
        }
    }
}
