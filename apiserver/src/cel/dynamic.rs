//! Expressions over objects of any kind: what admission policies compile and run
//! (ValidatingAdmissionPolicy validations, messageExpressions, variables and matchConditions).
//! As upstream's admission CEL environment, `object`, `oldObject` and `params` are `dyn` to the
//! type checker, so only the shapes of `request`, `namespaceObject` and `variables` are
//! checked before a request comes; values are the objects as JSON decodes them (whole numbers
//! as ints).
//!
//! `authorizer` asks the cluster's authorizers about the requesting user (see the authz
//! library). Variables (`variables.<name>`) are evaluated when an expression first needs them, once
//! per request ([`Activation`]), so a variable that fails fails only the expressions using it.

use super::check::{check, format_issues};
use super::comprehensions::lower;
pub use super::library::RequestResource;
use super::library::authorizer_values;
use super::runtime::{self, env, parse};
use super::types::{AUTHORIZER, Object, RESERVED, RESOURCE_CHECK, Type};
use super::values::untyped;
use crate::authn::user::UserInfo;
use crate::authz::Authorizer;
use cel::common::types::{CelMap, CelMapKey};
use cel::common::value::Val;
use cel::{Context, IdedExpr};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// What an expression must evaluate to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Bool,
    String,
    Any,
}

/// A compiled expression.
#[derive(Clone, Debug)]
pub struct Expression {
    source: String,
    expr: IdedExpr,
    result: Type,
    /// The variables it names directly (`variables.<name>`).
    variables: BTreeSet<String>,
}

impl Expression {
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// What expressions may name, and the variables declared so far.
#[derive(Clone, Debug)]
pub struct Declarations {
    vars: Vec<(&'static str, Type)>,
    variables: BTreeMap<String, Type>,
}

fn object_type(name: &str, fields: &[(&str, Type)]) -> Type {
    Type::Object(Arc::new(Object {
        name: name.to_string(),
        fields: fields
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect(),
    }))
}

/// Whether `name` can name a variable (`variables.<name>`): a letter or `_`, then letters,
/// digits and `_`, and not one of CEL's reserved words.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
}

/// The type of `request`, upstream's `kubernetes.AdmissionRequest`.
fn request_type() -> Type {
    let gvk = |name: &str, last: &str| {
        object_type(
            name,
            &[
                ("group", Type::String),
                ("version", Type::String),
                (last, Type::String),
            ],
        )
    };
    let kind = gvk("kubernetes.GroupVersionKind", "kind");
    let resource = gvk("kubernetes.GroupVersionResource", "resource");
    let user = object_type(
        "kubernetes.UserInfo",
        &[
            ("username", Type::String),
            ("uid", Type::String),
            ("groups", Type::list(Type::String)),
            ("extra", Type::map(Type::String, Type::list(Type::String))),
        ],
    );
    object_type(
        "kubernetes.AdmissionRequest",
        &[
            ("kind", kind.clone()),
            ("resource", resource.clone()),
            ("subResource", Type::String),
            ("requestKind", kind),
            ("requestResource", resource),
            ("requestSubResource", Type::String),
            ("name", Type::String),
            ("namespace", Type::String),
            ("operation", Type::String),
            ("userInfo", user),
            ("dryRun", Type::Bool),
            ("options", Type::Dyn),
        ],
    )
}

/// The type of `namespaceObject`: upstream's stripped Namespace (names, labels, annotations,
/// finalizers and a few more of its metadata, its spec and status).
fn namespace_type() -> Type {
    let strings = || Type::map(Type::String, Type::String);
    let metadata = object_type(
        "kubernetes.NamespaceMetadata",
        &[
            ("name", Type::String),
            ("generateName", Type::String),
            ("namespace", Type::String),
            ("uid", Type::String),
            ("resourceVersion", Type::String),
            ("generation", Type::Int),
            ("creationTimestamp", Type::Dyn),
            ("deletionTimestamp", Type::Dyn),
            ("deletionGracePeriodSeconds", Type::Int),
            ("labels", strings()),
            ("annotations", strings()),
            ("finalizers", Type::list(Type::String)),
        ],
    );
    object_type(
        "kubernetes.Namespace",
        &[
            ("metadata", metadata),
            ("spec", Type::Dyn),
            ("status", Type::Dyn),
        ],
    )
}

impl Declarations {
    /// The admission environment: `object`, `oldObject`, `namespaceObject`, `request`, and
    /// `params` when the policy has a kind of parameters; no variables yet.
    pub fn admission(with_params: bool) -> Self {
        let mut vars = vec![
            ("object", Type::Dyn),
            ("oldObject", Type::Dyn),
            ("namespaceObject", namespace_type()),
            ("request", request_type()),
            ("authorizer", Type::Opaque(AUTHORIZER, Vec::new())),
            (
                "authorizer.requestResource",
                Type::Opaque(RESOURCE_CHECK, Vec::new()),
            ),
        ];
        if with_params {
            vars.push(("params", Type::Dyn));
        }
        Self {
            vars,
            variables: BTreeMap::new(),
        }
    }

    /// What a webhook's matchConditions see: `object`, `oldObject` and `request`.
    pub fn webhook() -> Self {
        Self {
            vars: vec![
                ("object", Type::Dyn),
                ("oldObject", Type::Dyn),
                ("request", request_type()),
                ("authorizer", Type::Opaque(AUTHORIZER, Vec::new())),
                (
                    "authorizer.requestResource",
                    Type::Opaque(RESOURCE_CHECK, Vec::new()),
                ),
            ],
            variables: BTreeMap::new(),
        }
    }

    /// Declares `variables.<name>` with the type of what `compiled` yields (dyn when it did
    /// not compile).
    pub fn declare_variable(&mut self, name: &str, compiled: Option<&Expression>) {
        let t = compiled.map_or(Type::Dyn, |e| e.result.clone());
        self.variables.insert(name.to_string(), t);
    }

    /// Parses and type-checks `source`; the error is worded as upstream's
    /// (`compilation failed: ERROR: <input>:1:3: ...`).
    pub fn compile(&self, source: &str, expect: Expect) -> Result<Expression, String> {
        let env = env()?;
        let program = parse(env, source).map_err(|e| format!("compilation failed: {e}"))?;
        let fields: Vec<(&str, Type)> = self
            .variables
            .iter()
            .map(|(n, t)| (n.as_str(), t.clone()))
            .collect();
        let mut vars = self.vars.clone();
        vars.push(("variables", object_type("kubernetes.variables", &fields)));
        let checked = check(program.expression(), &vars).map_err(|issues| {
            format!(
                "compilation failed: {}",
                format_issues(&issues, program.source_info(), source)
            )
        })?;
        // As cel-go's exact output type check: a `dyn` result does not do.
        let fits = match expect {
            Expect::Bool => matches!(checked.result, Type::Bool),
            Expect::String => matches!(checked.result, Type::String),
            Expect::Any => true,
        };
        if !fits {
            let wanted = if expect == Expect::Bool {
                "bool"
            } else {
                "string"
            };
            return Err(format!(
                "must evaluate to {wanted} but got {}",
                checked.result
            ));
        }
        let mut variables = BTreeSet::new();
        named_variables(program.expression(), &mut variables);
        Ok(Expression {
            source: source.to_string(),
            expr: lower(program.expression()),
            result: checked.result,
            variables,
        })
    }
}

/// The `variables.<name>` selections in `e`.
fn named_variables(e: &IdedExpr, out: &mut BTreeSet<String>) {
    use cel::common::ast::{EntryExpr, Expr};
    match &e.expr {
        Expr::Select(select) => {
            if matches!(&select.operand.expr, Expr::Ident(n) if n == "variables") {
                out.insert(select.field.clone());
            } else {
                named_variables(&select.operand, out);
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                named_variables(target, out);
            }
            for arg in &call.args {
                named_variables(arg, out);
            }
        }
        Expr::Comprehension(c) => {
            for part in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                named_variables(part, out);
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                named_variables(element, out);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(m) = &entry.expr {
                    named_variables(&m.key, out);
                    named_variables(&m.value, out);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    named_variables(&f.value, out);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// A value an expression yielded.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Bool(bool),
    String(String),
    Null,
    Other(String),
}

/// A variable's value, or why it has none.
type Evaluated = Result<Box<dyn Val>, String>;

/// The values of one request, bound once for every expression evaluated against it, and its
/// variables as far as they have been evaluated.
pub struct Activation<'a> {
    ctx: Context<'static, 'static>,
    variables: &'a [(String, Result<Expression, String>)],
    evaluated: RefCell<HashMap<String, Evaluated>>,
}

impl<'a> Activation<'a> {
    /// `values` are the top-level variables (`object`, `request`, ...; JSON null for absent
    /// ones); `variables` are the compiled variables in declaration order.
    pub fn new(
        values: &[(&'static str, &Value)],
        variables: &'a [(String, Result<Expression, String>)],
    ) -> Result<Self, String> {
        let mut ctx = Context::with_env(env()?.clone());
        for (name, value) in values {
            ctx.add_variable_as_val(*name, untyped(value));
        }
        Ok(Self {
            ctx,
            variables,
            evaluated: RefCell::new(HashMap::new()),
        })
    }

    /// Binds `authorizer` (checks about `user`) and `authorizer.requestResource`.
    pub fn with_authorizer(
        mut self,
        authorizer: Authorizer,
        user: UserInfo,
        request: RequestResource,
    ) -> Self {
        let (authorizer, request) = authorizer_values(authorizer, user, request);
        self.ctx.add_variable_as_val("authorizer", authorizer);
        self.ctx
            .add_variable_as_val("authorizer.requestResource", request);
        self
    }

    /// Evaluates `e`; an error is worded as cel-go's (`no such key: x`), or is the error of a
    /// variable `e` uses.
    pub fn eval(&self, e: &Expression) -> Result<Outcome, String> {
        let mut values = HashMap::new();
        for name in &e.variables {
            values.insert(CelMapKey::from(name.clone()), self.variable(name, 0)?);
        }
        let mut scope = self.ctx.new_inner_scope();
        scope.add_variable_as_val("variables", Box::new(CelMap::from(values)));
        let value =
            cel::Value::resolve(&e.expr, &scope).map_err(|err| runtime::error_message(&err))?;
        Ok(match value {
            cel::Value::Bool(b) => Outcome::Bool(b),
            cel::Value::String(s) => Outcome::String(s.to_string()),
            cel::Value::Null => Outcome::Null,
            other => Outcome::Other(format!("{other:?}")),
        })
    }

    /// The value of variable `name`, evaluating it (and what it uses) on first use.
    fn variable(&self, name: &str, depth: usize) -> Result<Box<dyn Val>, String> {
        if let Some(done) = self.evaluated.borrow().get(name) {
            return done
                .as_ref()
                .map(|v| v.clone_as_boxed())
                .map_err(Clone::clone);
        }
        let result = match self.variables.iter().find(|(n, _)| n == name) {
            // Variables only name earlier ones, so this cannot recurse further than there
            // are variables; the bound guards against a cycle all the same.
            _ if depth > self.variables.len() => Err(format!("variable {name:?} refers to itself")),
            None => Err(format!("no such key: {name}")),
            Some((_, Err(e))) => Err(format!(
                "composited variable {name:?} fails to compile: {e}"
            )),
            Some((_, Ok(expr))) => self
                .evaluate_variable(expr, depth)
                .map_err(|e| format!("composited variable {name:?} fails to evaluate: {e}")),
        };
        let out = result
            .as_ref()
            .map(|v| v.clone_as_boxed())
            .map_err(Clone::clone);
        self.evaluated.borrow_mut().insert(name.to_string(), result);
        out
    }

    fn evaluate_variable(&self, e: &Expression, depth: usize) -> Result<Box<dyn Val>, String> {
        let mut values = HashMap::new();
        for name in &e.variables {
            values.insert(
                CelMapKey::from(name.clone()),
                self.variable(name, depth + 1)?,
            );
        }
        let mut scope = self.ctx.new_inner_scope();
        scope.add_variable_as_val("variables", Box::new(CelMap::from(values)));
        cel::Value::resolve_val(&e.expr, &scope)
            .map(|v| v.clone_as_boxed())
            .map_err(|err| runtime::error_message(&err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile_all(
        decls: &mut Declarations,
        variables: &[(&str, &str)],
    ) -> Vec<(String, Result<Expression, String>)> {
        variables
            .iter()
            .map(|(name, source)| {
                let compiled = decls.compile(source, Expect::Any);
                decls.declare_variable(name, compiled.as_ref().ok());
                (name.to_string(), compiled)
            })
            .collect()
    }

    #[test]
    fn types_are_checked_where_they_are_known() {
        let decls = Declarations::admission(false);
        let err = decls
            .compile("object.spec.paused", Expect::Bool)
            .unwrap_err();
        assert_eq!(err, "must evaluate to bool but got dyn");
        let err = decls
            .compile("request.verb == 'x'", Expect::Bool)
            .unwrap_err();
        assert!(err.contains("undefined field 'verb'"), "{err}");
        let err = decls.compile("params.x == 1", Expect::Bool).unwrap_err();
        assert!(err.contains("undeclared reference to 'params'"), "{err}");
        assert!(
            Declarations::admission(true)
                .compile("params.x == 1", Expect::Bool)
                .is_ok()
        );
        let err = decls
            .compile("namespaceObject.metadata.name", Expect::Bool)
            .unwrap_err();
        assert_eq!(err, "must evaluate to bool but got string");
        let checks = "authorizer.group('apps').resource('deployments').subresource('scale').namespace('a').name('b').check('get').allowed()";
        assert!(decls.compile(checks, Expect::Bool).is_ok());
        assert!(
            decls
                .compile(
                    "authorizer.requestResource.check('get').reason()",
                    Expect::String
                )
                .is_ok()
        );
        let err = decls
            .compile(
                "authorizer.group(1).resource('x').check('get').allowed()",
                Expect::Bool,
            )
            .unwrap_err();
        assert!(
            err.contains("found no matching overload for 'group'"),
            "{err}"
        );
    }

    #[test]
    fn variables_are_evaluated_when_used() {
        let mut decls = Declarations::admission(false);
        let variables = compile_all(
            &mut decls,
            &[
                ("replicas", "object.spec.replicas"),
                ("broken", "object.spec.missing"),
                ("double", "variables.replicas * 2"),
            ],
        );
        let object = json!({"spec": {"replicas": 3}});
        let activation = Activation::new(&[("object", &object)], &variables).unwrap();
        let double = decls
            .compile("variables.double == 6", Expect::Bool)
            .unwrap();
        assert_eq!(activation.eval(&double), Ok(Outcome::Bool(true)));
        let broken = decls
            .compile("variables.broken == 1", Expect::Bool)
            .unwrap();
        assert_eq!(
            activation.eval(&broken),
            Err("composited variable \"broken\" fails to evaluate: no such key: missing".into())
        );
        // A later variable is not visible to an earlier one.
        let err = Declarations::admission(false)
            .compile("variables.later", Expect::Any)
            .unwrap_err();
        assert!(err.contains("undefined field 'later'"), "{err}");
    }
}
