//! Go's text formatting as upstream's RBAC messages use it: `%q` of a string and of a
//! `[]string`, and `utilerrors.NewAggregate(errs).Error()`. Clients and conformance tests
//! compare these messages verbatim, so the quoting has to follow Go's, not Rust's `{:?}`.

use std::fmt::Write as _;

/// Appends `s` quoted as Go's `strconv.Quote` (what `%q` prints for a string).
pub(crate) fn push_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            ' ' => out.push(' '),
            // Go keeps printable runes as they are; control characters and non-ASCII
            // spacing (which Go's `unicode.IsPrint` rejects) are escaped.
            c if c.is_control() || c.is_whitespace() => {
                let code = c as u32;
                let _ = if code < 0x80 {
                    write!(out, "\\x{code:02x}")
                } else if code < 0x10000 {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` quoted as Go's `%q`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_go_quoted(&mut out, s);
    out
}

/// Appends a string slice as Go's `%q` prints it: `["a" "b"]`.
pub(crate) fn push_go_quoted_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_go_quoted(out, item);
    }
    out.push(']');
}

/// The text of `utilerrors.NewAggregate(errs)`: nothing for no errors, the message itself
/// for one, and otherwise the distinct messages in order as `[a, b]`.
pub(crate) fn aggregate(messages: &[String]) -> Option<String> {
    match messages {
        [] => None,
        [one] => Some(one.clone()),
        _ => {
            let mut seen: Vec<&str> = Vec::with_capacity(messages.len());
            for message in messages {
                if !seen.contains(&message.as_str()) {
                    seen.push(message);
                }
            }
            if let [one] = seen.as_slice() {
                return Some((*one).to_string());
            }
            Some(format!("[{}]", seen.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quote("\u{1b}x\u{a0}é"), r#""\x1bx\u00a0é""#);
        let mut out = String::new();
        push_go_quoted_list(&mut out, &["".to_string(), "apps".to_string()]);
        assert_eq!(out, r#"["" "apps"]"#);
        out.clear();
        push_go_quoted_list(&mut out, &[]);
        assert_eq!(out, "[]");
    }

    #[test]
    fn aggregates_like_utilerrors() {
        assert_eq!(aggregate(&[]), None);
        assert_eq!(aggregate(&["a".into()]).as_deref(), Some("a"));
        assert_eq!(aggregate(&["a".into(), "a".into()]).as_deref(), Some("a"));
        assert_eq!(
            aggregate(&["a".into(), "b".into(), "a".into()]).as_deref(),
            Some("[a, b]")
        );
    }
}
