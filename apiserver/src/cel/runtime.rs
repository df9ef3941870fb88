//! The CEL environment rules are compiled and run in (the `cel` crate's standard library, its
//! strings extension and the Kubernetes libraries), and the translation of the crate's parse
//! and evaluation errors into the messages cel-go gives for the same failures.

use super::check::format_error;
use super::comprehensions;
use super::library::{self, NO_SUCH_OVERLOAD, Regex, go_quote};
use cel::{Env, ExecutionError, ParseErrors, Program, Value};
use std::sync::{Arc, LazyLock};

/// The shared environment, or why it could not be built (a programming error, surfaced the way
/// upstream surfaces a failed environment: as a rule compiler initialization error).
static ENV: LazyLock<Result<Arc<Env>, String>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .and_then(|()| library::register(&mut env))
        .and_then(|()| comprehensions::register(&mut env))
        .map(|()| Arc::new(env))
        .map_err(|e| e.to_string())
});

pub(super) fn env() -> Result<&'static Arc<Env>, String> {
    ENV.as_ref().map_err(Clone::clone)
}

/// Parses `source` (expanding macros), with parse errors as cel-go renders them.
pub(super) fn parse(env: &Env, source: &str) -> Result<Program, String> {
    env.compile(source)
        .map_err(|e| format_parse_errors(&e, source))
}

fn format_parse_errors(errors: &ParseErrors, source: &str) -> String {
    let mut located: Vec<(usize, usize, &str)> = errors
        .errors
        .iter()
        .map(|e| {
            let line = usize::try_from(e.pos.0).unwrap_or(1).max(1);
            let col = usize::try_from(e.pos.1).unwrap_or(1).saturating_sub(1);
            (line, col, e.msg.as_str())
        })
        .collect();
    located.sort_by_key(|(line, col, _)| (*line, *col));
    located
        .iter()
        .map(|(line, col, msg)| format_error(source, *line, *col, msg))
        .collect::<Vec<_>>()
        .join("\n")
}

/// cel-go's text for an evaluation error.
pub(super) fn error_message(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(key) => format!("no such key: {key}"),
        ExecutionError::IndexOutOfBounds(index) => {
            format!("index out of bounds: {}", value_text(index))
        }
        ExecutionError::DivisionByZero(_) => "division by zero".to_string(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".to_string(),
        ExecutionError::Overflow(_, Value::UInt(_), _) => "unsigned integer overflow".to_string(),
        ExecutionError::Overflow(..) => "integer overflow".to_string(),
        ExecutionError::UndeclaredReference(name) => format!("no such attribute(s): {name}"),
        ExecutionError::FunctionError { function, message } if function == "matches" => {
            // The crate reports an invalid pattern with the regex crate's multi-line text.
            match message.split_once(" not a valid regex:") {
                Some((quoted, detail)) => {
                    let pattern = quoted
                        .strip_prefix('\'')
                        .and_then(|p| p.strip_suffix('\''))
                        .unwrap_or(quoted);
                    match Regex::new(pattern) {
                        Err(go) => go,
                        Ok(_) => {
                            let reason = detail.lines().last().unwrap_or_default();
                            format!(
                                "error parsing regexp: {}: `{pattern}`",
                                reason.trim_start_matches("error: ")
                            )
                        }
                    }
                }
                None => message.clone(),
            }
        }
        ExecutionError::FunctionError { message, .. } => message.clone(),
        ExecutionError::DuplicateKey(key) => {
            format!("Failed with repeated key: {}", value_text(key))
        }
        ExecutionError::InvalidArgumentCount { .. }
        | ExecutionError::UnsupportedTargetType { .. }
        | ExecutionError::NotSupportedAsMethod { .. }
        | ExecutionError::UnsupportedKeyType(_)
        | ExecutionError::UnexpectedType { .. }
        | ExecutionError::NoSuchOverload(_)
        | ExecutionError::MissingArgumentOrTarget
        | ExecutionError::ValuesNotComparable(..)
        | ExecutionError::UnsupportedBinaryOperator(..)
        | ExecutionError::UnsupportedIndex(..) => NO_SUCH_OVERLOAD.to_string(),
        other => other.to_string(),
    }
}

/// A value as Go's `%v` prints it in error messages.
fn value_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        other => go_quote(&format!("{other:?}")),
    }
}
