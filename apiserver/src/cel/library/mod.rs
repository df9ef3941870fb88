//! The runtime side of the Kubernetes CEL libraries (`k8s.io/apiserver/pkg/cel/library`) and of
//! the cel-go extensions the `cel` crate lacks (`sets`): implementations registered as
//! overloads on the crate's [`Env`], with upstream's error messages. Which functions exist, and
//! with which types, is [`super::decls`]'s business; the checker guarantees the arguments
//! these implementations receive, so a mismatch here is reported as upstream's runtime
//! `no such overload`.

mod authz;
mod format;
mod lists;
mod net;
mod quantity;
mod re;
mod regex;
mod time;
mod urls;

pub(super) use crate::crd::schema::go::quote as go_quote;
pub use authz::RequestResource;
pub(super) use authz::values as authorizer_values;
pub(super) use re::Regex;
pub(super) use time::{
    parse_date, parse_go_duration, parse_rfc3339, parse_strfmt_date_time, parse_strfmt_duration,
};

use cel::common::types::{CelInt, CelList, CelString};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

/// Registers every library on `env`.
pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    lists::register(env)?;
    regex::register(env)?;
    urls::register(env)?;
    quantity::register(env)?;
    net::register(env)?;
    format::register(env)?;
    authz::register(env)?;
    Ok(())
}

/// An error carrying upstream's message; the evaluator shows the message alone.
pub(super) fn error(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// The message cel-go gives when a function is handed a value it has no overload for.
pub(super) const NO_SUCH_OVERLOAD: &str = "no such overload";

pub(super) fn no_such_overload(function: &str) -> ExecutionError {
    error(function, NO_SUCH_OVERLOAD)
}

/// Argument `i` as a string.
fn str_arg<'a>(
    args: &'a [CowVal<'_, '_>],
    i: usize,
    function: &str,
) -> Result<&'a str, ExecutionError> {
    args.get(i)
        .and_then(|a| a.downcast_ref::<CelString>())
        .map(|s| s.inner())
        .ok_or_else(|| no_such_overload(function))
}

/// Argument `i` as an int.
fn int_arg(args: &[CowVal<'_, '_>], i: usize, function: &str) -> Result<i64, ExecutionError> {
    args.get(i)
        .and_then(|a| a.downcast_ref::<CelInt>())
        .map(|n| *n.inner())
        .ok_or_else(|| no_such_overload(function))
}

/// Argument `i` as one of this module's value types.
fn typed_arg<'a, T: cel::common::value::StaticVal>(
    args: &'a [CowVal<'_, '_>],
    i: usize,
    function: &str,
) -> Result<&'a T, ExecutionError> {
    args.get(i)
        .and_then(|a| a.downcast_ref::<T>())
        .ok_or_else(|| no_such_overload(function))
}

/// The elements of a list argument.
fn list_items<'a, 'v>(
    args: &'a [CowVal<'_, 'v>],
    i: usize,
    function: &str,
) -> Result<Vec<&'a (dyn Val + 'v)>, ExecutionError> {
    let iterable = args
        .get(i)
        .and_then(|a| a.as_iterable())
        .ok_or_else(|| no_such_overload(function))?;
    let mut iter = iterable.iter();
    let mut out = Vec::new();
    while let Some(v) = iter.next() {
        out.push(v);
    }
    Ok(out)
}

fn owned<'b, 'v>(v: impl Val + 'static) -> Result<CowVal<'b, 'v>, ExecutionError> {
    Ok(CowVal::Owned(Box::new(v)))
}

fn string_list(items: impl IntoIterator<Item = String>) -> CelList<'static> {
    let boxed: Vec<Box<dyn Val>> = items
        .into_iter()
        .map(|s| Box::new(CelString::from(s)) as Box<dyn Val>)
        .collect();
    CelList::from(boxed)
}

/// Declares a `'static` value type of one of the Kubernetes libraries: its CEL type, equality
/// by `PartialEq`, and downcasting.
macro_rules! library_type {
    ($t:ty, $type_static:ident, $name:expr) => {
        pub(in crate::cel) static $type_static: cel::common::types::Type =
            cel::common::types::Type::new_unspecified_type($name);

        impl cel::common::value::Val for $t {
            fn get_type(&self) -> &cel::common::types::Type {
                &$type_static
            }

            fn cel_type() -> &'static cel::common::types::Type {
                &$type_static
            }

            fn equals(&self, other: &dyn cel::common::value::Val) -> bool {
                other.downcast_ref::<$t>().is_some_and(|o| o == self)
            }

            fn clone_as_boxed<'v>(&self) -> Box<dyn cel::common::value::Val + 'v> {
                Box::new(self.clone())
            }

            fn as_any(&self) -> Option<&dyn std::any::Any> {
                Some(self)
            }
        }

        impl cel::common::value::StaticVal for $t {}
    };
}
pub(crate) use library_type;
