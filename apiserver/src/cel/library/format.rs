//! Upstream's format library: `format.named(<string>)`, `format.<name>()` and
//! `<Format>.validate(<string>)`, which returns `optional.none()` for a valid string or the
//! list of validation messages, the same messages the apiserver uses for names and labels.

use super::super::decls::NAMED_FORMATS;
use super::time::{parse_date, parse_strfmt_date_time};
use super::urls::parse_request_uri;
use super::{library_type, no_such_overload, owned, str_arg, string_list, typed_arg};
use apimachinery::validation as v;
use base64::Engine;
use cel::common::functions::Function;
use cel::common::types::{CelOptional, STRING_TYPE};
use cel::common::value::CowVal;
use cel::{DeclarationError, Env, ExecutionError};

/// One of the named formats, by its index in [`NAMED_FORMATS`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::cel) struct NamedFormat(usize);

library_type!(NamedFormat, FORMAT_TYPE, "kubernetes.NamedFormat");

/// Constructors for `format.<name>()`, in [`NAMED_FORMATS`] order.
const CONSTRUCTORS: [Function; 13] = [
    constant::<0>,
    constant::<1>,
    constant::<2>,
    constant::<3>,
    constant::<4>,
    constant::<5>,
    constant::<6>,
    constant::<7>,
    constant::<8>,
    constant::<9>,
    constant::<10>,
    constant::<11>,
    constant::<12>,
];

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    for (name, constructor) in NAMED_FORMATS.iter().zip(CONSTRUCTORS) {
        let function = format!("format.{name}");
        env.add_overload(&function, &function, vec![], constructor)?;
    }
    env.add_overload("format.named", "format-named", vec![STRING_TYPE], named)?;
    env.add_member_overload(
        "validate",
        "format-validate",
        FORMAT_TYPE.to_owned(),
        vec![STRING_TYPE],
        validate,
    )?;
    Ok(())
}

fn constant<'b, 'v, const I: usize>(
    _args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(NamedFormat(I))
}

fn named<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let name = str_arg(&args, 0, "format.named")?;
    let found = NAMED_FORMATS.iter().position(|n| *n == name);
    owned(match found {
        Some(i) => CelOptional::of(Box::new(NamedFormat(i))),
        None => CelOptional::none(),
    })
}

/// strfmt's UUID pattern, `(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$`.
fn is_uuid(s: &str) -> bool {
    let mut groups = [8usize, 4, 4, 4, 12].into_iter().peekable();
    let mut chars = s.chars().peekable();
    while let Some(len) = groups.next() {
        for _ in 0..len {
            if !chars.next().is_some_and(|c| c.is_ascii_hexdigit()) {
                return false;
            }
        }
        if groups.peek().is_some() && chars.peek() == Some(&'-') {
            chars.next();
        }
    }
    chars.next().is_none()
}

/// The messages for `s` under the named format, empty when valid.
fn messages(format: &str, s: &str) -> Vec<String> {
    let fail = |ok: bool, msg: &str| {
        if ok {
            Vec::new()
        } else {
            vec![msg.to_string()]
        }
    };
    match format {
        "dns1123Label" => v::name_is_dns_label(s, false),
        "dns1123Subdomain" => v::name_is_dns_subdomain(s, false),
        "dns1035Label" => v::name_is_dns1035_label(s, false),
        "qualifiedName" => v::is_qualified_name(s),
        "dns1123LabelPrefix" => v::name_is_dns_label(s, true),
        "dns1123SubdomainPrefix" => v::name_is_dns_subdomain(s, true),
        "dns1035LabelPrefix" => v::name_is_dns1035_label(s, true),
        "labelValue" => v::is_label_value(s),
        "uri" => match parse_request_uri(s) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e],
        },
        "uuid" => fail(is_uuid(s), "does not match the UUID format"),
        "byte" => fail(
            base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
            "invalid base64",
        ),
        "date" => fail(parse_date(s).is_some(), "invalid date"),
        "datetime" => fail(parse_strfmt_date_time(s).is_some(), "invalid datetime"),
        _ => Vec::new(),
    }
}

fn validate<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let format = typed_arg::<NamedFormat>(&args, 0, "validate")?;
    let s = str_arg(&args, 1, "validate")?;
    let name = NAMED_FORMATS
        .get(format.0)
        .ok_or_else(|| no_such_overload("validate"))?;
    let found = messages(name, s);
    owned(if found.is_empty() {
        CelOptional::none()
    } else {
        CelOptional::of(Box::new(string_list(found)))
    })
}
