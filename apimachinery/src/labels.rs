//! Label selectors: the full set-based string syntax (`a=b,c!=d,e in (x,y),f notin (z),g,!h,n>1`),
//! parsed once and matched against label maps.

use crate::validation::{is_label_value, is_qualified_name};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Why a selector string was rejected; the message is what the apiserver returns in its 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One clause of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    fn matches<'a>(&self, get: &impl Fn(&str) -> Option<&'a str>) -> bool {
        let value = get(&self.key);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Operator::NotEquals | Operator::NotIn => {
                value.is_none_or(|v| !self.values.iter().any(|x| x == v))
            }
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(v), Some(bound)) = (value, self.values.first()) else {
                    return false;
                };
                let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operator {
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Equals => write!(f, "{}={}", self.key, self.values.join(",")),
            Operator::DoubleEquals => write!(f, "{}=={}", self.key, self.values.join(",")),
            Operator::NotEquals => write!(f, "{}!={}", self.key, self.values.join(",")),
            Operator::GreaterThan => write!(f, "{}>{}", self.key, self.values.join(",")),
            Operator::LessThan => write!(f, "{}<{}", self.key, self.values.join(",")),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    pub fn everything() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses the query-parameter syntax.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Parser::new(s).parse()
    }

    /// A selector from `matchLabels` / `matchExpressions` (a `LabelSelector` object).
    pub fn from_label_selector(sel: &Value) -> Result<Self, ParseError> {
        let mut requirements = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                let v = v.as_str().unwrap_or_default().to_string();
                requirements.push(new_requirement(k, Operator::Equals, vec![v])?);
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => {
                        return Err(ParseError(format!(
                            "{other:?} is not a valid label selector operator"
                        )));
                    }
                };
                requirements.push(new_requirement(key, op, values)?);
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Whether a label map (a JSON object of strings, or absent) matches.
    pub fn matches_json(&self, labels: Option<&Value>) -> bool {
        let map = labels.and_then(Value::as_object);
        let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| r.matches(&get))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |k: &str| labels.get(k).map(String::as_str);
        self.requirements.iter().all(|r| r.matches(&get))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join(","))
    }
}

fn new_requirement(
    key: &str,
    operator: Operator,
    values: Vec<String>,
) -> Result<Requirement, ParseError> {
    if let Some(msg) = is_qualified_name(key).into_iter().next() {
        return Err(ParseError(format!("key: Invalid value: {key:?}: {msg}")));
    }
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return Err(ParseError(
                "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
                    .into(),
            ));
        }
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            return Err(ParseError(
                "values: Invalid value: []: exact-match compatibility requires one single value"
                    .into(),
            ));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return Err(ParseError(
                "values: Invalid value: []: values set must be empty for exists and does not exist"
                    .into(),
            ));
        }
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 || values[0].parse::<i64>().is_err() {
                return Err(ParseError(
                    "values: Invalid value: []: for 'Gt', 'Lt' operators, exactly one value is required, which must be an integer".into(),
                ));
            }
            return Ok(Requirement {
                key: key.into(),
                operator,
                values,
            });
        }
        _ => {}
    }
    for (i, v) in values.iter().enumerate() {
        if let Some(msg) = is_label_value(v).into_iter().next() {
            return Err(ParseError(format!(
                "values[{i}][{key}]: Invalid value: {v:?}: {msg}"
            )));
        }
    }
    Ok(Requirement {
        key: key.into(),
        operator,
        values,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Identifier(String),
    Comma,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    OpenPar,
    ClosePar,
    Bang,
    Gt,
    Lt,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Token::Identifier(s) => s.as_str(),
            Token::Comma => ",",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::In => "in",
            Token::NotIn => "notin",
            Token::OpenPar => "(",
            Token::ClosePar => ")",
            Token::Bang => "!",
            Token::Gt => ">",
            Token::Lt => "<",
            Token::End => "EOS",
        };
        f.write_str(s)
    }
}

fn lex(s: &str) -> Vec<Token> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let is_special = |c: char| matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<');
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_special(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (tok, len) = match two.as_str() {
                "==" => (Token::DoubleEquals, 2),
                "!=" => (Token::NotEquals, 2),
                _ => (
                    match c {
                        '=' => Token::Equals,
                        '!' => Token::Bang,
                        '(' => Token::OpenPar,
                        ')' => Token::ClosePar,
                        ',' => Token::Comma,
                        '>' => Token::Gt,
                        _ => Token::Lt,
                    },
                    1,
                ),
            };
            out.push(tok);
            i += len;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && !is_special(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        out.push(match word.as_str() {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Identifier(word),
        });
    }
    out.push(Token::End);
    out
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn new(s: &str) -> Self {
        Self {
            tokens: lex(s),
            pos: 0,
        }
    }

    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn parse(mut self) -> Result<Selector, ParseError> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::End => break,
                Token::Identifier(_) | Token::Bang => {
                    requirements.push(self.requirement()?);
                    match self.next() {
                        Token::End => break,
                        Token::Comma => {
                            if !matches!(self.peek(), Token::Identifier(_) | Token::Bang) {
                                return Err(ParseError(format!(
                                    "found '{}', expected: identifier or '!'",
                                    self.peek()
                                )));
                            }
                        }
                        t => {
                            return Err(ParseError(format!(
                                "found '{t}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                t => {
                    return Err(ParseError(format!(
                        "found '{t}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements })
    }

    fn requirement(&mut self) -> Result<Requirement, ParseError> {
        let unparsable =
            |e: ParseError| ParseError(format!("unable to parse requirement: {}", e.0));
        if self.peek() == &Token::Bang {
            self.next();
            let Token::Identifier(key) = self.next() else {
                return Err(ParseError(
                    "found '!', expected: identifier after '!'".into(),
                ));
            };
            return new_requirement(&key, Operator::DoesNotExist, vec![]).map_err(unparsable);
        }
        let Token::Identifier(key) = self.next() else {
            return Err(ParseError("expected identifier".into()));
        };
        let op = match self.peek() {
            Token::End | Token::Comma => {
                return new_requirement(&key, Operator::Exists, vec![]).map_err(unparsable);
            }
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Gt => Operator::GreaterThan,
            Token::Lt => Operator::LessThan,
            t => {
                return Err(ParseError(format!(
                    "found '{t}', expected: in, notin, =, ==, !=, gt, lt"
                )));
            }
        };
        self.next();
        let values = match op {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => match self.peek().clone() {
                Token::Identifier(v) => {
                    self.next();
                    vec![v]
                }
                Token::In | Token::NotIn => {
                    let t = self.next();
                    vec![t.to_string()]
                }
                Token::End | Token::Comma => vec![String::new()],
                t => return Err(ParseError(format!("found '{t}', expected: identifier"))),
            },
        };
        new_requirement(&key, op, values).map_err(unparsable)
    }

    fn value_set(&mut self) -> Result<Vec<String>, ParseError> {
        if self.next() != Token::OpenPar {
            return Err(ParseError("found '', expected: '('".into()));
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        loop {
            match self.next() {
                Token::ClosePar => {
                    if expect_value && !values.is_empty() {
                        values.push(String::new());
                    }
                    break;
                }
                Token::Identifier(v) if expect_value => {
                    values.push(v);
                    expect_value = false;
                }
                Token::In | Token::NotIn if expect_value => {
                    values.push(self.tokens[self.pos - 1].to_string());
                    expect_value = false;
                }
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                t => {
                    return Err(ParseError(format!(
                        "found '{t}', expected: ',', ')' or identifier"
                    )));
                }
            }
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches() {
        let s =
            Selector::parse("app=web, tier in (a,b), !legacy, env notin (prod), owner").unwrap();
        assert_eq!(s.requirements.len(), 5);
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "a"), ("owner", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "a"),
            ("owner", "x"),
            ("legacy", "")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "c"), ("owner", "x")])));
        let s = Selector::parse("app!=web").unwrap();
        assert!(s.matches(&labels(&[])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        let s = Selector::parse("n>3").unwrap();
        assert!(s.matches(&labels(&[("n", "4")])));
        assert!(!s.matches(&labels(&[("n", "3")])));
        assert!(Selector::parse("").unwrap().is_empty());
        let s = Selector::parse("app==web,x=").unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("x", "")])));
    }

    #[test]
    fn rejects_bad_syntax() {
        assert!(Selector::parse("app in").is_err());
        assert!(Selector::parse("a b").is_err());
        assert!(Selector::parse("app=a b").is_err());
        assert!(Selector::parse("-bad=x").is_err());
        assert!(Selector::parse("x=@@").is_err());
        assert!(Selector::parse("app,").is_err());
    }
}
