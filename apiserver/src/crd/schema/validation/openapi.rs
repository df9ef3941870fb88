//! kube-openapi's `SchemaValidator` ported: the per-node validators in upstream's order, the
//! match counting that picks which anyOf/oneOf branch's errors to report, and the conversion
//! of its errors into field errors (`kubeOpenAPIResultToFieldErrors`).

use super::{formats, golang, regexp, sorted_keys};
use apimachinery::field_errors::{child, index};
use apimachinery::{FieldError, FieldErrorKind};
use golang::GoKind;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, JSONSchemaPropsOrStringArray,
};
use serde_json::{Map, Value};

/// kube-openapi's error codes, which decide how a failure becomes a field error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    InvalidType,
    Required,
    TooLong,
    TooShort,
    Pattern,
    Enum,
    MultipleOf,
    Maximum,
    Minimum,
    Unique,
    MaxItems,
    MinItems,
    TooFewProperties,
    TooManyProperties,
    UnallowedProperty,
    MultipleOfMustBePositive,
    /// A plain error (the anyOf/oneOf/allOf/not and dependency messages): not tied to a field.
    Composite,
}

/// One kube-openapi validation error: its `Name` (the dotted path inside the validated value),
/// its message, the offending `Value` and, for length and count errors, the limit (`Valid`).
#[derive(Debug, Clone)]
pub(super) struct Failure {
    code: Code,
    name: String,
    message: String,
    value: Option<Value>,
    enum_values: Vec<Value>,
    limit: Option<i64>,
}

impl Failure {
    fn new(code: Code, name: &str, message: String, value: Option<Value>) -> Self {
        Self {
            code,
            name: name.to_string(),
            message,
            value,
            enum_values: Vec::new(),
            limit: None,
        }
    }

    fn composite(message: String) -> Self {
        Self::new(Code::Composite, "", message, None)
    }

    fn invalid_type(name: &str, type_name: &str, value: &str) -> Self {
        Self::new(
            Code::InvalidType,
            name,
            format!(
                "{name} in body must be of type {type_name}: {}",
                golang::quote(value)
            ),
            Some(Value::String(value.to_string())),
        )
    }

    fn with_limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// `kubeOpenAPIResultToFieldErrors` for one error, under the field path `base`.
    pub(super) fn into_field_error(self, base: &str) -> FieldError {
        let nil_or_base = || {
            if base.is_empty() {
                "<nil>".to_string()
            } else {
                base.to_string()
            }
        };
        if self.code == Code::Composite {
            return FieldError::invalid(nil_or_base(), "", self.message);
        }
        let field = match self.name.as_str() {
            "" | "." => nil_or_base(),
            name => child(base, name.strip_prefix('.').unwrap_or(name)),
        };
        if self.code == Code::Enum {
            let supported: Vec<String> = self
                .enum_values
                .iter()
                .map(|m| match m {
                    Value::String(s) => s.clone(),
                    other => golang::marshal(other),
                })
                .collect();
            let supported: Vec<&str> = supported.iter().map(String::as_str).collect();
            let data = self.value.as_ref().map_or(Value::Null, golang::canonical);
            return FieldError::not_supported(field, data, &supported);
        }
        // Upstream substitutes "" for a missing (nil) value; JSON null decodes to nil too.
        let value = match &self.value {
            Some(Value::Null) | None => Value::String(String::new()),
            Some(v) => golang::canonical(v),
        };
        match self.code {
            Code::Required => FieldError::required(field, ""),
            Code::TooLong => FieldError::new(
                FieldErrorKind::TooLong,
                field,
                match self.limit {
                    Some(1) => "may not be more than 1 byte".to_string(),
                    Some(n) if n >= 0 => format!("may not be more than {n} bytes"),
                    _ => "value is too long".to_string(),
                },
            ),
            Code::MaxItems | Code::TooManyProperties => {
                let detail = match self.limit {
                    Some(1) => "must have at most 1 item".to_string(),
                    Some(n) if n >= 0 => format!("must have at most {n} items"),
                    _ => "has too many items".to_string(),
                };
                FieldError {
                    value: value.as_i64().filter(|n| *n >= 0).map(Value::from),
                    ..FieldError::new(FieldErrorKind::TooMany, field, detail)
                }
            }
            Code::InvalidType => FieldError {
                kind: FieldErrorKind::TypeInvalid,
                ..FieldError::invalid(field, value, self.message)
            },
            _ => FieldError::invalid(field, value, self.message),
        }
    }
}

/// A kube-openapi `Result`: its errors (unique by message, as `AddErrors` keeps them) and the
/// match count anyOf/oneOf use to pick the branch whose errors to report.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) failures: Vec<Failure>,
    matches: usize,
}

impl Outcome {
    fn failed(f: Failure) -> Self {
        Self {
            failures: vec![f],
            matches: 0,
        }
    }

    /// A validator that checked something and found nothing wrong counts one match.
    fn passed() -> Self {
        Self {
            failures: Vec::new(),
            matches: 1,
        }
    }

    fn add(&mut self, f: Failure) {
        if !self.failures.iter().any(|g| g.message == f.message) {
            self.failures.push(f);
        }
    }

    fn merge(&mut self, other: Outcome) {
        for f in other.failures {
            self.add(f);
        }
        self.matches += other.matches;
    }

    fn is_valid(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The schema's types as kube-openapi sees them: `x-kubernetes-int-or-string` is
/// `[integer, string]`.
fn schema_types(s: &JSONSchemaProps) -> Vec<&str> {
    if s.x_kubernetes_int_or_string == Some(true) {
        return vec!["integer", "string"];
    }
    match s.type_.as_deref() {
        Some(t) if !t.is_empty() => vec![t],
        _ => Vec::new(),
    }
}

/// The schema's format if upstream keeps it: `(as written, registry name)`.
fn schema_format(s: &JSONSchemaProps) -> Option<(&str, String)> {
    let f = s.format.as_deref().filter(|f| !f.is_empty())?;
    formats::supported(f).map(|normalized| (f, normalized))
}

/// `SchemaValidator.Validate`: each applicable validator in upstream's order (type, schema
/// props, string, format, number, slice, enum, object), all of them run even after a failure.
pub(super) fn validate_schema(s: &JSONSchemaProps, path: &str, data: &Value) -> Outcome {
    let types = schema_types(s);
    let format = schema_format(s);
    let mut result = Outcome::default();
    let kind = golang::kind(data);
    if kind == GoKind::Null {
        result.merge(check_type(s, &types, format.as_ref(), path, kind));
        result.merge(check_enum(s, path, data));
        return result;
    }
    if !types.is_empty() || format.is_some() {
        apply(
            &mut result,
            check_type(s, &types, format.as_ref(), path, kind),
        );
    }
    apply(&mut result, check_schema_props(s, path, data));
    if let GoKind::String(text) = kind {
        apply(&mut result, check_string(s, path, text));
        if let Some((written, normalized)) = &format {
            let outcome = if formats::check(normalized, text) {
                Outcome::default()
            } else {
                Outcome::failed(Failure::invalid_type(path, written, text))
            };
            apply(&mut result, outcome);
        }
    }
    if matches!(kind, GoKind::Int(_) | GoKind::Float(_)) {
        apply(&mut result, check_number(s, path, data, kind));
    }
    if let GoKind::Array(items) = kind {
        apply(&mut result, check_array(s, path, items));
    }
    apply(&mut result, check_enum(s, path, data));
    if let GoKind::Object(map) = kind {
        apply(&mut result, check_object(s, path, map));
    }
    result.matches += 1;
    result
}

/// Merges an applicable validator's outcome, which counts one match of its own.
fn apply(result: &mut Outcome, outcome: Outcome) {
    result.merge(outcome);
    result.matches += 1;
}

/// kube-openapi's type validator. Integral floats count as integers (within its tolerance), and
/// integers as numbers. A schema with a format lets any string or array through unless it is
/// numeric, and reports other mismatches against the format name with the value's own format
/// (`int64`, `float64` or empty) as the offending value.
fn check_type(
    s: &JSONSchemaProps,
    types: &[&str],
    format: Option<&(&str, String)>,
    path: &str,
    kind: GoKind<'_>,
) -> Outcome {
    if kind == GoKind::Null {
        let nullable = s.nullable == Some(true);
        if !types.is_empty() && !types.contains(&"null") && !nullable {
            return Outcome::failed(Failure::invalid_type(path, &types.join(","), "null"));
        }
        return Outcome::passed();
    }
    let (json_type, value_format) = match kind {
        GoKind::Bool(_) => ("boolean", ""),
        GoKind::String(_) => ("string", ""),
        GoKind::Int(_) => ("integer", "int64"),
        GoKind::Float(_) => ("number", "float64"),
        GoKind::Array(_) => ("array", ""),
        GoKind::Object(_) | GoKind::Null => ("object", ""),
    };
    let has = |t: &str| types.contains(&t);
    let float_as_int =
        matches!(kind, GoKind::Float(f) if golang::is_float_a_json_integer(f)) && has("integer");
    let int_as_number = matches!(kind, GoKind::Int(_)) && has("number");
    let stringish = matches!(kind, GoKind::String(_) | GoKind::Array(_));
    if let Some((written, _)) = format {
        let type_or_format_ok =
            has(json_type) || value_format == *written || float_as_int || int_as_number;
        if !stringish && !type_or_format_ok {
            return Outcome::failed(Failure::invalid_type(path, written, value_format));
        }
        if !(has("number") || has("integer")) && stringish {
            return Outcome::passed();
        }
    }
    if !(has(json_type) || float_as_int || int_as_number) {
        return Outcome::failed(Failure::invalid_type(path, &types.join(","), json_type));
    }
    Outcome::passed()
}

/// allOf, anyOf, oneOf, not and dependencies. For a failed anyOf (or a oneOf with no valid
/// branch) the errors of the branch with the most successful checks are reported too.
fn check_schema_props(s: &JSONSchemaProps, path: &str, data: &Value) -> Outcome {
    let mut main = Outcome::default();
    if let Some(any_of) = s.any_of.as_deref().filter(|a| !a.is_empty()) {
        let mut best: Option<Outcome> = None;
        let mut first_success: Option<Outcome> = None;
        for branch in any_of {
            let result = validate_schema(branch, path, data);
            if result.is_valid() {
                best = None;
                first_success = Some(result);
                break;
            }
            if best.as_ref().is_none_or(|b| result.matches > b.matches) {
                best = Some(result);
            }
        }
        if first_success.is_none() {
            main.add(Failure::composite(format!(
                "{} must validate at least one schema (anyOf)",
                golang::quote(path)
            )));
        }
        if let Some(outcome) = best.or(first_success) {
            main.merge(outcome);
        }
    }
    if let Some(one_of) = s.one_of.as_deref().filter(|a| !a.is_empty()) {
        let mut best: Option<Outcome> = None;
        let mut first_success: Option<Outcome> = None;
        let mut valid = 0;
        for branch in one_of {
            let result = validate_schema(branch, path, data);
            if result.is_valid() {
                valid += 1;
                best = None;
                first_success.get_or_insert(result);
                continue;
            }
            if valid == 0 && best.as_ref().is_none_or(|b| result.matches > b.matches) {
                best = Some(result);
            }
        }
        if valid != 1 {
            let detail = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            main.add(Failure::composite(format!(
                "{} must validate one and only one schema (oneOf). {detail}",
                golang::quote(path)
            )));
            if let Some(outcome) = best {
                main.merge(outcome);
            }
        } else if let Some(outcome) = first_success {
            main.merge(outcome);
        }
    }
    if let Some(all_of) = s.all_of.as_deref().filter(|a| !a.is_empty()) {
        let mut valid = 0;
        for branch in all_of {
            let result = validate_schema(branch, path, data);
            if result.is_valid() {
                valid += 1;
            }
            main.merge(result);
        }
        if valid != all_of.len() {
            let detail = if valid == 0 { ". None validated" } else { "" };
            main.add(Failure::composite(format!(
                "{} must validate all the schemas (allOf){detail}",
                golang::quote(path)
            )));
        }
    }
    if let Some(not) = &s.not
        && validate_schema(not, path, data).is_valid()
    {
        main.add(Failure::composite(format!(
            "{} must not validate the schema (not)",
            golang::quote(path)
        )));
    }
    if let (Some(deps), Value::Object(map)) = (&s.dependencies, data) {
        for k in sorted_keys(map) {
            match deps.get(k) {
                Some(JSONSchemaPropsOrStringArray::Schema(dep)) => {
                    main.merge(validate_schema(dep, &format!("{path}.{k}"), data));
                }
                Some(JSONSchemaPropsOrStringArray::Strings(required)) => {
                    for dep_key in required {
                        if !map.contains_key(dep_key) {
                            main.add(Failure::composite(format!(
                                "{} has a dependency on {dep_key}",
                                golang::quote(path)
                            )));
                        }
                    }
                }
                None => {}
            }
        }
    }
    main.matches += 1;
    main
}

/// maxLength, minLength (in runes) and pattern: the first failure only.
fn check_string(s: &JSONSchemaProps, path: &str, text: &str) -> Outcome {
    let len = text.chars().count() as i64;
    let value = || Some(Value::String(text.to_string()));
    if let Some(max) = s.max_length
        && len > max
    {
        let message = format!("{path} in body should be at most {max} chars long");
        return Outcome::failed(
            Failure::new(Code::TooLong, path, message, value()).with_limit(max),
        );
    }
    if let Some(min) = s.min_length
        && len < min
    {
        let message = format!("{path} in body should be at least {min} chars long");
        return Outcome::failed(Failure::new(Code::TooShort, path, message, value()));
    }
    if let Some(pattern) = s.pattern.as_deref().filter(|p| !p.is_empty()) {
        let shown = match regexp::compile(pattern) {
            Ok(re) if re.is_match(text) => return Outcome::default(),
            Ok(_) => pattern.to_string(),
            Err(e) => format!("{pattern}, but pattern is invalid: {e}"),
        };
        let message = format!("{path} in body should match '{shown}'");
        return Outcome::failed(Failure::new(Code::Pattern, path, message, value()));
    }
    Outcome::default()
}

/// multipleOf, minimum and maximum, reported in that order. Integers are checked against the
/// bounds truncated to integers (so `maximum: 2.5` rejects 3 as above 2); floats as floats.
fn check_number(s: &JSONSchemaProps, path: &str, data: &Value, kind: GoKind<'_>) -> Outcome {
    let mut result = Outcome::default();
    let value = || Some(data.clone());
    if let Some(factor) = s.multiple_of {
        let failure = match kind {
            GoKind::Int(n) if golang::float_to_int(factor) != 0 => {
                let f = golang::float_to_int(factor);
                if f < 0 {
                    Some(Failure::new(
                        Code::MultipleOfMustBePositive,
                        path,
                        format!("factor MultipleOf declared for {path} must be positive: {f}"),
                        Some(Value::from(f)),
                    ))
                } else {
                    (n % f != 0).then(|| {
                        let message = format!("{path} in body should be a multiple of {f}");
                        Failure::new(Code::MultipleOf, path, message, value())
                    })
                }
            }
            // Upstream divides by the truncated factor and would panic on zero; a fractional
            // factor under one is checked as a float here instead.
            GoKind::Int(n) => float_multiple_failure(path, n as f64, factor, value()),
            GoKind::Float(f) => float_multiple_failure(path, f, factor, value()),
            _ => None,
        };
        if let Some(f) = failure {
            result.add(f);
        }
    }
    if let Some(min) = s.minimum {
        let exclusive = s.exclusive_minimum == Some(true);
        let (low, bound) = match kind {
            GoKind::Int(n) => {
                let m = golang::float_to_int(min);
                (if exclusive { n <= m } else { n < m }, m.to_string())
            }
            GoKind::Float(f) => (
                if exclusive { f <= min } else { f < min },
                golang::format_float(min),
            ),
            _ => (false, String::new()),
        };
        if low {
            let relation = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            let message = format!("{path} in body should be {relation} {bound}");
            result.add(Failure::new(Code::Minimum, path, message, value()));
        }
    }
    if let Some(max) = s.maximum {
        let exclusive = s.exclusive_maximum == Some(true);
        let (high, bound) = match kind {
            GoKind::Int(n) => {
                let m = golang::float_to_int(max);
                (if exclusive { n >= m } else { n > m }, m.to_string())
            }
            GoKind::Float(f) => (
                if exclusive { f >= max } else { f > max },
                golang::format_float(max),
            ),
            _ => (false, String::new()),
        };
        if high {
            let relation = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            let message = format!("{path} in body should be {relation} {bound}");
            result.add(Failure::new(Code::Maximum, path, message, value()));
        }
    }
    result.matches += 1;
    result
}

fn float_multiple_failure(
    path: &str,
    data: f64,
    factor: f64,
    value: Option<Value>,
) -> Option<Failure> {
    let shown = golang::format_float(factor);
    if factor < 0.0 {
        return Some(Failure::new(
            Code::MultipleOfMustBePositive,
            path,
            format!("factor MultipleOf declared for {path} must be positive: {shown}"),
            Some(Value::from(factor)),
        ));
    }
    let quotient = if factor < 1.0 {
        1.0 / factor * data
    } else {
        data / factor
    };
    (!golang::is_float_a_json_integer(quotient)).then(|| {
        let message = format!("{path} in body should be a multiple of {shown}");
        Failure::new(Code::MultipleOf, path, message, value)
    })
}

/// items (and tuple items), then minItems, maxItems and uniqueItems.
fn check_array(s: &JSONSchemaProps, path: &str, items: &[Value]) -> Outcome {
    let mut result = Outcome::default();
    let mut tuple_len = 0;
    match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(item)) => {
            for (i, v) in items.iter().enumerate() {
                result.merge(validate_schema(item, &index(path, i), v));
            }
        }
        Some(JSONSchemaPropsOrArray::Schemas(tuple)) => {
            tuple_len = tuple.len();
            for (i, (schema, v)) in tuple.iter().zip(items).enumerate() {
                result.merge(validate_schema(schema, &index(path, i), v));
            }
        }
        None => {}
    }
    if let Some(additional) = &s.additional_items
        && tuple_len < items.len()
    {
        if tuple_len > 0 && matches!(additional, JSONSchemaPropsOrBool::Bool(false)) {
            result.add(Failure::composite(
                "array doesn't allow for additional items".to_string(),
            ));
        }
        if let JSONSchemaPropsOrBool::Schema(extra) = additional {
            for (i, v) in items.iter().enumerate().skip(tuple_len) {
                result.merge(validate_schema(extra, &index(path, i), v));
            }
        }
    }
    let len = items.len() as i64;
    if let Some(min) = s.min_items
        && len < min
    {
        let message = format!("{path} in body should have at least {min} items");
        result.add(Failure::new(
            Code::MinItems,
            path,
            message,
            Some(Value::from(len)),
        ));
    }
    if let Some(max) = s.max_items
        && len > max
    {
        let message = format!("{path} in body should have at most {max} items");
        result.add(
            Failure::new(Code::MaxItems, path, message, Some(Value::from(len))).with_limit(max),
        );
    }
    if s.unique_items == Some(true)
        && items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].iter().any(|b| golang::deep_equal(a, b)))
    {
        let message = format!("{path} in body shouldn't contain duplicates");
        result.add(Failure::new(Code::Unique, path, message, None));
    }
    result.matches += 1;
    result
}

/// enum, with upstream's Go-conversion comparison (see [`golang::enum_member_matches`]).
fn check_enum(s: &JSONSchemaProps, path: &str, data: &Value) -> Outcome {
    let Some(members) = s.enum_.as_deref().filter(|m| !m.is_empty()) else {
        return Outcome::default();
    };
    if members
        .iter()
        .any(|m| golang::enum_member_matches(data, &m.0))
    {
        return Outcome::default();
    }
    let members: Vec<Value> = members.iter().map(|m| m.0.clone()).collect();
    let listed: Vec<String> = members.iter().map(go_v).collect();
    let message = format!("{path} in body should be one of [{}]", listed.join(" "));
    let mut failure = Failure::new(Code::Enum, path, message, Some(data.clone()));
    if data.is_null() {
        failure.value = None;
    }
    failure.enum_values = members;
    Outcome::failed(failure)
}

/// `%v` of a decoded value, which only tells enum messages apart for de-duplication.
fn go_v(v: &Value) -> String {
    match golang::kind(v) {
        GoKind::Null => "<nil>".to_string(),
        GoKind::Bool(b) => b.to_string(),
        GoKind::Int(_) | GoKind::Float(_) => golang::format_number_v(v),
        GoKind::String(s) => s.to_string(),
        GoKind::Array(a) => format!("[{}]", a.iter().map(go_v).collect::<Vec<_>>().join(" ")),
        GoKind::Object(o) => {
            let parts: Vec<String> = sorted_keys(o)
                .into_iter()
                .map(|k| format!("{k}:{}", o.get(k).map(go_v).unwrap_or_default()))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// min/maxProperties, additionalProperties, properties, required and patternProperties. (Since
/// kube-openapi#412 a property-count failure no longer stops the walk into the properties.)
fn check_object(s: &JSONSchemaProps, path: &str, map: &Map<String, Value>) -> Outcome {
    let mut result = Outcome::default();
    let count = map.len() as i64;
    if let Some(min) = s.min_properties
        && count < min
    {
        let message = format!("{path} in body should have at least {min} properties");
        result.add(Failure::new(
            Code::TooFewProperties,
            path,
            message,
            Some(Value::from(count)),
        ));
    }
    if let Some(max) = s.max_properties
        && count > max
    {
        let message = format!("{path} in body should have at most {max} properties");
        result.add(
            Failure::new(
                Code::TooManyProperties,
                path,
                message,
                Some(Value::from(count)),
            )
            .with_limit(max),
        );
    }
    let properties = s.properties.as_ref();
    let is_property = |k: &str| properties.is_some_and(|p| p.contains_key(k));
    let keys = sorted_keys(map);
    if matches!(
        s.additional_properties,
        Some(JSONSchemaPropsOrBool::Bool(false))
    ) {
        for &k in &keys {
            let by_pattern = s
                .pattern_properties
                .as_ref()
                .is_some_and(|pp| pp.keys().any(|p| regexp::matches(p, k)));
            if !is_property(k) && !by_pattern {
                let message = format!("{path}.{k} in body is a forbidden property");
                result.add(Failure::new(
                    Code::UnallowedProperty,
                    path,
                    message,
                    Some(Value::String(k.to_string())),
                ));
            }
        }
    } else {
        for &k in &keys {
            let Some(v) = map.get(k) else { continue };
            let by_pattern = !pattern_properties(s, path, k, v, &mut result).is_empty();
            if !is_property(k)
                && !by_pattern
                && let Some(JSONSchemaPropsOrBool::Schema(extra)) = &s.additional_properties
            {
                result.merge(validate_schema(extra, &format!("{path}.{k}"), v));
            }
        }
    }
    for (name, schema) in properties.into_iter().flatten() {
        if let Some(v) = map.get(name) {
            let field = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            result.merge(validate_schema(schema, &field, v));
        }
    }
    for k in s.required.iter().flatten() {
        if !map.contains_key(k) {
            let name = format!("{path}.{k}");
            let message = format!("{name} in body is required");
            result.add(Failure::new(Code::Required, &name, message, None));
        }
    }
    // Upstream checks pattern properties a second time here (and a third for keys that are not
    // properties); repeated errors collapse, but the match counts add up, as upstream's do.
    for &k in &keys {
        let Some(v) = map.get(k) else { continue };
        let patterns = pattern_properties(s, path, k, v, &mut result);
        if !is_property(k) {
            for p in patterns {
                if let Some(schema) = s.pattern_properties.as_ref().and_then(|pp| pp.get(p)) {
                    result.merge(validate_schema(schema, &format!("{path}.{k}"), v));
                }
            }
        }
    }
    result
}

/// Validates `value` against every pattern property whose regex matches `k`, returning those
/// patterns.
fn pattern_properties<'s>(
    s: &'s JSONSchemaProps,
    path: &str,
    k: &str,
    value: &Value,
    result: &mut Outcome,
) -> Vec<&'s str> {
    let mut matched = Vec::new();
    for (pattern, schema) in s.pattern_properties.iter().flatten() {
        if regexp::matches(pattern, k) {
            matched.push(pattern.as_str());
            result.merge(validate_schema(schema, &format!("{path}.{k}"), value));
        }
    }
    matched
}
