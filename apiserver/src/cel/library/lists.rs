//! Upstream's lists library (`isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf`) and
//! cel-go's sets extension (`sets.contains`, `sets.equivalent`, `sets.intersects`).

use super::{error, list_items, no_such_overload, owned};
use cel::common::types::{CelBool, CelInt, DYN_TYPE, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};
use std::cmp::Ordering;

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_member_overload("isSorted", "list_is_sorted", LIST_TYPE, vec![], is_sorted)?;
    env.add_member_overload("sum", "list_sum", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "list_min", LIST_TYPE, vec![], min)?;
    env.add_member_overload("max", "list_max", LIST_TYPE, vec![], max)?;
    env.add_member_overload(
        "indexOf",
        "list_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        index_of,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "list_last_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        last_index_of,
    )?;
    env.add_overload(
        "sets.contains",
        "list_sets_contains_list",
        vec![LIST_TYPE, LIST_TYPE],
        sets_contains,
    )?;
    env.add_overload(
        "sets.equivalent",
        "list_sets_equivalent_list",
        vec![LIST_TYPE, LIST_TYPE],
        sets_equivalent,
    )?;
    env.add_overload(
        "sets.intersects",
        "list_sets_intersects_list",
        vec![LIST_TYPE, LIST_TYPE],
        sets_intersects,
    )?;
    Ok(())
}

fn compare(function: &str, a: &dyn Val, b: &dyn Val) -> Result<Ordering, ExecutionError> {
    a.as_comparer()
        .ok_or_else(|| no_such_overload(function))?
        .compare(b)
        .map_err(|_| no_such_overload(function))
}

fn is_sorted<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = list_items(&args, 0, "isSorted")?;
    for pair in items.windows(2) {
        if compare("isSorted", pair[0], pair[1])? == Ordering::Greater {
            return owned(CelBool::from(false));
        }
    }
    owned(CelBool::from(true))
}

fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = list_items(&args, 0, "sum")?;
    let mut iter = items.into_iter();
    // Upstream starts from the zero of the list's static type; an empty list has no element to
    // tell it at runtime, and `0` compares equal to `0.0` and `0u`.
    let Some(first) = iter.next() else {
        return owned(CelInt::from(0));
    };
    let mut acc: Box<dyn Val + 'v> = first.clone_as_boxed();
    for next in iter {
        let adder = acc.as_adder().ok_or_else(|| no_such_overload("sum"))?;
        let total = adder.add(next)?.into_owned();
        acc = total;
    }
    Ok(CowVal::Owned(acc))
}

fn extreme<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    name: &str,
    prefer: Ordering,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = list_items(&args, 0, name)?;
    let mut best: Option<&(dyn Val + 'v)> = None;
    for item in items {
        best = match best {
            None => Some(item),
            Some(b) if compare(name, b, item)? == prefer => Some(item),
            keep => keep,
        };
    }
    match best {
        Some(b) => Ok(CowVal::Owned(b.clone_as_boxed())),
        None => Err(error(name, format!("{name} called on empty list"))),
    }
}

fn min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme(args, "min", Ordering::Greater)
}

fn max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme(args, "max", Ordering::Less)
}

fn position<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    name: &str,
    last: bool,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = list_items(&args, 0, name)?;
    let needle = args.get(1).ok_or_else(|| no_such_overload(name))?;
    let found = if last {
        items.iter().rposition(|i| i.equals(needle.as_ref()))
    } else {
        items.iter().position(|i| i.equals(needle.as_ref()))
    };
    let index = found.and_then(|i| i64::try_from(i).ok()).unwrap_or(-1);
    owned(CelInt::from(index))
}

fn index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    position(args, "indexOf", false)
}

fn last_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    position(args, "lastIndexOf", true)
}

/// Whether every element of `sub` equals some element of `list`.
fn contains_all(list: &[&dyn Val], sub: &[&dyn Val]) -> bool {
    sub.iter().all(|s| list.iter().any(|l| l.equals(*s)))
}

fn sets_contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let a = list_items(&args, 0, "sets.contains")?;
    let b = list_items(&args, 1, "sets.contains")?;
    owned(CelBool::from(contains_all(&a, &b)))
}

fn sets_equivalent<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let a = list_items(&args, 0, "sets.equivalent")?;
    let b = list_items(&args, 1, "sets.equivalent")?;
    owned(CelBool::from(contains_all(&a, &b) && contains_all(&b, &a)))
}

fn sets_intersects<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let a = list_items(&args, 0, "sets.intersects")?;
    let b = list_items(&args, 1, "sets.intersects")?;
    owned(CelBool::from(
        b.iter().any(|x| a.iter().any(|y| y.equals(*x))),
    ))
}
