//! Reading a server-side apply body as upstream does: YAML (or JSON) where a repeated key is
//! not an error (the last one wins), but is reported for `fieldValidation` in go-yaml's words
//! (`line 11: key "foo" already set in map`).

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// The configuration, and the go-yaml text of each repeated key.
pub struct ApplyBody {
    pub config: Value,
    pub duplicates: Vec<String>,
}

/// Parses an apply body; the error is the parser's message.
pub fn parse(bytes: &[u8]) -> Result<ApplyBody, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut repeated: Vec<(String, usize)> = Vec::new();
    let de = serde_yaml::Deserializer::from_str(text);
    let config = Seed {
        seen: &mut seen,
        repeated: &mut repeated,
    }
    .deserialize(de)
    .map_err(|e| e.to_string())?;
    let duplicates = repeated
        .into_iter()
        .map(|(key, nth)| {
            let line = line_of(text, &key, nth).map_or(String::new(), |l| format!("line {l}: "));
            format!("{line}key {key:?} already set in map")
        })
        .collect();
    Ok(ApplyBody { config, duplicates })
}

/// The line of the `nth` (1-based) occurrence of `key` as a mapping key, in document order:
/// the walk visits keys in the order they appear, one per line in block style.
fn line_of(text: &str, key: &str, nth: usize) -> Option<usize> {
    let is_key_line = |line: &str| {
        let l = line.trim_start();
        let l = l.strip_prefix("- ").unwrap_or(l).trim_start();
        [key.to_string(), format!("{key:?}"), format!("'{key}'")]
            .iter()
            .any(|k| {
                l.strip_prefix(k.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
            })
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| is_key_line(l))
        .nth(nth.checked_sub(1)?)
        .map(|(i, _)| i + 1)
}

struct Seed<'a> {
    /// How often each key has appeared so far, anywhere.
    seen: &'a mut HashMap<String, usize>,
    /// Repeated keys, with which occurrence of the key repeated.
    repeated: &'a mut Vec<(String, usize)>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed {
            seen: &mut *self.seen,
            repeated: &mut *self.repeated,
        })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<KeyString>()? {
            let key = key.0;
            let nth = self.seen.entry(key.clone()).or_default();
            *nth += 1;
            let nth = *nth;
            let value = map.next_value_seed(Seed {
                seen: &mut *self.seen,
                repeated: &mut *self.repeated,
            })?;
            if out.insert(key.clone(), value).is_some() {
                self.repeated.push((key, nth));
            }
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key as JSON has it: YAML's non-string keys (`1`, `true`) become their text.
struct KeyString(String);

impl<'de> serde::Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_win_last_and_are_reported_with_their_line() {
        let body = "\napiVersion: v1\nkind: Foo\nmetadata:\n  name: a\nspec:\n  unknown: uk1\n  foo: foo1\n  foo: foo2\n  bar: [1, 2]\n";
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.config["spec"]["foo"], "foo2");
        assert_eq!(parsed.config["spec"]["bar"], serde_json::json!([1, 2]));
        assert_eq!(
            parsed.duplicates,
            vec![r#"line 9: key "foo" already set in map"#]
        );
        let json = parse(br#"{"a": 1, "b": {"a": 2, "a": 3}}"#).unwrap();
        assert_eq!(json.config["b"]["a"], 3);
        assert_eq!(json.duplicates, vec![r#"key "a" already set in map"#]);
    }
}
