//! Field selectors: `key=value`, `key==value` and `key!=value` clauses joined by commas, with `\`
//! escaping `,`, `=` and `\` in values. Which keys a kind supports is the kind's business.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub field: String,
    pub value: String,
    /// True for `!=`.
    pub negated: bool,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(s, ',') {
            if term.is_empty() {
                continue;
            }
            let (field, value, negated) = if let Some((f, v)) = split_op(&term, "!=") {
                (f, v, true)
            } else if let Some((f, v)) = split_op(&term, "==") {
                (f, v, false)
            } else if let Some((f, v)) = split_op(&term, "=") {
                (f, v, false)
            } else {
                return Err(ParseError(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            requirements.push(Requirement {
                field: field.trim().to_string(),
                value: unescape(&value)
                    .map_err(|e| ParseError(format!("invalid field selector: {e}")))?,
                negated,
            });
        }
        Ok(Self { requirements })
    }

    /// Matches against a lookup of the object's selectable fields.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let v = get(&r.field).unwrap_or_default();
            (v == r.value) != r.negated
        })
    }

    /// The value required by an `=` clause on `field`, if any (used to narrow lists, e.g. by
    /// `metadata.name` or `spec.nodeName`).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && !r.negated)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                format!(
                    "{}{}{}",
                    r.field,
                    if r.negated { "!=" } else { "=" },
                    r.value
                )
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    out.push(cur);
    out
}

/// Splits at the first unescaped occurrence of `op`.
fn split_op(term: &str, op: &str) -> Option<(String, String)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if term[i..].starts_with(op) {
            return Some((term[..i].to_string(), term[i + op.len()..].to_string()));
        }
        i += 1;
    }
    None
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(format!("invalid escape sequence: \\{e}")),
                None => return Err("unterminated escape sequence".to_string()),
            }
        } else if c == '=' || c == ',' {
            return Err(format!("unescaped {c} in {s:?}"));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let s = Selector::parse("metadata.name=a,status.phase!=Running").unwrap();
        assert_eq!(s.required_value("metadata.name"), Some("a"));
        let get = |f: &str| match f {
            "metadata.name" => Some("a".to_string()),
            "status.phase" => Some("Pending".to_string()),
            _ => None,
        };
        assert!(s.matches(get));
        let s = Selector::parse("metadata.name==b").unwrap();
        assert!(!s.matches(get));
        let s = Selector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(s.requirements[0].value, "a,b");
        assert!(Selector::parse("metadata.name").is_err());
        assert!(Selector::parse("").unwrap().is_empty());
    }
}
