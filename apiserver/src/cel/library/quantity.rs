//! Upstream's quantity library (`quantity`, `isQuantity`, `sign`, `isGreaterThan`,
//! `isLessThan`, `compareTo`, `asApproximateFloat`, `asInteger`, `isInteger`, `add`, `sub`), on
//! the apiserver's own `resource.Quantity` parser so that both accept and reject the same
//! strings with the same messages.
//!
//! Values are held as a count of nano-units, which is exact for everything the parser keeps
//! (it rounds to nano precision, as upstream does); magnitudes beyond ~10^29 saturate.

use super::{error, int_arg, library_type, owned, str_arg, typed_arg};
use crate::registry::resources::core::quantity::Quantity as Parsed;
use cel::common::types::{CelBool, CelDouble, CelInt, INT_TYPE, STRING_TYPE};
use cel::common::value::CowVal;
use cel::{DeclarationError, Env, ExecutionError};

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// A quantity value, compared by magnitude as upstream's `Quantity.Cmp`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::cel) struct Quantity {
    nanos: i128,
}

library_type!(Quantity, QUANTITY_TYPE, "kubernetes.Quantity");

impl Quantity {
    fn parse(s: &str) -> Result<Quantity, &'static str> {
        Parsed::parse(s).map(|q| Quantity { nanos: q.nanos() })
    }

    fn as_i64(self) -> Option<i64> {
        if self.nanos % NANOS_PER_UNIT != 0 {
            return None;
        }
        i64::try_from(self.nanos / NANOS_PER_UNIT).ok()
    }
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    let q = || QUANTITY_TYPE.to_owned();
    env.add_overload(
        "quantity",
        "string_to_quantity",
        vec![STRING_TYPE],
        to_quantity,
    )?;
    env.add_overload(
        "isQuantity",
        "is_quantity_string",
        vec![STRING_TYPE],
        is_quantity,
    )?;
    env.add_overload("sign", "quantity_sign", vec![q()], sign)?;
    env.add_member_overload(
        "isGreaterThan",
        "quantity_is_greater_than",
        q(),
        vec![q()],
        is_greater_than,
    )?;
    env.add_member_overload(
        "isLessThan",
        "quantity_is_less_than",
        q(),
        vec![q()],
        is_less_than,
    )?;
    env.add_member_overload(
        "compareTo",
        "quantity_compare_to",
        q(),
        vec![q()],
        compare_to,
    )?;
    env.add_member_overload(
        "asApproximateFloat",
        "quantity_get_float",
        q(),
        vec![],
        as_approximate_float,
    )?;
    env.add_member_overload("asInteger", "quantity_get_int", q(), vec![], as_integer)?;
    env.add_member_overload("isInteger", "quantity_is_integer", q(), vec![], is_integer)?;
    env.add_member_overload("add", "quantity_add", q(), vec![q()], add)?;
    env.add_member_overload("add", "quantity_add_int", q(), vec![INT_TYPE], add)?;
    env.add_member_overload("sub", "quantity_sub", q(), vec![q()], sub)?;
    env.add_member_overload("sub", "quantity_sub_int", q(), vec![INT_TYPE], sub)?;
    Ok(())
}

fn to_quantity<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "quantity")?;
    match Quantity::parse(s) {
        Ok(q) => owned(q),
        Err(e) => Err(error("quantity", e)),
    }
}

fn is_quantity<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "isQuantity")?;
    owned(CelBool::from(Quantity::parse(s).is_ok()))
}

fn sign<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let q = typed_arg::<Quantity>(&args, 0, "sign")?;
    owned(CelInt::from(q.nanos.signum() as i64))
}

fn pair<'a>(
    args: &'a [CowVal<'_, '_>],
    name: &str,
) -> Result<(&'a Quantity, &'a Quantity), ExecutionError> {
    Ok((typed_arg(args, 0, name)?, typed_arg(args, 1, name)?))
}

fn is_greater_than<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = pair(&args, "isGreaterThan")?;
    owned(CelBool::from(a.nanos > b.nanos))
}

fn is_less_than<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = pair(&args, "isLessThan")?;
    owned(CelBool::from(a.nanos < b.nanos))
}

fn compare_to<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = pair(&args, "compareTo")?;
    owned(CelInt::from(a.nanos.cmp(&b.nanos) as i64))
}

fn as_approximate_float<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let q = typed_arg::<Quantity>(&args, 0, "asApproximateFloat")?;
    owned(CelDouble::from(q.nanos as f64 / NANOS_PER_UNIT as f64))
}

fn as_integer<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let q = typed_arg::<Quantity>(&args, 0, "asInteger")?;
    match q.as_i64() {
        Some(v) => owned(CelInt::from(v)),
        None => Err(error("asInteger", "cannot convert value to integer")),
    }
}

fn is_integer<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let q = typed_arg::<Quantity>(&args, 0, "isInteger")?;
    owned(CelBool::from(q.as_i64().is_some()))
}

/// The second operand of `add`/`sub`, a quantity or an integer number of units.
fn operand_nanos(args: &[CowVal<'_, '_>], name: &str) -> Result<i128, ExecutionError> {
    match typed_arg::<Quantity>(args, 1, name) {
        Ok(q) => Ok(q.nanos),
        Err(_) => int_arg(args, 1, name).map(|n| i128::from(n) * NANOS_PER_UNIT),
    }
}

fn add<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let a = typed_arg::<Quantity>(&args, 0, "add")?;
    let b = operand_nanos(&args, "add")?;
    owned(Quantity {
        nanos: a.nanos.saturating_add(b),
    })
}

fn sub<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let a = typed_arg::<Quantity>(&args, 0, "sub")?;
    let b = operand_nanos(&args, "sub")?;
    owned(Quantity {
        nanos: a.nanos.saturating_sub(b),
    })
}
