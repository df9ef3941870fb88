//! Upstream's regex library: `<string>.find(<string>)` and `<string>.findAll(<string>[, <int>])`,
//! on [`super::re`], which reports match positions as Go's `regexp` does.

use super::re::Regex;
use super::{error, int_arg, owned, str_arg, string_list};
use cel::common::types::{CelString, INT_TYPE, STRING_TYPE};
use cel::common::value::CowVal;
use cel::{DeclarationError, Env, ExecutionError};

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_member_overload(
        "find",
        "string_find_string",
        STRING_TYPE,
        vec![STRING_TYPE],
        find,
    )?;
    env.add_member_overload(
        "findAll",
        "string_find_all_string",
        STRING_TYPE,
        vec![STRING_TYPE],
        find_all,
    )?;
    env.add_member_overload(
        "findAll",
        "string_find_all_string_int",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        find_all,
    )?;
    Ok(())
}

fn compile(function: &str, pattern: &str) -> Result<Regex, ExecutionError> {
    Regex::new(pattern).map_err(|e| error(function, format!("Illegal regex: {e}")))
}

fn find<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "find")?;
    let re = compile("find", str_arg(&args, 1, "find")?)?;
    owned(CelString::from(re.find(s).unwrap_or_default()))
}

fn find_all<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "findAll")?;
    let re = compile("findAll", str_arg(&args, 1, "findAll")?)?;
    let limit = if args.len() > 2 {
        int_arg(&args, 2, "findAll")?
    } else {
        -1
    };
    owned(string_list(re.find_all(s, limit)))
}
