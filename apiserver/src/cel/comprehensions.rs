//! cel-go's two-variable comprehensions (`ext.TwoVarComprehensions`, in the Kubernetes base
//! environment since 1.32): `all(k, v, p)`, `exists(k, v, p)`, `existsOne(k, v, p)`,
//! `transformList(i, v, [f,] e)`, `transformMap(k, v, [f,] e)` and
//! `transformMapEntry(k, v, [f,] e)`.
//!
//! The macros expand exactly as cel-go's do, into comprehensions with a second iteration
//! variable, which the checker types (index and element for lists, key and value for maps).
//! The `cel` crate's interpreter only binds one variable, so [`lower`] rewrites such a
//! comprehension before it runs: it iterates over `[key, value]` pairs (`@entries`) and reads
//! the two variables out of the pair.

use super::library::{error, no_such_overload};
use cel::IdedExpr;
use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, ListExpr, LiteralValue, MapExpr,
};
use cel::common::types::{CelInt, CelList, CelMap, CelMapKey, DYN_TYPE, MAP_TYPE};
use cel::common::value::{CowVal, Val};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{DeclarationError, Env, ExecutionError};
use std::collections::HashMap;

const ACCUMULATOR: &str = "@result";
const ENTRIES: &str = "@entries";
const MAP_INSERT: &str = "cel.@mapInsert";

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_macro(Macro::receiver("all", 3, |h, t, a| {
        expand(h, t, a, Kind::All)
    }))?;
    env.add_macro(Macro::receiver("exists", 3, |h, t, a| {
        expand(h, t, a, Kind::Exists)
    }))?;
    env.add_macro(Macro::receiver("existsOne", 3, |h, t, a| {
        expand(h, t, a, Kind::ExistsOne)
    }))?;
    for (name, kind) in [
        ("transformList", Kind::TransformList),
        ("transformMap", Kind::TransformMap),
        ("transformMapEntry", Kind::TransformMapEntry),
    ] {
        env.add_macro(Macro::receiver(name, 3, move |h, t, a| {
            expand(h, t, a, kind)
        }))?;
        env.add_macro(Macro::receiver(name, 4, move |h, t, a| {
            expand(h, t, a, kind)
        }))?;
    }
    env.add_overload(ENTRIES, "entries_dyn", vec![DYN_TYPE], entries)?;
    env.add_overload(
        MAP_INSERT,
        "cel_@mapInsert_map_key_value",
        vec![MAP_TYPE, DYN_TYPE, DYN_TYPE],
        map_insert,
    )?;
    env.add_overload(
        MAP_INSERT,
        "cel_@mapInsert_map_map",
        vec![MAP_TYPE, MAP_TYPE],
        map_insert,
    )?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    All,
    Exists,
    ExistsOne,
    TransformList,
    TransformMap,
    TransformMapEntry,
}

fn call(h: &mut MacroExprHelper<'_>, name: &str, args: Vec<IdedExpr>) -> IdedExpr {
    h.next_expr(Expr::Call(CallExpr {
        func_name: name.to_string(),
        target: None,
        args,
    }))
}

fn accu(h: &mut MacroExprHelper<'_>) -> IdedExpr {
    h.next_expr(Expr::Ident(ACCUMULATOR.to_string()))
}

fn literal(h: &mut MacroExprHelper<'_>, value: LiteralValue) -> IdedExpr {
    h.next_expr(Expr::Literal(value))
}

fn iter_var(h: &MacroExprHelper<'_>, e: &IdedExpr) -> Result<String, ParseError> {
    match &e.expr {
        Expr::Ident(name) => Ok(name.clone()),
        _ => Err(h.new_error(e.id, "argument must be a simple name")),
    }
}

/// cel-go's expansions of the two-variable macros.
fn expand(
    h: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
    kind: Kind,
) -> Result<Option<IdedExpr>, ParseError> {
    let Some(range) = target.take() else {
        return Ok(None);
    };
    let var1 = iter_var(h, &args[0])?;
    let var2 = iter_var(h, &args[1])?;
    if var1 == var2 {
        return Err(h.new_error(args[1].id, format!("duplicate variable name: {var1}")));
    }
    if var1 == ACCUMULATOR || var2 == ACCUMULATOR {
        let id = if var1 == ACCUMULATOR {
            args[0].id
        } else {
            args[1].id
        };
        return Err(h.new_error(id, "iteration variable overwrites accumulator variable"));
    }
    let mut rest: Vec<IdedExpr> = args.drain(2..).collect();
    let last = rest.pop().unwrap_or_default();
    let filter = rest.pop();
    let (init, cond, step, result) = match kind {
        Kind::All => {
            let init = literal(h, LiteralValue::Boolean(true.into()));
            let a = accu(h);
            let cond = call(h, "@not_strictly_false", vec![a]);
            let a = accu(h);
            let step = call(h, "_&&_", vec![a, last]);
            (init, cond, step, accu(h))
        }
        Kind::Exists => {
            let init = literal(h, LiteralValue::Boolean(false.into()));
            let a = accu(h);
            let not = call(h, "!_", vec![a]);
            let cond = call(h, "@not_strictly_false", vec![not]);
            let a = accu(h);
            let step = call(h, "_||_", vec![a, last]);
            (init, cond, step, accu(h))
        }
        Kind::ExistsOne => {
            let init = literal(h, LiteralValue::Int(0.into()));
            let cond = literal(h, LiteralValue::Boolean(true.into()));
            let a = accu(h);
            let one = literal(h, LiteralValue::Int(1.into()));
            let plus = call(h, "_+_", vec![a, one]);
            let a = accu(h);
            let step = call(h, "_?_:_", vec![last, plus, a]);
            let a = accu(h);
            let one = literal(h, LiteralValue::Int(1.into()));
            let result = call(h, "_==_", vec![a, one]);
            (init, cond, step, result)
        }
        Kind::TransformList | Kind::TransformMap | Kind::TransformMapEntry => {
            let init = match kind {
                Kind::TransformList => h.next_expr(Expr::List(ListExpr::new(Vec::new()))),
                _ => h.next_expr(Expr::Map(MapExpr {
                    entries: Vec::new(),
                })),
            };
            let cond = literal(h, LiteralValue::Boolean(true.into()));
            let a = accu(h);
            let mut step = match kind {
                Kind::TransformList => {
                    let item = h.next_expr(Expr::List(ListExpr::new(vec![last])));
                    call(h, "_+_", vec![a, item])
                }
                Kind::TransformMap => {
                    let key = h.next_expr(Expr::Ident(var1.clone()));
                    call(h, MAP_INSERT, vec![a, key, last])
                }
                _ => call(h, MAP_INSERT, vec![a, last]),
            };
            if let Some(filter) = filter {
                let a = accu(h);
                step = call(h, "_?_:_", vec![filter, step, a]);
            }
            (init, cond, step, accu(h))
        }
    };
    Ok(Some(h.next_expr(Expr::Comprehension(Box::new(
        ComprehensionExpr {
            iter_range: range,
            iter_var: var1,
            iter_var2: Some(var2),
            accu_var: ACCUMULATOR.to_string(),
            accu_init: init,
            loop_cond: cond,
            loop_step: step,
            result,
        },
    )))))
}

/// The expression the interpreter runs: two-variable comprehensions iterate over
/// `@entries(range)` with one variable holding the `[key, value]` pair.
pub(super) fn lower(e: &IdedExpr) -> IdedExpr {
    let expr = match &e.expr {
        Expr::Comprehension(c) => {
            let mut c = ComprehensionExpr {
                iter_range: lower(&c.iter_range),
                iter_var: c.iter_var.clone(),
                iter_var2: c.iter_var2.clone(),
                accu_var: c.accu_var.clone(),
                accu_init: lower(&c.accu_init),
                loop_cond: lower(&c.loop_cond),
                loop_step: lower(&c.loop_step),
                result: lower(&c.result),
            };
            if let Some(var2) = c.iter_var2.take() {
                let pair = format!("@entry{}", e.id);
                let names = [(c.iter_var.clone(), 0), (var2, 1)];
                c.iter_range = IdedExpr {
                    id: e.id,
                    expr: Expr::Call(CallExpr {
                        func_name: ENTRIES.to_string(),
                        target: None,
                        args: vec![c.iter_range],
                    }),
                };
                c.loop_cond = substitute(&c.loop_cond, &names, &pair);
                c.loop_step = substitute(&c.loop_step, &names, &pair);
                c.iter_var = pair;
            }
            Expr::Comprehension(Box::new(c))
        }
        _ => map_children(&e.expr, lower),
    };
    IdedExpr { id: e.id, expr }
}

/// Replaces references to the iteration variables `names` by elements of `pair`, except
/// where a nested comprehension binds the same name.
fn substitute(e: &IdedExpr, names: &[(String, i64)], pair: &str) -> IdedExpr {
    let expr = match &e.expr {
        Expr::Ident(name) => match names.iter().find(|(n, _)| n == name) {
            Some((_, i)) => Expr::Call(CallExpr {
                func_name: "_[_]".to_string(),
                target: None,
                args: vec![
                    IdedExpr {
                        id: e.id,
                        expr: Expr::Ident(pair.to_string()),
                    },
                    IdedExpr {
                        id: e.id,
                        expr: Expr::Literal(LiteralValue::Int((*i).into())),
                    },
                ],
            }),
            None => e.expr.clone(),
        },
        Expr::Comprehension(c) => {
            let bound = |n: &String| {
                *n == c.iter_var || c.iter_var2.as_ref() == Some(n) || *n == c.accu_var
            };
            let inner: Vec<(String, i64)> =
                names.iter().filter(|(n, _)| !bound(n)).cloned().collect();
            let accu_names: Vec<(String, i64)> = names
                .iter()
                .filter(|(n, _)| *n != c.accu_var)
                .cloned()
                .collect();
            Expr::Comprehension(Box::new(ComprehensionExpr {
                iter_range: substitute(&c.iter_range, names, pair),
                iter_var: c.iter_var.clone(),
                iter_var2: c.iter_var2.clone(),
                accu_var: c.accu_var.clone(),
                accu_init: substitute(&c.accu_init, names, pair),
                loop_cond: substitute(&c.loop_cond, &inner, pair),
                loop_step: substitute(&c.loop_step, &inner, pair),
                result: substitute(&c.result, &accu_names, pair),
            }))
        }
        other => map_children(other, |child| substitute(child, names, pair)),
    };
    IdedExpr { id: e.id, expr }
}

/// `e` with `f` applied to each direct subexpression (comprehensions are handled by callers).
fn map_children(e: &Expr, f: impl Fn(&IdedExpr) -> IdedExpr) -> Expr {
    match e {
        Expr::Call(c) => Expr::Call(CallExpr {
            func_name: c.func_name.clone(),
            target: c.target.as_ref().map(|t| Box::new(f(t))),
            args: c.args.iter().map(&f).collect(),
        }),
        Expr::Select(s) => {
            let mut s = s.clone();
            s.operand = Box::new(f(&s.operand));
            Expr::Select(s)
        }
        Expr::List(l) => Expr::List(ListExpr::new_with_optionals(
            l.elements.iter().map(&f).collect(),
            l.optional_indices.clone(),
        )),
        Expr::Map(m) => Expr::Map(MapExpr {
            entries: m
                .entries
                .iter()
                .map(|entry| {
                    let mut entry = entry.clone();
                    match &mut entry.expr {
                        EntryExpr::MapEntry(me) => {
                            me.key = f(&me.key);
                            me.value = f(&me.value);
                        }
                        EntryExpr::StructField(sf) => sf.value = f(&sf.value),
                    }
                    entry
                })
                .collect(),
        }),
        Expr::Struct(s) => {
            let mut s = s.clone();
            for entry in &mut s.entries {
                if let EntryExpr::StructField(sf) = &mut entry.expr {
                    sf.value = f(&sf.value);
                }
            }
            Expr::Struct(s)
        }
        Expr::Comprehension(c) => Expr::Comprehension(Box::new(ComprehensionExpr {
            iter_range: f(&c.iter_range),
            iter_var: c.iter_var.clone(),
            iter_var2: c.iter_var2.clone(),
            accu_var: c.accu_var.clone(),
            accu_init: f(&c.accu_init),
            loop_cond: f(&c.loop_cond),
            loop_step: f(&c.loop_step),
            result: f(&c.result),
        })),
        other => other.clone(),
    }
}

/// `@entries(range)`: `[index, element]` pairs of a list, `[key, value]` pairs of a map.
fn entries<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let range = args.first().ok_or_else(|| no_such_overload(ENTRIES))?;
    let iterable = range
        .as_iterable()
        .ok_or_else(|| no_such_overload(ENTRIES))?;
    let indexer = range.as_indexer();
    let is_list = range.get_type().name() == "list";
    let mut pairs: Vec<Box<dyn Val + 'v>> = Vec::new();
    let mut iter = iterable.iter();
    let mut i: i64 = 0;
    while let Some(item) = iter.next() {
        let (key, value): (Box<dyn Val + 'v>, Box<dyn Val + 'v>) = if is_list {
            (Box::new(CelInt::from(i)), item.clone_as_boxed())
        } else {
            let value = indexer
                .ok_or_else(|| no_such_overload(ENTRIES))?
                .get(item)?
                .into_owned();
            (item.clone_as_boxed(), value)
        };
        pairs.push(Box::new(CelList::from(vec![key, value])));
        i += 1;
    }
    Ok(CowVal::Owned(Box::new(CelList::from(pairs))))
}

/// `cel.@mapInsert(map, key, value)` and `cel.@mapInsert(map, entries)`: a copy of the map
/// with the entries added, failing on a key already present.
fn map_insert<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let map = args
        .first()
        .and_then(|m| m.downcast_ref::<CelMap>())
        .ok_or_else(|| no_such_overload(MAP_INSERT))?;
    let mut out: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = map
        .inner()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone_as_boxed()))
        .collect();
    let additions: Vec<(Box<dyn Val + 'v>, Box<dyn Val + 'v>)> = if args.len() == 3 {
        vec![(args[1].clone().into_owned(), args[2].clone().into_owned())]
    } else {
        let entries = args
            .get(1)
            .and_then(|m| m.downcast_ref::<CelMap>())
            .ok_or_else(|| no_such_overload(MAP_INSERT))?;
        entries
            .inner()
            .iter()
            .map(|(k, v)| (k.inner().clone_as_boxed(), v.clone_as_boxed()))
            .collect()
    };
    for (k, v) in additions {
        let key = CelMapKey::try_from(k).map_err(|_| no_such_overload(MAP_INSERT))?;
        if out.contains_key(&key) {
            let shown = match cel::Value::try_from(key.inner()) {
                Ok(cel::Value::String(s)) => s.to_string(),
                Ok(cel::Value::Int(i)) => i.to_string(),
                Ok(cel::Value::UInt(u)) => u.to_string(),
                Ok(cel::Value::Bool(b)) => b.to_string(),
                _ => String::new(),
            };
            return Err(error(
                MAP_INSERT,
                format!("insert failed: key {shown} already exists"),
            ));
        }
        out.insert(key, v);
    }
    Ok(CowVal::Owned(Box::new(CelMap::from(out))))
}
