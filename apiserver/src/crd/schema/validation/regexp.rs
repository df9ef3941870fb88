//! Schema `pattern`s (and `patternProperties` keys) are Go `regexp` (RE2) syntax: this runs
//! them on the `regex` crate's engine after translating the few places where the dialects
//! disagree. Translations and compile errors are cached, since every request re-checks the
//! same few patterns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Past this many distinct patterns the cache starts over; a CRD set has far fewer, so this only
/// bounds memory against a stream of ever-new schemas.
const CACHE_LIMIT: usize = 1024;

/// A pattern known to compile, in the engine's dialect.
#[derive(Debug)]
pub(super) struct Pattern {
    regex: regex::Regex,
}

impl Pattern {
    /// Whether the pattern matches anywhere in `s` (Go's `MatchString`).
    pub(super) fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

type Compiled = Result<Arc<Pattern>, String>;

fn cache() -> &'static Mutex<HashMap<String, Compiled>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// Compiles a Go pattern, or returns the reason it does not compile.
pub(super) fn compile(pattern: &str) -> Compiled {
    if let Some(hit) = cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern)
    {
        return hit.clone();
    }
    // Checked outside the lock: a slow pattern must not stall other requests' lookups.
    let translated = translate(pattern);
    let compiled = match regex::Regex::new(&translated) {
        Ok(regex) => Ok(Arc::new(Pattern { regex })),
        Err(e) => Err(go_style_error(pattern, &e.to_string())),
    };
    let mut map = cache().lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() >= CACHE_LIMIT {
        map.clear();
    }
    map.insert(pattern.to_string(), compiled.clone());
    compiled
}

/// Whether `pattern` finds a match anywhere in `s` (Go's `regexp.MatchString`); a pattern that
/// does not compile matches nothing, as upstream ignores that error where it uses this.
pub(super) fn matches(pattern: &str, s: &str) -> bool {
    compile(pattern).is_ok_and(|p| p.is_match(s))
}

fn go_style_error(pattern: &str, err: &str) -> String {
    // The engine's message spans several lines with a caret diagram; its last line names the
    // problem, which is what Go's one-line message carries too.
    let reason = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid pattern")
        .trim()
        .trim_start_matches("error: ");
    format!("error parsing regexp: {reason}: `{pattern}`")
}

/// Rewrites Go syntax into the `regex` crate's: Go's `\d`, `\w`, `\s` and `\b` are ASCII-only
/// where the crate's are Unicode; Go has `\Q...\E`; inside a class Go takes `[`, `&`, `~` and
/// `-`-runs literally where the crate nests or combines classes; and Go reads a `{` that starts
/// no repetition as a literal.
fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            i += 2;
            if !in_class && e == 'Q' {
                let mut literal = String::new();
                while i < chars.len() {
                    if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                        i += 2;
                        break;
                    }
                    literal.push(chars[i]);
                    i += 1;
                }
                out.push_str(&escape(&literal));
                continue;
            }
            class_start = false;
            out.push_str(&match (in_class, e) {
                (false, 'd') => "[0-9]".to_string(),
                (false, 'D') => "[^0-9]".to_string(),
                (false, 'w') => "[0-9A-Za-z_]".to_string(),
                (false, 'W') => "[^0-9A-Za-z_]".to_string(),
                (false, 's') => "[\\t\\n\\x0C\\r ]".to_string(),
                (false, 'S') => "[^\\t\\n\\x0C\\r ]".to_string(),
                (false, 'b') => "(?-u:\\b)".to_string(),
                (false, 'B') => "(?-u:\\B)".to_string(),
                (true, 'd') => "0-9".to_string(),
                (true, 'w') => "0-9A-Za-z_".to_string(),
                (true, 's') => "\\t\\n\\x0C\\r ".to_string(),
                (_, e) => format!("\\{e}"),
            });
            if matches!(e, 'p' | 'P' | 'x') && chars.get(i) == Some(&'{') {
                // `\p{Greek}`, `\x{263a}`: the braces belong to the escape.
                while i < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                    if chars[i - 1] == '}' {
                        break;
                    }
                }
            }
            continue;
        }
        if in_class {
            match c {
                ']' if !class_start => in_class = false,
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class such as `[:alpha:]`: both dialects agree, copy it whole.
                    let end = (i + 2..chars.len().saturating_sub(1))
                        .find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                    if let Some(end) = end {
                        out.extend(&chars[i..end + 2]);
                        i = end + 2;
                        class_start = false;
                        continue;
                    }
                    out.push_str("\\[");
                    i += 1;
                    class_start = false;
                    continue;
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                    i += 1;
                    class_start = false;
                    continue;
                }
                '-' if chars.get(i + 1) == Some(&'-') => {
                    out.push_str("\\-");
                    i += 1;
                    class_start = false;
                    continue;
                }
                '^' if class_start && out.ends_with('[') => {
                    out.push('^');
                    i += 1;
                    continue;
                }
                _ => {}
            }
            class_start = false;
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
            }
            '{' if !starts_repetition(&chars[i..]) => out.push_str("\\{"),
            '}' => {
                // Only a `}` closing a repetition reaches here unescaped; see `starts_repetition`.
                out.push_str("\\}");
            }
            _ => out.push(c),
        }
        i += 1;
        if c == '{' && starts_repetition(&chars[i - 1..]) {
            // Copy the whole `{n,m}` so its closing brace is not escaped as a literal.
            while i < chars.len() && chars[i] != '}' {
                out.push(chars[i]);
                i += 1;
            }
            if i < chars.len() {
                out.push('}');
                i += 1;
            }
        }
    }
    out
}

/// Whether `s` (starting at a `{`) is a counted repetition `{n}`, `{n,}` or `{n,m}`.
fn starts_repetition(s: &[char]) -> bool {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if i < s.len() && s[i] == ',' {
        i += 1;
        digits(&mut i);
    }
    i < s.len() && s[i] == '}'
}

/// Escapes every character the engine could read as syntax.
fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() * 2);
    for c in literal.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
