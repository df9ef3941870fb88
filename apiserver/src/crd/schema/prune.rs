//! Structural pruning of custom objects and the coercion of the `ObjectMeta` inside them: what
//! upstream's `pruning` and `objectmeta` packages and the decode-time `unstructuredSchemaCoercer`
//! do. Fields the schema does not specify are dropped and their paths returned (they become
//! `unknown field "spec.foo"` warnings or errors under `fieldValidation`); `metadata` at the root
//! and in `x-kubernetes-embedded-resource` objects is decoded as `ObjectMeta` would be by Go's
//! `encoding/json`, so unknown metadata fields are dropped and reported and fields of the wrong type
//! are rejected (request bodies) or dropped (stored objects).
//!
//! ```ignore
//! let unknown = prune_request(&mut obj, &schema, true)?;
//! // ["metadata.unknownMeta", "spec.foo", "spec.template.metadata.unknownSubMeta"]
//! ```
//!
//! The Go-syntax value rendering (`%#v`) that upstream's field errors use for objects and lists
//! lives here too, since both this module and [`super::structural`] report such values.

use apimachinery::field_errors::{child, index, key};
use apimachinery::validation::{is_dns1035_label, name_is_path_segment, validate_object_meta};
use apimachinery::{FieldError, FieldErrorKind, FieldErrors};
use chrono::{Duration, NaiveDate};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::{Map, Value};

/// The fields an embedded resource (and the root) keeps whatever its schema says.
pub(super) const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Why a custom object's metadata cannot be decoded. Upstream fails the decoding of the request
/// body with this text (a 400), before any validation runs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetadataError {
    /// The root `metadata` does not decode as `ObjectMeta`; the text is Go's decoding error, e.g.
    /// `json: cannot unmarshal number into Go struct field ObjectMeta.annotations of type string`.
    #[error("{0}")]
    Root(String),
    /// An embedded resource's `apiVersion`, `kind` or `metadata` has the wrong type, e.g.
    /// `spec.template.kind: Invalid value: 1: must be a string`.
    #[error("{0}")]
    Embedded(Box<FieldError>),
}

/// Prunes `obj` as upstream does when it reads an object back from storage: unknown fields are
/// dropped, non-nullable nulls without a default are dropped, and metadata fields of the wrong type
/// are silently dropped instead of failing. Returns the pruned paths in upstream's order: unknown
/// root metadata fields, then the other pruned fields sorted, then unknown metadata fields of
/// embedded resources sorted. Request bodies want [`prune_request`], which rejects bad metadata.
pub fn prune(obj: &mut Value, schema: &JSONSchemaProps, is_resource_root: bool) -> Vec<String> {
    // With malformed fields dropped the only failure left is a root metadata that is not an
    // object; the rest of the object is still worth pruning then.
    prune_and_coerce(obj, schema, is_resource_root, true, true).unwrap_or_default()
}

/// Prunes `obj` as upstream does when it decodes a request body (see [`prune`] for the order of
/// the returned paths), but a metadata field of the wrong type fails with the error upstream
/// answers. On error `obj` is partly pruned and should be discarded.
pub fn prune_request(
    obj: &mut Value,
    schema: &JSONSchemaProps,
    is_resource_root: bool,
) -> Result<Vec<String>, MetadataError> {
    prune_and_coerce(obj, schema, is_resource_root, false, false)
}

fn prune_and_coerce(
    obj: &mut Value,
    schema: &JSONSchemaProps,
    is_resource_root: bool,
    drop_invalid: bool,
    ignore_root_error: bool,
) -> Result<Vec<String>, MetadataError> {
    let mut unknown = Vec::new();
    let mut root_meta = None;
    if is_resource_root && let Some(meta) = obj.get("metadata") {
        match object_meta(meta, "", drop_invalid) {
            Ok((canonical, paths)) => {
                unknown.extend(paths);
                root_meta = Some(canonical);
            }
            Err(e) if !ignore_root_error => return Err(MetadataError::Root(e)),
            Err(_) => {}
        }
    }
    unknown.extend(prune_unknown_fields(obj, Some(schema), is_resource_root));
    super::defaulting::prune_non_nullable_nulls_without_defaults(obj, Some(schema));
    // Upstream coerces with isResourceRoot=false: the root metadata was decoded above.
    unknown
        .extend(coerce(obj, Some(schema), false, drop_invalid).map_err(MetadataError::Embedded)?);
    if let (Some(meta), Value::Object(m)) = (root_meta, obj) {
        m.insert("metadata".to_string(), meta);
    }
    Ok(unknown)
}

/// Upstream's `pruning.PruneWithOptions`: drops the fields `schema` does not specify and returns
/// their paths, sorted. Metadata is left alone (it is not pruned at the root, when
/// `is_resource_root`, nor inside embedded resources); see [`coerce`] for that.
pub fn prune_unknown_fields(
    obj: &mut Value,
    schema: Option<&JSONSchemaProps>,
    is_resource_root: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    // Upstream treats a missing root schema as an empty one, so the meta fields survive.
    let empty = JSONSchemaProps::default();
    let schema = match schema {
        None if is_resource_root => Some(&empty),
        s => s,
    };
    prune_value(obj, schema, is_resource_root, "", &mut out);
    out.sort();
    out
}

fn prune_value(
    x: &mut Value,
    s: Option<&JSONSchemaProps>,
    force_embedded: bool,
    path: &str,
    out: &mut Vec<String>,
) {
    if let Some(s) = s
        && is_true(s.x_kubernetes_preserve_unknown_fields)
    {
        skip_prune(x, s, force_embedded, path, out);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                out.extend(m.keys().map(|k| child(path, k)));
                m.clear();
                return;
            };
            let embedded = force_embedded || is_true(s.x_kubernetes_embedded_resource);
            m.retain(|k, v| {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    return true;
                }
                if let Some(p) = property(s, k) {
                    prune_value(v, Some(p), false, &child(path, k), out);
                    return true;
                }
                match additional(s) {
                    Additional::Schema(a) => prune_value(v, Some(a), false, &child(path, k), out),
                    Additional::NoSchema => prune_value(v, None, false, &child(path, k), out),
                    Additional::Absent => {
                        // A stray apiVersion/kind/metadata at the top of a non-resource value is
                        // dropped silently: upstream only reports it below the top.
                        if !META_FIELDS.contains(&k.as_str()) || !path.is_empty() {
                            out.push(child(path, k));
                        }
                        return false;
                    }
                }
                true
            });
        }
        Value::Array(a) => {
            let items = s.and_then(items_of);
            for (i, v) in a.iter_mut().enumerate() {
                prune_value(v, items, false, &index(path, i), out);
            }
        }
        _ => {}
    }
}

/// Below `x-kubernetes-preserve-unknown-fields` unknown fields stay, but specified properties
/// (and additionalProperties) are pruned by their own schemas; list items keep preserving, as
/// upstream's `skipPrune` does.
fn skip_prune(
    x: &mut Value,
    s: &JSONSchemaProps,
    force_embedded: bool,
    path: &str,
    out: &mut Vec<String>,
) {
    match x {
        Value::Object(m) => {
            let embedded = force_embedded || is_true(s.x_kubernetes_embedded_resource);
            for (k, v) in m.iter_mut() {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(p) = property(s, k) {
                    prune_value(v, Some(p), false, &child(path, k), out);
                } else {
                    match additional(s) {
                        Additional::Schema(a) => {
                            prune_value(v, Some(a), false, &child(path, k), out)
                        }
                        Additional::NoSchema => prune_value(v, None, false, &child(path, k), out),
                        Additional::Absent => {}
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = items_of(s) {
                for (i, v) in a.iter_mut().enumerate() {
                    skip_prune(v, items, false, &index(path, i), out);
                }
            }
        }
        _ => {}
    }
}

/// Upstream's `objectmeta.CoerceWithOptions`: checks that embedded resources (and the root, when
/// `is_resource_root`) have string `apiVersion` and `kind`, and replaces their `metadata` by its
/// `ObjectMeta` decoding (unknown fields dropped, empty fields omitted). Returns the dropped
/// metadata paths, sorted; with `drop_invalid` fields of the wrong type are dropped instead of
/// failing.
pub fn coerce(
    obj: &mut Value,
    schema: Option<&JSONSchemaProps>,
    is_resource_root: bool,
    drop_invalid: bool,
) -> Result<Vec<String>, Box<FieldError>> {
    coerce_at("", obj, schema, is_resource_root, drop_invalid)
}

/// [`coerce`] for a value found at `path` (the paths of its errors start there).
pub(super) fn coerce_at(
    path: &str,
    obj: &mut Value,
    schema: Option<&JSONSchemaProps>,
    is_resource_root: bool,
    drop_invalid: bool,
) -> Result<Vec<String>, Box<FieldError>> {
    let empty = JSONSchemaProps::default();
    let schema = match schema {
        None if is_resource_root => Some(&empty),
        s => s,
    };
    let mut unknown = Vec::new();
    coerce_value(
        path,
        obj,
        schema,
        is_resource_root,
        drop_invalid,
        &mut unknown,
    )?;
    unknown.sort();
    Ok(unknown)
}

fn coerce_value(
    pth: &str,
    x: &mut Value,
    s: Option<&JSONSchemaProps>,
    force_embedded: bool,
    drop_invalid: bool,
    unknown: &mut Vec<String>,
) -> Result<(), Box<FieldError>> {
    let Some(s) = s else { return Ok(()) };
    match x {
        Value::Object(m) => {
            let embedded = force_embedded || is_true(s.x_kubernetes_embedded_resource);
            // Upstream walks a Go map (random order); sorted keys make the first error stable.
            let mut keys: Vec<String> = m.keys().cloned().collect();
            keys.sort();
            for k in keys {
                if embedded {
                    match k.as_str() {
                        "apiVersion" | "kind" if m.get(&k).is_some_and(|v| !v.is_string()) => {
                            if drop_invalid {
                                m.shift_remove(&k);
                                continue;
                            }
                            let v = m.get(&k).unwrap_or(&Value::Null);
                            return Err(Box::new(invalid_value(
                                child(pth, &k),
                                v,
                                "must be a string",
                            )));
                        }
                        "metadata" => {
                            let v = m.get(&k).unwrap_or(&Value::Null);
                            match object_meta(v, pth, drop_invalid) {
                                Ok((meta, paths)) => {
                                    unknown.extend(paths);
                                    m.insert(k.clone(), meta);
                                }
                                // Dropping invalid fields leaves a non-object metadata alone.
                                Err(_) if drop_invalid => {}
                                Err(e) => {
                                    return Err(Box::new(invalid_value(
                                        child(pth, "metadata"),
                                        v,
                                        e,
                                    )));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                let Some(v) = m.get_mut(&k) else { continue };
                if let Some(p) = property(s, &k) {
                    coerce_value(&child(pth, &k), v, Some(p), false, drop_invalid, unknown)?;
                } else if let Additional::Schema(a) = additional(s) {
                    coerce_value(&key(pth, &k), v, Some(a), false, drop_invalid, unknown)?;
                }
            }
        }
        Value::Array(a) => {
            let items = items_of(s);
            for (i, v) in a.iter_mut().enumerate() {
                coerce_value(&index(pth, i), v, items, false, drop_invalid, unknown)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Upstream's `objectmeta.Validate`: embedded resources (and the root, when `is_resource_root`)
/// must carry a valid `apiVersion` and `kind`, and their metadata must pass `ValidateObjectMeta`
/// (with a stand-in name when none is set).
pub fn validate_embedded_resources(
    path: &str,
    obj: &Value,
    schema: &JSONSchemaProps,
    is_resource_root: bool,
) -> FieldErrors {
    let mut errs = Vec::new();
    validate_meta_value(path, obj, schema, is_resource_root, &mut errs);
    errs
}

fn validate_meta_value(
    pth: &str,
    x: &Value,
    s: &JSONSchemaProps,
    force_embedded: bool,
    errs: &mut FieldErrors,
) {
    match x {
        Value::Object(m) => {
            if force_embedded || is_true(s.x_kubernetes_embedded_resource) {
                validate_embedded_resource(pth, m, errs);
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let v = &m[k.as_str()];
                if let Some(p) = property(s, k) {
                    validate_meta_value(&child(pth, k), v, p, false, errs);
                } else if let Additional::Schema(a) = additional(s) {
                    validate_meta_value(&key(pth, k), v, a, false, errs);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = items_of(s) {
                for (i, v) in a.iter().enumerate() {
                    validate_meta_value(&index(pth, i), v, items, false, errs);
                }
            }
        }
        _ => {}
    }
}

fn validate_embedded_resource(pth: &str, m: &Map<String, Value>, errs: &mut FieldErrors) {
    if !m.contains_key("apiVersion") {
        errs.push(FieldError::required(child(pth, "apiVersion"), ""));
    }
    if !m.contains_key("kind") {
        errs.push(FieldError::required(child(pth, "kind"), ""));
    }
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        let v = &m[k.as_str()];
        match k.as_str() {
            "apiVersion" => {
                let field = child(pth, "apiVersion");
                match v.as_str() {
                    None => errs.push(invalid_value(field, v, "must be a string")),
                    Some("") => errs.push(FieldError::invalid(field, "", "must not be empty")),
                    Some(gv) if gv != "/" && gv.matches('/').count() > 1 => {
                        errs.push(FieldError::invalid(
                            field,
                            gv,
                            format!("unexpected GroupVersion string: {gv}"),
                        ))
                    }
                    Some(_) => {}
                }
            }
            "kind" => {
                let field = child(pth, "kind");
                match v.as_str() {
                    None => errs.push(invalid_value(field, v, "must be a string")),
                    Some("") => errs.push(FieldError::invalid(field, "", "must not be empty")),
                    Some(kind) => {
                        let msgs = is_dns1035_label(&kind.to_lowercase());
                        if !msgs.is_empty() {
                            errs.push(FieldError::invalid(
                                field,
                                kind,
                                format!(
                                    "may have mixed case, but should otherwise match: {}",
                                    msgs.join(",")
                                ),
                            ));
                        }
                    }
                }
            }
            "metadata" => match object_meta(v, "", false) {
                Err(e) => errs.push(invalid_value(child(pth, "metadata"), v, e)),
                Ok((mut meta, _)) => {
                    let prefix = child(pth, "metadata");
                    if meta
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                        && let Value::Object(mm) = &mut meta
                    {
                        // Upstream sets a stand-in so that a missing name is not an error here.
                        mm.insert("name".to_string(), Value::from("fakename"));
                    }
                    let namespaced = meta
                        .get("namespace")
                        .and_then(Value::as_str)
                        .is_some_and(|ns| !ns.is_empty());
                    for mut e in validate_object_meta(&meta, namespaced, name_is_path_segment) {
                        // validate_object_meta reports under `metadata`; rebase onto this resource.
                        if let Some(rest) = e.field.strip_prefix("metadata") {
                            e.field = format!("{prefix}{rest}");
                        }
                        errs.push(e);
                    }
                }
            },
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ObjectMeta decoding, as Go's encoding/json (via sigs.k8s.io/json, case-sensitive) decodes it.
// ---------------------------------------------------------------------------------------------

/// Decodes `value` as `ObjectMeta` and returns its canonical form (what upstream's
/// `SetObjectMeta` writes back: unknown fields dropped, empty fields omitted, timestamps in UTC
/// seconds) and the paths of the unknown fields, under `parent` (`""` for the root, giving
/// `metadata.foo`). With `drop_malformed` each top-level field that fails to decode is dropped;
/// otherwise the first failure is returned as Go's error text.
pub(super) fn object_meta(
    value: &Value,
    parent: &str,
    drop_malformed: bool,
) -> Result<(Value, Vec<String>), String> {
    let prefix = child(parent, "metadata");
    let m = match value {
        Value::Null => return Ok((Value::Object(Map::new()), Vec::new())),
        Value::Object(m) => m,
        other if drop_malformed => {
            return Err(format!(
                "invalid metadata: expected object, got {}",
                go_type_name(other)
            ));
        }
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type v1.ObjectMeta",
                json_kind(other)
            ));
        }
    };
    let mut d = MetaDecoder::new(&prefix);
    let out = d.object_meta(m.iter());
    if let Some(e) = d.fatal.or(d.saved) {
        if !drop_malformed {
            return Err(e);
        }
        // Field by field, keeping what decodes: upstream's fallback for stored objects.
        let mut keep = Vec::new();
        let mut unknown = Vec::new();
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for k in keys {
            let mut one = MetaDecoder::new(&prefix);
            let fields = one.object_meta(std::iter::once((k, &m[k.as_str()])));
            if one.fatal.is_none() && one.saved.is_none() {
                keep.extend(fields);
                unknown.extend(one.unknown);
            }
        }
        return Ok((to_object(keep), unknown));
    }
    Ok((to_object(out), d.unknown))
}

fn to_object(mut fields: Vec<(&'static str, Value)>) -> Value {
    fields.sort_by_key(|(k, _)| *k);
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// Mirrors Go's decoder: a type error is remembered (the first one wins) and decoding goes on;
/// an error from a field's own `UnmarshalJSON` (timestamps) ends decoding and wins over both.
struct MetaDecoder<'a> {
    prefix: &'a str,
    saved: Option<String>,
    fatal: Option<String>,
    unknown: Vec<String>,
}

impl<'a> MetaDecoder<'a> {
    fn new(prefix: &'a str) -> Self {
        Self {
            prefix,
            saved: None,
            fatal: None,
            unknown: Vec::new(),
        }
    }

    fn type_error(&mut self, found: String, owner: &str, field: &str, go_type: &str) {
        if self.saved.is_none() {
            self.saved = Some(format!(
                "json: cannot unmarshal {found} into Go struct field {owner}.{field} of type {go_type}"
            ));
        }
    }

    fn unknown_field(&mut self, rel: &str) {
        self.unknown.push(format!("{}.{rel}", self.prefix));
    }

    fn object_meta<'v>(
        &mut self,
        fields: impl Iterator<Item = (&'v String, &'v Value)>,
    ) -> Vec<(&'static str, Value)> {
        const OWNER: &str = "ObjectMeta";
        // encoding/json sees the fields in the order Marshal wrote them: sorted.
        let mut fields: Vec<_> = fields.collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::new();
        for (k, v) in fields {
            if self.fatal.is_some() {
                break;
            }
            match k.as_str() {
                f @ ("name" | "generateName" | "namespace" | "selfLink" | "resourceVersion") => {
                    if let Some(s) = self.string(v, OWNER, f, "string")
                        && !s.is_empty()
                    {
                        out.push((static_name(f), Value::from(s)));
                    }
                }
                "uid" => {
                    if let Some(s) = self.string(v, OWNER, "uid", "types.UID")
                        && !s.is_empty()
                    {
                        out.push(("uid", Value::from(s)));
                    }
                }
                "generation" => {
                    if let Some(n) = self.int64(v, OWNER, "generation")
                        && n != 0
                    {
                        out.push(("generation", Value::from(n)));
                    }
                }
                "deletionGracePeriodSeconds" => {
                    if let Some(n) = self.int64(v, OWNER, "deletionGracePeriodSeconds") {
                        out.push(("deletionGracePeriodSeconds", Value::from(n)));
                    }
                }
                f @ ("creationTimestamp" | "deletionTimestamp") => {
                    if let Some(t) = self.time(v, OWNER, f) {
                        out.push((static_name(f), Value::from(t)));
                    }
                }
                f @ ("labels" | "annotations") => {
                    if let Some(m) = self.string_map(v, f)
                        && !m.is_empty()
                    {
                        out.push((static_name(f), Value::Object(m)));
                    }
                }
                "finalizers" => {
                    if let Some(list) = self.string_list(v)
                        && !list.is_empty()
                    {
                        out.push(("finalizers", Value::Array(list)));
                    }
                }
                "ownerReferences" => {
                    if let Some(list) =
                        self.struct_list(v, "ownerReferences", Self::owner_reference)
                        && !list.is_empty()
                    {
                        out.push(("ownerReferences", Value::Array(list)));
                    }
                }
                "managedFields" => {
                    if let Some(list) = self.struct_list(v, "managedFields", Self::managed_fields)
                        && !list.is_empty()
                    {
                        out.push(("managedFields", Value::Array(list)));
                    }
                }
                other => self.unknown_field(other),
            }
        }
        out
    }

    fn string(&mut self, v: &Value, owner: &str, field: &str, go_type: &str) -> Option<String> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => {
                self.type_error(json_kind(other).to_string(), owner, field, go_type);
                None
            }
        }
    }

    fn bool(&mut self, v: &Value, owner: &str, field: &str) -> Option<bool> {
        match v {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            other => {
                self.type_error(json_kind(other).to_string(), owner, field, "bool");
                None
            }
        }
    }

    fn int64(&mut self, v: &Value, owner: &str, field: &str) -> Option<i64> {
        match v {
            Value::Null => None,
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    return Some(i);
                }
                // Whole floats reach upstream as int64 (its JSON decoding keeps them so).
                if let Some(f) = n.as_f64()
                    && f.fract() == 0.0
                    && f >= i64::MIN as f64
                    && f < i64::MAX as f64
                {
                    return Some(f as i64);
                }
                self.type_error(format!("number {n}"), owner, field, "int64");
                None
            }
            other => {
                self.type_error(json_kind(other).to_string(), owner, field, "int64");
                None
            }
        }
    }

    /// `metav1.Time`: null is the zero time, a string must be RFC 3339, anything else fails the
    /// inner string decoding. Returns the canonical form, `None` for the zero time.
    fn time(&mut self, v: &Value, owner: &str, field: &str) -> Option<String> {
        match v {
            Value::Null => None,
            Value::String(s) => match parse_time(s) {
                Ok(t) => t,
                Err(e) => {
                    self.fatal = Some(e);
                    None
                }
            },
            other => {
                self.fatal = Some(format!(
                    "json: cannot unmarshal {} into Go struct field {owner}.{field} of type string",
                    json_kind(other)
                ));
                None
            }
        }
    }

    fn string_map(&mut self, v: &Value, field: &str) -> Option<Map<String, Value>> {
        match v {
            Value::Null => None,
            Value::Object(m) => {
                let mut out = Map::new();
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (k, val) in entries {
                    let s = self.string(val, "ObjectMeta", field, "string");
                    out.insert(k.clone(), Value::from(s.unwrap_or_default()));
                }
                Some(out)
            }
            other => {
                self.type_error(
                    json_kind(other).to_string(),
                    "ObjectMeta",
                    field,
                    "map[string]string",
                );
                None
            }
        }
    }

    fn string_list(&mut self, v: &Value) -> Option<Vec<Value>> {
        match v {
            Value::Null => None,
            Value::Array(a) => Some(
                a.iter()
                    .map(|e| {
                        let s = self.string(e, "ObjectMeta", "finalizers", "string");
                        Value::from(s.unwrap_or_default())
                    })
                    .collect(),
            ),
            other => {
                self.type_error(
                    json_kind(other).to_string(),
                    "ObjectMeta",
                    "finalizers",
                    "[]string",
                );
                None
            }
        }
    }

    fn struct_list(
        &mut self,
        v: &Value,
        field: &str,
        decode: fn(&mut Self, usize, &Map<String, Value>) -> Value,
    ) -> Option<Vec<Value>> {
        let (slice_type, elem_type) = match field {
            "ownerReferences" => ("[]v1.OwnerReference", "v1.OwnerReference"),
            _ => ("[]v1.ManagedFieldsEntry", "v1.ManagedFieldsEntry"),
        };
        match v {
            Value::Null => None,
            Value::Array(a) => {
                let mut out = Vec::new();
                let empty = Map::new();
                for (i, e) in a.iter().enumerate() {
                    if self.fatal.is_some() {
                        break;
                    }
                    match e {
                        Value::Null => out.push(decode(self, i, &empty)),
                        Value::Object(m) => out.push(decode(self, i, m)),
                        other => {
                            self.type_error(
                                json_kind(other).to_string(),
                                "ObjectMeta",
                                field,
                                elem_type,
                            );
                            out.push(decode(self, i, &empty));
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.type_error(
                    json_kind(other).to_string(),
                    "ObjectMeta",
                    field,
                    slice_type,
                );
                None
            }
        }
    }

    fn owner_reference(&mut self, i: usize, m: &Map<String, Value>) -> Value {
        const OWNER: &str = "OwnerReference";
        let mut out = Map::new();
        for f in ["apiVersion", "kind", "name", "uid"] {
            out.insert(f.to_string(), Value::from(""));
        }
        let mut entries: Vec<_> = m.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in entries {
            let path = format!("ownerReferences.{k}");
            match k.as_str() {
                "apiVersion" | "kind" | "name" | "uid" => {
                    let go_type = if k == "uid" { "types.UID" } else { "string" };
                    let s = self.string(v, OWNER, &path, go_type).unwrap_or_default();
                    out.insert(k.clone(), Value::from(s));
                }
                "controller" | "blockOwnerDeletion" => {
                    if let Some(b) = self.bool(v, OWNER, &path) {
                        out.insert(k.clone(), Value::from(b));
                    }
                }
                other => self.unknown_field(&format!("ownerReferences[{i}].{other}")),
            }
        }
        sorted(out)
    }

    fn managed_fields(&mut self, i: usize, m: &Map<String, Value>) -> Value {
        const OWNER: &str = "ManagedFieldsEntry";
        let mut out = Map::new();
        let mut entries: Vec<_> = m.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in entries {
            if self.fatal.is_some() {
                break;
            }
            let path = format!("managedFields.{k}");
            match k.as_str() {
                "manager" | "apiVersion" | "fieldsType" | "subresource" | "operation" => {
                    let go_type = if k == "operation" {
                        "v1.ManagedFieldsOperationType"
                    } else {
                        "string"
                    };
                    if let Some(s) = self.string(v, OWNER, &path, go_type)
                        && !s.is_empty()
                    {
                        out.insert(k.clone(), Value::from(s));
                    }
                }
                "time" => {
                    if let Some(t) = self.time(v, OWNER, &path) {
                        out.insert(k.clone(), Value::from(t));
                    }
                }
                // FieldsV1 keeps whatever JSON it is given.
                "fieldsV1" if !v.is_null() => {
                    out.insert(k.clone(), v.clone());
                }
                "fieldsV1" => {}
                other => self.unknown_field(&format!("managedFields[{i}].{other}")),
            }
        }
        sorted(out)
    }
}

fn sorted(m: Map<String, Value>) -> Value {
    let mut entries: Vec<_> = m.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(entries.into_iter().collect())
}

fn static_name(f: &str) -> &'static str {
    match f {
        "name" => "name",
        "generateName" => "generateName",
        "namespace" => "namespace",
        "selfLink" => "selfLink",
        "resourceVersion" => "resourceVersion",
        "creationTimestamp" => "creationTimestamp",
        "deletionTimestamp" => "deletionTimestamp",
        "labels" => "labels",
        _ => "annotations",
    }
}

/// The word Go's `UnmarshalTypeError` uses for a JSON value.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `%T` of the value upstream's JSON decoding produces.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `time.Parse(time.RFC3339, s)`, with its error texts. Returns the time as `metav1.Time`
/// serializes it (UTC, whole seconds), or `None` for the zero time.
fn parse_time(value: &str) -> Result<Option<String>, String> {
    const LAYOUT: &str = "2006-01-02T15:04:05Z07:00";
    let bad = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            super::go::quote(value),
            super::go::quote(LAYOUT),
            super::go::quote(rest),
            super::go::quote(elem)
        )
    };
    let out_of_range = |what: &str| {
        format!(
            "parsing time {}: {what} out of range",
            super::go::quote(value)
        )
    };
    let b = value.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let num = |i: usize, n: usize| -> i64 {
        b[i..i + n]
            .iter()
            .fold(0, |acc, c| acc * 10 + i64::from(c - b'0'))
    };
    let rest = |i: usize| value.get(i..).unwrap_or("");
    let literal = |i: usize, c: u8| -> Result<usize, String> {
        if b.get(i) == Some(&c) {
            Ok(i + 1)
        } else {
            Err(bad(rest(i), &(c as char).to_string()))
        }
    };

    if !(0..4).all(digit) {
        return Err(bad(value, "2006"));
    }
    let year = num(0, 4);
    let mut i = literal(4, b'-')?;
    if !(digit(i) && digit(i + 1)) {
        return Err(bad(rest(i), "01"));
    }
    let month = num(i, 2);
    if !(1..=12).contains(&month) {
        return Err(out_of_range("month"));
    }
    i = literal(i + 2, b'-')?;
    if !(digit(i) && digit(i + 1)) {
        return Err(bad(rest(i), "02"));
    }
    let day = num(i, 2);
    i = literal(i + 2, b'T')?;
    // The hour may have one digit in Go's generic parser.
    if !digit(i) {
        return Err(bad(rest(i), "15"));
    }
    let hour_len = if digit(i + 1) { 2 } else { 1 };
    let hour = num(i, hour_len);
    if hour >= 24 {
        return Err(out_of_range("hour"));
    }
    i = literal(i + hour_len, b':')?;
    if !(digit(i) && digit(i + 1)) {
        return Err(bad(rest(i), "04"));
    }
    let minute = num(i, 2);
    if minute >= 60 {
        return Err(out_of_range("minute"));
    }
    i = literal(i + 2, b':')?;
    if !(digit(i) && digit(i + 1)) {
        return Err(bad(rest(i), "05"));
    }
    let second = num(i, 2);
    if second >= 60 {
        return Err(out_of_range("second"));
    }
    i += 2;
    let mut nanos = 0i64;
    if matches!(b.get(i), Some(b'.' | b',')) && digit(i + 1) {
        let start = i + 1;
        let mut end = start;
        while digit(end) {
            end += 1;
        }
        let frac = &b[start..end.min(start + 9)];
        nanos = frac.iter().fold(0, |acc, c| acc * 10 + i64::from(c - b'0'))
            * 10i64.pow(9 - frac.len() as u32);
        i = end;
    }
    let offset_secs = if b.get(i) == Some(&b'Z') {
        i += 1;
        0
    } else {
        let tz = rest(i);
        let tb = tz.as_bytes();
        let ok = tb.len() >= 6
            && tb[3] == b':'
            && matches!(tb[0], b'+' | b'-')
            && [1, 2, 4, 5].iter().all(|&j| tb[j].is_ascii_digit());
        if !ok {
            return Err(bad(tz, "Z07:00"));
        }
        let hh = num(i + 1, 2);
        let mm = num(i + 4, 2);
        if hh > 24 {
            return Err(out_of_range("time zone offset hour"));
        }
        if mm > 60 {
            return Err(out_of_range("time zone offset minute"));
        }
        i += 6;
        let secs = (hh * 60 + mm) * 60;
        if tb[0] == b'-' { -secs } else { secs }
    };
    if i < b.len() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            super::go::quote(value),
            super::go::quote(rest(i))
        ));
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
        .filter(|_| day >= 1)
        .ok_or_else(|| out_of_range("day"))?;
    let local = date
        .and_hms_nano_opt(hour as u32, minute as u32, second as u32, nanos as u32)
        .ok_or_else(|| out_of_range("second"))?;
    let utc = local - Duration::seconds(offset_secs);
    let zero = NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    if Some(utc) == zero {
        return Ok(None);
    }
    Ok(Some(utc.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

// ---------------------------------------------------------------------------------------------
// Schema accessors shared by the schema modules, reading JSONSchemaProps as upstream's Go types.
// ---------------------------------------------------------------------------------------------

pub(super) fn is_true(b: Option<bool>) -> bool {
    b == Some(true)
}

/// `type`, with an unset type as Go's empty string.
pub(super) fn type_of(s: &JSONSchemaProps) -> &str {
    s.type_.as_deref().unwrap_or("")
}

/// The default, if any: a JSON `null` default is no default upstream either.
pub(super) fn default_of(s: &JSONSchemaProps) -> Option<&Value> {
    s.default.as_ref().map(|d| &d.0).filter(|v| !v.is_null())
}

pub(super) fn property<'a>(s: &'a JSONSchemaProps, k: &str) -> Option<&'a JSONSchemaProps> {
    s.properties.as_ref().and_then(|p| p.get(k))
}

/// `items` as a single schema; a list of schemas is not structural and counts as none.
pub(super) fn items_of(s: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(i)) => Some(i),
        _ => None,
    }
}

/// `additionalProperties`: upstream's structural form keeps the boolean form as "present, with
/// no schema", which prunes everything below it.
pub(super) enum Additional<'a> {
    Absent,
    NoSchema,
    Schema(&'a JSONSchemaProps),
}

pub(super) fn additional(s: &JSONSchemaProps) -> Additional<'_> {
    match &s.additional_properties {
        None => Additional::Absent,
        Some(JSONSchemaPropsOrBool::Bool(_)) => Additional::NoSchema,
        Some(JSONSchemaPropsOrBool::Schema(a)) => Additional::Schema(a),
    }
}

// ---------------------------------------------------------------------------------------------
// Go value rendering for field errors.
// ---------------------------------------------------------------------------------------------

/// An `Invalid` field error whose value renders as upstream's `field.Invalid` renders it:
/// scalars as usual, `null` as `"null"`, objects and lists in Go syntax (`%#v`). The Go syntax
/// goes into the detail because `FieldError` renders values as JSON.
pub(super) fn invalid_value(
    field: impl Into<String>,
    value: &Value,
    detail: impl Into<String>,
) -> FieldError {
    let detail = detail.into();
    match value {
        Value::Null => FieldError::invalid(field, "null", detail),
        Value::Object(_) | Value::Array(_) => invalid_rendered(field, &go_syntax(value), &detail),
        _ => FieldError::invalid(field, value.clone(), detail),
    }
}

/// An `Invalid` field error whose value is already rendered (e.g. `[]string{"a", "b"}`).
pub(super) fn invalid_rendered(
    field: impl Into<String>,
    rendered: &str,
    detail: &str,
) -> FieldError {
    let detail = if detail.is_empty() {
        rendered.to_string()
    } else {
        format!("{rendered}: {detail}")
    };
    FieldError {
        value: None,
        ..FieldError::new(FieldErrorKind::Invalid, field, detail)
    }
}

/// Go's `%#v` of a JSON value as upstream holds it (`map[string]interface{}`, `[]interface{}`,
/// int64, float64, string, bool, nil).
pub(super) fn go_syntax(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => super::go::format_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => super::go::quote(s),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", super::go::quote(k), go_syntax(v)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", items.join(", "))
        }
    }
}

/// Go's `%#v` of a `[]string`.
pub(super) fn go_string_slice(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| super::go::quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> JSONSchemaProps {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn prunes_unknown_fields_and_reports_sorted_paths() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                        "known": {"type": "string"}
                    }
                }
            }
        }));
        let mut obj = json!({
            "apiVersion": "example.com/v1",
            "kind": "Foo",
            "metadata": {"name": "x"},
            "spec": {"known": "k", "zeta": 1, "foo": {"bar": 1}, "list": [{"a": "1", "bar": 2}, {"baz": 3}]},
            "status": {"x": 1}
        });
        let paths = prune_unknown_fields(&mut obj, Some(&s), true);
        assert_eq!(
            paths,
            vec![
                "spec.foo",
                "spec.list[0].bar",
                "spec.list[1].baz",
                "spec.zeta",
                "status"
            ]
        );
        assert_eq!(
            obj,
            json!({
                "apiVersion": "example.com/v1",
                "kind": "Foo",
                "metadata": {"name": "x"},
                "spec": {"known": "k", "list": [{"a": "1"}, {}]}
            })
        );
    }

    #[test]
    fn non_root_drops_meta_fields_at_the_top_silently() {
        let s = schema(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
        let mut obj = json!({"a": "x", "kind": "K", "b": {"kind": "K"}});
        let paths = prune_unknown_fields(&mut obj, Some(&s), false);
        assert_eq!(paths, vec!["b"]);
        assert_eq!(obj, json!({"a": "x"}));
    }

    #[test]
    fn preserve_unknown_fields_keeps_unknowns_but_prunes_specified_properties() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {
                        "inner": {"type": "object", "properties": {"a": {"type": "string"}}},
                        "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                        "kept": {"type": "array", "x-kubernetes-preserve-unknown-fields": true,
                            "items": {"type": "object", "properties": {"a": {"type": "string"}}}}
                    }
                }
            }
        }));
        let mut obj = json!({"spec": {
            "free": {"anything": [1, {"x": 2}]},
            "inner": {"a": "1", "b": 2},
            "list": [{"a": "1", "b": 2}],
            "kept": [{"a": "1", "b": 2}]
        }});
        let paths = prune_unknown_fields(&mut obj, Some(&s), true);
        assert_eq!(paths, vec!["spec.inner.b", "spec.list[0].b"]);
        // Upstream's skipPrune keeps preserving in the items of a preserving list.
        assert_eq!(
            obj,
            json!({"spec": {
                "free": {"anything": [1, {"x": 2}]},
                "inner": {"a": "1"},
                "list": [{"a": "1"}],
                "kept": [{"a": "1", "b": 2}]
            }})
        );
    }

    #[test]
    fn additional_properties_schema_prunes_values_and_bool_form_empties_them() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"a": {"type": "string"}}}},
                "t": {"type": "object", "additionalProperties": true}
            }
        }));
        let mut obj = json!({
            "m": {"k1": {"a": "x", "b": "y"}},
            "t": {"k": {"deep": 1}, "s": "kept"}
        });
        let paths = prune_unknown_fields(&mut obj, Some(&s), false);
        assert_eq!(paths, vec!["m.k1.b", "t.k.deep"]);
        assert_eq!(
            obj,
            json!({"m": {"k1": {"a": "x"}}, "t": {"k": {}, "s": "kept"}})
        );
    }

    #[test]
    fn embedded_resources_keep_type_meta_and_metadata() {
        let s = schema(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                    "properties": {"spec": {"type": "object"}}}
            }}}
        }));
        let mut obj = json!({"spec": {"template": {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"x": 1}, "other": 1
        }}});
        let paths = prune_unknown_fields(&mut obj, Some(&s), true);
        assert_eq!(paths, vec!["spec.template.other", "spec.template.spec.x"]);
        assert_eq!(
            obj,
            json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {}}}})
        );
    }

    fn field_validation_e2e_schema() -> JSONSchemaProps {
        schema(json!({
            "type": "object",
            "properties": {"spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {
                        "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
                        "spec": {"type": "object"}
                    }},
                    "foo": {"type": "string"}
                }
            }}
        }))
    }

    #[test]
    fn reports_unknown_metadata_in_root_and_embedded_objects() {
        // The objects of upstream's e2e "should detect unknown metadata fields in both the root
        // and embedded object of a CR".
        let s = field_validation_e2e_schema();
        let mut obj = json!({
            "apiVersion": "example.com/v1",
            "kind": "Noxu",
            "metadata": {"name": "mytest", "unknownMeta": "unknown"},
            "spec": {
                "template": {
                    "apiversion": "foo/v1",
                    "kind": "Sub",
                    "metadata": {"unknownSubMeta": "unknown", "name": "subobject", "namespace": "ns"}
                },
                "foo": "foo1",
                "bar": 1
            }
        });
        let paths = prune_request(&mut obj, &s, true).unwrap();
        assert_eq!(
            paths,
            vec![
                "metadata.unknownMeta",
                "spec.template.apiversion",
                "spec.template.metadata.unknownSubMeta"
            ]
        );
        assert_eq!(obj["metadata"], json!({"name": "mytest"}));
        assert_eq!(
            obj["spec"]["template"]["metadata"],
            json!({"name": "subobject", "namespace": "ns"})
        );
        assert_eq!(obj["spec"]["bar"], json!(1));
    }

    #[test]
    fn metadata_is_canonicalized_like_object_meta() {
        let s = schema(json!({"type": "object"}));
        let mut obj = json!({"metadata": {
            "name": "a",
            "namespace": "",
            "generation": 0,
            "labels": {},
            "annotations": {"a": null},
            "creationTimestamp": "2024-03-01T10:00:00.5+02:00",
            "ownerReferences": [{"kind": "K", "controller": null, "extra": 1}],
            "managedFields": [{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}, "time": null}]
        }});
        let paths = prune_request(&mut obj, &s, true).unwrap();
        assert_eq!(paths, vec!["metadata.ownerReferences[0].extra"]);
        assert_eq!(
            obj["metadata"],
            json!({
                "annotations": {"a": ""},
                "creationTimestamp": "2024-03-01T08:00:00Z",
                "managedFields": [{"fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}, "manager": "m", "operation": "Apply"}],
                "name": "a",
                "ownerReferences": [{"apiVersion": "", "kind": "K", "name": "", "uid": ""}]
            })
        );
    }

    #[test]
    fn malformed_root_metadata_fails_requests_with_go_errors() {
        let s = schema(json!({"type": "object"}));
        let cases = [
            (
                json!({"name": "a", "annotations": {"x": 1}}),
                "json: cannot unmarshal number into Go struct field ObjectMeta.annotations of type string",
            ),
            (
                json!({"labels": "x"}),
                "json: cannot unmarshal string into Go struct field ObjectMeta.labels of type map[string]string",
            ),
            (
                json!({"generation": 1.5}),
                "json: cannot unmarshal number 1.5 into Go struct field ObjectMeta.generation of type int64",
            ),
            (
                json!({"ownerReferences": [{"uid": 5}]}),
                "json: cannot unmarshal number into Go struct field OwnerReference.ownerReferences.uid of type types.UID",
            ),
            (
                json!({"creationTimestamp": "yesterday"}),
                "parsing time \"yesterday\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"yesterday\" as \"2006\"",
            ),
            (
                json!({"creationTimestamp": "2024-13-01T00:00:00Z"}),
                "parsing time \"2024-13-01T00:00:00Z\": month out of range",
            ),
            (
                json!({"creationTimestamp": 5}),
                "json: cannot unmarshal number into Go struct field ObjectMeta.creationTimestamp of type string",
            ),
            // The timestamp's own decoder error wins over an earlier type error.
            (
                json!({"annotations": 1, "creationTimestamp": "2024-01-01"}),
                "parsing time \"2024-01-01\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\" as \"T\"",
            ),
            (
                json!("x"),
                "json: cannot unmarshal string into Go value of type v1.ObjectMeta",
            ),
        ];
        for (meta, want) in cases {
            let mut obj = json!({"metadata": meta});
            assert_eq!(
                prune_request(&mut obj, &s, true),
                Err(MetadataError::Root(want.to_string())),
                "{meta}"
            );
        }
    }

    #[test]
    fn stored_objects_drop_malformed_metadata_fields() {
        let s = schema(json!({"type": "object"}));
        let mut obj = json!({"metadata": {"name": "my-meta", "labels": {"foo": "bar"}, "annotations": {"x": 1}, "unknownField": 1}});
        let paths = prune(&mut obj, &s, true);
        assert_eq!(paths, vec!["metadata.unknownField"]);
        assert_eq!(
            obj["metadata"],
            json!({"labels": {"foo": "bar"}, "name": "my-meta"})
        );
    }

    #[test]
    fn upstream_get_object_meta_fixtures() {
        // TestGetObjectMetaWithOptions: unknown and malformed fields together.
        let meta = json!({"name": "my-meta", "unknownField": "foo", "generateName": null,
            "generation": null, "labels": {"foo": "bar"}, "annotations": 11});
        assert_eq!(
            object_meta(&meta, "", false),
            Err("json: cannot unmarshal number into Go struct field ObjectMeta.annotations of type map[string]string".to_string())
        );
        assert_eq!(
            object_meta(&meta, "", true),
            Ok((
                json!({"labels": {"foo": "bar"}, "name": "my-meta"}),
                vec!["metadata.unknownField".to_string()]
            ))
        );
        // TestGetObjectMeta: matching is case-sensitive, a bad timestamp is dropped.
        let meta = json!({"name": "good", "Name": "bad1", "namespace": "good", "nAmespace": "bad2",
            "creationTimestamp": "a"});
        let (meta, unknown) = object_meta(&meta, "", true).unwrap();
        assert_eq!(meta, json!({"name": "good", "namespace": "good"}));
        assert_eq!(unknown, vec!["metadata.Name", "metadata.nAmespace"]);
    }

    #[test]
    fn embedded_type_meta_must_be_strings() {
        let s = field_validation_e2e_schema();
        let mut obj = json!({"spec": {"template": {"kind": 1}}});
        let err = prune_request(&mut obj, &s, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.template.kind: Invalid value: 1: must be a string"
        );

        let mut obj = json!({"spec": {"template": {"metadata": {"labels": {"a": true}}}}});
        let err = prune_request(&mut obj, &s, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.template.metadata: Invalid value: map[string]interface {}{\"labels\":map[string]interface {}{\"a\":true}}: json: cannot unmarshal bool into Go struct field ObjectMeta.labels of type string"
        );

        // Stored objects keep going: the bad kind is dropped.
        let mut obj = json!({"spec": {"template": {"kind": 1, "apiVersion": "v1"}}});
        assert!(prune(&mut obj, &s, true).is_empty());
        assert_eq!(obj, json!({"spec": {"template": {"apiVersion": "v1"}}}));
    }

    #[test]
    fn coerce_paths_use_keys_for_additional_properties() {
        let s = schema(
            json!({"type": "object", "properties": {"m": {"type": "object",
            "additionalProperties": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}}),
        );
        let mut obj = json!({"m": {"k": {"metadata": {"bad": 1, "creationTimestamp": null}}}});
        let paths = coerce(&mut obj, Some(&s), false, false).unwrap();
        assert_eq!(paths, vec!["m[k].metadata.bad"]);
        assert_eq!(obj, json!({"m": {"k": {"metadata": {}}}}));
    }

    #[test]
    fn non_nullable_nulls_are_dropped_while_pruning() {
        let s = schema(json!({"type": "object", "properties": {
            "a": {"type": "string"}, "b": {"type": "string", "nullable": true}
        }}));
        let mut obj = json!({"a": null, "b": null});
        prune(&mut obj, &s, true);
        assert_eq!(obj, json!({"b": null}));
    }

    #[test]
    fn validates_embedded_resources() {
        let s = field_validation_e2e_schema();
        let obj = json!({"spec": {"template": {"apiVersion": "a/b/c", "kind": "Bad_Kind", "metadata": {"name": "x/y"}}}});
        let errs: Vec<String> = validate_embedded_resources("", &obj, &s, false)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.template.apiVersion: Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c",
                "spec.template.kind: Invalid value: \"Bad_Kind\": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
                "spec.template.metadata.name: Invalid value: \"x/y\": may not contain '/'",
            ]
        );
        let obj = json!({"spec": {"template": {"metadata": {}}}});
        let errs: Vec<String> = validate_embedded_resources("", &obj, &s, false)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.template.apiVersion: Required value",
                "spec.template.kind: Required value"
            ]
        );
    }

    #[test]
    fn renders_go_syntax() {
        assert_eq!(
            go_syntax(&json!({"b": [1, "x", null, 1.5], "a": {"c": true}})),
            "map[string]interface {}{\"a\":map[string]interface {}{\"c\":true}, \"b\":[]interface {}{1, \"x\", interface {}(nil), 1.5}}"
        );
        assert_eq!(
            go_string_slice(&["a".into(), "b".into()]),
            "[]string{\"a\", \"b\"}"
        );
        assert_eq!(crate::crd::schema::go::format_float(1e21), "1e+21");
        assert_eq!(
            crate::crd::schema::go::format_float(1234567.5),
            "1.2345675e+06"
        );
        assert_eq!(crate::crd::schema::go::format_float(123456.5), "123456.5");
        assert_eq!(crate::crd::schema::go::format_float(0.00001), "1e-05");
        assert_eq!(
            crate::crd::schema::go::quote("a\"b\n\u{1}"),
            "\"a\\\"b\\n\\x01\""
        );
        assert_eq!(
            invalid_value("f", &Value::Null, "d").to_string(),
            "f: Invalid value: \"null\": d"
        );
    }
}
