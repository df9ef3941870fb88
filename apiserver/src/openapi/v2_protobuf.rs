//! The protobuf form of `/openapi/v2`: the Swagger 2.0 document as gnostic's
//! `openapi.v2.Document` message (github.com/google/gnostic-models, `openapiv2/OpenAPIv2.proto`),
//! the form client-go's `OpenAPISchema()` asks for (`kubectl explain --output
//! plaintext-openapiv2`, older validation paths).
//!
//! Upstream's handler (kube-openapi `pkg/handler`) parses its JSON with gnostic's
//! `ParseDocument` and marshals the result. This module makes the same walk by hand and writes the
//! wire format directly: fields in field-number order (as protobuf-go marshals them), proto3 zero
//! values left out, maps as ordered `Named*` pairs in the JSON's key order, each oneof picked the
//! way gnostic picks it, and every `Any` (vendor extensions, `default`, `example`, `enum` values)
//! carrying its value as YAML written the way gopkg.in/yaml.v3 writes it (see [`yaml`]).
//!
//! The bytes are built once per document hash ([`cached`]) and served with the JSON form's ETag,
//! as upstream does (its responses vary on `Accept`).
//!
//! ```
//! use apiserver::openapi::v2_protobuf::encode;
//! let doc = br#"{"swagger":"2.0","info":{"title":"T","version":"v1"},"paths":{}}"#;
//! let pb = encode(doc).unwrap();
//! // swagger = 1, info = 2 {title = 1, version = 2}, paths = 8 (present, empty)
//! assert_eq!(pb, b"\x0a\x032.0\x12\x07\x0a\x01T\x12\x02v1\x42\x00");
//! ```

use super::Document;
use bytes::Bytes;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Mutex;

/// The media type upstream answers with, for either spelling of the request.
pub const MEDIA_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
/// The spelling client-go still sends.
pub const MEDIA_TYPE_DEPRECATED: &str =
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// How many encoded documents [`cached`] keeps (servers in one process may serve different
/// custom resources, hence different documents).
const CACHE_SLOTS: usize = 4;

/// The encoded form of `doc`, built on first use and kept per document hash.
///
/// The cache lives here, keyed by the JSON's hash, so the document builder needs no slot for it
/// and a rebuilt document (custom resources changed) is encoded again exactly once.
pub fn cached(doc: &Document) -> Result<Bytes, String> {
    static CACHE: Mutex<Vec<(String, Bytes)>> = Mutex::new(Vec::new());
    let lookup = |c: &[(String, Bytes)]| {
        c.iter()
            .find(|(hash, _)| *hash == doc.hash)
            .map(|(_, b)| b.clone())
    };
    if let Some(hit) = lookup(CACHE.lock().unwrap_or_else(|p| p.into_inner()).as_slice()) {
        return Ok(hit);
    }
    // Encoded outside the lock; a concurrent first request may encode the same bytes too.
    let started = std::time::Instant::now();
    let bytes = Bytes::from(encode(&doc.json)?);
    tracing::info!(took = ?started.elapsed(), bytes = bytes.len(), "Encoded the OpenAPI v2 document as protobuf.");
    let mut c = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(hit) = lookup(c.as_slice()) {
        return Ok(hit);
    }
    c.push((doc.hash.clone(), bytes.clone()));
    if c.len() > CACHE_SLOTS {
        c.remove(0);
    }
    Ok(bytes)
}

/// Converts a Swagger 2.0 JSON document into the bytes of gnostic's `openapi.v2.Document`.
///
/// Like upstream's, the conversion is structural: keys the proto has no field for are dropped.
/// Unlike gnostic it never rejects a document for a key Swagger does not allow.
pub fn encode(doc_json: &[u8]) -> Result<Vec<u8>, String> {
    let doc: Value = serde_json::from_slice(doc_json)
        .map_err(|e| format!("the OpenAPI v2 document is not JSON: {e}"))?;
    if !doc.is_object() {
        return Err("the OpenAPI v2 document is not a JSON object".to_string());
    }
    Ok(document(&doc).0)
}

// ---------------------------------------------------------------------------------------------
// The wire format.

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// One message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Msg {
    fn key(&mut self, tag: u32, wire_type: u8) {
        put_varint(&mut self.0, (u64::from(tag) << 3) | u64::from(wire_type));
    }

    /// A length-delimited value, written even when empty (repeated strings, set messages).
    fn bytes(&mut self, tag: u32, b: &[u8]) {
        self.key(tag, LEN);
        put_varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn message(&mut self, tag: u32, m: Msg) {
        self.bytes(tag, &m.0);
    }

    /// A proto3 `string`: left out when empty.
    fn string(&mut self, tag: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(tag, s.as_bytes());
        }
    }

    /// A `bool` member of a oneof: written even when false.
    fn oneof_bool(&mut self, tag: u32, b: bool) {
        self.key(tag, VARINT);
        self.0.push(u8::from(b));
    }

    // Field readers: `o[key]` as gnostic's compiler reads it, written when proto3 keeps it.

    /// `string` (gnostic's `StringForScalarNode`).
    fn str_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str) {
        if let Some(s) = o.get(key).and_then(text) {
            self.string(tag, &s);
        }
    }

    /// `bool` (`BoolForScalarNode`); false is proto3's zero.
    fn bool_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str) {
        if o.get(key).and_then(Value::as_bool) == Some(true) {
            self.key(tag, VARINT);
            self.0.push(1);
        }
    }

    /// `double` (`FloatForScalarNode`); only +0.0 is proto3's zero.
    fn double_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str) {
        if let Some(f) = o.get(key).and_then(Value::as_f64)
            && f.to_bits() != 0
        {
            self.key(tag, FIXED64);
            self.0.extend_from_slice(&f.to_le_bytes());
        }
    }

    /// `int64` (`IntForScalarNode`: integers only).
    fn int_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str) {
        if let Some(v) = o.get(key).and_then(Value::as_i64)
            && v != 0
        {
            self.key(tag, VARINT);
            put_varint(&mut self.0, v as u64);
        }
    }

    /// `repeated string` from an array (`StringArrayForSequenceNode`).
    fn strings_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str) {
        for s in o.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = text(s) {
                self.bytes(tag, s.as_bytes());
            }
        }
    }

    /// A message field, present whenever the key is.
    fn msg_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str, f: fn(&Value) -> Msg) {
        if let Some(v) = o.get(key) {
            self.message(tag, f(v));
        }
    }

    /// A repeated message field from an array.
    fn msgs_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str, f: fn(&Value) -> Msg) {
        for v in o.get(key).and_then(Value::as_array).into_iter().flatten() {
            self.message(tag, f(v));
        }
    }

    /// An `Any`: the value as YAML.
    fn any_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str) {
        self.msg_field(tag, o, key, any);
    }

    /// `repeated Any` (`enum`).
    fn anys_field(&mut self, tag: u32, o: &Map<String, Value>, key: &str) {
        self.msgs_field(tag, o, key, any);
    }

    /// A map as `repeated Named*` pairs (`name = 1`, `value = 2`) in key order.
    fn named(&mut self, tag: u32, v: &Value, keep: fn(&str) -> bool, f: fn(&Value) -> Msg) {
        for (k, v) in v.as_object().into_iter().flatten() {
            if keep(k) {
                let mut pair = Msg::default();
                pair.string(1, k);
                pair.message(2, f(v));
                self.message(tag, pair);
            }
        }
    }

    /// `repeated NamedAny vendor_extension`: every `x-` key, in order.
    fn extensions(&mut self, tag: u32, o: &Map<String, Value>) {
        for (k, v) in o {
            if k.starts_with("x-") {
                let mut pair = Msg::default();
                pair.string(1, k);
                pair.message(2, any(v));
                self.message(tag, pair);
            }
        }
    }
}

/// A scalar as gnostic's `StringForScalarNode` reads it: strings, integers (their text) and
/// null (empty); floats and booleans are not strings.
fn text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(Cow::Owned(n.to_string())),
        Value::Null => Some(Cow::Borrowed("")),
        _ => None,
    }
}

/// A scalar's own text (what a YAML node holds), for `TypeItem`.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_string()),
        _ => None,
    }
}

fn all(_: &str) -> bool {
    true
}

// ---------------------------------------------------------------------------------------------
// The messages, one function each, fields in field-number order.

fn document(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "swagger");
    m.msg_field(2, o, "info", info);
    m.str_field(3, o, "host");
    m.str_field(4, o, "basePath");
    m.strings_field(5, o, "schemes");
    m.strings_field(6, o, "consumes");
    m.strings_field(7, o, "produces");
    m.msg_field(8, o, "paths", paths);
    m.msg_field(9, o, "definitions", |v| {
        let mut m = Msg::default();
        m.named(1, v, all, schema);
        m
    });
    m.msg_field(10, o, "parameters", |v| {
        let mut m = Msg::default();
        m.named(1, v, all, parameter);
        m
    });
    m.msg_field(11, o, "responses", |v| {
        let mut m = Msg::default();
        m.named(1, v, all, response);
        m
    });
    m.msgs_field(12, o, "security", security_requirement);
    m.msg_field(13, o, "securityDefinitions", |v| {
        let mut m = Msg::default();
        m.named(1, v, all, security_definitions_item);
        m
    });
    m.msgs_field(14, o, "tags", tag);
    m.msg_field(15, o, "externalDocs", external_docs);
    m.extensions(16, o);
    m
}

fn info(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "title");
    m.str_field(2, o, "version");
    m.str_field(3, o, "description");
    m.str_field(4, o, "termsOfService");
    m.msg_field(5, o, "contact", contact);
    m.msg_field(6, o, "license", license);
    m.extensions(7, o);
    m
}

fn contact(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "name");
    m.str_field(2, o, "url");
    m.str_field(3, o, "email");
    m.extensions(4, o);
    m
}

fn license(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "name");
    m.str_field(2, o, "url");
    m.extensions(3, o);
    m
}

fn external_docs(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "description");
    m.str_field(2, o, "url");
    m.extensions(3, o);
    m
}

fn tag(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "name");
    m.str_field(2, o, "description");
    m.msg_field(3, o, "externalDocs", external_docs);
    m.extensions(4, o);
    m
}

fn xml(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "name");
    m.str_field(2, o, "namespace");
    m.str_field(3, o, "prefix");
    m.bool_field(4, o, "attribute");
    m.bool_field(5, o, "wrapped");
    m.extensions(6, o);
    m
}

/// `Any`: only `yaml = 2` (`value`, a `google.protobuf.Any`, is for gnostic extension plugins).
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &yaml::marshal(v));
    m
}

/// `Paths`: vendor extensions (field 1) come before the paths (field 2).
fn paths(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.extensions(1, o);
    m.named(2, v, |k| k.starts_with('/'), path_item);
    m
}

fn path_item(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "$ref");
    for (tag, verb) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        m.msg_field(tag, o, verb, operation);
    }
    m.msgs_field(9, o, "parameters", parameters_item);
    m.extensions(10, o);
    m
}

fn operation(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.strings_field(1, o, "tags");
    m.str_field(2, o, "summary");
    m.str_field(3, o, "description");
    m.msg_field(4, o, "externalDocs", external_docs);
    m.str_field(5, o, "operationId");
    m.strings_field(6, o, "produces");
    m.strings_field(7, o, "consumes");
    m.msgs_field(8, o, "parameters", parameters_item);
    m.msg_field(9, o, "responses", responses);
    m.strings_field(10, o, "schemes");
    m.bool_field(11, o, "deprecated");
    m.msgs_field(12, o, "security", security_requirement);
    m.extensions(13, o);
    m
}

/// `ParametersItem`: gnostic tries `Parameter` then `JsonReference`, and the later match wins,
/// so anything with a `$ref` is a reference.
fn parameters_item(v: &Value) -> Msg {
    let mut m = Msg::default();
    if v.get("$ref").is_some() {
        m.message(2, json_reference(v));
    } else {
        m.message(1, parameter(v));
    }
    m
}

fn json_reference(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "$ref");
    m.str_field(2, o, "description");
    m
}

/// `Parameter`: a body parameter (`in: body`) or a non-body one, whose sub-schema is the one
/// whose `in` enum admits the parameter's location.
fn parameter(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    let location = o.get("in").and_then(Value::as_str).unwrap_or_default();
    if location == "body" {
        let mut b = Msg::default();
        b.str_field(1, o, "description");
        b.str_field(2, o, "name");
        b.str_field(3, o, "in");
        b.bool_field(4, o, "required");
        b.msg_field(5, o, "schema", schema);
        b.extensions(6, o);
        m.message(1, b);
        return m;
    }
    let (tag, allows_empty_value) = match location {
        "header" => (1, false),
        "formData" => (2, true),
        "query" => (3, true),
        "path" => (4, false),
        // gnostic rejects the whole document; keep the parameter, empty.
        _ => {
            m.message(2, Msg::default());
            return m;
        }
    };
    let mut sub = Msg::default();
    sub.bool_field(1, o, "required");
    sub.str_field(2, o, "in");
    sub.str_field(3, o, "description");
    sub.str_field(4, o, "name");
    let offset = if allows_empty_value {
        sub.bool_field(5, o, "allowEmptyValue");
        5
    } else {
        4
    };
    primitive_fields(&mut sub, o, offset);
    sub.extensions(offset + 18, o);
    let mut non_body = Msg::default();
    non_body.message(tag, sub);
    m.message(2, non_body);
    m
}

/// The fields `type` .. `multipleOf` that non-body parameters, `PrimitivesItems` and `Header`
/// share, numbered 1 .. 17 from `offset`.
fn primitive_fields(m: &mut Msg, o: &Map<String, Value>, offset: u32) {
    m.str_field(1 + offset, o, "type");
    m.str_field(2 + offset, o, "format");
    m.msg_field(3 + offset, o, "items", primitives_items);
    m.str_field(4 + offset, o, "collectionFormat");
    m.any_field(5 + offset, o, "default");
    m.double_field(6 + offset, o, "maximum");
    m.bool_field(7 + offset, o, "exclusiveMaximum");
    m.double_field(8 + offset, o, "minimum");
    m.bool_field(9 + offset, o, "exclusiveMinimum");
    m.int_field(10 + offset, o, "maxLength");
    m.int_field(11 + offset, o, "minLength");
    m.str_field(12 + offset, o, "pattern");
    m.int_field(13 + offset, o, "maxItems");
    m.int_field(14 + offset, o, "minItems");
    m.bool_field(15 + offset, o, "uniqueItems");
    m.anys_field(16 + offset, o, "enum");
    m.double_field(17 + offset, o, "multipleOf");
}

fn primitives_items(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    primitive_fields(&mut m, o, 0);
    m.extensions(18, o);
    m
}

fn header(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    primitive_fields(&mut m, o, 0);
    m.str_field(18, o, "description");
    m.extensions(19, o);
    m
}

/// `Responses`: status codes and `default` (field 1), then vendor extensions (field 2).
fn responses(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.named(
        1,
        v,
        |k| k == "default" || (k.len() == 3 && k.bytes().all(|b| b.is_ascii_digit())),
        response_value,
    );
    m.extensions(2, o);
    m
}

/// `ResponseValue`: a reference when it has a `$ref` (the later oneof match wins).
fn response_value(v: &Value) -> Msg {
    let mut m = Msg::default();
    if v.get("$ref").is_some() {
        m.message(2, json_reference(v));
    } else {
        m.message(1, response(v));
    }
    m
}

fn response(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "description");
    m.msg_field(2, o, "schema", |v| {
        // `SchemaItem`: a `FileSchema` (its `type` enum is `[file]`) wins over `Schema`.
        let mut item = Msg::default();
        if v.get("type").and_then(Value::as_str) == Some("file") {
            item.message(2, file_schema(v));
        } else {
            item.message(1, schema(v));
        }
        item
    });
    m.msg_field(3, o, "headers", |v| {
        let mut m = Msg::default();
        m.named(1, v, all, header);
        m
    });
    m.msg_field(4, o, "examples", |v| {
        let mut m = Msg::default();
        m.named(1, v, all, any);
        m
    });
    m.extensions(5, o);
    m
}

fn file_schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "format");
    m.str_field(2, o, "title");
    m.str_field(3, o, "description");
    m.any_field(4, o, "default");
    m.strings_field(5, o, "required");
    m.str_field(6, o, "type");
    m.bool_field(7, o, "readOnly");
    m.msg_field(8, o, "externalDocs", external_docs);
    m.any_field(9, o, "example");
    m.extensions(10, o);
    m
}

fn schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    m.str_field(1, o, "$ref");
    m.str_field(2, o, "format");
    m.str_field(3, o, "title");
    m.str_field(4, o, "description");
    m.any_field(5, o, "default");
    m.double_field(6, o, "multipleOf");
    m.double_field(7, o, "maximum");
    m.bool_field(8, o, "exclusiveMaximum");
    m.double_field(9, o, "minimum");
    m.bool_field(10, o, "exclusiveMinimum");
    m.int_field(11, o, "maxLength");
    m.int_field(12, o, "minLength");
    m.str_field(13, o, "pattern");
    m.int_field(14, o, "maxItems");
    m.int_field(15, o, "minItems");
    m.bool_field(16, o, "uniqueItems");
    m.int_field(17, o, "maxProperties");
    m.int_field(18, o, "minProperties");
    m.strings_field(19, o, "required");
    m.anys_field(20, o, "enum");
    m.msg_field(21, o, "additionalProperties", |v| {
        // `AdditionalPropertiesItem`: a schema or a boolean.
        let mut item = Msg::default();
        match v {
            Value::Object(_) => item.message(1, schema(v)),
            Value::Bool(b) => item.oneof_bool(2, *b),
            _ => {}
        }
        item
    });
    m.msg_field(22, o, "type", |v| {
        // `TypeItem`: one type or a list of them.
        let mut item = Msg::default();
        let types = match v {
            Value::Array(a) => a.iter().filter_map(scalar_text).collect(),
            v => scalar_text(v).into_iter().collect::<Vec<_>>(),
        };
        for t in types {
            item.bytes(1, t.as_bytes());
        }
        item
    });
    m.msg_field(23, o, "items", |v| {
        // `ItemsItem`: gnostic takes one schema (a list of them is an error it reports).
        let mut item = Msg::default();
        match v {
            Value::Array(a) => a.iter().for_each(|s| item.message(1, schema(s))),
            v => item.message(1, schema(v)),
        }
        item
    });
    m.msgs_field(24, o, "allOf", schema);
    m.msg_field(25, o, "properties", |v| {
        let mut m = Msg::default();
        m.named(1, v, all, schema);
        m
    });
    m.str_field(26, o, "discriminator");
    m.bool_field(27, o, "readOnly");
    m.msg_field(28, o, "xml", xml);
    m.msg_field(29, o, "externalDocs", external_docs);
    m.any_field(30, o, "example");
    m.extensions(31, o);
    m
}

/// `SecurityDefinitionsItem`: the scheme whose `type` (and, for OAuth2, `flow`) enum admits it.
fn security_definitions_item(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else { return m };
    let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut scheme = Msg::default();
    let tag = match (s("type"), s("flow")) {
        ("basic", _) => {
            scheme.str_field(1, o, "type");
            scheme.str_field(2, o, "description");
            scheme.extensions(3, o);
            1
        }
        ("apiKey", _) => {
            scheme.str_field(1, o, "type");
            scheme.str_field(2, o, "name");
            scheme.str_field(3, o, "in");
            scheme.str_field(4, o, "description");
            scheme.extensions(5, o);
            2
        }
        ("oauth2", flow @ ("implicit" | "password" | "application" | "accessCode")) => {
            scheme.str_field(1, o, "type");
            scheme.str_field(2, o, "flow");
            scheme.msg_field(3, o, "scopes", oauth2_scopes);
            let mut n = 4;
            if matches!(flow, "implicit" | "accessCode") {
                scheme.str_field(n, o, "authorizationUrl");
                n += 1;
            }
            if flow != "implicit" {
                scheme.str_field(n, o, "tokenUrl");
                n += 1;
            }
            scheme.str_field(n, o, "description");
            scheme.extensions(n + 1, o);
            match flow {
                "implicit" => 3,
                "password" => 4,
                "application" => 5,
                _ => 6,
            }
        }
        _ => return m,
    };
    m.message(tag, scheme);
    m
}

/// `Oauth2Scopes`: `NamedString` pairs.
fn oauth2_scopes(v: &Value) -> Msg {
    let mut m = Msg::default();
    for (k, v) in v.as_object().into_iter().flatten() {
        let mut pair = Msg::default();
        pair.string(1, k);
        pair.string(2, &text(v).unwrap_or_default());
        m.message(1, pair);
    }
    m
}

/// `SecurityRequirement`: `NamedStringArray` pairs (every element kept, non-strings empty).
fn security_requirement(v: &Value) -> Msg {
    let mut m = Msg::default();
    for (k, v) in v.as_object().into_iter().flatten() {
        let mut array = Msg::default();
        for s in v.as_array().into_iter().flatten() {
            array.bytes(1, text(s).unwrap_or_default().as_bytes());
        }
        let mut pair = Msg::default();
        pair.string(1, k);
        pair.message(2, array);
        m.message(1, pair);
    }
    m
}

pub mod yaml {
    //! JSON values as YAML, byte for byte as gnostic's `compiler.Marshal` writes them: a yaml.v3
    //! node parsed from JSON, its styles cleared, marshalled by gopkg.in/yaml.v3 (v3.0.1) with
    //! its defaults: block style, an indent of 4, no line folding, unicode kept.
    //!
    //! This is a port of the parts of yaml.v3's emitter (`emitterc.go`) and resolver
    //! (`resolve.go`) such a tree reaches: the indentation rules (`increase_indent`,
    //! `write_indent`), the scalar analysis that picks plain, single-quoted, double-quoted or
    //! literal style, and the resolver that quotes strings which would otherwise read back as
    //! another type (`"true"`, `"1"`, `""`).
    //!
    //! ```
    //! use apiserver::openapi::v2_protobuf::yaml::marshal;
    //! let gvk = serde_json::json!([{"group": "", "kind": "Pod", "version": "v1"}]);
    //! assert_eq!(marshal(&gvk), "- group: \"\"\n  kind: Pod\n  version: v1\n");
    //! ```

    use serde_json::Value;

    /// yaml.v3's default indent.
    const INDENT: i32 = 4;
    /// The longest key written as a simple key (`key: value`); longer ones use `? key`.
    const SIMPLE_KEY_MAX: usize = 128;

    /// Serializes one value as a YAML document.
    pub fn marshal(v: &Value) -> String {
        let mut e = Emitter {
            out: Vec::new(),
            column: 0,
            indent: -1,
            whitespace: true,
            indention: true,
        };
        e.node(v, Parent::Root, false);
        // The document end.
        e.write_indent();
        String::from_utf8(e.out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Style {
        Plain,
        Single,
        Double,
        Literal,
    }

    /// What holds the node being written: only a block sequence item indents differently.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Parent {
        Root,
        SequenceItem,
        Mapping,
    }

    struct Emitter {
        out: Vec<u8>,
        /// In characters, as yaml.v3 counts.
        column: usize,
        indent: i32,
        /// The last thing written was whitespace (or nothing).
        whitespace: bool,
        /// Only indentation has been written on this line so far.
        indention: bool,
    }

    impl Emitter {
        fn node(&mut self, v: &Value, parent: Parent, simple_key: bool) {
            match v {
                // Empty collections are written in flow style.
                Value::Object(m) if m.is_empty() => self.flow_empty(b"{", b"}"),
                Value::Array(a) if a.is_empty() => self.flow_empty(b"[", b"]"),
                Value::Object(m) => {
                    let saved = self.increase_indent(false, parent);
                    for (k, v) in m {
                        self.write_indent();
                        self.key(k);
                        self.node(v, Parent::Mapping, false);
                    }
                    self.indent = saved;
                }
                Value::Array(a) => {
                    let saved = self.increase_indent(false, parent);
                    for v in a {
                        self.write_indent();
                        self.indicator(b"-", true, false, true);
                        self.node(v, Parent::SequenceItem, false);
                    }
                    self.indent = saved;
                }
                Value::String(s) => self.scalar(s, string_style(s), parent, simple_key),
                Value::Number(n) => self.scalar(&n.to_string(), Style::Plain, parent, simple_key),
                Value::Bool(b) => self.scalar(
                    if *b { "true" } else { "false" },
                    Style::Plain,
                    parent,
                    simple_key,
                ),
                Value::Null => self.scalar("null", Style::Plain, parent, simple_key),
            }
        }

        fn key(&mut self, k: &str) {
            let style = string_style(k);
            if !analyze(k.as_bytes()).multiline && k.len() <= SIMPLE_KEY_MAX {
                self.scalar(k, style, Parent::Mapping, true);
                self.indicator(b":", false, false, false);
            } else {
                self.indicator(b"?", true, false, true);
                self.scalar(k, style, Parent::Mapping, false);
                self.write_indent();
                self.indicator(b":", true, false, true);
            }
        }

        fn flow_empty(&mut self, open: &[u8], close: &[u8]) {
            self.indicator(open, true, true, false);
            self.indicator(close, false, false, false);
        }

        fn increase_indent(&mut self, flow: bool, parent: Parent) -> i32 {
            let saved = self.indent;
            if self.indent < 0 {
                self.indent = if flow { INDENT } else { 0 };
            } else if parent == Parent::SequenceItem {
                // The first indent inside a sequence skips the "- " indicator.
                self.indent += 2;
            } else {
                self.indent = INDENT * ((self.indent + INDENT) / INDENT);
            }
            saved
        }

        /// `yaml_emitter_select_scalar_style`, then the writer of that style.
        fn scalar(&mut self, value: &str, requested: Style, parent: Parent, simple_key: bool) {
            let a = analyze(value.as_bytes());
            let mut style = requested;
            if simple_key && a.multiline {
                style = Style::Double;
            }
            if style == Style::Plain && (!a.block_plain_allowed || (value.is_empty() && simple_key))
            {
                style = Style::Single;
            }
            if style == Style::Single && !a.single_quoted_allowed {
                style = Style::Double;
            }
            if style == Style::Literal && (!a.block_allowed || simple_key) {
                style = Style::Double;
            }
            let saved = self.increase_indent(true, parent);
            let b = value.as_bytes();
            match style {
                Style::Plain => self.plain(b),
                Style::Single => self.single_quoted(b),
                Style::Double => self.double_quoted(b),
                Style::Literal => self.literal(b),
            }
            self.indent = saved;
        }

        fn put(&mut self, c: u8) {
            self.out.push(c);
            self.column += 1;
        }

        fn put_break(&mut self) {
            self.out.push(b'\n');
            self.column = 0;
            self.indention = true;
        }

        /// Copies the character at `i`.
        fn write(&mut self, b: &[u8], i: &mut usize) {
            let w = width(b[*i]).max(1).min(b.len() - *i);
            self.out.extend_from_slice(&b[*i..*i + w]);
            self.column += 1;
            *i += w;
        }

        fn write_break(&mut self, b: &[u8], i: &mut usize) {
            if b[*i] == b'\n' {
                self.put_break();
                *i += 1;
            } else {
                self.write(b, i);
                self.column = 0;
                self.indention = true;
            }
        }

        fn write_indent(&mut self) {
            let indent = usize::try_from(self.indent).unwrap_or(0);
            if !self.indention
                || self.column > indent
                || (self.column == indent && !self.whitespace)
            {
                self.put_break();
            }
            while self.column < indent {
                self.put(b' ');
            }
            self.whitespace = true;
        }

        fn indicator(
            &mut self,
            s: &[u8],
            need_whitespace: bool,
            is_whitespace: bool,
            is_indention: bool,
        ) {
            if need_whitespace && !self.whitespace {
                self.put(b' ');
            }
            self.out.extend_from_slice(s);
            self.column += s.len();
            self.whitespace = is_whitespace;
            self.indention = self.indention && is_indention;
        }

        /// A plain scalar never holds a line break (the analysis forbids it), and nothing is
        /// folded: yaml.v3's line width is unlimited.
        fn plain(&mut self, b: &[u8]) {
            if !b.is_empty() && !self.whitespace {
                self.put(b' ');
            }
            let mut i = 0;
            while i < b.len() {
                self.write(b, &mut i);
            }
            if !b.is_empty() {
                self.whitespace = false;
            }
            self.indention = false;
        }

        fn single_quoted(&mut self, b: &[u8]) {
            self.indicator(b"'", true, false, false);
            let mut breaks = false;
            let mut i = 0;
            while i < b.len() {
                if b[i] == b' ' {
                    self.write(b, &mut i);
                } else if is_break(b, i) {
                    if !breaks && b[i] == b'\n' {
                        self.put_break();
                    }
                    self.write_break(b, &mut i);
                    breaks = true;
                } else {
                    if breaks {
                        self.write_indent();
                    }
                    if b[i] == b'\'' {
                        self.put(b'\'');
                    }
                    self.write(b, &mut i);
                    self.indention = false;
                    breaks = false;
                }
            }
            self.indicator(b"'", false, false, false);
            self.whitespace = false;
            self.indention = false;
        }

        fn double_quoted(&mut self, b: &[u8]) {
            self.indicator(b"\"", true, false, false);
            let mut i = 0;
            while i < b.len() {
                if !is_printable(b, i)
                    || is_bom(b, i)
                    || is_break(b, i)
                    || b[i] == b'"'
                    || b[i] == b'\\'
                {
                    let w = width(b[i]).max(1).min(b.len() - i);
                    let c = decode(&b[i..i + w]);
                    i += w;
                    self.put(b'\\');
                    let short = match c {
                        0x00 => Some(b'0'),
                        0x07 => Some(b'a'),
                        0x08 => Some(b'b'),
                        0x09 => Some(b't'),
                        0x0A => Some(b'n'),
                        0x0B => Some(b'v'),
                        0x0C => Some(b'f'),
                        0x0D => Some(b'r'),
                        0x1B => Some(b'e'),
                        0x22 => Some(b'"'),
                        0x5C => Some(b'\\'),
                        0x85 => Some(b'N'),
                        0xA0 => Some(b'_'),
                        0x2028 => Some(b'L'),
                        0x2029 => Some(b'P'),
                        _ => None,
                    };
                    if let Some(s) = short {
                        self.put(s);
                    } else {
                        let (letter, digits) = match c {
                            0..=0xFF => (b'x', 2),
                            0x100..=0xFFFF => (b'u', 4),
                            _ => (b'U', 8),
                        };
                        self.put(letter);
                        for k in (0..digits).rev() {
                            let digit = ((c >> (4 * k)) & 0xF) as u8;
                            self.put(if digit < 10 {
                                b'0' + digit
                            } else {
                                b'A' + digit - 10
                            });
                        }
                    }
                } else {
                    self.write(b, &mut i);
                }
            }
            self.indicator(b"\"", false, false, false);
            self.whitespace = false;
            self.indention = false;
        }

        fn literal(&mut self, b: &[u8]) {
            self.indicator(b"|", true, false, false);
            if b.first() == Some(&b' ') || (!b.is_empty() && is_break(b, 0)) {
                self.indicator(b"4", false, false, false);
            }
            if let Some(chomp) = chomping(b) {
                self.indicator(chomp, false, false, false);
            }
            self.whitespace = true;
            let mut breaks = true;
            let mut i = 0;
            while i < b.len() {
                if is_break(b, i) {
                    self.write_break(b, &mut i);
                    breaks = true;
                } else {
                    if breaks {
                        self.write_indent();
                    }
                    self.write(b, &mut i);
                    self.indention = false;
                    breaks = false;
                }
            }
        }
    }

    /// The chomping indicator of a block scalar: strip when it does not end in a line break,
    /// keep when it ends in two (or is one), clip otherwise.
    fn chomping(b: &[u8]) -> Option<&'static [u8]> {
        let last = |mut i: usize| {
            while i > 0 && b[i] & 0xC0 == 0x80 {
                i -= 1;
            }
            i
        };
        let Some(end) = b.len().checked_sub(1) else {
            return Some(b"-");
        };
        let i = last(end);
        if !is_break(b, i) {
            return Some(b"-");
        }
        if i == 0 {
            return Some(b"+");
        }
        let j = last(i - 1);
        is_break(b, j).then_some(b"+".as_slice())
    }

    /// The style yaml.v3's encoder asks for a string node whose style was cleared: literal
    /// when it has a newline, double-quoted when it would read back as another type.
    fn string_style(s: &str) -> Style {
        if s.contains('\n') {
            Style::Literal
        } else if resolves_to_string(s) {
            Style::Plain
        } else {
            Style::Double
        }
    }

    /// What the scalar analysis allows (`yaml_emitter_analyze_scalar`, block context).
    struct Analysis {
        multiline: bool,
        block_plain_allowed: bool,
        single_quoted_allowed: bool,
        block_allowed: bool,
    }

    fn analyze(b: &[u8]) -> Analysis {
        if b.is_empty() {
            return Analysis {
                multiline: false,
                block_plain_allowed: true,
                single_quoted_allowed: true,
                block_allowed: false,
            };
        }
        let mut block_indicators = b.starts_with(b"---") || b.starts_with(b"...");
        let (mut line_breaks, mut special_characters, mut tab_characters) = (false, false, false);
        let (mut leading_space, mut leading_break) = (false, false);
        let (mut trailing_space, mut trailing_break) = (false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;
        let mut i = 0;
        while i < b.len() {
            let w = width(b[i]).max(1);
            let followed_by_whitespace = i + w >= b.len() || is_blank(b, i + w);
            if i == 0 {
                match b[i] {
                    b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                    | b'\'' | b'"' | b'%' | b'@' | b'`' => block_indicators = true,
                    b'?' | b':' | b'-' if followed_by_whitespace => block_indicators = true,
                    _ => {}
                }
            } else {
                match b[i] {
                    b':' if followed_by_whitespace => block_indicators = true,
                    b'#' if preceded_by_whitespace => block_indicators = true,
                    _ => {}
                }
            }
            if b[i] == b'\t' {
                tab_characters = true;
            } else if !is_printable(b, i) {
                special_characters = true;
            }
            if b[i] == b' ' {
                leading_space |= i == 0;
                trailing_space |= i + w == b.len();
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if is_break(b, i) {
                line_breaks = true;
                leading_break |= i == 0;
                trailing_break |= i + w == b.len();
                space_break |= previous_space;
                previous_space = false;
                previous_break = true;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = is_blank(b, i) || is_break(b, i) || b[i] == 0;
            i += w;
        }
        let mut a = Analysis {
            multiline: line_breaks,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
        };
        if leading_space || leading_break || trailing_space || trailing_break {
            a.block_plain_allowed = false;
        }
        if trailing_space {
            a.block_allowed = false;
        }
        if break_space {
            a.block_plain_allowed = false;
            a.single_quoted_allowed = false;
        }
        if space_break || tab_characters || special_characters {
            a.block_plain_allowed = false;
            a.single_quoted_allowed = false;
        }
        if space_break || special_characters {
            a.block_allowed = false;
        }
        if line_breaks || block_indicators {
            a.block_plain_allowed = false;
        }
        a
    }

    fn width(c: u8) -> usize {
        match c {
            _ if c & 0x80 == 0 => 1,
            _ if c & 0xE0 == 0xC0 => 2,
            _ if c & 0xF0 == 0xE0 => 3,
            _ if c & 0xF8 == 0xF0 => 4,
            _ => 0,
        }
    }

    fn at(b: &[u8], i: usize) -> u8 {
        b.get(i).copied().unwrap_or(0)
    }

    fn decode(b: &[u8]) -> u32 {
        let first = u32::from(b[0]);
        let lead = match b.len() {
            1 => first & 0x7F,
            2 => first & 0x1F,
            3 => first & 0x0F,
            _ => first & 0x07,
        };
        b[1..]
            .iter()
            .fold(lead, |v, &c| (v << 6) + (u32::from(c) & 0x3F))
    }

    fn is_blank(b: &[u8], i: usize) -> bool {
        matches!(at(b, i), b' ' | b'\t')
    }

    fn is_break(b: &[u8], i: usize) -> bool {
        let c = at(b, i);
        c == b'\r'
            || c == b'\n'
            || (c == 0xC2 && at(b, i + 1) == 0x85)
            || (c == 0xE2 && at(b, i + 1) == 0x80 && matches!(at(b, i + 2), 0xA8 | 0xA9))
    }

    fn is_bom(b: &[u8], i: usize) -> bool {
        at(b, i) == 0xEF && at(b, i + 1) == 0xBB && at(b, i + 2) == 0xBF
    }

    fn is_printable(b: &[u8], i: usize) -> bool {
        let (c, c1, c2) = (at(b, i), at(b, i + 1), at(b, i + 2));
        c == 0x0A
            || (0x20..=0x7E).contains(&c)
            || (c == 0xC2 && c1 >= 0xA0)
            || (c > 0xC2 && c < 0xED)
            || (c == 0xED && c1 < 0xA0)
            || c == 0xEE
            || (c == 0xEF
                && !(c1 == 0xBB && c2 == 0xBF)
                && !(c1 == 0xBF && matches!(c2, 0xBE | 0xBF)))
    }

    /// Whether yaml.v3's `resolve("", s)` reads a plain `s` as a string.
    fn resolves_to_string(s: &str) -> bool {
        const SPECIAL: &[&str] = &[
            "true", "True", "TRUE", "false", "False", "FALSE", "", "~", "null", "Null", "NULL",
            ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
            "-.Inf", "-.INF",
        ];
        let Some(&first) = s.as_bytes().first() else {
            return false;
        };
        let hinted = matches!(first, b'+' | b'-' | b'.' | b'0'..=b'9' | b'~')
            || b"yYnNtTfFoO".contains(&first);
        if !hinted {
            return true;
        }
        if SPECIAL.contains(&s) {
            return false;
        }
        match first {
            b'.' => !go_float(s),
            b'+' | b'-' | b'0'..=b'9' => {
                if is_timestamp(s) {
                    return false;
                }
                let plain = s.replace('_', "");
                !(go_int(&plain) || (yaml_style_float(&plain) && go_float(&plain)))
            }
            _ => true,
        }
    }

    /// Go's `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` succeeds.
    fn go_int(s: &str) -> bool {
        let (sign, digits) = match s.as_bytes().first() {
            Some(b'+') => (Some(false), &s[1..]),
            Some(b'-') => (Some(true), &s[1..]),
            _ => (None, s),
        };
        let (radix, body) = match digits.as_bytes() {
            [b'0', b'x' | b'X', ..] => (16, &digits[2..]),
            [b'0', b'b' | b'B', ..] => (2, &digits[2..]),
            [b'0', b'o' | b'O', ..] => (8, &digits[2..]),
            [b'0', _, ..] => (8, &digits[1..]),
            _ => (10, digits),
        };
        if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
            return false;
        }
        let Ok(v) = u128::from_str_radix(body, radix) else {
            return false;
        };
        match sign {
            Some(true) => v <= 1 << 63,
            Some(false) => v <= i64::MAX as u128,
            None => v <= u128::from(u64::MAX),
        }
    }

    /// Go's `strconv.ParseFloat(s, 64)` succeeds (decimal forms; a finite result).
    fn go_float(s: &str) -> bool {
        let t = s.strip_prefix(['+', '-']).unwrap_or(s);
        let (mantissa, exponent) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let digits = mantissa.replacen('.', "", 1);
        let ok_mantissa = !digits.is_empty()
            && digits.bytes().all(|c| c.is_ascii_digit())
            && mantissa.matches('.').count() <= 1;
        let ok_exponent = exponent.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        });
        ok_mantissa && ok_exponent && s.parse::<f64>().is_ok_and(f64::is_finite)
    }

    /// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
    fn yaml_style_float(s: &str) -> bool {
        let t = s.strip_prefix(['+', '-']).unwrap_or(s);
        let (mantissa, exponent) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
        let ok_mantissa = match mantissa.split_once('.') {
            Some(("", frac)) => digits(frac),
            Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
            None => digits(mantissa),
        };
        ok_mantissa && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
    }

    /// yaml.v3's `parseTimestamp`: `2006-1-2`, `2006-1-2 15:4:5.999999999`, or
    /// `2006-1-2T15:4:5.999999999Z07:00` (`t` too), with Go's range checks.
    fn is_timestamp(s: &str) -> bool {
        let b = s.as_bytes();
        if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return false;
        }
        let mut i = 5;
        // Go's `getnum`: one or two digits.
        let num = |i: &mut usize| -> Option<u32> {
            let d = |k: usize| {
                b.get(k)
                    .filter(|c| c.is_ascii_digit())
                    .map(|c| u32::from(c - b'0'))
            };
            let first = d(*i)?;
            *i += 1;
            match d(*i) {
                Some(second) => {
                    *i += 1;
                    Some(first * 10 + second)
                }
                None => Some(first),
            }
        };
        let year: u32 = s[..4].parse().unwrap_or(0);
        let Some(month) = num(&mut i) else {
            return false;
        };
        if b.get(i) != Some(&b'-') {
            return false;
        }
        i += 1;
        let Some(day) = num(&mut i) else { return false };
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        if day < 1 || day > days {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let zoned = match b[i] {
            b'T' | b't' => true,
            b' ' => false,
            _ => return false,
        };
        i += 1;
        // Hour, minute, second.
        for (k, limit) in [24, 60, 60].into_iter().enumerate() {
            if k > 0 {
                if b.get(i) != Some(&b':') {
                    return false;
                }
                i += 1;
            }
            if num(&mut i).is_none_or(|v| v >= limit) {
                return false;
            }
        }
        if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if !zoned {
            return i == b.len();
        }
        match &b[i..] {
            [b'Z'] => true,
            [b'+' | b'-', h1, h2, b':', m1, m2] => {
                [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
            }
            _ => false,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn scalars() {
            assert_eq!(marshal(&json!("merge")), "merge\n");
            assert_eq!(marshal(&json!("merge,retainKeys")), "merge,retainKeys\n");
            assert_eq!(marshal(&json!(true)), "true\n");
            assert_eq!(marshal(&json!(null)), "null\n");
            assert_eq!(marshal(&json!(42)), "42\n");
            assert_eq!(marshal(&json!(1.5)), "1.5\n");
            // Strings that would read back as something else are double-quoted.
            for s in [
                "",
                "true",
                "null",
                "~",
                "1",
                "-2",
                "0x1F",
                "1e5",
                ".5",
                "08",
                "2024-01-05",
            ] {
                assert_eq!(marshal(&json!(s)), format!("\"{s}\"\n"), "{s}");
            }
            for s in [
                "yes",
                "no",
                "on",
                "1.2.3",
                "-x",
                "v1",
                "2024-13-01",
                "<<",
                "0x",
            ] {
                assert_eq!(marshal(&json!(s)), format!("{s}\n"), "{s}");
            }
            // Indicators force single quotes; quotes inside are doubled.
            assert_eq!(marshal(&json!("a: b")), "'a: b'\n");
            assert_eq!(marshal(&json!("- x")), "'- x'\n");
            assert_eq!(marshal(&json!("it's #1")), "'it''s #1'\n");
            assert_eq!(marshal(&json!("a#b")), "a#b\n");
            assert_eq!(marshal(&json!("'q' x")), "'''q'' x'\n");
            assert_eq!(marshal(&json!(" lead")), "' lead'\n");
            assert_eq!(marshal(&json!("*")), "'*'\n");
            assert_eq!(marshal(&json!("-")), "'-'\n");
            // Tabs and control characters need double quotes and escapes.
            assert_eq!(marshal(&json!("a\tb")), "\"a\\tb\"\n");
            assert_eq!(marshal(&json!("a\u{1}")), "\"a\\x01\"\n");
            assert_eq!(marshal(&json!("é ü")), "é ü\n");
            assert_eq!(marshal(&json!("😀")), "\"\\U0001F600\"\n");
        }

        #[test]
        fn literals() {
            assert_eq!(marshal(&json!("a\nb")), "|-\n    a\n    b\n");
            assert_eq!(marshal(&json!("a\nb\n")), "|\n    a\n    b\n");
            assert_eq!(marshal(&json!("a\n\n")), "|+\n    a\n\n");
            assert_eq!(marshal(&json!({"k": "a\nb"})), "k: |-\n    a\n    b\n");
            // Trailing spaces rule out block style.
            assert_eq!(marshal(&json!("a \nb")), "\"a \\nb\"\n");
        }

        #[test]
        fn collections() {
            assert_eq!(marshal(&json!(["a", "b"])), "- a\n- b\n");
            assert_eq!(marshal(&json!({})), "{}\n");
            assert_eq!(marshal(&json!([])), "[]\n");
            assert_eq!(
                marshal(&json!({"group": "", "kind": "Binding", "version": "v1"})),
                "group: \"\"\nkind: Binding\nversion: v1\n"
            );
            assert_eq!(
                marshal(&json!({"a": ["x", "y"], "b": {"c": 1, "d": []}})),
                "a:\n    - x\n    - y\nb:\n    c: 1\n    d: []\n"
            );
            assert_eq!(
                marshal(&json!([{"a": 1, "b": {"c": [1, {"d": 2, "e": 3}]}}, ["x", "y"]])),
                "- a: 1\n  b:\n    c:\n        - 1\n        - d: 2\n          e: 3\n- - x\n  - y\n"
            );
            assert_eq!(
                marshal(&json!({"": 1, "true": 2})),
                "\"\": 1\n\"true\": 2\n"
            );
            let long = "k".repeat(129);
            assert_eq!(marshal(&json!({ &long: 1 })), format!("? {long}\n: 1\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A decoded message: every field's values by tag, in order.
    #[derive(Debug)]
    enum Field {
        Varint(u64),
        Fixed64(u64),
        Bytes(Vec<u8>),
    }

    fn fields(mut b: &[u8]) -> Vec<(u32, Field)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            for i in 0.. {
                let c = b[0];
                *b = &b[1..];
                v |= u64::from(c & 0x7F) << (7 * i);
                if c < 0x80 {
                    break;
                }
            }
            v
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            let tag = (key >> 3) as u32;
            let field = match (key & 7) as u8 {
                VARINT => Field::Varint(varint(&mut b)),
                FIXED64 => {
                    let (head, tail) = b.split_at(8);
                    b = tail;
                    Field::Fixed64(u64::from_le_bytes(head.try_into().unwrap()))
                }
                LEN => {
                    let n = varint(&mut b) as usize;
                    let (head, tail) = b.split_at(n);
                    b = tail;
                    Field::Bytes(head.to_vec())
                }
                t => panic!("wire type {t}"),
            };
            out.push((tag, field));
        }
        out
    }

    fn tags(b: &[u8]) -> Vec<u32> {
        fields(b).into_iter().map(|(t, _)| t).collect()
    }

    /// The bytes of the only (or first) field `tag`.
    fn get(b: &[u8], tag: u32) -> Vec<u8> {
        all_of(b, tag)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no field {tag}"))
    }

    fn all_of(b: &[u8], tag: u32) -> Vec<Vec<u8>> {
        fields(b)
            .into_iter()
            .filter(|(t, _)| *t == tag)
            .map(|(_, f)| match f {
                Field::Bytes(b) => b,
                other => panic!("field {tag} is {other:?}"),
            })
            .collect()
    }

    fn string(b: &[u8], tag: u32) -> String {
        String::from_utf8(get(b, tag)).unwrap()
    }

    /// A `Named*` pair: its name and value bytes.
    fn pair(b: &[u8]) -> (String, Vec<u8>) {
        (string(b, 1), get(b, 2))
    }

    fn doc() -> Value {
        json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "paths": {
                "/api/v1/namespaces/{namespace}/pods/{name}": {
                    "get": {
                        "operationId": "readNamespacedPodv1",
                        "tags": ["core_v1"],
                        "consumes": ["*/*"],
                        "produces": ["application/json", "application/yaml"],
                        "schemes": ["https"],
                        "parameters": [
                            {"name": "body", "in": "body", "required": true,
                             "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.Pod"}},
                            {"name": "limit", "in": "query", "description": "d", "uniqueItems": true,
                             "type": "integer"},
                            {"$ref": "#/parameters/pretty"}
                        ],
                        "responses": {
                            "200": {"description": "OK",
                                    "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.Pod"}},
                            "401": {"description": "Unauthorized"}
                        },
                        "x-kubernetes-action": "get",
                        "x-kubernetes-group-version-kind": {"group": "", "kind": "Pod", "version": "v1"}
                    },
                    "parameters": [
                        {"name": "name", "in": "path", "required": true, "description": "n",
                         "uniqueItems": true, "type": "string"}
                    ]
                }
            },
            "definitions": {
                "io.k8s.api.core.v1.Pod": {
                    "description": "Pod",
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "ports": {
                            "type": "array",
                            "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ContainerPort"},
                            "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                            "x-kubernetes-list-type": "map"
                        },
                        "count": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2.5},
                        "closed": {"type": "object", "additionalProperties": false}
                    },
                    "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}]
                }
            },
            "securityDefinitions": {
                "BearerToken": {"description": "Bearer Token authentication", "in": "header",
                                "name": "authorization", "type": "apiKey"}
            },
            "security": [{"BearerToken": []}]
        })
    }

    fn encoded() -> Vec<u8> {
        encode(&serde_json::to_vec(&doc()).unwrap()).unwrap()
    }

    #[test]
    fn document_fields_in_number_order() {
        let pb = encoded();
        assert_eq!(tags(&pb), [1, 2, 8, 9, 12, 13]);
        assert_eq!(string(&pb, 1), "2.0");
        let info = get(&pb, 2);
        assert_eq!(
            (string(&info, 1), string(&info, 2)),
            ("Kubernetes".into(), "v1.33.0".into())
        );
        // security: [{BearerToken: []}] → SecurityRequirement{NamedStringArray{name, {}}}
        let req = get(&pb, 12);
        assert_eq!(pair(&get(&req, 1)), ("BearerToken".to_string(), vec![]));
        // securityDefinitions → NamedSecurityDefinitionsItem{ApiKeySecurity = 2}
        let (name, item) = pair(&get(&get(&pb, 13), 1));
        assert_eq!(name, "BearerToken");
        let api_key = get(&item, 2);
        assert_eq!(tags(&api_key), [1, 2, 3, 4]);
        assert_eq!(string(&api_key, 1), "apiKey");
        assert_eq!(string(&api_key, 3), "header");
    }

    #[test]
    fn operations_and_parameters() {
        let pb = encoded();
        let (path, item) = pair(&get(&get(&pb, 8), 2));
        assert_eq!(path, "/api/v1/namespaces/{namespace}/pods/{name}");
        assert_eq!(tags(&item), [2, 9]);
        // The path-level parameter: ParametersItem{Parameter{NonBodyParameter{Path = 4}}}
        let path_param = get(&get(&get(&get(&item, 9), 1), 2), 4);
        assert_eq!(tags(&path_param), [1, 2, 3, 4, 5, 19]);
        assert_eq!(string(&path_param, 5), "string");

        let op = get(&item, 2);
        assert_eq!(tags(&op), [1, 5, 6, 6, 7, 8, 8, 8, 9, 10, 13, 13]);
        assert_eq!(string(&op, 5), "readNamespacedPodv1");
        let params = all_of(&op, 8);
        // A body parameter: Parameter{BodyParameter = 1}, its schema a $ref.
        let body = get(&get(&params[0], 1), 1);
        assert_eq!(tags(&body), [2, 3, 4, 5]);
        assert_eq!(
            string(&get(&body, 5), 1),
            "#/definitions/io.k8s.api.core.v1.Pod"
        );
        // A query parameter: NonBodyParameter{Query = 3}, type at 6, uniqueItems at 20.
        let query = get(&get(&get(&params[1], 1), 2), 3);
        assert_eq!(tags(&query), [2, 3, 4, 6, 20]);
        // A reference: ParametersItem{JsonReference = 2}.
        assert_eq!(string(&get(&params[2], 2), 1), "#/parameters/pretty");

        let codes: Vec<_> = all_of(&get(&op, 9), 1).iter().map(|p| pair(p)).collect();
        assert_eq!(codes[0].0, "200");
        let ok = get(&codes[0].1, 1); // ResponseValue{Response}
        assert_eq!(string(&ok, 1), "OK");
        assert_eq!(
            string(&get(&get(&ok, 2), 1), 1),
            "#/definitions/io.k8s.api.core.v1.Pod"
        );
        assert_eq!(tags(&get(&codes[1].1, 1)), [1]);

        let ext: Vec<_> = all_of(&op, 13).iter().map(|p| pair(p)).collect();
        assert_eq!(ext[0].0, "x-kubernetes-action");
        assert_eq!(string(&ext[0].1, 2), "get\n");
        assert_eq!(
            string(&ext[1].1, 2),
            "group: \"\"\nkind: Pod\nversion: v1\n"
        );
    }

    #[test]
    fn schemas() {
        let pb = encoded();
        let (name, pod) = pair(&get(&get(&pb, 9), 1));
        assert_eq!(name, "io.k8s.api.core.v1.Pod");
        assert_eq!(tags(&pod), [4, 19, 22, 25, 31]);
        assert_eq!(string(&get(&pod, 22), 1), "object");
        let gvk = pair(&get(&pod, 31));
        assert_eq!(gvk.0, "x-kubernetes-group-version-kind");
        assert_eq!(
            string(&gvk.1, 2),
            "- group: \"\"\n  kind: Pod\n  version: v1\n"
        );

        let props: Vec<_> = all_of(&get(&pod, 25), 1).iter().map(|p| pair(p)).collect();
        let names: Vec<_> = props.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["spec", "labels", "ports", "count", "closed"]);
        assert_eq!(tags(&props[0].1), [1]);
        // additionalProperties: a schema ...
        let labels_ap = get(&get(&props[1].1, 21), 1);
        assert_eq!(string(&get(&labels_ap, 22), 1), "string");
        // ... or a boolean, written even when false.
        assert_eq!(get(&props[4].1, 21), [0x10, 0x00]);
        assert!(matches!(fields(&get(&props[4].1, 21))[..], [(2, Field::Varint(v))] if v == 0));
        let ports = &props[2].1;
        assert_eq!(tags(ports), [22, 23, 31, 31]);
        assert_eq!(
            string(&get(&get(ports, 23), 1), 1),
            "#/definitions/io.k8s.api.core.v1.ContainerPort"
        );
        assert_eq!(
            string(&pair(&all_of(ports, 31)[0]).1, 2),
            "- containerPort\n- protocol\n"
        );
        // minimum 0 is proto3's zero; maximum is a double.
        let count = fields(&props[3].1);
        assert!(matches!(count[1], (7, Field::Fixed64(bits)) if f64::from_bits(bits) == 2.5));
        assert_eq!(tags(&props[3].1), [2, 7, 22]);
    }

    #[test]
    fn rejects_non_documents() {
        assert!(encode(b"not json").is_err());
        assert!(encode(b"[]").is_err());
        assert_eq!(encode(b"{}").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn cached_per_hash() {
        let json = serde_json::to_vec(&doc()).unwrap();
        let d = Document {
            json: Bytes::from(json),
            hash: "v2-protobuf-test".to_string(),
        };
        let first = cached(&d).unwrap();
        assert_eq!(first, encoded());
        let again = cached(&d).unwrap();
        assert_eq!(first.as_ptr(), again.as_ptr(), "served from the cache");
    }
}
