//! Expected texts are upstream's (kube-openapi validators, `kubeOpenAPIResultToFieldErrors`,
//! `objectmeta.Validate`, `listtype.ValidateListSetsAndMaps`) as kubectl prints them.

use super::*;
use apimachinery::FieldErrorKind;
use serde_json::json;

fn schema(v: Value) -> JSONSchemaProps {
    serde_json::from_value(v).unwrap()
}

fn texts(errs: &FieldErrors) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

/// Validates `obj` against an object schema whose `spec` has the given properties.
fn spec_errors(spec_properties: Value, obj_spec: Value) -> Vec<String> {
    let s = schema(json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {"type": "object", "properties": spec_properties},
        }
    }));
    let obj = json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default", "labels": {"a": "b"}},
        "spec": obj_spec,
    });
    texts(&validate(&s, &obj))
}

fn one(spec_properties: Value, obj_spec: Value) -> String {
    let errs = spec_errors(spec_properties, obj_spec);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs[0].clone()
}

fn valid(spec_properties: Value, obj_spec: Value) {
    let errs = spec_errors(spec_properties, obj_spec);
    assert!(errs.is_empty(), "{errs:#?}");
}

// ----- types -------------------------------------------------------------------------------

#[test]
fn integer_rejects_a_string() {
    assert_eq!(
        one(
            json!({"replicas": {"type": "integer"}}),
            json!({"replicas": "two"})
        ),
        r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
}

#[test]
fn integer_accepts_integers_and_integral_floats_but_not_fractions() {
    let p = json!({"n": {"type": "integer"}});
    valid(p.clone(), json!({"n": 3}));
    valid(p.clone(), json!({"n": -3}));
    // The apiserver decodes 3.0 as a float64, which kube-openapi accepts as an integer.
    valid(p.clone(), json!({"n": 3.0}));
    assert_eq!(
        one(p, json!({"n": 3.5})),
        r#"spec.n: Invalid value: "number": spec.n in body must be of type integer: "number""#
    );
}

#[test]
fn integer_tolerance_follows_swag() {
    assert!(golang::is_float_a_json_integer(1e9 + 0.5));
    assert!(!golang::is_float_a_json_integer(3.5));
    assert!(!golang::is_float_a_json_integer(-(1e9 + 0.5)));
    assert!(golang::is_float_a_json_integer(-4.0));
    assert!(!golang::is_float_a_json_integer(0.5));
    assert!(!golang::is_float_a_json_integer(9_007_199_254_740_994.0));
}

#[test]
fn number_accepts_integers() {
    valid(json!({"f": {"type": "number"}}), json!({"f": 3}));
    valid(json!({"f": {"type": "number"}}), json!({"f": 0.25}));
}

#[test]
fn each_json_type_is_named_in_the_message() {
    let cases = [
        ("boolean", json!("true"), "string"),
        ("string", json!(true), "boolean"),
        ("string", json!(1), "integer"),
        ("string", json!(1.5), "number"),
        ("object", json!([1]), "array"),
        ("array", json!({"a": 1}), "object"),
    ];
    for (ty, value, got) in cases {
        assert_eq!(
            one(json!({"x": {"type": ty}}), json!({ "x": value })),
            format!(
                r#"spec.x: Invalid value: "{got}": spec.x in body must be of type {ty}: "{got}""#
            )
        );
    }
}

#[test]
fn null_needs_nullable() {
    assert_eq!(
        one(json!({"x": {"type": "string"}}), json!({"x": null})),
        r#"spec.x: Invalid value: "null": spec.x in body must be of type string: "null""#
    );
    valid(
        json!({"x": {"type": "string", "nullable": true}}),
        json!({"x": null}),
    );
    // No type at all (preserve-unknown-fields) lets null through.
    valid(
        json!({"x": {"x-kubernetes-preserve-unknown-fields": true}}),
        json!({"x": null}),
    );
}

#[test]
fn int_or_string() {
    let p = json!({"port": {
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    }});
    valid(p.clone(), json!({"port": 80}));
    valid(p.clone(), json!({"port": "http"}));
    let errs = spec_errors(p, json!({"port": true}));
    assert_eq!(
        errs,
        vec![
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
            r#"<nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)"#,
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer: "boolean""#,
        ]
    );
    assert_eq!(
        one(
            json!({"port": {"x-kubernetes-int-or-string": true}}),
            json!({"port": null})
        ),
        r#"spec.port: Invalid value: "null": spec.port in body must be of type integer,string: "null""#
    );
}

#[test]
fn root_errors_are_reported_on_a_nil_path() {
    let s = schema(json!({"type": "object"}));
    assert_eq!(
        texts(&validate_value(&s, &json!("x"), "")),
        vec![r#"<nil>: Invalid value: "string":  in body must be of type object: "string""#]
    );
}

#[test]
fn validate_value_prefixes_the_given_path() {
    let s = schema(json!({"type": "object", "properties": {"a": {"type": "integer"}}}));
    assert_eq!(
        texts(&validate_value(
            &s,
            &json!({"a": "x"}),
            "spec.versions[0].schema.openAPIV3Schema.default"
        )),
        vec![
            r#"spec.versions[0].schema.openAPIV3Schema.default.a: Invalid value: "string": a in body must be of type integer: "string""#
        ]
    );
    let s = schema(json!({"type": "integer"}));
    assert_eq!(
        texts(&validate_value(&s, &json!("x"), "spec.default")),
        vec![
            r#"spec.default: Invalid value: "string":  in body must be of type integer: "string""#
        ]
    );
}

// ----- enum --------------------------------------------------------------------------------

#[test]
fn enum_lists_supported_values() {
    assert_eq!(
        one(
            json!({"mode": {"type": "string", "enum": ["Always", "Never"]}}),
            json!({"mode": "Sometimes"})
        ),
        r#"spec.mode: Unsupported value: "Sometimes": supported values: "Always", "Never""#
    );
    assert_eq!(
        one(
            json!({"n": {"type": "integer", "enum": [1, 2]}}),
            json!({"n": 3})
        ),
        r#"spec.n: Unsupported value: 3: supported values: "1", "2""#
    );
    assert_eq!(
        one(
            json!({"o": {"type": "object", "enum": [{"b": 1, "a": true}]}}),
            json!({"o": {"a": false}})
        ),
        r#"spec.o: Unsupported value: {"a":false}: supported values: "{\"a\":true,\"b\":1}""#
    );
}

#[test]
fn enum_accepts_members() {
    valid(
        json!({"mode": {"type": "string", "enum": ["Always", "Never"]}}),
        json!({"mode": "Never"}),
    );
    valid(
        json!({"o": {"type": "object", "enum": [{"a": 1}]}}),
        json!({"o": {"a": 1}}),
    );
}

#[test]
fn enum_compares_with_go_conversions() {
    // A float is converted to an integer member's type (truncating) before comparing.
    valid(
        json!({"n": {"type": "number", "enum": [1, 2]}}),
        json!({"n": 1.5}),
    );
    // An integer converts to a string member as a rune.
    assert!(golang::enum_member_matches(&json!(65), &json!("A")));
    assert!(!golang::enum_member_matches(&json!("65"), &json!(65)));
    // Inside objects the types must agree exactly.
    assert!(!golang::enum_member_matches(
        &json!({"a": 1.5}),
        &json!({"a": 1})
    ));
}

#[test]
fn null_never_matches_an_enum() {
    assert_eq!(
        one(
            json!({"mode": {"type": "string", "nullable": true, "enum": ["a", null]}}),
            json!({"mode": null})
        ),
        r#"spec.mode: Unsupported value: "null": supported values: "a", "null""#
    );
}

// ----- numbers -----------------------------------------------------------------------------

#[test]
fn maximum_and_minimum() {
    let p = json!({"n": {"type": "integer", "minimum": 1, "maximum": 10}});
    valid(p.clone(), json!({"n": 10}));
    valid(p.clone(), json!({"n": 1}));
    assert_eq!(
        one(p.clone(), json!({"n": 11})),
        "spec.n: Invalid value: 11: spec.n in body should be less than or equal to 10"
    );
    assert_eq!(
        one(p, json!({"n": 0})),
        "spec.n: Invalid value: 0: spec.n in body should be greater than or equal to 1"
    );
}

#[test]
fn exclusive_bounds() {
    let p = json!({"n": {
        "type": "integer",
        "minimum": 1, "exclusiveMinimum": true,
        "maximum": 10, "exclusiveMaximum": true
    }});
    valid(p.clone(), json!({"n": 5}));
    assert_eq!(
        one(p.clone(), json!({"n": 10})),
        "spec.n: Invalid value: 10: spec.n in body should be less than 10"
    );
    assert_eq!(
        one(p, json!({"n": 1})),
        "spec.n: Invalid value: 1: spec.n in body should be greater than 1"
    );
}

#[test]
fn float_bounds_print_as_go_does() {
    let p = json!({"f": {"type": "number", "maximum": 1.5, "minimum": -0.5}});
    assert_eq!(
        one(p.clone(), json!({"f": 2.5})),
        "spec.f: Invalid value: 2.5: spec.f in body should be less than or equal to 1.5"
    );
    assert_eq!(
        one(p, json!({"f": -0.75})),
        "spec.f: Invalid value: -0.75: spec.f in body should be greater than or equal to -0.5"
    );
    assert_eq!(
        one(
            json!({"f": {"type": "number", "maximum": 1_000_000}}),
            json!({"f": 1_000_000.5})
        )
        .split(": ")
        .last(),
        Some("spec.f in body should be less than or equal to 1e+06")
    );
}

#[test]
fn integer_bounds_are_truncated() {
    assert_eq!(
        one(
            json!({"n": {"type": "integer", "maximum": 2.5}}),
            json!({"n": 3})
        ),
        "spec.n: Invalid value: 3: spec.n in body should be less than or equal to 2"
    );
}

#[test]
fn multiple_of() {
    assert_eq!(
        one(
            json!({"n": {"type": "integer", "multipleOf": 5}}),
            json!({"n": 7})
        ),
        "spec.n: Invalid value: 7: spec.n in body should be a multiple of 5"
    );
    valid(
        json!({"n": {"type": "integer", "multipleOf": 5}}),
        json!({"n": -15}),
    );
    valid(
        json!({"f": {"type": "number", "multipleOf": 0.5}}),
        json!({"f": 1.5}),
    );
    assert_eq!(
        one(
            json!({"f": {"type": "number", "multipleOf": 0.5}}),
            json!({"f": 0.7})
        ),
        "spec.f: Invalid value: 0.7: spec.f in body should be a multiple of 0.5"
    );
}

#[test]
fn number_errors_come_in_upstream_order() {
    assert_eq!(
        spec_errors(
            json!({"n": {"type": "integer", "multipleOf": 4, "maximum": 3}}),
            json!({"n": 5})
        ),
        vec![
            "spec.n: Invalid value: 5: spec.n in body should be a multiple of 4",
            "spec.n: Invalid value: 5: spec.n in body should be less than or equal to 3",
        ]
    );
}

// ----- strings -----------------------------------------------------------------------------

#[test]
fn max_length_counts_runes_and_omits_the_value() {
    let p = json!({"s": {"type": "string", "maxLength": 3}});
    valid(p.clone(), json!({"s": "ééé"}));
    assert_eq!(
        one(p, json!({"s": "abcd"})),
        "spec.s: Too long: may not be more than 3 bytes"
    );
    assert_eq!(
        one(
            json!({"s": {"type": "string", "maxLength": 1}}),
            json!({"s": "ab"})
        ),
        "spec.s: Too long: may not be more than 1 byte"
    );
}

#[test]
fn min_length() {
    assert_eq!(
        one(
            json!({"s": {"type": "string", "minLength": 2}}),
            json!({"s": "a"})
        ),
        r#"spec.s: Invalid value: "a": spec.s in body should be at least 2 chars long"#
    );
}

#[test]
fn only_the_first_string_failure_is_reported() {
    assert_eq!(
        one(
            json!({"s": {"type": "string", "maxLength": 2, "pattern": "^[0-9]+$"}}),
            json!({"s": "abc"})
        ),
        "spec.s: Too long: may not be more than 2 bytes"
    );
}

#[test]
fn pattern() {
    let p = json!({"s": {"type": "string", "pattern": "^[a-z]+$"}});
    valid(p.clone(), json!({"s": "abc"}));
    assert_eq!(
        one(p, json!({"s": "ABC"})),
        r#"spec.s: Invalid value: "ABC": spec.s in body should match '^[a-z]+$'"#
    );
    // Unanchored patterns match anywhere, as Go's MatchString does.
    valid(
        json!({"s": {"type": "string", "pattern": "b"}}),
        json!({"s": "abc"}),
    );
}

#[test]
fn pattern_classes_are_ascii_as_in_go() {
    let p = json!({"s": {"type": "string", "pattern": "^\\d+$"}});
    valid(p.clone(), json!({"s": "123"}));
    assert_eq!(spec_errors(p, json!({"s": "١٢٣"})).len(), 1);
    let w = json!({"s": {"type": "string", "pattern": "^\\w+$"}});
    assert_eq!(spec_errors(w, json!({"s": "é"})).len(), 1);
}

#[test]
fn go_only_regex_syntax_is_translated() {
    assert!(regexp::matches(r"^a{$", "a{"));
    assert!(regexp::matches(r"^a{2}$", "aa"));
    assert!(regexp::matches(r"^[[]$", "["));
    assert!(regexp::matches(r"^[a&&b]+$", "a&b"));
    assert!(regexp::matches(r"^\Q1+1\E$", "1+1"));
    assert!(regexp::matches(r"^[\d.]+$", "1.2"));
    assert!(regexp::matches(r"^[[:alpha:]]+$", "abc"));
    assert!(regexp::matches(r"^[]a]+$", "]a"));
    assert!(regexp::matches(r"^[^]a]+$", "bc"));
    assert!(regexp::matches(r"^\p{Greek}\x{263a}$", "α☺"));
}

#[test]
fn an_invalid_pattern_says_so() {
    let errs = spec_errors(
        json!({"s": {"type": "string", "pattern": "(a"}}),
        json!({"s": "a"}),
    );
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(
            r#"spec.s: Invalid value: "a": spec.s in body should match '(a, but pattern is invalid: error parsing regexp: "#
        ),
        "{}",
        errs[0]
    );
}

// ----- formats -----------------------------------------------------------------------------

#[test]
fn format_failures_name_the_format() {
    assert_eq!(
        one(
            json!({"t": {"type": "string", "format": "date-time"}}),
            json!({"t": "yesterday"})
        ),
        r#"spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday""#
    );
    valid(
        json!({"t": {"type": "string", "format": "date-time"}}),
        json!({"t": "2024-02-29T13:04:05.123+02:00"}),
    );
}

#[test]
fn unsupported_formats_are_ignored() {
    for f in ["int32", "k8s-short-name", "quantity", "color"] {
        valid(
            json!({"s": {"type": "string", "format": f}}),
            json!({"s": "%%% not anything %%%"}),
        );
    }
    valid(
        json!({"n": {"type": "integer", "format": "int32"}}),
        json!({"n": 9_999_999_999_i64}),
    );
}

#[test]
fn a_format_on_a_non_string_reports_the_value_format() {
    assert_eq!(
        one(
            json!({"d": {"type": "string", "format": "date"}}),
            json!({"d": 5})
        ),
        r#"spec.d: Invalid value: "int64": spec.d in body must be of type date: "int64""#
    );
    // Arrays slip through a string schema that has a format, as upstream's check lets them.
    valid(
        json!({"d": {"type": "string", "format": "date"}}),
        json!({"d": ["x"]}),
    );
}

#[test]
fn format_checks() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "date",
            &["2024-02-29", "1999-12-31"],
            &["2023-02-29", "2024-13-01", "24-01-01", "2024-1-01"],
        ),
        (
            "datetime",
            &["2006-01-02T15:04:05Z", "2006-01-02t15:04:05.9-07:00"],
            &["2006-01-02", "2006-01-02T25:04:05Z", "2006-01-02T15:04:05"],
        ),
        (
            "duration",
            &[
                "1h30m",
                "-1.5h",
                "0",
                "300ms",
                "2µs",
                "3 days",
                "1hour 5min",
                "10 s",
            ],
            &["", "1", "soon", ".s", "5 parsecs"],
        ),
        (
            "uuid",
            &[
                "123e4567-e89b-12d3-a456-426614174000",
                "123E4567E89B12D3A456426614174000",
            ],
            &[
                "123e4567-e89b-12d3-a456-42661417400",
                "g23e4567-e89b-12d3-a456-426614174000",
            ],
        ),
        (
            "uuid3",
            &["a3bb189e-8bf9-3888-9912-ace4e6543002"],
            &["a3bb189e-8bf9-4888-9912-ace4e6543002"],
        ),
        (
            "uuid4",
            &["7c9f6d52-3f1b-4a61-9b0e-4c8f1a2b3c4d"],
            &["7c9f6d52-3f1b-4a61-7b0e-4c8f1a2b3c4d"],
        ),
        (
            "uuid5",
            &["74738ff5-5367-5958-9aee-98fffdcd1876"],
            &["74738ff5-5367-4958-9aee-98fffdcd1876"],
        ),
        (
            "ipv4",
            &["192.168.0.1", "010.0.0.1", "::ffff:1.2.3.4"],
            &["1.2.3", "256.1.1.1", "::1", "a.b.c.d"],
        ),
        (
            "ipv6",
            &["::1", "2001:db8::ff00:42:8329", "::ffff:1.2.3.4"],
            &["1.2.3.4", "2001:db8::g", "fe80::1%eth0"],
        ),
        (
            "cidr",
            &["10.0.0.0/8", "2001:db8::/32", "010.0.0.0/08"],
            &["10.0.0.0/33", "10.0.0.0", "::/129", "10.0.0.0/"],
        ),
        (
            "mac",
            &[
                "00:00:5e:00:53:01",
                "00-00-5E-00-53-01",
                "0000.5e00.5301",
                "02:00:5e:10:00:00:00:01",
            ],
            &["00:00:5e:00:53", "00:00:5e:00:53:zz", "0000:5e00:5301"],
        ),
        // A single label may only have a dash after its first character, as upstream's pattern says.
        (
            "hostname",
            &[
                "example.com",
                "localhost",
                "a-b.example.com",
                "m-yhost",
                "xn--bcher-kva.example",
            ],
            &[
                "my-host",
                "-bad.example.com",
                "exa mple.com",
                "example.c0m",
                "a.b.",
            ],
        ),
        (
            "email",
            &[
                "user@example.com",
                "John Doe <john.doe@example.com>",
                "\"quoted\"@example.com",
            ],
            &["user", "@example.com", "user@", "a..b@example.com"],
        ),
        (
            "uri",
            &[
                "http://example.com/path?q=1",
                "/relative/path",
                "mailto:user@example.com",
                "https://[::1]:8443/x",
            ],
            &[
                "",
                "not a uri",
                "example.com/path",
                "http://exa mple.com/",
                "http://host:port/",
                "/bad%zzescape",
            ],
        ),
        (
            "byte",
            &["aGVsbG8=", "aGVsbG8gd29ybGQ=", "YWJj"],
            &["", "hello", "aGVsbG8", "aGVs*G8="],
        ),
        (
            "bsonobjectid",
            &["507f1f77bcf86cd799439011"],
            &["507f1f77bcf86cd79943901", "zzzf1f77bcf86cd799439011"],
        ),
        ("isbn10", &["0321751043", "0-321-75104-3"], &["0321751042"]),
        (
            "isbn13",
            &["978-0321751041", "9780321751041"],
            &["9780321751042"],
        ),
        ("isbn", &["0321751043", "978-0321751041"], &["12345"]),
        (
            "creditcard",
            &["4111 1111 1111 1111", "5500-0000-0000-0004"],
            &["4111 1111 1111 1112", "1234"],
        ),
        (
            "ssn",
            &["123-45-6789", "123 45 6789"],
            &["123456789", "12-345-6789"],
        ),
        (
            "hexcolor",
            &["#fff", "FFFFFF", "#a1B2c3"],
            &["#ffff", "ggg"],
        ),
        (
            "rgbcolor",
            &["rgb(255,255,255)", "rgb( 0 , 10 , 200 )"],
            &["rgb(256,0,0)", "rgb(1,2)"],
        ),
        ("password", &["anything at all", ""], &[]),
    ];
    for (format, good, bad) in cases {
        for s in *good {
            assert!(formats::check(format, s), "{format} should accept {s:?}");
        }
        for s in *bad {
            assert!(!formats::check(format, s), "{format} should reject {s:?}");
        }
    }
}

#[test]
fn non_ascii_hostnames_use_unicode_classes() {
    assert!(formats::check("hostname", "bücher.example"));
    assert!(formats::check("hostname", "☃.net"));
    assert!(!formats::check("hostname", "bü cher.example"));
}

#[test]
fn unicode_patterns() {
    let p = json!({"s": {"type": "string", "pattern": "^\\p{Lu}\\p{Ll}+$"}});
    valid(p.clone(), json!({"s": "Émile"}));
    assert_eq!(spec_errors(p, json!({"s": "émile"})).len(), 1);
}

#[test]
fn format_names_are_normalized_without_dashes() {
    assert_eq!(formats::supported("date-time").as_deref(), Some("datetime"));
    assert_eq!(formats::supported("uuid"), Some("uuid".to_string()));
    assert_eq!(formats::supported("int64"), None);
    assert_eq!(formats::supported("k8s-long-name"), None);
}

// ----- arrays ------------------------------------------------------------------------------

#[test]
fn items_are_validated_at_their_index() {
    assert_eq!(
        one(
            json!({"l": {"type": "array", "items": {"type": "integer"}}}),
            json!({"l": [1, "a"]})
        ),
        r#"spec.l[1]: Invalid value: "string": spec.l[1] in body must be of type integer: "string""#
    );
}

#[test]
fn max_items_is_too_many() {
    let s = schema(json!({"type": "object", "properties": {
        "l": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
        "one": {"type": "array", "maxItems": 1}
    }}));
    let errs = validate(&s, &json!({"l": ["a", "b", "c"], "one": [1, 2]}));
    assert_eq!(errs.len(), 2);
    // Upstream prints these as `l: Too many: 3: must have at most 2 items`.
    assert_eq!(errs[0].kind, FieldErrorKind::TooMany);
    assert_eq!(errs[0].field, "l");
    assert_eq!(errs[0].value, Some(json!(3)));
    assert_eq!(errs[0].detail, "must have at most 2 items");
    assert_eq!(errs[1].field, "one");
    assert_eq!(errs[1].value, Some(json!(2)));
    assert_eq!(errs[1].detail, "must have at most 1 item");
}

#[test]
fn min_items() {
    assert_eq!(
        one(
            json!({"l": {"type": "array", "minItems": 2}}),
            json!({"l": [1]})
        ),
        "spec.l: Invalid value: 1: spec.l in body should have at least 2 items"
    );
}

#[test]
fn unique_items() {
    let p = json!({"l": {"type": "array", "uniqueItems": true}});
    valid(p.clone(), json!({"l": [1, 2, {"a": 1}, {"a": 2}]}));
    // 1 and 1.0 are different Go values (int64 and float64).
    valid(p.clone(), json!({"l": [1, 1.0]}));
    assert_eq!(
        one(p, json!({"l": [{"a": 1}, {"a": 1}]})),
        r#"spec.l: Invalid value: "": spec.l in body shouldn't contain duplicates"#
    );
}

// ----- objects -----------------------------------------------------------------------------

#[test]
fn required() {
    assert_eq!(
        spec_errors(
            json!({"inner": {"type": "object", "required": ["b", "a"]}}),
            json!({"inner": {}})
        ),
        vec![
            "spec.inner.b: Required value",
            "spec.inner.a: Required value"
        ]
    );
    let s = schema(json!({"type": "object", "required": ["spec"]}));
    assert_eq!(
        texts(&validate(&s, &json!({"kind": "X"}))),
        vec!["spec: Required value"]
    );
}

#[test]
fn properties_are_reported_in_name_order() {
    assert_eq!(
        spec_errors(
            json!({"b": {"type": "integer"}, "a": {"type": "integer"}}),
            json!({"b": "x", "a": "y"})
        ),
        vec![
            r#"spec.a: Invalid value: "string": spec.a in body must be of type integer: "string""#,
            r#"spec.b: Invalid value: "string": spec.b in body must be of type integer: "string""#,
        ]
    );
}

#[test]
fn additional_properties_schema() {
    assert_eq!(
        one(
            json!({"limits": {"type": "object", "additionalProperties": {"type": "integer"}}}),
            json!({"limits": {"cpu": 1, "memory": "lots"}})
        ),
        r#"spec.limits.memory: Invalid value: "string": spec.limits.memory in body must be of type integer: "string""#
    );
    // At the root the name starts with a dot, which upstream trims.
    let s = schema(json!({"type": "object", "additionalProperties": {"type": "string"}}));
    assert_eq!(
        texts(&validate_value(&s, &json!({"k": 1}), "")),
        vec![r#"k: Invalid value: "integer": .k in body must be of type string: "integer""#]
    );
}

#[test]
fn additional_properties_false_forbids_unknown_keys() {
    assert_eq!(
        one(
            json!({"o": {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": false
            }}),
            json!({"o": {"a": "x", "b": 1}})
        ),
        r#"spec.o: Invalid value: "b": spec.o.b in body is a forbidden property"#
    );
}

#[test]
fn property_counts() {
    let s = schema(json!({"type": "object", "properties": {
        "few": {"type": "object", "minProperties": 1},
        "many": {"type": "object", "maxProperties": 1}
    }}));
    let errs = validate(&s, &json!({"few": {}, "many": {"a": 1, "b": 2}}));
    assert_eq!(
        errs[0].to_string(),
        "few: Invalid value: 0: few in body should have at least 1 properties"
    );
    assert_eq!(errs[1].kind, FieldErrorKind::TooMany);
    assert_eq!(errs[1].field, "many");
    assert_eq!(errs[1].value, Some(json!(2)));
    assert_eq!(errs[1].detail, "must have at most 1 item");
}

#[test]
fn property_count_failures_do_not_stop_the_object() {
    assert_eq!(
        spec_errors(
            json!({"o": {
                "type": "object",
                "minProperties": 3,
                "properties": {"a": {"type": "integer"}}
            }}),
            json!({"o": {"a": "x"}})
        ),
        vec![
            "spec.o: Invalid value: 1: spec.o in body should have at least 3 properties",
            r#"spec.o.a: Invalid value: "string": spec.o.a in body must be of type integer: "string""#,
        ]
    );
}

#[test]
fn pattern_properties_match_anywhere_in_the_key() {
    assert_eq!(
        one(
            json!({"o": {"type": "object", "patternProperties": {"^x-": {"type": "integer"}}}}),
            json!({"o": {"x-a": "s", "y": "t"}})
        ),
        r#"spec.o.x-a: Invalid value: "string": spec.o.x-a in body must be of type integer: "string""#
    );
}

// ----- composition -------------------------------------------------------------------------

#[test]
fn any_of_reports_the_best_branch() {
    // As upstream's CRD integration test expects: the anyOf message, then the failing branch.
    let s = schema(json!({"type": "object", "properties": {
        "delta": {"type": "string", "anyOf": [{"maxLength": 5}, {"minLength": 10}]}
    }}));
    assert_eq!(
        texts(&validate(&s, &json!({"delta": "foobarbaz"}))),
        vec![
            r#"<nil>: Invalid value: "": "delta" must validate at least one schema (anyOf)"#,
            "delta: Too long: may not be more than 5 bytes",
        ]
    );
    valid(
        json!({"d": {"type": "string", "anyOf": [{"maxLength": 5}, {"minLength": 10}]}}),
        json!({"d": "tiny"}),
    );
}

#[test]
fn any_of_prefers_the_branch_with_more_passing_checks() {
    // The integer branch fails its type check; the string branch passes it and fails later, so
    // it has more matches and its error is the one reported.
    assert_eq!(
        spec_errors(
            json!({"v": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]}}),
            json!({"v": "abcd"})
        ),
        vec![
            r#"<nil>: Invalid value: "": "spec.v" must validate at least one schema (anyOf)"#,
            "spec.v: Too long: may not be more than 2 bytes",
        ]
    );
}

#[test]
fn one_of() {
    let p = json!({"o": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}});
    valid(p.clone(), json!({"o": {"a": 1}}));
    assert_eq!(
        spec_errors(p.clone(), json!({"o": {}})),
        vec![
            r#"<nil>: Invalid value: "": "spec.o" must validate one and only one schema (oneOf). Found none valid"#,
            "spec.o.a: Required value",
        ]
    );
    assert_eq!(
        spec_errors(p, json!({"o": {"a": 1, "b": 2}})),
        vec![
            r#"<nil>: Invalid value: "": "spec.o" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
        ]
    );
}

#[test]
fn all_of() {
    assert_eq!(
        spec_errors(
            json!({"n": {"type": "integer", "allOf": [{"minimum": 5}, {"maximum": 3}]}}),
            json!({"n": 4})
        ),
        vec![
            "spec.n: Invalid value: 4: spec.n in body should be greater than or equal to 5",
            "spec.n: Invalid value: 4: spec.n in body should be less than or equal to 3",
            r#"<nil>: Invalid value: "": "spec.n" must validate all the schemas (allOf). None validated"#,
        ]
    );
    assert_eq!(
        spec_errors(
            json!({"n": {"type": "integer", "allOf": [{"minimum": 5}, {"maximum": 30}]}}),
            json!({"n": 4})
        ),
        vec![
            "spec.n: Invalid value: 4: spec.n in body should be greater than or equal to 5",
            r#"<nil>: Invalid value: "": "spec.n" must validate all the schemas (allOf)"#,
        ]
    );
}

#[test]
fn not() {
    let p = json!({"s": {"type": "string", "not": {"enum": ["forbidden"]}}});
    valid(p.clone(), json!({"s": "fine"}));
    assert_eq!(
        one(p, json!({"s": "forbidden"})),
        r#"<nil>: Invalid value: "": "spec.s" must not validate the schema (not)"#
    );
}

#[test]
fn composite_errors_use_the_base_path_when_given() {
    let s = schema(json!({"type": "string", "not": {"enum": ["x"]}}));
    assert_eq!(
        texts(&validate_value(&s, &json!("x"), "spec.default")),
        vec![r#"spec.default: Invalid value: "": "" must not validate the schema (not)"#]
    );
}

#[test]
fn identical_messages_are_reported_once() {
    // Both allOf branches produce the same type error at the same path.
    assert_eq!(
        spec_errors(
            json!({"n": {"allOf": [{"type": "integer"}, {"type": "integer"}]}}),
            json!({"n": "x"})
        ),
        vec![
            r#"spec.n: Invalid value: "string": spec.n in body must be of type integer: "string""#,
            r#"<nil>: Invalid value: "": "spec.n" must validate all the schemas (allOf). None validated"#,
        ]
    );
}

// ----- embedded resources ------------------------------------------------------------------

fn embedded_schema() -> JSONSchemaProps {
    schema(json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "x-kubernetes-preserve-unknown-fields": true
            },
            "templates": {"type": "object", "additionalProperties": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "x-kubernetes-preserve-unknown-fields": true
            }}
        }}
    }}))
}

#[test]
fn embedded_resources_need_api_version_and_kind() {
    let errs = validate(&embedded_schema(), &json!({"spec": {"template": {}}}));
    assert_eq!(
        texts(&errs),
        vec![
            "spec.template.apiVersion: Required value",
            "spec.template.kind: Required value"
        ]
    );
    let errs = validate(
        &embedded_schema(),
        &json!({"spec": {"templates": {"one": {"apiVersion": "v1"}}}}),
    );
    assert_eq!(
        texts(&errs),
        vec!["spec.templates[one].kind: Required value"]
    );
}

#[test]
fn embedded_resource_fields_are_checked() {
    let errs = validate(
        &embedded_schema(),
        &json!({"spec": {"template": {
            "apiVersion": "a/b/c",
            "kind": "Foo_Bar",
            "metadata": {"name": "a/b"}
        }}}),
    );
    assert_eq!(
        texts(&errs),
        vec![
            r#"spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#,
            r#"spec.template.kind: Invalid value: "Foo_Bar": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
            r#"spec.template.metadata.name: Invalid value: "a/b": may not contain '/'"#,
        ]
    );
    let errs = validate(
        &embedded_schema(),
        &json!({"spec": {"template": {"apiVersion": 5, "kind": "", "metadata": {}}}}),
    );
    assert_eq!(
        texts(&errs),
        vec![
            "spec.template.apiVersion: Invalid value: 5: must be a string",
            "spec.template.kind: Required value",
        ]
    );
}

#[test]
fn embedded_resources_accept_mixed_case_kinds_and_unnamed_objects() {
    let errs = validate(
        &embedded_schema(),
        &json!({"spec": {"template": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"labels": {"app": "web"}}
        }}}),
    );
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn embedded_metadata_must_decode() {
    let errs = validate(
        &embedded_schema(),
        &json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 1}}}}),
    );
    assert_eq!(
        texts(&errs),
        vec![
            r#"spec.template.metadata: Invalid value: {"name":1}: json: cannot unmarshal number into Go struct field ObjectMeta.name of type string"#
        ]
    );
}

#[test]
fn the_root_is_not_an_embedded_resource() {
    let s = schema(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    assert!(validate(&s, &json!({"spec": {}})).is_empty());
}

// ----- list types --------------------------------------------------------------------------

#[test]
fn list_set_reports_each_duplicate_once() {
    assert_eq!(
        spec_errors(
            json!({"tags": {
                "type": "array",
                "x-kubernetes-list-type": "set",
                "items": {"type": "string"}
            }}),
            json!({"tags": ["a", "b", "a", "a", "b"]})
        ),
        vec![
            r#"spec.tags[2]: Duplicate value: "a""#,
            r#"spec.tags[4]: Duplicate value: "b""#,
        ]
    );
}

#[test]
fn list_set_compares_compound_values_as_json() {
    let p = json!({"s": {"type": "array", "x-kubernetes-list-type": "set", "items": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": true
    }}});
    assert_eq!(
        one(
            p.clone(),
            json!({"s": [{"b": 1, "a": 2}, {"a": 2, "b": 1}]})
        ),
        r#"spec.s[1]: Duplicate value: {"a":2,"b":1}"#
    );
    // Scalars keep their Go types: 1 and 1.0 differ.
    valid(
        json!({"s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "number"}}}),
        json!({"s": [1, 1.0]}),
    );
}

#[test]
fn list_map_single_key() {
    let p = json!({"ports": {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "port": {"type": "integer"}
        }}
    }});
    valid(
        p.clone(),
        json!({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 1}]}),
    );
    assert_eq!(
        one(
            p.clone(),
            json!({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]})
        ),
        r#"spec.ports[1]: Duplicate value: {"name":"a"}"#
    );
    assert_eq!(
        one(p, json!({"ports": [{"port": 1}, {"port": 2}]})),
        "spec.ports[1]: Duplicate value: {}"
    );
}

#[test]
fn list_map_several_keys() {
    let p = json!({"ports": {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["protocol", "port"],
        "items": {"type": "object", "properties": {
            "port": {"type": "integer"}, "protocol": {"type": "string"}
        }}
    }});
    valid(
        p.clone(),
        json!({"ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}]}),
    );
    assert_eq!(
        one(
            p,
            json!({"ports": [
                {"port": 80, "protocol": "TCP"},
                {"protocol": "TCP", "port": 80, "name": "x"}
            ]})
        ),
        r#"spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}"#
    );
}

#[test]
fn list_map_elements_must_be_objects() {
    let s = schema(json!({"type": "object", "properties": {"l": {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "x-kubernetes-preserve-unknown-fields": true
    }}}));
    assert_eq!(
        texts(&validate_list_sets_and_maps(
            &s,
            &json!({"l": ["x", {"name": "a"}]}),
            ""
        )),
        vec![r#"l[0]: Invalid value: "x": must be an object for an array of list-type map"#]
    );
}

#[test]
fn nested_lists_are_checked_under_items_and_maps() {
    let s = schema(json!({"type": "object", "properties": {"groups": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {
            "type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}
        }}
    }}}));
    assert_eq!(
        texts(&validate(&s, &json!({"groups": {"g": [[1, 2], [3, 3]]}}))),
        vec!["groups[g][1][1]: Duplicate value: 3"]
    );
}

// ----- the whole object --------------------------------------------------------------------

#[test]
fn validate_reports_schema_then_embedded_then_list_errors() {
    let s = schema(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "x-kubernetes-preserve-unknown-fields": true
            },
            "replicas": {"type": "integer", "minimum": 0}
        }}}}),
    );
    let errs = validate(
        &s,
        &json!({"spec": {"tags": ["a", "a"], "template": {"kind": "Pod"}, "replicas": -1}}),
    );
    assert_eq!(
        texts(&errs),
        vec![
            "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
            "spec.template.apiVersion: Required value",
            r#"spec.tags[1]: Duplicate value: "a""#,
        ]
    );
}

#[test]
fn root_metadata_is_validated_by_its_schema() {
    let s = schema(json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}}
    }}));
    assert_eq!(
        texts(&validate(
            &s,
            &json!({"metadata": {"name": "too-long-name"}})
        )),
        vec!["metadata.name: Too long: may not be more than 5 bytes"]
    );
}

#[test]
fn a_valid_object_has_no_errors() {
    valid(
        json!({
            "replicas": {"type": "integer", "minimum": 1},
            "image": {"type": "string", "pattern": "^[a-z/:.0-9-]+$"},
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "port": {"type": "integer", "maximum": 65535}
                }}
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }),
        json!({
            "replicas": 3,
            "image": "nginx:1.27",
            "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
            "labels": {"tier": "web"}
        }),
    );
}

// ----- Go spellings ------------------------------------------------------------------------

#[test]
fn go_float_formatting() {
    let cases = [
        (1e6, "1e+06"),
        (123_456.0, "123456"),
        (1_234_567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5, "1.5"),
        (-2.5e-7, "-2.5e-07"),
        (1e21, "1e+21"),
        (100.0, "100"),
        (0.0, "0"),
    ];
    for (f, want) in cases {
        assert_eq!(golang::format_float(f), want, "{f}");
    }
}

#[test]
fn go_json_and_quoting() {
    assert_eq!(
        golang::marshal(&json!({"b": [1, 2.5, "<x>"], "a": null, "c": 1e21})),
        r#"{"a":null,"b":[1,2.5,"\u003cx\u003e"],"c":1e+21}"#
    );
    assert_eq!(golang::quote("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\x01""#);
    assert_eq!(golang::marshal(&json!(2.0)), "2");
}
