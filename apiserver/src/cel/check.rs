//! The static type checker. The `cel` crate only parses and interprets, while upstream
//! type-checks every rule when a CRD is written and rejects rules that cannot work (an
//! undefined field, a call no overload accepts, a rule that is not a `bool`). This is a port of
//! cel-go's `checker.go` over the crate's AST: the same type unification, the same overload
//! resolution and the same messages, followed by the AST validators the Kubernetes base
//! environment adds (homogeneous aggregate literals, duration, timestamp and regex literals).
//!
//! Issues carry the id of the expression they are about; [`format_issues`] renders them as
//! cel-go's `Issues.String()` does, source snippet and caret included.

use super::decls::{DECLS, Overload, type_ident};
use super::library::{Regex, parse_go_duration, parse_rfc3339};
use super::types::{Mapping, OPTIONAL, Type, is_assignable, most_general, substitute};
use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, LiteralValue, SourceInfo};
use std::collections::HashMap;
use std::sync::Arc;

/// A problem found in an expression.
#[derive(Debug)]
pub(super) struct Issue {
    pub id: u64,
    pub message: String,
}

/// What checking a well-typed expression learned.
#[derive(Debug)]
pub(super) struct Checked {
    pub result: Type,
    /// Whether the expression refers to the `oldSelf` variable (making it a transition rule).
    pub uses_old_self: bool,
}

/// Checks `expr` with `vars` declared, as cel-go's `Env.Check` with the Kubernetes validators.
pub(super) fn check(expr: &IdedExpr, vars: &[(&str, Type)]) -> Result<Checked, Vec<Issue>> {
    let mut c = Checker {
        vars,
        scopes: Vec::new(),
        types: HashMap::new(),
        mapping: Mapping::default(),
        counter: 0,
        issues: Vec::new(),
        uses_old_self: false,
    };
    let t = c.check(expr);
    if !c.issues.is_empty() {
        return Err(c.issues);
    }
    let result = substitute(&c.mapping, &t, true);
    let issues = validate_literals(&c, expr);
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Checked {
        result,
        uses_old_self: c.uses_old_self,
    })
}

struct Checker<'a> {
    vars: &'a [(&'a str, Type)],
    scopes: Vec<Vec<(String, Type)>>,
    types: HashMap<u64, Type>,
    mapping: Mapping,
    counter: usize,
    issues: Vec<Issue>,
    uses_old_self: bool,
}

impl Checker<'_> {
    fn report(&mut self, id: u64, message: String) {
        self.issues.push(Issue { id, message });
    }

    fn set(&mut self, id: u64, t: Type) -> Type {
        self.types.insert(id, t.clone());
        t
    }

    fn new_var(&mut self) -> Type {
        let t = Type::Param(Arc::from(format!("_var{}", self.counter)));
        self.counter += 1;
        t
    }

    fn is_assignable(&mut self, t1: &Type, t2: &Type) -> bool {
        let mut m = self.mapping.clone();
        if is_assignable(&mut m, t1, t2) {
            self.mapping = m;
            true
        } else {
            false
        }
    }

    fn lookup_ident(&mut self, name: &str) -> Option<Type> {
        for scope in self.scopes.iter().rev() {
            if let Some((_, t)) = scope.iter().rev().find(|(n, _)| n == name) {
                return Some(t.clone());
            }
        }
        if let Some((n, t)) = self.vars.iter().find(|(n, _)| *n == name) {
            if *n == "oldSelf" {
                self.uses_old_self = true;
            }
            return Some(t.clone());
        }
        type_ident(name)
    }

    fn check(&mut self, e: &IdedExpr) -> Type {
        let t = match &e.expr {
            Expr::Literal(lit) => match lit {
                LiteralValue::Boolean(_) => Type::Bool,
                LiteralValue::Bytes(_) => Type::Bytes,
                LiteralValue::Double(_) => Type::Double,
                LiteralValue::Int(_) => Type::Int,
                LiteralValue::Null => Type::Null,
                LiteralValue::String(_) => Type::String,
                LiteralValue::UInt(_) => Type::Uint,
            },
            Expr::Ident(name) => match self.lookup_ident(name) {
                Some(t) => t,
                None => {
                    self.report(e.id, undeclared(name));
                    Type::Error
                }
            },
            Expr::Select(sel) => {
                let qualified = if sel.test {
                    None
                } else {
                    // A variable with a dotted name (`authorizer.requestResource`), else a
                    // type.
                    qualified_name(e).and_then(|q| self.lookup_ident(&q))
                };
                match qualified {
                    Some(t) => t,
                    None => {
                        let t = self.check_select_field(e.id, &sel.operand, &sel.field, false);
                        let t = if sel.test { Type::Bool } else { t };
                        substitute(&self.mapping, &t, false)
                    }
                }
            }
            Expr::Call(call) if call.func_name == "_?._" && call.target.is_none() => {
                self.check_opt_select(e.id, &call.args)
            }
            Expr::Call(call) => {
                self.check_call(e.id, &call.func_name, call.target.as_deref(), &call.args)
            }
            Expr::List(list) => {
                let mut elems: Option<Type> = None;
                for (i, el) in list.elements.iter().enumerate() {
                    let mut t = self.check(el);
                    if list.optional_indices.contains(&i) {
                        t = self.unwrap_optional_element(el.id, t);
                    }
                    elems = Some(self.join(elems, t));
                }
                let elems = match elems {
                    Some(t) => t,
                    None => self.new_var(),
                };
                Type::list(elems)
            }
            Expr::Map(map) => {
                let (mut keys, mut values): (Option<Type>, Option<Type>) = (None, None);
                for entry in &map.entries {
                    let EntryExpr::MapEntry(me) = &entry.expr else {
                        continue;
                    };
                    let kt = self.check(&me.key);
                    keys = Some(self.join(keys, kt));
                    let mut vt = self.check(&me.value);
                    if me.optional {
                        vt = self.unwrap_optional_element(me.value.id, vt);
                    }
                    values = Some(self.join(values, vt));
                }
                match (keys, values) {
                    (Some(k), Some(v)) => Type::map(k, v),
                    _ => {
                        let k = self.new_var();
                        let v = self.new_var();
                        Type::map(k, v)
                    }
                }
            }
            Expr::Struct(st) => {
                self.report(e.id, undeclared(&st.type_name));
                Type::Error
            }
            Expr::Comprehension(comp) => self.check_comprehension(comp),
            Expr::Unspecified => Type::Error,
        };
        self.set(e.id, t)
    }

    /// cel-go's `joinTypes` with dynamic aggregate element types: the homogeneity of literals is
    /// a separate validator.
    fn join(&mut self, previous: Option<Type>, current: Type) -> Type {
        match previous {
            None => current,
            Some(prev) if self.is_assignable(&prev, &current) => most_general(&prev, &current),
            Some(_) => Type::Dyn,
        }
    }

    fn unwrap_optional_element(&mut self, id: u64, t: Type) -> Type {
        match t {
            Type::Opaque(OPTIONAL, mut ps) if ps.len() == 1 => ps.pop().unwrap_or(Type::Dyn),
            t if t.is_dyn() => t,
            t => {
                let msg = format!(
                    "expected type '{}' but found '{t}'",
                    Type::optional(t.clone())
                );
                self.report(id, msg);
                t
            }
        }
    }

    fn check_select_field(&mut self, id: u64, operand: &IdedExpr, field: &str, opt: bool) -> Type {
        let operand_type = self.check(operand);
        let operand_type = substitute(&self.mapping, &operand_type, false);
        let (target, is_opt) = match operand_type {
            Type::Opaque(OPTIONAL, mut ps) if ps.len() == 1 => {
                (ps.pop().unwrap_or(Type::Dyn), true)
            }
            t => (t, false),
        };
        let result = match &target {
            Type::Map(_, v) => (**v).clone(),
            Type::Object(o) => match o.fields.get(field) {
                Some(t) => t.clone(),
                None => {
                    self.report(id, format!("undefined field '{field}'"));
                    Type::Error
                }
            },
            Type::Param(_) => {
                self.is_assignable(&Type::Dyn, &target);
                Type::Dyn
            }
            t => {
                if !t.is_dyn_or_error() {
                    self.report(id, format!("type '{t}' does not support field selection"));
                }
                Type::Dyn
            }
        };
        if is_opt || opt {
            Type::optional(result)
        } else {
            result
        }
    }

    fn check_opt_select(&mut self, id: u64, args: &[IdedExpr]) -> Type {
        let [operand, field] = args else {
            self.report(
                id,
                format!(
                    "unsupported optional field selection: incorrect signature. argument count: {}",
                    args.len()
                ),
            );
            return Type::Error;
        };
        let Expr::Literal(LiteralValue::String(name)) = &field.expr else {
            self.report(field.id, "unsupported optional field selection".to_string());
            return Type::Error;
        };
        let t = self.check_select_field(id, operand, name.inner(), true);
        substitute(&self.mapping, &t, false)
    }

    fn check_call(
        &mut self,
        id: u64,
        name: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Type {
        let arg_types: Vec<Type> = args.iter().map(|a| self.check(a)).collect();
        let Some(target) = target else {
            return match DECLS.function(name) {
                Some(overloads) => self.resolve(id, name, overloads, None, args, arg_types),
                None => {
                    self.report(id, undeclared(name));
                    Type::Error
                }
            };
        };
        // `a.b.f(x)` is the namespaced function `a.b.f` when one is declared.
        if let Some(prefix) = qualified_name(target) {
            let qualified = format!("{prefix}.{name}");
            if let Some(overloads) = DECLS.function(&qualified) {
                return self.resolve(id, &qualified, overloads, None, args, arg_types);
            }
        }
        let target_type = self.check(target);
        match DECLS.function(name) {
            Some(overloads) => {
                self.resolve(id, name, overloads, Some(target_type), args, arg_types)
            }
            None => {
                self.report(id, undeclared(name));
                Type::Error
            }
        }
    }

    /// cel-go's `resolveOverload`: every overload whose parameters accept the arguments
    /// matches; the result is the first match's result type, or `dyn` if matches disagree.
    fn resolve(
        &mut self,
        id: u64,
        name: &str,
        overloads: &[Overload],
        target: Option<Type>,
        args: &[IdedExpr],
        arg_types: Vec<Type>,
    ) -> Type {
        let is_member = target.is_some();
        let mut all: Vec<Type> = target.into_iter().collect();
        all.extend(arg_types);
        if name == "_&&_" || name == "_||_" {
            let mut ok = true;
            for (arg, t) in args.iter().zip(&all) {
                if !self.is_assignable(t, &Type::Bool) {
                    self.report(arg.id, format!("expected type 'bool' but found '{t}'"));
                    ok = false;
                }
            }
            return if ok { Type::Bool } else { Type::Error };
        }
        let mut result: Option<Type> = None;
        for overload in overloads.iter().filter(|o| o.member == is_member) {
            let mut fresh = Mapping::default();
            for p in &overload.type_params {
                let var = self.new_var();
                fresh.add(p, var);
            }
            let params: Vec<Type> = overload
                .params
                .iter()
                .map(|p| substitute(&fresh, p, false))
                .collect();
            if params.len() != all.len() {
                continue;
            }
            let mut m = self.mapping.clone();
            if all
                .iter()
                .zip(&params)
                .all(|(arg, param)| is_assignable(&mut m, arg, param))
            {
                self.mapping = m;
                let r = substitute(
                    &self.mapping,
                    &substitute(&fresh, &overload.result, false),
                    false,
                );
                result = Some(match result {
                    None => r,
                    Some(prev) if !prev.is_dyn() && !r.is_exact(&prev) => Type::Dyn,
                    Some(prev) => prev,
                });
            }
        }
        match result {
            Some(t) => t,
            None => {
                let shown: Vec<String> = all
                    .iter()
                    .map(|t| substitute(&self.mapping, t, true).to_string())
                    .collect();
                let signature = if is_member {
                    format!("{}.({})", shown[0], shown[1..].join(", "))
                } else {
                    format!("({})", shown.join(", "))
                };
                self.report(
                    id,
                    format!("found no matching overload for '{name}' applied to '{signature}'"),
                );
                Type::Error
            }
        }
    }

    fn check_comprehension(&mut self, comp: &cel::common::ast::ComprehensionExpr) -> Type {
        let range = self.check(&comp.iter_range);
        let accu = self.check(&comp.accu_init);
        let range = substitute(&self.mapping, &range, false);
        self.scopes
            .push(vec![(comp.accu_var.clone(), accu.clone())]);
        let two = comp.iter_var2.is_some();
        let (var, var2) = match &range {
            Type::List(e) if two => (Type::Int, (**e).clone()),
            Type::List(e) => ((**e).clone(), Type::Error),
            Type::Map(k, v) => ((**k).clone(), (**v).clone()),
            Type::Dyn | Type::Error | Type::Param(_) => {
                self.is_assignable(&Type::Dyn, &range);
                (Type::Dyn, Type::Dyn)
            }
            other => {
                self.report(
                    comp.iter_range.id,
                    format!(
                        "expression of type '{other}' cannot be range of a comprehension (must be list, map, or dynamic)"
                    ),
                );
                (Type::Error, Type::Error)
            }
        };
        let mut loop_scope = vec![(comp.iter_var.clone(), var)];
        if let Some(v2) = &comp.iter_var2 {
            loop_scope.push((v2.clone(), var2));
        }
        self.scopes.push(loop_scope);
        let cond = self.check(&comp.loop_cond);
        self.assert_type(comp.loop_cond.id, &Type::Bool, &cond);
        let step = self.check(&comp.loop_step);
        self.assert_type(comp.loop_step.id, &accu, &step);
        self.scopes.pop();
        let result = self.check(&comp.result);
        self.scopes.pop();
        substitute(&self.mapping, &result, false)
    }

    fn assert_type(&mut self, id: u64, expected: &Type, actual: &Type) {
        if !self.is_assignable(expected, actual) {
            self.report(
                id,
                format!("expected type '{expected}' but found '{actual}'"),
            );
        }
    }
}

fn undeclared(name: &str) -> String {
    format!("undeclared reference to '{name}' (in container '')")
}

/// `a.b.c` as a dotted name, when the expression is only identifiers and field selections.
fn qualified_name(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(sel) if !sel.test => {
            qualified_name(&sel.operand).map(|prefix| format!("{prefix}.{}", sel.field))
        }
        _ => None,
    }
}

/// The base environment's AST validators, run on a well-typed expression: list and map
/// literals must be homogeneous (except the arguments of `format`), and literal arguments of
/// `duration`, `timestamp` and `matches` must parse.
fn validate_literals(c: &Checker<'_>, root: &IdedExpr) -> Vec<Issue> {
    let mut issues = Vec::new();
    let final_type = |id: u64| {
        c.types
            .get(&id)
            .map(|t| substitute(&c.mapping, t, true))
            .unwrap_or(Type::Dyn)
    };
    walk(root, false, &mut |e, exempt| match &e.expr {
        Expr::List(list) if !exempt => {
            let mut first: Option<Type> = None;
            for (i, el) in list.elements.iter().enumerate() {
                let mut t = final_type(el.id);
                if list.optional_indices.contains(&i)
                    && let Type::Opaque(OPTIONAL, ps) = &t
                    && let Some(inner) = ps.first()
                {
                    t = inner.clone();
                }
                match &first {
                    None => first = Some(t),
                    Some(f) if !f.is_exact(&t) => {
                        issues.push(Issue {
                            id: el.id,
                            message: format!("expected type '{f}' but found '{t}'"),
                        });
                        break;
                    }
                    Some(_) => {}
                }
            }
        }
        Expr::Map(map) if !exempt => {
            let mut first: Option<(Type, Type)> = None;
            for entry in &map.entries {
                let EntryExpr::MapEntry(me) = &entry.expr else {
                    continue;
                };
                let kt = final_type(me.key.id);
                let mut vt = final_type(me.value.id);
                if me.optional
                    && let Type::Opaque(OPTIONAL, ps) = &vt
                    && let Some(inner) = ps.first()
                {
                    vt = inner.clone();
                }
                let Some((k, v)) = &first else {
                    first = Some((kt, vt));
                    continue;
                };
                if !k.is_exact(&kt) {
                    issues.push(Issue {
                        id: me.key.id,
                        message: format!("expected type '{k}' but found '{kt}'"),
                    });
                }
                if !v.is_exact(&vt) {
                    issues.push(Issue {
                        id: me.value.id,
                        message: format!("expected type '{v}' but found '{vt}'"),
                    });
                }
            }
        }
        Expr::Call(call) => {
            let (func, idx) = match call.func_name.as_str() {
                "duration" if call.target.is_none() => ("duration", 0),
                "timestamp" if call.target.is_none() => ("timestamp", 0),
                "matches" => ("matches", 0),
                _ => return,
            };
            let Some(arg) = call.args.get(idx) else {
                return;
            };
            let Expr::Literal(lit) = &arg.expr else {
                return;
            };
            let valid = match (func, lit) {
                ("duration", LiteralValue::String(s)) => parse_go_duration(s.inner()).is_ok(),
                ("timestamp", LiteralValue::String(s)) => parse_rfc3339(s.inner()).is_some(),
                ("matches", LiteralValue::String(s)) => Regex::new(s.inner()).is_ok(),
                _ => true,
            };
            if !valid {
                issues.push(Issue {
                    id: arg.id,
                    message: format!("invalid {func} argument"),
                });
            }
        }
        _ => {}
    });
    issues
}

/// Visits every expression, telling the visitor whether it is inside a call to `format`
/// (the strings library exempts its arguments from homogeneous literals).
fn walk(e: &IdedExpr, exempt: bool, f: &mut impl FnMut(&IdedExpr, bool)) {
    f(e, exempt);
    match &e.expr {
        Expr::Call(call) => {
            let exempt = exempt || call.func_name == "format";
            if let Some(t) = &call.target {
                walk(t, exempt, f);
            }
            for a in &call.args {
                walk(a, exempt, f);
            }
        }
        Expr::Select(sel) => walk(&sel.operand, exempt, f),
        Expr::List(list) => list.elements.iter().for_each(|el| walk(el, exempt, f)),
        Expr::Map(map) => {
            for entry in &map.entries {
                match &entry.expr {
                    EntryExpr::MapEntry(me) => {
                        walk(&me.key, exempt, f);
                        walk(&me.value, exempt, f);
                    }
                    EntryExpr::StructField(sf) => walk(&sf.value, exempt, f),
                }
            }
        }
        Expr::Struct(st) => {
            for entry in &st.entries {
                if let EntryExpr::StructField(sf) = &entry.expr {
                    walk(&sf.value, exempt, f);
                }
            }
        }
        Expr::Comprehension(comp) => {
            for part in [
                &comp.iter_range,
                &comp.accu_init,
                &comp.loop_cond,
                &comp.loop_step,
                &comp.result,
            ] {
                walk(part, exempt, f);
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Renders issues as cel-go's `Issues.String()`: sorted by position, each as
/// `ERROR: <input>:line:col: message` followed by the source line and a caret under the column.
pub(super) fn format_issues(issues: &[Issue], info: &SourceInfo, source: &str) -> String {
    let mut located: Vec<(usize, usize, &str)> = issues
        .iter()
        .map(|i| {
            let offset = info.offset_for(i.id).map(|(start, _)| start as usize);
            let (line, col) = offset.map(|o| line_col(source, o)).unwrap_or((1, 0));
            (line, col, i.message.as_str())
        })
        .collect();
    located.sort_by_key(|(line, col, _)| (*line, *col));
    located
        .iter()
        .map(|(line, col, msg)| format_error(source, *line, *col, msg))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One error as cel-go's `Error.ToDisplayString`: `col` is 0-based, displayed 1-based.
pub(super) fn format_error(source: &str, line: usize, col: usize, msg: &str) -> String {
    let mut out = format!("ERROR: <input>:{line}:{}: {msg}", col + 1);
    if let Some(snippet) = source.split('\n').nth(line.saturating_sub(1)) {
        let snippet = snippet.replace('\t', " ");
        out.push_str("\n | ");
        out.push_str(&snippet);
        out.push_str("\n | ");
        let mut chars = snippet.chars();
        for _ in 0..col {
            match chars.next() {
                Some(c) if c.len_utf8() > 1 => out.push('\u{FF0E}'),
                Some(_) => out.push('.'),
                None => break,
            }
        }
        match chars.next() {
            Some(c) if c.len_utf8() > 1 => out.push('\u{FF3E}'),
            _ => out.push('^'),
        }
    }
    out
}

/// The 1-based line and 0-based column (in characters) of a character offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let (mut line, mut col) = (1, 0);
    for (i, c) in source.chars().enumerate() {
        if i == offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 0;
        } else {
            col += 1;
        }
    }
    (line, col)
}
