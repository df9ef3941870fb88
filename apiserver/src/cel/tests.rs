//! Rule compilation and evaluation, checked against the messages upstream gives.

use super::library::Regex;
use super::*;
use serde_json::json;

const PATH: &str = "spec.versions[0].schema.openAPIV3Schema";

fn schema(v: Value) -> JSONSchemaProps {
    serde_json::from_value(v).expect("schema")
}

/// A resource schema whose `spec` is `spec`.
fn with_spec(spec: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec}})
}

fn validator(v: Value) -> Validator {
    match Validator::new(&schema(v), PATH) {
        Ok(v) => v,
        Err(errs) => panic!("unexpected CRD errors: {:#?}", strings(&errs)),
    }
}

fn crd_errors(v: Value) -> Vec<String> {
    match Validator::new(&schema(v), PATH) {
        Ok(_) => Vec::new(),
        Err(errs) => strings(&errs),
    }
}

fn strings(errs: &FieldErrors) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

fn check(v: &Validator, new: Value) -> Vec<String> {
    strings(&v.validate(&new, None))
}

fn check_update(v: &Validator, new: Value, old: Value) -> Vec<String> {
    strings(&v.validate(&new, Some(&old)))
}

fn rule(rule: &str) -> Value {
    json!([{ "rule": rule }])
}

/// `spec` as an object with an integer `replicas` and a string `name`, with `rules`.
fn replicas_spec(rules: Value) -> Value {
    with_spec(json!({
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "name": {"type": "string"},
        },
        "x-kubernetes-validations": rules,
    }))
}

/// The Go rendering of a rule with only `rule` set, as upstream prints it in CRD errors.
fn go_rule_value(rule: &str) -> String {
    format!(
        "apiextensions.ValidationRule{{Rule:{rule:?}, Message:\"\", MessageExpression:\"\", Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}}"
    )
}

#[test]
fn failed_rule_default_message_shows_the_schema_type() {
    let v = validator(replicas_spec(rule("self.replicas >= 0")));
    assert_eq!(
        check(&v, json!({"spec": {"replicas": -1}})),
        vec!["spec: Invalid value: \"object\": failed rule: self.replicas >= 0"]
    );
    assert!(check(&v, json!({"spec": {"replicas": 3}})).is_empty());
    assert!(!v.is_empty());
}

#[test]
fn message_is_used_and_trimmed() {
    let v = validator(replicas_spec(
        json!([{"rule": "self.replicas >= 0", "message": " replicas must not be negative "}]),
    ));
    assert_eq!(
        check(&v, json!({"spec": {"replicas": -1}})),
        vec!["spec: Invalid value: \"object\": replicas must not be negative"]
    );
}

#[test]
fn root_rules_report_a_nil_path() {
    let v = validator(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        "x-kubernetes-validations": [{"rule": "self.spec.a > 1"}],
    }));
    assert_eq!(
        check(&v, json!({"spec": {"a": 0}})),
        vec!["<nil>: Invalid value: \"object\": failed rule: self.spec.a > 1"]
    );
}

#[test]
fn scalar_rules_show_their_type() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self.matches('^[a-z0-9]*$')", "message": "name must consist of lower case alphanumeric characters"}
            ]},
            "count": {"type": "integer", "x-kubernetes-validations": [{"rule": "self % 2 == 0"}]},
            "ratio": {"type": "number", "x-kubernetes-validations": [{"rule": "self < 1.0"}]},
        },
    })));
    assert_eq!(
        check(&v, json!({"spec": {"name": "$__", "count": 3, "ratio": 2}})),
        vec![
            "spec.name: Invalid value: \"string\": name must consist of lower case alphanumeric characters",
            "spec.count: Invalid value: \"integer\": failed rule: self % 2 == 0",
            "spec.ratio: Invalid value: \"number\": failed rule: self < 1.0",
        ]
    );
}

#[test]
fn message_expression_and_its_fallbacks() {
    let v = validator(replicas_spec(json!([
        {"rule": "self.replicas >= 0", "messageExpression": "'replicas is ' + string(self.replicas)"},
        {"rule": "self.replicas < 10", "message": "too many", "messageExpression": "''"},
        {"rule": "self.name != 'x'", "messageExpression": "'name ' + self.name + '\\n'"},
        {"rule": "self.name != 'x'", "message": "fallback", "messageExpression": "self.name.substring(5)"},
        {"rule": "self.name != 'x'", "messageExpression": "'two\\nlines'"},
    ])));
    assert_eq!(
        check(&v, json!({"spec": {"replicas": -1, "name": "x"}})),
        vec![
            "spec: Invalid value: \"object\": replicas is -1",
            // Trimmed, the message has no line break left: it is used.
            "spec: Invalid value: \"object\": name x",
            // The expression fails at runtime: the message is used.
            "spec: Invalid value: \"object\": fallback",
            // A line break inside: the default message is used.
            "spec: Invalid value: \"object\": failed rule: self.name != 'x'",
        ]
    );
    assert_eq!(
        check(&v, json!({"spec": {"replicas": 20, "name": "y"}})),
        vec!["spec: Invalid value: \"object\": too many"]
    );
}

#[test]
fn reasons_pick_the_error_type() {
    let v = validator(replicas_spec(json!([
        {"rule": "self.replicas > 0", "reason": "FieldValueForbidden", "message": "forbidden"},
        {"rule": "self.replicas > 1", "reason": "FieldValueRequired", "message": "required"},
        {"rule": "self.replicas > 2", "reason": "FieldValueDuplicate", "message": "dup"},
        {"rule": "self.replicas > 3", "reason": "FieldValueInvalid", "message": "invalid"},
    ])));
    let errs = v.validate(&json!({"spec": {"replicas": 0}}), None);
    assert_eq!(
        strings(&errs),
        vec![
            "spec: Forbidden: forbidden",
            "spec: Required value: required",
            "spec: Duplicate value: \"object\"",
            "spec: Invalid value: \"object\": invalid",
        ]
    );
    let reasons: Vec<&str> = errs.iter().map(|e| e.kind.reason()).collect();
    assert_eq!(
        reasons,
        vec![
            "FieldValueForbidden",
            "FieldValueRequired",
            "FieldValueDuplicate",
            "FieldValueInvalid"
        ]
    );
}

#[test]
fn field_path_moves_the_error() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "x-kubernetes-validations": [
            {"rule": "self.replicas >= 0", "fieldPath": ".replicas"},
            {"rule": "!('a.b' in self.labels)", "fieldPath": ".labels['a.b']", "message": "no a.b"},
        ],
    })));
    assert_eq!(
        check(
            &v,
            json!({"spec": {"replicas": -1, "labels": {"a.b": "x"}}})
        ),
        vec![
            "spec.replicas: Invalid value: \"object\": failed rule: self.replicas >= 0",
            "spec.labels[a.b]: Invalid value: \"object\": no a.b",
        ]
    );
}

#[test]
fn transition_rules_need_an_old_value() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {"name": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "name is immutable"}
        ]}},
    })));
    assert!(check(&v, json!({"spec": {"name": "a"}})).is_empty());
    assert!(
        check_update(
            &v,
            json!({"spec": {"name": "a"}}),
            json!({"spec": {"name": "a"}})
        )
        .is_empty()
    );
    assert_eq!(
        check_update(
            &v,
            json!({"spec": {"name": "b"}}),
            json!({"spec": {"name": "a"}})
        ),
        vec!["spec.name: Invalid value: \"string\": name is immutable"]
    );
    // The old object had no name: nothing to compare with.
    assert!(check_update(&v, json!({"spec": {"name": "b"}}), json!({"spec": {}})).is_empty());
}

#[test]
fn optional_old_self_runs_on_create() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {"count": {"type": "integer", "x-kubernetes-validations": [{
            "rule": "oldSelf.hasValue() ? self >= oldSelf.value() : self == 0",
            "message": "must start at 0 and never decrease",
            "optionalOldSelf": true,
        }]}},
    })));
    assert_eq!(
        check(&v, json!({"spec": {"count": 2}})),
        vec!["spec.count: Invalid value: \"integer\": must start at 0 and never decrease"]
    );
    assert!(check(&v, json!({"spec": {"count": 0}})).is_empty());
    assert!(
        check_update(
            &v,
            json!({"spec": {"count": 3}}),
            json!({"spec": {"count": 2}})
        )
        .is_empty()
    );
    assert_eq!(
        check_update(
            &v,
            json!({"spec": {"count": 1}}),
            json!({"spec": {"count": 2}})
        )
        .len(),
        1
    );
}

#[test]
fn rules_run_per_item_and_per_map_value() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "hosts": {"type": "array", "items": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self.endsWith('.com')"}
            ]}},
            "matrix": {"type": "array", "items": {"type": "array", "items": {
                "type": "integer", "x-kubernetes-validations": [{"rule": "self < 10"}]
            }}},
            "ports": {"type": "object", "additionalProperties": {
                "type": "object",
                "properties": {"port": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.port > 0", "message": "bad port"}],
            }},
        },
    })));
    assert_eq!(
        check(
            &v,
            json!({"spec": {
                "hosts": ["a.com", "b.org"],
                "matrix": [[1, 2], [3, 40]],
                "ports": {"http": {"port": 80}, "bad": {"port": 0}},
            }})
        ),
        vec![
            "spec.hosts[1]: Invalid value: \"string\": failed rule: self.endsWith('.com')",
            "spec.matrix[1][1]: Invalid value: \"integer\": failed rule: self < 10",
            "spec.ports[bad]: Invalid value: \"object\": bad port",
        ]
    );
}

#[test]
fn map_list_items_correlate_by_key_for_transition_rules() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {"items": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
                "x-kubernetes-validations": [
                    {"rule": "self.size >= oldSelf.size", "message": "size may not shrink"}
                ],
            },
        }},
    })));
    let old = json!({"spec": {"items": [{"name": "a", "size": 5}, {"name": "b", "size": 1}]}});
    // Reordered, b grew, a shrank: only a's shrink is reported, at its new position.
    let new = json!({"spec": {"items": [{"name": "b", "size": 2}, {"name": "a", "size": 4}, {"name": "c", "size": 0}]}});
    assert_eq!(
        check_update(&v, new, old),
        vec!["spec.items[1]: Invalid value: \"object\": size may not shrink"]
    );
}

#[test]
fn set_and_map_lists_compare_without_order() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "plain": {"type": "array", "items": {"type": "string"}},
        },
        "x-kubernetes-validations": [
            {"rule": "self.tags == oldSelf.tags", "message": "tags changed"},
            {"rule": "self.plain == oldSelf.plain", "message": "plain changed"},
            {"rule": "self.tags + ['x'] == ['a', 'b', 'x'] || size(self.tags) != 2", "message": "union"},
        ],
    })));
    assert_eq!(
        check_update(
            &v,
            json!({"spec": {"tags": ["b", "a"], "plain": ["b", "a"]}}),
            json!({"spec": {"tags": ["a", "b"], "plain": ["a", "b"]}}),
        ),
        vec!["spec: Invalid value: \"object\": plain changed"]
    );
}

#[test]
fn ratcheting_turns_unchanged_failures_into_warnings() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "a": {"type": "string", "x-kubernetes-validations": [{"rule": "self.size() < 3"}]},
            "b": {"type": "string", "x-kubernetes-validations": [{"rule": "self.size() < 3"}]},
        },
    })));
    let old = json!({"spec": {"a": "long", "b": "ok"}});
    let new = json!({"spec": {"a": "long", "b": "longer"}});
    let out = v.validate_with_warnings(&new, Some(&old));
    assert_eq!(
        strings(&out.errors),
        vec!["spec.b: Invalid value: \"string\": failed rule: self.size() < 3"]
    );
    assert_eq!(
        out.warnings,
        vec!["spec.a: Invalid value: \"string\": failed rule: self.size() < 3"]
    );
    // On create there is nothing to ratchet against.
    assert_eq!(check(&v, json!({"spec": {"a": "long"}})).len(), 1);
}

#[test]
fn runtime_errors_are_reported_per_rule() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "list": {"type": "array", "items": {"type": "integer"}},
            "port": {"x-kubernetes-int-or-string": true},
        },
        "x-kubernetes-validations": [
            {"rule": "self.a == 1"},
            {"rule": "self.list[2] == 1", "message": "third item"},
            {"rule": "self.port > 5"},
            {"rule": "1 / (self.list.size() - 2) == 1"},
        ],
    })));
    assert_eq!(
        check(&v, json!({"spec": {"list": [1, 2], "port": "x"}})),
        vec![
            "spec: Invalid value: \"object\": no such key: a evaluating rule: self.a == 1",
            "spec: Invalid value: \"object\": index out of bounds: 2 evaluating rule: third item",
            "spec: Invalid value: \"object\": 'no such overload': call arguments did not match a supported operator, function or macro signature for rule: self.port > 5",
            "spec: Invalid value: \"object\": division by zero evaluating rule: 1 / (self.list.size() - 2) == 1",
        ]
    );
}

#[test]
fn int_or_string_is_dynamic() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {"port": {"x-kubernetes-int-or-string": true, "x-kubernetes-validations": [
            {"rule": "type(self) == int ? self > 0 : self.matches('^[0-9]+%$')"}
        ]}},
    })));
    assert!(check(&v, json!({"spec": {"port": 8080}})).is_empty());
    assert!(check(&v, json!({"spec": {"port": "50%"}})).is_empty());
    assert_eq!(
        check(&v, json!({"spec": {"port": "http"}})),
        vec![
            "spec.port: Invalid value: \"\": failed rule: type(self) == int ? self > 0 : self.matches('^[0-9]+%$')"
        ]
    );
}

#[test]
fn resource_root_exposes_type_and_object_meta_only() {
    let root = json!({
        "type": "object",
        "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}},
        "x-kubernetes-validations": [
            {"rule": "self.metadata.name.startsWith('demo-') && self.kind == 'Widget' && self.apiVersion != ''"}
        ],
    });
    let v = validator(root.clone());
    let obj = |name: &str| json!({"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": name, "labels": {"a": "b"}}, "spec": {}});
    assert!(check(&v, obj("demo-1")).is_empty());
    assert_eq!(check(&v, obj("other")).len(), 1);

    let mut labels = root;
    labels["x-kubernetes-validations"] = rule("has(self.metadata.labels)");
    assert_eq!(
        crd_errors(labels),
        vec![format!(
            "{PATH}.x-kubernetes-validations[0].rule: Invalid value: {}: compilation failed: ERROR: <input>:1:4: undefined field 'labels'\n | has(self.metadata.labels)\n | ...^",
            go_rule_value("has(self.metadata.labels)")
        )]
    );
}

#[test]
fn embedded_resources_are_resource_roots_too() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {"template": {
            "type": "object",
            "x-kubernetes-embedded-resource": true,
            "x-kubernetes-preserve-unknown-fields": true,
            "x-kubernetes-validations": [{"rule": "self.kind == 'Pod'", "message": "must be a Pod"}],
        }},
    })));
    assert!(
        check(
            &v,
            json!({"spec": {"template": {"kind": "Pod", "apiVersion": "v1"}}})
        )
        .is_empty()
    );
    assert_eq!(
        check(&v, json!({"spec": {"template": {"kind": "Service"}}})),
        vec!["spec.template: Invalid value: \"object\": must be a Pod"]
    );
}

#[test]
fn property_names_are_escaped() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "foo-bar": {"type": "integer"},
            "namespace": {"type": "string"},
            "a.b/c": {"type": "integer"},
        },
        "x-kubernetes-validations": [
            {"rule": "self.foo__dash__bar > 0 && self.__namespace__ == 'ns' && self.a__dot__b__slash__c == 1"}
        ],
    })));
    assert!(
        check(
            &v,
            json!({"spec": {"foo-bar": 1, "namespace": "ns", "a.b/c": 1}})
        )
        .is_empty()
    );
    assert_eq!(
        check(
            &v,
            json!({"spec": {"foo-bar": 0, "namespace": "ns", "a.b/c": 1}})
        )
        .len(),
        1
    );
}

#[test]
fn compilation_errors_are_reported_as_upstream() {
    let spec_path = format!("{PATH}.properties[spec].x-kubernetes-validations[0].rule");
    let cases = [
        (
            "self.foo == 1",
            "compilation failed: ERROR: <input>:1:5: undefined field 'foo'\n | self.foo == 1\n | ....^",
        ),
        (
            "self.replicas == 'a'",
            "compilation failed: ERROR: <input>:1:15: found no matching overload for '_==_' applied to '(int, string)'\n | self.replicas == 'a'\n | ..............^",
        ),
        (
            "self.name.startsWith(1)",
            "compilation failed: ERROR: <input>:1:21: found no matching overload for 'startsWith' applied to 'string.(int)'\n | self.name.startsWith(1)\n | ....................^",
        ),
        ("self.replicas", "cel expression must evaluate to a bool"),
        (
            "replicas > 1",
            "compilation failed: ERROR: <input>:1:1: undeclared reference to 'replicas' (in container '')\n | replicas > 1\n | ^",
        ),
        (
            "self.name.fooBar()",
            "compilation failed: ERROR: <input>:1:17: undeclared reference to 'fooBar' (in container '')\n | self.name.fooBar()\n | ................^",
        ),
        (
            "self.",
            "compilation failed: ERROR: <input>:1:6: Syntax error: no viable alternative at input '.'\n | self.\n | .....^",
        ),
        (
            "self.name.all(c, c == 'a')",
            "compilation failed: ERROR: <input>:1:5: expression of type 'string' cannot be range of a comprehension (must be list, map, or dynamic)\n | self.name.all(c, c == 'a')\n | ....^",
        ),
        (
            "[1, 'a'].size() == 2",
            "compilation failed: ERROR: <input>:1:5: expected type 'int' but found 'string'\n | [1, 'a'].size() == 2\n | ....^",
        ),
        (
            "self.replicas && true",
            "compilation failed: ERROR: <input>:1:5: expected type 'bool' but found 'int'\n | self.replicas && true\n | ....^",
        ),
        (
            "duration('1x') > duration('1s')",
            "compilation failed: ERROR: <input>:1:10: invalid duration argument\n | duration('1x') > duration('1s')\n | .........^",
        ),
        (
            "self.name.matches('[')",
            "compilation failed: ERROR: <input>:1:19: invalid matches argument\n | self.name.matches('[')\n | ..................^",
        ),
        (
            "self.name.reverse() == ''",
            "compilation failed: ERROR: <input>:1:18: undeclared reference to 'reverse' (in container '')\n | self.name.reverse() == ''\n | .................^",
        ),
    ];
    for (rule_text, detail) in cases {
        assert_eq!(
            crd_errors(replicas_spec(rule(rule_text))),
            vec![format!(
                "{spec_path}: Invalid value: {}: {detail}",
                go_rule_value(rule_text)
            )],
            "{rule_text}"
        );
    }
}

#[test]
fn object_type_names_are_generated_per_compilation() {
    let errs = crd_errors(replicas_spec(rule("self == 1")));
    assert_eq!(errs.len(), 1);
    let re =
        Regex::new("found no matching overload for '_==_' applied to '\\(selfType[0-9]+, int\\)'")
            .expect("pattern");
    assert!(re.find(&errs[0]).is_some(), "{}", errs[0]);
}

#[test]
fn message_expression_compilation_errors() {
    let errs = crd_errors(replicas_spec(
        json!([{"rule": "self.replicas > 0", "messageExpression": "self.replicas"}]),
    ));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(&format!(
            "{PATH}.properties[spec].x-kubernetes-validations[0].messageExpression: Invalid value: apiextensions.ValidationRule{{Rule:\"self.replicas > 0\", Message:\"\", MessageExpression:\"self.replicas\""
        )),
        "{}",
        errs[0]
    );
    assert!(errs[0].ends_with(": messageExpression must evaluate to a string"));

    let errs = crd_errors(replicas_spec(
        json!([{"rule": "self.replicas > 0", "messageExpression": "'a' + self.nope"}]),
    ));
    assert!(
        errs[0].ends_with(": messageExpression compilation failed: ERROR: <input>:1:11: undefined field 'nope'\n | 'a' + self.nope\n | ..........^"),
        "{}",
        errs[0]
    );
}

#[test]
fn rule_field_errors() {
    let base = format!("{PATH}.properties[spec].x-kubernetes-validations");
    assert_eq!(
        crd_errors(replicas_spec(json!([
            {"rule": "  "},
            {"rule": "self.replicas > 0", "message": "  "},
            {"rule": "self.replicas > 0", "message": "a\nb"},
            {"rule": "self.replicas > 0 &&\n true"},
            {"rule": "self.replicas > 0", "messageExpression": " "},
            {"rule": "self.replicas > 0", "reason": "Nope"},
            {"rule": "self.replicas > 0", "fieldPath": "replicas"},
            {"rule": "self.replicas > 0", "fieldPath": ".nope"},
        ]))),
        vec![
            format!("{base}[0].rule: Required value: rule is not specified"),
            format!(
                "{base}[1].message: Invalid value: \"  \": message must be non-empty if specified"
            ),
            format!(
                "{base}[2].message: Invalid value: \"a\\nb\": message must not contain line breaks"
            ),
            format!(
                "{base}[3].message: Required value: message must be specified if rule contains line breaks"
            ),
            format!(
                "{base}[4].messageExpression: Required value: messageExpression must be non-empty if specified"
            ),
            format!(
                "{base}[5].reason: Unsupported value: \"Nope\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
            ),
            format!(
                "{base}[6].fieldPath: Invalid value: \"replicas\": fieldPath must be a valid path"
            ),
            format!(
                "{base}[7].fieldPath: Invalid value: \".nope\": fieldPath must be a valid path"
            ),
        ]
    );
}

#[test]
fn old_self_rules_where_items_cannot_correlate() {
    let errs = crd_errors(with_spec(json!({
        "type": "object",
        "properties": {"list": {"type": "array", "items": {
            "type": "string",
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf"},
                {"rule": "self != ''", "optionalOldSelf": true},
            ],
        }}},
    })));
    let base = format!("{PATH}.properties[spec].properties[list].items.x-kubernetes-validations");
    assert_eq!(
        errs,
        vec![
            format!(
                "{base}[0].rule: Invalid value: \"self == oldSelf\": oldSelf cannot be used on the uncorrelatable portion of the schema within {PATH}.properties[spec].properties[list]"
            ),
            format!(
                "{base}[1].optionalOldSelf: Invalid value: true: may not be set if oldSelf is not used in rule"
            ),
        ]
    );
}

#[test]
fn libraries() {
    let rules = [
        // strings
        "'Hello'.lowerAscii() == 'hello' && 'a,b'.split(',') == ['a', 'b'] && ' x '.trim() == 'x'",
        "'abc'.indexOf('c') == 2 && 'abcabc'.lastIndexOf('b') == 4 && 'abc'.substring(1) == 'bc'",
        "['a', 'b'].join('-') == 'a-b' && 'aaa'.replace('a', 'b', 2) == 'bba' && 'ab'.upperAscii() == 'AB'",
        "'%s-%d'.format(['a', 1]) == 'a-1' && 'a'.charAt(0) == 'a'",
        // macros
        "[1, 2, 3].all(x, x > 0) && [1, 2].exists(x, x == 2) && [1, 2].exists_one(x, x == 1)",
        "[1, 2, 3].map(x, x * 2) == [2, 4, 6] && [1, 2, 3].filter(x, x > 1) == [2, 3]",
        "{'a': 1}.all(k, k == 'a') && has({'a': 1}.a)",
        // lists
        "[1, 2, 3].isSorted() && ![2, 1].isSorted() && [1, 2, 3].sum() == 6",
        "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3 && [1, 2, 2].indexOf(2) == 1",
        "[1, 2, 2].lastIndexOf(2) == 2 && ['a'].indexOf('z') == -1 && [1.5, 2.5].sum() == 4.0",
        // sets
        "sets.contains([1, 2, 3], [1, 2]) && sets.equivalent([1, 2], [2, 1]) && sets.intersects([1], [1, 5])",
        // regex
        "'abc 123'.find('[0-9]+') == '123' && '123 abc 456'.findAll('[0-9]+') == ['123', '456']",
        "'123 abc 456'.findAll('[0-9]+', 1) == ['123'] && 'abc'.find('x') == ''",
        // urls
        "url('https://example.com:80/path?k=a&k=b').getHost() == 'example.com:80'",
        "url('https://[::1]:80/').getHostname() == '::1' && url('https://example.com/').getPort() == ''",
        "url('https://example.com/a b').getEscapedPath() == '/a%20b' && url('/p').getScheme() == ''",
        "url('https://e.com/?k=a&k=b').getQuery()['k'] == ['a', 'b'] && isURL('/abs') && !isURL('rel')",
        // quantity
        "quantity('1.5G').isGreaterThan(quantity('1Gi')) && quantity('200M').compareTo(quantity('0.2G')) == 0",
        "quantity('50k').add(20) == quantity('50020') && quantity('50k').sub(quantity('20k')) == quantity('30k')",
        "quantity('50k').asInteger() == 50000 && quantity('1.5').asApproximateFloat() == 1.5",
        "!quantity('1.5').isInteger() && sign(quantity('-1')) == -1 && isQuantity('1Mi') && !isQuantity('1MB')",
        "quantity('50M').isLessThan(quantity('50Mi'))",
        // ip / cidr
        "ip('192.168.0.1').family() == 4 && ip('::1').isLoopback() && isIP('10.0.0.1') && !isIP('10.0.0')",
        "ip.isCanonical('2001:db8::abcd') && !ip.isCanonical('2001:DB8::ABCD') && ip('fe80::1').isLinkLocalUnicast()",
        "cidr('192.168.0.0/24').containsIP('192.168.0.1') && !cidr('192.168.0.0/24').containsIP(ip('192.168.1.1'))",
        "cidr('192.168.0.0/24').containsCIDR('192.168.0.0/25') && cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')",
        "cidr('::1/128').prefixLength() == 128 && string(cidr('192.168.0.1/24').ip()) == '192.168.0.1' && isCIDR('10.0.0.0/8')",
        "type(ip('1.2.3.4')) == net.IP",
        // format
        "!format.dns1123Label().validate('my-name').hasValue() && format.dns1123Label().validate('My_Name').hasValue()",
        "format.named('uuid').value().validate('nope').value() == ['does not match the UUID format']",
        "!format.named('nope').hasValue() && !format.uri().validate('http://a.com').hasValue()",
        // optionals
        "optional.of(1).value() == 1 && optional.none().orValue(2) == 2 && {'a': 1}.?b.orValue(3) == 3",
        // durations and timestamps
        "duration('1h30m') > duration('1h') && timestamp('2024-01-01T00:00:00Z').getFullYear() == 2024",
    ];
    let validations: Vec<Value> = rules.iter().map(|r| json!({"rule": r})).collect();
    let v = validator(replicas_spec(Value::Array(validations)));
    assert_eq!(check(&v, json!({"spec": {}})), Vec::<String>::new());
}

#[test]
fn library_runtime_errors() {
    // `quantity(x).sign()` is not declared as a member: upstream rejects it at CRD time.
    let compile = crd_errors(with_spec(json!({
        "type": "object",
        "properties": {"s": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "quantity(self.s).sign() == 1"}],
    })));
    assert!(
        compile[0]
            .contains("found no matching overload for 'sign' applied to 'kubernetes.Quantity.()'"),
        "{}",
        compile[0]
    );
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {"s": {"type": "string"}, "list": {"type": "array", "items": {"type": "integer"}}},
        "x-kubernetes-validations": [
            {"rule": "url(self.s).getHost() != ''"},
            {"rule": "sign(quantity(self.s)) == 1"},
            {"rule": "ip(self.s).family() == 4"},
            {"rule": "cidr(self.s).prefixLength() > 0"},
            {"rule": "self.list.min() > 0"},
        ],
    })));
    assert_eq!(
        check(&v, json!({"spec": {"s": "../x", "list": []}})),
        vec![
            "spec: Invalid value: \"object\": URL parse error during conversion from string: parse \"../x\": invalid URI for request evaluating rule: url(self.s).getHost() != ''",
            "spec: Invalid value: \"object\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' evaluating rule: sign(quantity(self.s)) == 1",
            "spec: Invalid value: \"object\": IP Address \"../x\" parse error during conversion from string: ParseAddr(\"../x\"): IPv4 field must have at least one digit (at \"../x\") evaluating rule: ip(self.s).family() == 4",
            "spec: Invalid value: \"object\": network address parse error during conversion from string: network address parse error during conversion from string: netip.ParsePrefix(\"../x\"): ParseAddr(\"..\"): IPv4 field must have at least one digit (at \"..\") evaluating rule: cidr(self.s).prefixLength() > 0",
            "spec: Invalid value: \"object\": min called on empty list evaluating rule: self.list.min() > 0",
        ]
    );
}

#[test]
fn formats_type_strings() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "timeout": {"type": "string", "format": "duration"},
            "at": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "data": {"type": "string", "format": "byte"},
        },
        "x-kubernetes-validations": [
            {"rule": "self.timeout < duration('1h')"},
            {"rule": "self.at > self.day"},
            {"rule": "self.data == b'hello'"},
        ],
    })));
    assert!(check(&v, json!({"spec": {
        "timeout": "30m", "at": "2024-01-02T10:00:00Z", "day": "2024-01-02", "data": "aGVsbG8=",
    }}))
    .is_empty());
    assert_eq!(
        check(&v, json!({"spec": {
            "timeout": "2h", "at": "2024-01-01T10:00:00Z", "day": "2024-01-02", "data": "aGVsbG8=",
        }}))
        .len(),
        2
    );
}

#[test]
fn null_and_absent_fields() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "a": {"type": "string", "nullable": true, "x-kubernetes-validations": [{"rule": "self != 'x'"}]},
            "b": {"type": "string"},
        },
        "x-kubernetes-validations": [{"rule": "!has(self.a) || self.a != 'y'"}],
    })));
    // A null field is absent to `has()`, and rules on it do not run.
    assert!(check(&v, json!({"spec": {"a": null}})).is_empty());
    assert_eq!(check(&v, json!({"spec": {"a": "x"}})).len(), 1);
    assert_eq!(check(&v, json!({"spec": {"a": "y"}})).len(), 1);
    assert!(check(&v, json!(null)).is_empty());
}

#[test]
fn all_of_rules_apply_to_the_node() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "allOf": [{"x-kubernetes-validations": [{"rule": "self.a > 0", "message": "positive"}]}],
    })));
    assert_eq!(
        check(&v, json!({"spec": {"a": 0}})),
        vec!["spec: Invalid value: \"object\": positive"]
    );
}

#[test]
fn schemas_without_rules_need_no_validation() {
    let v = validator(with_spec(
        json!({"type": "object", "properties": {"a": {"type": "integer"}}}),
    ));
    assert!(v.is_empty());
    assert!(check(&v, json!({"spec": {"a": 1}})).is_empty());
}

#[test]
fn nested_and_two_variable_comprehensions() {
    let v = validator(with_spec(json!({
        "type": "object",
        "properties": {
            "m": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "l": {"type": "array", "items": {"type": "integer"}},
        },
        "x-kubernetes-validations": [
            {"rule": "self.m.all(k, self.m[k].all(v, v.startsWith(k)))", "message": "prefix"},
            {"rule": "self.m.all(k, v, v.all(x, x.startsWith(k)))", "message": "prefix2"},
            {"rule": "self.l.all(i, v, i == 0 || v > self.l[i - 1])", "message": "increasing"},
            {"rule": "self.l.exists(i, v, i == 1 && v == 2) || size(self.l) < 2", "message": "second"},
            {"rule": "self.l.existsOne(i, v, v == 1) || size(self.l) == 0", "message": "one 1"},
            {"rule": "self.l.transformList(i, v, v * 10) == self.l.map(x, x * 10)", "message": "tl"},
            {"rule": "self.l.transformList(i, v, v > 1, i).size() <= self.l.size()", "message": "tlf"},
            {"rule": "self.m.transformMap(k, v, size(v)).all(k, self.m[k].size() == self.m.transformMap(k2, v2, size(v2))[k])", "message": "tm"},
            {"rule": "self.l.transformMapEntry(i, v, {string(v): i}).size() == self.l.size()", "message": "unique"},
        ],
    })));
    assert!(
        check(
            &v,
            json!({"spec": {"m": {"a": ["ab", "ac"]}, "l": [1, 2, 3]}})
        )
        .is_empty()
    );
    assert_eq!(
        check(
            &v,
            json!({"spec": {"m": {"a": ["ab", "bc"]}, "l": [1, 2, 3]}})
        ),
        vec![
            "spec: Invalid value: \"object\": prefix",
            "spec: Invalid value: \"object\": prefix2",
        ]
    );
    assert_eq!(
        check(&v, json!({"spec": {"m": {}, "l": [1, 3, 1]}})),
        vec![
            "spec: Invalid value: \"object\": increasing",
            "spec: Invalid value: \"object\": second",
            "spec: Invalid value: \"object\": one 1",
            "spec: Invalid value: \"object\": insert failed: key 1 already exists evaluating rule: unique",
        ]
    );
    // The checker types the two variables: an index is an int, not a string.
    let errs = crd_errors(with_spec(json!({
        "type": "object",
        "properties": {"l": {"type": "array", "items": {"type": "string"}}},
        "x-kubernetes-validations": [{"rule": "self.l.all(i, v, i.startsWith(v))"}],
    })));
    assert!(
        errs[0].ends_with("found no matching overload for 'startsWith' applied to 'int.(string)'\n | self.l.all(i, v, i.startsWith(v))\n | .............................^"),
        "{}",
        errs[0]
    );
}

#[test]
fn common_rules_compile() {
    // Rules as they appear in published CRDs (Gateway API, Cluster API, ...).
    let spec = json!({
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "port": {"type": "integer"},
            "hostname": {"type": "string"},
            "ratio": {"type": "number"},
            "minReplicas": {"type": "integer"},
            "maxReplicas": {"type": "integer"},
            "memory": {"x-kubernetes-int-or-string": true},
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "requestHeaderModifier": {"type": "object", "properties": {"set": {"type": "array", "items": {"type": "string"}}}},
            "filters": {"type": "array", "maxItems": 16, "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "value": {"type": "string"}},
            }},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "path": {"type": "object", "properties": {"type": {"type": "string"}, "value": {"type": "string"}}},
        },
    });
    let rules = [
        "self.type == 'RequestHeaderModifier' ? has(self.requestHeaderModifier) : !has(self.requestHeaderModifier)",
        "self.filters.all(f1, self.filters.exists_one(f2, f1.name == f2.name))",
        "(has(self.port) && has(self.hostname)) || !has(self.port)",
        "self.filters.filter(f, f.type == 'URLRewrite').size() <= 1",
        "!has(self.path) || self.path.type != 'PathPrefix' || self.path.value.matches(r\"\"\"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$\"\"\")",
        "self.minReplicas <= self.maxReplicas",
        "self.ratio > 0 && self.ratio <= 1",
        "type(self.memory) == string ? isQuantity(self.memory) : self.memory > 0",
        "self.start < self.end",
        "self.end - self.start <= duration('24h')",
        "self.labels.all(k, k.size() <= 63 && self.labels[k].size() <= 63)",
        "'app' in self.labels && self.labels['app'] != ''",
        "self.filters.map(f, f.name).isSorted()",
        "!has(self.hostname) || isURL('https://' + self.hostname)",
        "self.?hostname.orValue('') != 'localhost'",
        "self.filters.size() == 0 || self.filters[0].type in ['A', 'B']",
        "size(self.labels) < 10 && self.labels.size() < 10",
        "self.type.lowerAscii() in ['a', 'b'] || self.type == ''",
        "string(self.port).size() < 6 && int('12') == 12 && double(self.port) > 0.0",
        "self.hostname.split('.').all(p, p.size() <= 63)",
        "has(self.filters) && self.filters.exists(f, f.type == 'x') ? self.port == 80 : true",
    ];
    let mut spec = spec;
    spec["x-kubernetes-validations"] =
        Value::Array(rules.iter().map(|r| json!({"rule": r})).collect());
    let v = validator(with_spec(spec));
    assert!(!v.is_empty());
}

#[test]
fn validator_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Validator>();
}

#[test]
fn escaping_matches_upstream() {
    assert_eq!(types::escape("foo-bar").as_deref(), Some("foo__dash__bar"));
    assert_eq!(types::escape("a__b").as_deref(), Some("a__underscores__b"));
    assert_eq!(
        types::escape("a___b").as_deref(),
        Some("a__underscores___b")
    );
    assert_eq!(types::escape("in").as_deref(), Some("__in__"));
    assert_eq!(types::escape("1a"), None);
    assert_eq!(types::escape("a@b"), None);
}
