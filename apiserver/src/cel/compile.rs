//! Compiling the `x-kubernetes-validations` of one schema node (upstream's `cel.Compile`):
//! each rule is parsed, type-checked with `self` and `oldSelf` typed by the node's schema, and
//! must be a `bool`; its `messageExpression` must be a `string`; its `fieldPath` is normalized.

use super::check::{check, format_issues};
use super::comprehensions::lower;
use super::field_path::valid_field_path;
use super::runtime::{env, parse};
use super::types::{Decl, Type};
use cel::IdedExpr;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, ValidationRule,
};

/// A rule ready to run.
pub(super) struct Compiled {
    /// The rule as the interpreter runs it (see [`lower`]).
    pub expr: IdedExpr,
    /// Whether the rule reads `oldSelf` (a transition rule).
    pub uses_old_self: bool,
    pub message_expression: Option<IdedExpr>,
    /// The rule's `fieldPath` as a field path, when it is valid.
    pub field_path: Option<String>,
}

/// The outcome of compiling one rule.
pub(super) enum Compilation {
    /// The rule is blank: nothing to compile, nothing to run.
    Empty,
    /// The rule does not compile; the detail as upstream words it.
    Failed(String),
    /// The rule compiled; its messageExpression may not have.
    Ready {
        compiled: Box<Compiled>,
        message_expression_error: Option<String>,
    },
}

/// Compiles the rules of a node whose values are typed by `decl`; `schema` is the node's
/// structural schema, against which `fieldPath`s resolve.
pub(super) fn compile_rules(
    rules: &[ValidationRule],
    decl: &Decl,
    schema: &JSONSchemaProps,
) -> Result<Vec<Compilation>, String> {
    let env = env()?;
    // A fresh type name per compilation, as upstream does, so that rules cannot come to depend
    // on it.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let self_type = decl.to_type(&format!("selfType{nanos}"));
    let plain = [("self", self_type.clone()), ("oldSelf", self_type.clone())];
    let optional = [
        ("self", self_type.clone()),
        ("oldSelf", Type::optional(self_type)),
    ];
    Ok(rules
        .iter()
        .map(|rule| {
            let vars: &[(&str, Type)] = if rule.optional_old_self == Some(true) {
                &optional
            } else {
                &plain
            };
            compile_rule(env, rule, vars, schema)
        })
        .collect())
}

fn compile_rule(
    env: &cel::Env,
    rule: &ValidationRule,
    vars: &[(&str, Type)],
    schema: &JSONSchemaProps,
) -> Compilation {
    if rule.rule.trim().is_empty() {
        return Compilation::Empty;
    }
    let program = match parse(env, &rule.rule) {
        Ok(p) => p,
        Err(e) => return Compilation::Failed(format!("compilation failed: {e}")),
    };
    let checked = match check(program.expression(), vars) {
        Ok(c) => c,
        Err(issues) => {
            return Compilation::Failed(format!(
                "compilation failed: {}",
                format_issues(&issues, program.source_info(), &rule.rule)
            ));
        }
    };
    if !matches!(checked.result, Type::Bool) {
        return Compilation::Failed("cel expression must evaluate to a bool".to_string());
    }
    let mut message_expression = None;
    let mut message_expression_error = None;
    if let Some(source) = rule.message_expression.as_deref().filter(|s| !s.is_empty()) {
        match compile_message_expression(env, source, vars) {
            Ok(p) => message_expression = Some(p),
            Err(e) => message_expression_error = Some(e),
        }
    }
    let field_path = rule
        .field_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .and_then(|p| valid_field_path(p, schema).ok());
    Compilation::Ready {
        compiled: Box::new(Compiled {
            expr: lower(program.expression()),
            uses_old_self: checked.uses_old_self,
            message_expression,
            field_path,
        }),
        message_expression_error,
    }
}

fn compile_message_expression(
    env: &cel::Env,
    source: &str,
    vars: &[(&str, Type)],
) -> Result<IdedExpr, String> {
    let program =
        parse(env, source).map_err(|e| format!("messageExpression compilation failed: {e}"))?;
    let checked = check(program.expression(), vars).map_err(|issues| {
        format!(
            "messageExpression compilation failed: {}",
            format_issues(&issues, program.source_info(), source)
        )
    })?;
    if !matches!(checked.result, Type::String) {
        return Err("messageExpression must evaluate to a string".to_string());
    }
    Ok(lower(program.expression()))
}
