//! The subset of kubectl's JSONPath that CRDs use: printer columns (`.spec.replicas`,
//! `.status.conditions[?(@.type=="Ready")].status`, `.spec.items[0].name`, `.spec.list[*]`)
//! and the scale subresource's paths (`.spec.replicas`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    /// `[?(@.a.b=="x")]`: elements whose field path equals the literal.
    Filter(Vec<String>, Value),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

/// Why a path was refused, as the CRD validation error detail.
pub type ParseError = String;

impl JsonPath {
    /// Parses `.a.b[0]`, with or without the `{}` kubectl allows around it.
    pub fn parse(path: &str) -> Result<Self, ParseError> {
        let path = path.trim();
        let path = path
            .strip_prefix('{')
            .and_then(|p| p.strip_suffix('}'))
            .unwrap_or(path);
        let path = path.strip_prefix('$').unwrap_or(path);
        if !path.starts_with('.') {
            return Err("must be a simple json path starting with .".to_string());
        }
        let mut steps = Vec::new();
        let mut rest = path;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let name = &r[..end];
                if name.is_empty() {
                    return Err(format!("invalid path {path:?}"));
                }
                steps.push(Step::Field(name.to_string()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = closing_bracket(r).ok_or_else(|| format!("unclosed [ in {path:?}"))?;
                let inner = &r[..end];
                steps.push(parse_bracket(inner).ok_or_else(|| format!("invalid path {path:?}"))?);
                rest = &r[end + 1..];
            } else {
                return Err(format!("invalid path {path:?}"));
            }
        }
        Ok(Self { steps })
    }

    /// The path of nested fields `a.b.c`.
    pub fn of_fields(fields: &[&str]) -> Self {
        Self {
            steps: fields
                .iter()
                .map(|f| Step::Field((*f).to_string()))
                .collect(),
        }
    }

    /// The values the path selects, in document order.
    pub fn find<'a>(&self, obj: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![obj];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                match step {
                    Step::Field(name) => next.extend(v.get(name.as_str())),
                    Step::Index(i) => next.extend(v.as_array().and_then(|a| a.get(*i))),
                    Step::All => match v {
                        Value::Array(a) => next.extend(a.iter()),
                        Value::Object(m) => next.extend(m.values()),
                        _ => {}
                    },
                    Step::Filter(path, want) => {
                        if let Some(items) = v.as_array() {
                            next.extend(items.iter().filter(|item| {
                                let mut at = Some(*item);
                                for p in path {
                                    at = at.and_then(|x| x.get(p.as_str()));
                                }
                                at == Some(want)
                            }));
                        }
                    }
                }
            }
            current = next;
        }
        current
    }

    /// The dotted field names, when the path is only fields (`.spec.replicas`).
    pub fn fields(&self) -> Option<Vec<&str>> {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Field(f) => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn closing_bracket(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Option<Step> {
    let inner = inner.trim();
    if inner == "*" {
        return Some(Step::All);
    }
    if let Ok(i) = inner.parse::<usize>() {
        return Some(Step::Index(i));
    }
    if let Some(quoted) = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
    {
        return Some(Step::Field(quoted.to_string()));
    }
    let cond = inner.strip_prefix("?(")?.strip_suffix(')')?.trim();
    let (lhs, rhs) = cond.split_once("==")?;
    let lhs = lhs.trim().strip_prefix("@.")?;
    let rhs = rhs.trim();
    let literal = if let Some(s) = rhs
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| rhs.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
    {
        Value::String(s.to_string())
    } else {
        serde_json::from_str(rhs).ok()?
    };
    Some(Step::Filter(
        lhs.split('.').map(str::to_string).collect(),
        literal,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_fields_indexes_and_filters() {
        let obj = json!({
            "spec": {"replicas": 3, "items": [{"name": "a"}, {"name": "b"}]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "False"},
            ]},
        });
        let find = |p: &str| {
            JsonPath::parse(p).map(|jp| jp.find(&obj).into_iter().cloned().collect::<Vec<_>>())
        };
        assert_eq!(find(".spec.replicas"), Ok(vec![json!(3)]));
        assert_eq!(find("{.spec.items[1].name}"), Ok(vec![json!("b")]));
        assert_eq!(
            find(".spec.items[*].name"),
            Ok(vec![json!("a"), json!("b")])
        );
        assert_eq!(
            find(r#".status.conditions[?(@.type=="Synced")].status"#),
            Ok(vec![json!("False")])
        );
        assert_eq!(find(".spec.missing"), Ok(vec![]));
        assert!(JsonPath::parse("spec").is_err());
        assert_eq!(
            JsonPath::parse(".spec.replicas")
                .ok()
                .and_then(|p| p.fields().map(|f| f.join("/"))),
            Some("spec/replicas".to_string())
        );
    }
}
