//! Whether a CRD version's `schema.openAPIV3Schema` is acceptable: the checks upstream runs on
//! create and update of a CustomResourceDefinition, with its messages and paths. In upstream's
//! order:
//!
//! 1. `nullable` at the root;
//! 2. structurality (`ValidateStructural`: types specified, metadata restricted, vendor
//!    extensions consistent, nothing structural inside `allOf`/`anyOf`/`oneOf`/`not`, every
//!    field those mention also specified outside them), its errors sorted; only when the schema
//!    is structural, the defaults (`ValidateDefaults`: pruned, valid metadata, valid values);
//! 3. the OpenAPI checks of `ValidateCustomResourceDefinitionOpenAPISchema` (unsupported
//!    keywords, `uniqueItems`, `additionalProperties` with `properties`, defaults in metadata,
//!    list and map types, static `x-kubernetes-validations` checks), depth first;
//! 4. if nothing else failed, why the schema cannot be converted to a structural one.
//!
//! ```ignore
//! let errs = validate_schema(schema, "spec.versions[0].schema.openAPIV3Schema", &|s, v, p| {
//!     validation::validate_value(s, v, p)
//! });
//! ```
//!
//! Upstream walks Go maps in random order; here properties are walked in sorted order, so the
//! errors come out in one of upstream's possible orders.

use super::prune::{
    Additional, META_FIELDS, additional, coerce_at, default_of, go_string_slice, invalid_rendered,
    invalid_value, is_true, items_of, property, prune_unknown_fields, type_of,
    validate_embedded_resources,
};
use apimachinery::field_errors::{child, index, key};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, JSONSchemaPropsOrStringArray,
};
use serde_json::{Map, Value};

/// Validates a default value against the schema it is the default of, reporting under `path`
/// (which ends in `.default`). This is the seam for OpenAPI value validation (and
/// `x-kubernetes-validations` rules) of defaults, which live outside this module.
pub type DefaultValidator<'a> = &'a dyn Fn(&JSONSchemaProps, &Value, &str) -> FieldErrors;

/// Checks a CRD version's `openAPIV3Schema` found at `path`, as upstream does on CRD create and
/// update. `validate_default` validates each default value against its schema (see
/// [`DefaultValidator`]); it is called only for defaults that passed the other checks.
pub fn validate_schema(
    schema: &JSONSchemaProps,
    path: &str,
    validate_default: DefaultValidator<'_>,
) -> FieldErrors {
    let mut errs = Vec::new();
    if is_true(schema.nullable) {
        errs.push(FieldError::forbidden(
            child(path, "nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let conversion_error = structural_conversion_error(schema);
    if conversion_error.is_none() {
        let structural = validate_structural(schema, path);
        if structural.is_empty() {
            errs.extend(validate_defaults(schema, path, validate_default));
        } else {
            errs.extend(structural);
        }
    }
    openapi(schema, path, &Ssv::default(), true, &mut errs);
    // These overlap with the OpenAPI checks, so upstream shows them only when nothing else failed.
    if errs.is_empty()
        && let Some(e) = conversion_error
    {
        errs.push(FieldError::invalid(path, "", e));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// NewStructural: what cannot be represented as a structural schema at all.
// ---------------------------------------------------------------------------------------------

fn structural_conversion_error(s: &JSONSchemaProps) -> Option<&'static str> {
    let schemas =
        |v: &Option<Vec<JSONSchemaProps>>| v.iter().flatten().find_map(structural_conversion_error);
    unsupported_keyword(s)
        .or_else(|| s.not.as_deref().and_then(structural_conversion_error))
        .or_else(|| schemas(&s.all_of))
        .or_else(|| schemas(&s.any_of))
        .or_else(|| schemas(&s.one_of))
        .or_else(|| match &s.additional_properties {
            Some(JSONSchemaPropsOrBool::Schema(a)) => structural_conversion_error(a),
            _ => None,
        })
        .or_else(|| {
            (s.x_kubernetes_preserve_unknown_fields == Some(false)).then_some(
                "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined",
            )
        })
        .or_else(|| match &s.items {
            Some(JSONSchemaPropsOrArray::Schemas(a)) if !a.is_empty() => {
                Some("OpenAPIV3Schema 'items' must be a schema, but is an array")
            }
            Some(JSONSchemaPropsOrArray::Schema(i)) => structural_conversion_error(i),
            _ => None,
        })
        .or_else(|| {
            s.properties
                .iter()
                .flat_map(|p| p.values())
                .find_map(structural_conversion_error)
        })
}

fn unsupported_keyword(s: &JSONSchemaProps) -> Option<&'static str> {
    let non_empty = |v: &Option<String>| v.as_deref().is_some_and(|x| !x.is_empty());
    if non_empty(&s.id) {
        Some("OpenAPIV3Schema 'id' is not supported")
    } else if non_empty(&s.schema) {
        Some("OpenAPIV3Schema 'schema' is not supported")
    } else if non_empty(&s.ref_path) {
        Some("OpenAPIV3Schema '$ref' is not supported")
    } else if s.pattern_properties.as_ref().is_some_and(|p| !p.is_empty()) {
        Some("OpenAPIV3Schema 'patternProperties' is not supported")
    } else if s.dependencies.as_ref().is_some_and(|d| !d.is_empty()) {
        Some("OpenAPIV3Schema 'dependencies' is not supported")
    } else if s.additional_items.is_some() {
        Some("OpenAPIV3Schema 'additionalItems' is not supported")
    } else if s.definitions.as_ref().is_some_and(|d| !d.is_empty()) {
        Some("OpenAPIV3Schema 'definitions' is not supported")
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// ValidateStructural.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

fn validate_structural(s: &JSONSchemaProps, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    invariants(s, Level::Root, path, &mut errs);
    // Upstream checks the completeness of the root's own junctors only.
    junctor_completeness(s, s, path, path, &mut errs);
    // Upstream sorts by the rendered error so that map order does not show.
    errs.sort_by_cached_key(ToString::to_string);
    errs
}

fn invariants(s: &JSONSchemaProps, lvl: Level, path: &str, errs: &mut FieldErrors) {
    let ty = type_of(s);
    let embedded = is_true(s.x_kubernetes_embedded_resource);
    let int_or_string = is_true(s.x_kubernetes_int_or_string);
    let preserve = is_true(s.x_kubernetes_preserve_unknown_fields);

    if ty == "array" && items_of(s).is_none() {
        errs.push(FieldError::required(
            child(path, "items"),
            "must be specified",
        ));
    }
    if let Some(items) = items_of(s) {
        invariants(items, Level::Item, &child(path, "items"), errs);
    }
    for (k, p) in s.properties.iter().flatten() {
        invariants(p, Level::Field, &key(&child(path, "properties"), k), errs);
    }
    let has_additional = !matches!(additional(s), Additional::Absent);
    if has_additional && lvl == Level::Root {
        errs.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "must not be used at the root",
        ));
    }
    if let Additional::Schema(a) = additional(s) {
        invariants(a, Level::Field, &child(path, "additionalProperties"), errs);
    }

    if int_or_string && preserve {
        errs.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        errs.push(FieldError::invalid(
            child(path, "x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }

    value_validation(
        s,
        is_int_or_string_any_of(s),
        is_int_or_string_all_of(s),
        path,
        errs,
    );

    let check_metadata = lvl == Level::Root || embedded;
    if embedded && ty != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        errs.push(type_required_or_invalid(path, ty, detail));
    } else if ty.is_empty() && !int_or_string && !preserve {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(child(path, "type"), detail));
    }
    if embedded && has_additional {
        errs.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(FieldError::invalid(
            child(path, "type"),
            ty,
            "must be object at the root",
        ));
    }

    let props = &child(path, "properties");
    for f in ["kind", "apiVersion"] {
        if let Some(p) = property(s, f)
            && check_metadata
            && type_of(p) != "string"
        {
            errs.push(FieldError::invalid(
                child(&key(props, f), "type"),
                type_of(p),
                "must be string",
            ));
        }
    }
    if let Some(m) = property(s, "metadata") {
        let mpath = key(props, "metadata");
        if check_metadata && type_of(m) != "object" {
            errs.push(FieldError::invalid(
                child(&mpath, "type"),
                type_of(m),
                "must be object",
            ));
        }
        if lvl == Level::Root && !metadata_restricts_only_names(m) {
            errs.push(FieldError::forbidden(
                mpath,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }

    if embedded && !preserve && s.properties.as_ref().is_none_or(|p| p.is_empty()) {
        errs.push(FieldError::required(
            child(path, "properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

fn type_required_or_invalid(path: &str, ty: &str, detail: &str) -> FieldError {
    if ty.is_empty() {
        FieldError::required(child(path, "type"), detail)
    } else {
        FieldError::invalid(child(path, "type"), ty, detail)
    }
}

/// The root metadata schema may only restrict `name` and/or `generateName`: apart from its
/// `type` and `default`, nothing a structural schema keeps may be set on it.
fn metadata_restricts_only_names(m: &JSONSchemaProps) -> bool {
    let n = m.properties.as_ref().map_or(0, |p| p.len());
    let name = property(m, "name").is_some();
    let generate_name = property(m, "generateName").is_some();
    let properties_ok =
        n == 0 || (name && generate_name && n == 2) || ((name || generate_name) && n == 1);
    properties_ok
        && !has_value_validation(m)
        && !has_extensions(m)
        && !has_generics_besides_type_and_default(m)
        && items_of(m).is_none()
}

/// Whether any value validation is set, compared as upstream's `ValueValidation` compares
/// (lists built by appending count only when non-empty, `required` counts when present).
fn has_value_validation(s: &JSONSchemaProps) -> bool {
    let non_empty = |v: &Option<Vec<JSONSchemaProps>>| v.as_ref().is_some_and(|v| !v.is_empty());
    s.format.as_deref().is_some_and(|f| !f.is_empty())
        || s.maximum.is_some()
        || is_true(s.exclusive_maximum)
        || s.minimum.is_some()
        || is_true(s.exclusive_minimum)
        || s.max_length.is_some()
        || s.min_length.is_some()
        || s.pattern.as_deref().is_some_and(|p| !p.is_empty())
        || s.max_items.is_some()
        || s.min_items.is_some()
        || is_true(s.unique_items)
        || s.multiple_of.is_some()
        || s.max_properties.is_some()
        || s.min_properties.is_some()
        || s.required.is_some()
        || s.enum_.as_ref().is_some_and(|e| !e.is_empty())
        || non_empty(&s.all_of)
        || non_empty(&s.any_of)
        || non_empty(&s.one_of)
        || s.not.is_some()
}

fn has_extensions(s: &JSONSchemaProps) -> bool {
    is_true(s.x_kubernetes_embedded_resource)
        || is_true(s.x_kubernetes_int_or_string)
        || is_true(s.x_kubernetes_preserve_unknown_fields)
        || s.x_kubernetes_list_map_keys.is_some()
        || s.x_kubernetes_list_type.is_some()
        || s.x_kubernetes_map_type.is_some()
        || s.x_kubernetes_validations.is_some()
}

fn has_generics_besides_type_and_default(s: &JSONSchemaProps) -> bool {
    s.description.as_deref().is_some_and(|d| !d.is_empty())
        || s.title.as_deref().is_some_and(|t| !t.is_empty())
        || is_true(s.nullable)
        || s.additional_properties.is_some()
}

/// `{type: <ty>}` and nothing else a nested value validation keeps.
fn is_bare_type(s: &JSONSchemaProps, ty: &str) -> bool {
    type_of(s) == ty
        && default_of(s).is_none()
        && s.properties.is_none()
        && items_of(s).is_none()
        && !has_value_validation(s)
        && !has_extensions(s)
        && !has_generics_besides_type_and_default(s)
}

fn is_int_or_string_pair(v: &[JSONSchemaProps]) -> bool {
    v.len() == 2 && is_bare_type(&v[0], "integer") && is_bare_type(&v[1], "string")
}

/// `anyOf: [{type: integer}, {type: string}]`, which int-or-string fields may carry.
fn is_int_or_string_any_of(s: &JSONSchemaProps) -> bool {
    s.any_of.as_deref().is_some_and(is_int_or_string_pair)
}

/// `allOf: [{anyOf: [{type: integer}, {type: string}]}, ...]`.
fn is_int_or_string_all_of(s: &JSONSchemaProps) -> bool {
    s.all_of
        .as_deref()
        .and_then(<[JSONSchemaProps]>::first)
        .and_then(|first| first.any_of.as_deref())
        .is_some_and(is_int_or_string_pair)
}

fn value_validation(
    s: &JSONSchemaProps,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &str,
    errs: &mut FieldErrors,
) {
    if !skip_any_of {
        for (i, a) in s.any_of.iter().flatten().enumerate() {
            nested_value_validation(a, false, &index(&child(path, "anyOf"), i), errs);
        }
    }
    for (i, a) in s.all_of.iter().flatten().enumerate() {
        let skip = skip_first_all_of_any_of && i == 0;
        nested_value_validation(a, skip, &index(&child(path, "allOf"), i), errs);
    }
    for (i, a) in s.one_of.iter().flatten().enumerate() {
        nested_value_validation(a, false, &index(&child(path, "oneOf"), i), errs);
    }
    if let Some(not) = &s.not {
        nested_value_validation(not, false, &child(path, "not"), errs);
    }
    if let Some(pattern) = s.pattern.as_deref().filter(|p| !p.is_empty())
        && let Some(e) = regexp_syntax_error(pattern)
    {
        errs.push(FieldError::invalid(
            child(path, "pattern"),
            pattern,
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
}

/// A schema under `allOf`/`anyOf`/`oneOf`/`not` may only validate values: anything that shapes
/// the structure must be said outside of it.
fn nested_value_validation(
    v: &JSONSchemaProps,
    skip_any_of: bool,
    path: &str,
    errs: &mut FieldErrors,
) {
    value_validation(v, skip_any_of, false, path, errs);
    if let Some(items) = items_of(v) {
        nested_value_validation(items, false, &child(path, "items"), errs);
    }
    for (k, p) in v.properties.iter().flatten() {
        nested_value_validation(p, false, &key(&child(path, "properties"), k), errs);
    }
    let forbidden = |errs: &mut FieldErrors, f: &str, detail: &str| {
        errs.push(FieldError::forbidden(child(path, f), detail));
    };
    if !type_of(v).is_empty() {
        forbidden(errs, "type", "must be empty to be structural");
    }
    if v.additional_properties.is_some() {
        forbidden(
            errs,
            "additionalProperties",
            "must be undefined to be structural",
        );
    }
    if default_of(v).is_some() {
        forbidden(errs, "default", "must be undefined to be structural");
    }
    if v.title.as_deref().is_some_and(|t| !t.is_empty()) {
        forbidden(errs, "title", "must be empty to be structural");
    }
    if v.description.as_deref().is_some_and(|d| !d.is_empty()) {
        forbidden(errs, "description", "must be empty to be structural");
    }
    if is_true(v.nullable) {
        forbidden(errs, "nullable", "must be false to be structural");
    }
    if is_true(v.x_kubernetes_preserve_unknown_fields) {
        forbidden(
            errs,
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        );
    }
    if is_true(v.x_kubernetes_embedded_resource) {
        forbidden(
            errs,
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        );
    }
    if is_true(v.x_kubernetes_int_or_string) {
        forbidden(
            errs,
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        );
    }
    if v.x_kubernetes_list_map_keys
        .as_ref()
        .is_some_and(|k| !k.is_empty())
    {
        forbidden(
            errs,
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        );
    }
    if v.x_kubernetes_list_type.is_some() {
        forbidden(
            errs,
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        );
    }
    if v.x_kubernetes_map_type.is_some() {
        forbidden(
            errs,
            "x-kubernetes-map-type",
            "must be undefined to be structural",
        );
    }
    if v.x_kubernetes_validations
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        forbidden(
            errs,
            "x-kubernetes-validations",
            "must be empty to be structural",
        );
    }
    if property(v, "metadata").is_some() {
        errs.push(FieldError::forbidden(
            key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Every field or list that a junctor (`allOf`/`anyOf`/`oneOf`/`not`) mentions must also be
/// specified in the structural part at the same place.
fn junctor_completeness(
    v: &JSONSchemaProps,
    s: &JSONSchemaProps,
    spath: &str,
    vpath: &str,
    errs: &mut FieldErrors,
) {
    if let Some(not) = &v.not {
        nested_completeness(not, Some(s), spath, &child(vpath, "not"), errs);
    }
    for (name, list) in [
        ("allOf", &v.all_of),
        ("anyOf", &v.any_of),
        ("oneOf", &v.one_of),
    ] {
        for (i, a) in list.iter().flatten().enumerate() {
            nested_completeness(a, Some(s), spath, &index(&child(vpath, name), i), errs);
        }
    }
}

fn nested_completeness(
    v: &JSONSchemaProps,
    s: Option<&JSONSchemaProps>,
    spath: &str,
    vpath: &str,
    errs: &mut FieldErrors,
) {
    let Some(s) = s else {
        errs.push(FieldError::required(
            spath,
            format!("because it is defined in {vpath}"),
        ));
        return;
    };
    junctor_completeness(v, s, spath, vpath, errs);
    if let Some(items) = items_of(v) {
        nested_completeness(
            items,
            items_of(s),
            &child(spath, "items"),
            &child(vpath, "items"),
            errs,
        );
    }
    for (k, p) in v.properties.iter().flatten() {
        let sp = key(&child(spath, "properties"), k);
        let vp = key(&child(vpath, "properties"), k);
        match property(s, k) {
            Some(sf) => nested_completeness(p, Some(sf), &sp, &vp, errs),
            None => errs.push(FieldError::required(
                sp,
                format!("because it is defined in {vp}"),
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ValidateDefaults.
// ---------------------------------------------------------------------------------------------

/// A step from an embedded resource's root to a default inside its metadata.
#[derive(Clone)]
enum Step {
    Child(String),
    Index,
}

fn validate_defaults(
    schema: &JSONSchemaProps,
    path: &str,
    validate_default: DefaultValidator<'_>,
) -> FieldErrors {
    let mut errs = Vec::new();
    let ctx = DefaultsCtx {
        root: schema,
        inside_meta: false,
        steps: Vec::new(),
    };
    // The CRD root is checked as a resource root: its apiVersion/kind/metadata are meta.
    defaults(schema, path, true, ctx, validate_default, &mut errs);
    errs
}

#[derive(Clone)]
struct DefaultsCtx<'a> {
    /// The schema of the resource (root or embedded) the current node belongs to.
    root: &'a JSONSchemaProps,
    /// Whether the current node describes TypeMeta or ObjectMeta fields of that resource.
    inside_meta: bool,
    /// From that resource's root to the current node.
    steps: Vec<Step>,
}

fn defaults<'a>(
    s: &'a JSONSchemaProps,
    path: &str,
    force_embedded: bool,
    mut ctx: DefaultsCtx<'a>,
    validate_default: DefaultValidator<'_>,
    errs: &mut FieldErrors,
) {
    let embedded = force_embedded || is_true(s.x_kubernetes_embedded_resource);
    if embedded {
        ctx = DefaultsCtx {
            root: s,
            inside_meta: false,
            steps: Vec::new(),
        };
    }
    if let Some(d) = default_of(s) {
        let dpath = child(path, "default");
        if ctx.inside_meta {
            errs.extend(meta_default(s, d, &dpath, &ctx, validate_default));
        } else {
            let mut pruned = d.clone();
            prune_unknown_fields(&mut pruned, Some(s), embedded);
            if &pruned != d {
                errs.push(invalid_value(&dpath, d, "must not have unknown fields"));
            }
            let mut coerced = d.clone();
            match coerce_at(&dpath, &mut coerced, Some(s), embedded, false) {
                Err(e) => errs.push(*e),
                Ok(_) => {
                    let meta_errs = validate_embedded_resources(&dpath, &coerced, s, embedded);
                    if meta_errs.is_empty() {
                        errs.extend(validate_default(s, &coerced, &dpath));
                    } else {
                        errs.extend(meta_errs);
                    }
                }
            }
        }
    }
    // Defaults under additionalProperties are not followed: upstream does not either.
    if let Some(items) = items_of(s) {
        let mut sub = ctx.clone();
        sub.steps.push(Step::Index);
        defaults(
            items,
            &child(path, "items"),
            false,
            sub,
            validate_default,
            errs,
        );
    }
    for (k, p) in s.properties.iter().flatten() {
        let mut sub = ctx.clone();
        if embedded && META_FIELDS.contains(&k.as_str()) {
            sub.inside_meta = true;
        }
        sub.steps.push(Step::Child(k.clone()));
        let ppath = key(&child(path, "properties"), k);
        defaults(p, &ppath, false, sub, validate_default, errs);
    }
}

/// A default for a TypeMeta or ObjectMeta field is checked in a stand-in resource
/// (`validation/v1`, `Validation`) that holds it at its place.
fn meta_default(
    s: &JSONSchemaProps,
    d: &Value,
    dpath: &str,
    ctx: &DefaultsCtx<'_>,
    validate_default: DefaultValidator<'_>,
) -> FieldErrors {
    let mut focus = d.clone();
    for step in ctx.steps.iter().rev() {
        focus = match step {
            Step::Child(k) => Value::Object(Map::from_iter([(k.clone(), focus)])),
            Step::Index => Value::Array(vec![focus]),
        };
    }
    let Value::Object(mut obj) = focus else {
        // Meta fields are always reached through a property of the resource.
        return Vec::new();
    };
    obj.insert("kind".to_string(), Value::from("Validation"));
    obj.insert("apiVersion".to_string(), Value::from("validation/v1"));
    let mut obj = Value::Object(obj);
    if let Err(e) = coerce_at("", &mut obj, Some(ctx.root), true, false) {
        return vec![invalid_value(
            dpath,
            d,
            format!("must result in valid metadata: {e}"),
        )];
    }
    let meta_errs = validate_embedded_resources("", &obj, ctx.root, true);
    if !meta_errs.is_empty() {
        return vec![invalid_value(
            dpath,
            d,
            format!("must result in valid metadata: {}", aggregate(&meta_errs)),
        )];
    }
    validate_default(s, d, dpath)
}

/// Upstream's `ErrorList.ToAggregate().Error()`: one message bare, several bracketed, duplicates
/// once.
fn aggregate(errs: &FieldErrors) -> String {
    let mut msgs: Vec<String> = Vec::new();
    for e in errs {
        let m = e.to_string();
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    if msgs.len() == 1 {
        msgs.remove(0)
    } else {
        format!("[{}]", msgs.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// ValidateCustomResourceDefinitionOpenAPISchema (without CEL compilation).
// ---------------------------------------------------------------------------------------------

const OPENAPI_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];
const VALIDATION_REASONS: [&str; 4] = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// What upstream's `specStandardValidatorV3` carries down the schema.
#[derive(Clone, Default)]
struct Ssv {
    /// Why defaults are forbidden here, if they are.
    forbidden_defaults: Option<String>,
    /// Inside the TypeMeta/ObjectMeta schema of the root or an embedded resource.
    inside_resource_meta: bool,
}

impl Ssv {
    fn forbidding_defaults(&self, reason: String) -> Self {
        Self {
            forbidden_defaults: Some(reason),
            ..self.clone()
        }
    }
}

fn openapi(s: &JSONSchemaProps, path: &str, ssv: &Ssv, is_root: bool, errs: &mut FieldErrors) {
    let ty = type_of(s);
    let field = |f: &str| child(path, f);

    if !ty.is_empty() && !OPENAPI_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(field("type"), ty, &OPENAPI_TYPES));
    }
    if let Some(reason) = &ssv.forbidden_defaults
        && s.default.is_some()
    {
        errs.push(FieldError::forbidden(
            field("default"),
            format!("must not be set {reason}"),
        ));
    }
    if s.id.as_deref().is_some_and(|id| !id.is_empty()) {
        errs.push(FieldError::forbidden(field("id"), "id is not supported"));
    }
    if s.additional_items.is_some() {
        errs.push(FieldError::forbidden(
            field("additionalItems"),
            "additionalItems is not supported",
        ));
    }
    if s.pattern_properties.as_ref().is_some_and(|p| !p.is_empty()) {
        errs.push(FieldError::forbidden(
            field("patternProperties"),
            "patternProperties is not supported",
        ));
    }
    if s.definitions.as_ref().is_some_and(|d| !d.is_empty()) {
        errs.push(FieldError::forbidden(
            field("definitions"),
            "definitions is not supported",
        ));
    }
    if s.dependencies.is_some() {
        errs.push(FieldError::forbidden(
            field("dependencies"),
            "dependencies is not supported",
        ));
    }
    if s.ref_path.is_some() {
        errs.push(FieldError::forbidden(
            field("$ref"),
            "$ref is not supported",
        ));
    }
    if ty == "null" {
        errs.push(FieldError::forbidden(
            field("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if matches!(&s.items, Some(JSONSchemaPropsOrArray::Schemas(a)) if !a.is_empty()) {
        errs.push(FieldError::forbidden(
            field("items"),
            "items must be a schema object and not an array",
        ));
    }
    if ssv.inside_resource_meta && is_true(s.x_kubernetes_embedded_resource) {
        errs.push(FieldError::forbidden(
            field("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }

    if is_true(s.unique_items) {
        errs.push(FieldError::forbidden(
            field("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }

    let has_properties = s.properties.as_ref().is_some_and(|p| !p.is_empty());
    if let Some(ap) = &s.additional_properties {
        if has_properties && !matches!(ap, JSONSchemaPropsOrBool::Bool(true)) {
            errs.push(FieldError::forbidden(
                field("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let JSONSchemaPropsOrBool::Schema(a) = ap {
            // Pruning cannot tell which metadata map keys a default would apply to.
            let sub = if ssv.inside_resource_meta {
                ssv.forbidding_defaults(
                    "inside additionalProperties applying to object metadata".to_string(),
                )
            } else {
                ssv.clone()
            };
            openapi(a, &field("additionalProperties"), &sub, false, errs);
        }
    }

    let embedded = is_true(s.x_kubernetes_embedded_resource);
    for (k, p) in s.properties.iter().flatten() {
        let mut sub = ssv.clone();
        if (is_root || embedded) && META_FIELDS.contains(&k.as_str()) {
            sub.inside_resource_meta = true;
            if is_root {
                sub.forbidden_defaults = Some(format!("in top-level {k}"));
            }
        }
        openapi(p, &key(&field("properties"), k), &sub, false, errs);
    }
    if let Some(not) = &s.not {
        openapi(not, &field("not"), ssv, false, errs);
    }
    for (name, list) in [
        ("allOf", &s.all_of),
        ("oneOf", &s.one_of),
        ("anyOf", &s.any_of),
    ] {
        for (i, a) in list.iter().flatten().enumerate() {
            openapi(a, &index(&field(name), i), ssv, false, errs);
        }
    }
    for (k, d) in s.definitions.iter().flatten() {
        openapi(d, &key(&field("definitions"), k), ssv, false, errs);
    }
    match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(i)) => openapi(i, &field("items"), ssv, false, errs),
        Some(JSONSchemaPropsOrArray::Schemas(list)) => {
            for (i, item) in list.iter().enumerate() {
                openapi(item, &index(&field("items"), i), ssv, false, errs);
            }
        }
        None => {}
    }
    for (k, d) in s.dependencies.iter().flatten() {
        if let JSONSchemaPropsOrStringArray::Schema(d) = d {
            openapi(d, &key(&field("dependencies"), k), ssv, false, errs);
        }
    }

    if s.x_kubernetes_preserve_unknown_fields == Some(false) {
        errs.push(FieldError::invalid(
            field("x-kubernetes-preserve-unknown-fields"),
            false,
            "must be true or undefined",
        ));
    }
    list_and_map_types(s, path, errs);
    validation_rules(s, path, errs);
}

fn list_and_map_types(s: &JSONSchemaProps, path: &str, errs: &mut FieldErrors) {
    let ty = type_of(s);
    let field = |f: &str| child(path, f);
    let map_type = s.x_kubernetes_map_type.as_deref();
    let list_type = s.x_kubernetes_list_type.as_deref();
    let map_keys = s.x_kubernetes_list_map_keys.as_deref().unwrap_or_default();
    let items = items_of(s);

    if map_type.is_some() && ty != "object" {
        errs.push(type_required_or_invalid(
            path,
            ty,
            "must be object if x-kubernetes-map-type is specified",
        ));
    }
    if let Some(mt) = map_type
        && mt != "atomic"
        && mt != "granular"
    {
        errs.push(FieldError::not_supported(
            field("x-kubernetes-map-type"),
            mt,
            &["atomic", "granular"],
        ));
    }

    if list_type.is_some() && ty != "array" {
        errs.push(type_required_or_invalid(
            path,
            ty,
            "must be array if x-kubernetes-list-type is specified",
        ));
    } else if list_type == Some("set")
        && let Some(is) = items
    {
        let detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
        let items_path = field("items");
        match type_of(is) {
            "array" => {
                if let Some(lt) = is
                    .x_kubernetes_list_type
                    .as_deref()
                    .filter(|lt| *lt != "atomic")
                {
                    errs.push(FieldError::invalid(
                        child(&items_path, "x-kubernetes-list-type"),
                        lt,
                        detail,
                    ));
                }
            }
            "object" if is.x_kubernetes_map_type.as_deref() != Some("atomic") => {
                // Upstream reports the item's list type here, usually unset.
                let value = is.x_kubernetes_list_type.as_deref().unwrap_or("null");
                errs.push(FieldError::invalid(
                    child(&items_path, "x-kubernetes-map-type"),
                    value,
                    detail,
                ));
            }
            _ => {}
        }
    }

    if let Some(lt) = list_type
        && !["atomic", "set", "map"].contains(&lt)
    {
        errs.push(FieldError::not_supported(
            field("x-kubernetes-list-type"),
            lt,
            &["atomic", "set", "map"],
        ));
    }

    if !map_keys.is_empty() {
        let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errs.push(FieldError::required(
                field("x-kubernetes-list-type"),
                detail,
            )),
            Some(lt) if lt != "map" => {
                errs.push(FieldError::invalid(
                    field("x-kubernetes-list-type"),
                    lt,
                    detail,
                ));
            }
            Some(_) => {}
        }
    }

    if list_type == Some("map") {
        if map_keys.is_empty() {
            errs.push(FieldError::required(
                field("x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match &s.items {
            None => errs.push(FieldError::required(
                field("items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(JSONSchemaPropsOrArray::Schemas(list)) => errs.push(invalid_rendered(
                field("items"),
                &format!(
                    "apiextensions.JSONSchemaPropsOrArray{{Schema:(*apiextensions.JSONSchemaProps)(nil), JSONSchemas:[]apiextensions.JSONSchemaProps{{...{} schemas}}}}",
                    list.len()
                ),
                "must only have a single schema if x-kubernetes-list-type is map",
            )),
            Some(JSONSchemaPropsOrArray::Schema(is)) if type_of(is) != "object" => {
                errs.push(FieldError::invalid(
                    child(&field("items"), "type"),
                    type_of(is),
                    "must be object if parent array's x-kubernetes-list-type is map",
                ));
            }
            Some(JSONSchemaPropsOrArray::Schema(is)) => {
                let rendered = go_string_slice(map_keys);
                let mut seen: Vec<&str> = Vec::new();
                for k in map_keys {
                    match property(is, k) {
                        Some(p) if matches!(type_of(p), "array" | "object") => {
                            // Upstream reports the item's type ("object"), not the key's.
                            errs.push(FieldError::invalid(
                                child(&key(&child(&field("items"), "properties"), k), "type"),
                                type_of(is),
                                "must be a scalar type if parent array's x-kubernetes-list-type is map",
                            ));
                        }
                        Some(_) => {}
                        None => errs.push(invalid_rendered(
                            field("x-kubernetes-list-map-keys"),
                            &rendered,
                            "entries must all be names of item properties",
                        )),
                    }
                    if seen.contains(&k.as_str()) {
                        errs.push(invalid_rendered(
                            field("x-kubernetes-list-map-keys"),
                            &rendered,
                            "must not contain duplicate entries",
                        ));
                    }
                    seen.push(k);
                }
            }
        }
    }

    // Map and set list items are identified by value (sets) or keys (maps), so neither may be
    // null, and map keys must always be present.
    if let (Some(is), Some(lt @ ("set" | "map"))) = (items, list_type) {
        if is_true(is.nullable) {
            errs.push(FieldError::forbidden(
                child(&field("items"), "nullable"),
                format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
            ));
        }
        if lt == "map" {
            let required = is.required.as_deref().unwrap_or_default();
            for k in map_keys {
                let Some(p) = property(is, k) else { continue };
                let ppath = key(&child(&field("items"), "properties"), k);
                if !required.contains(k) && p.default.is_none() {
                    errs.push(FieldError::required(
                        child(&ppath, "default"),
                        "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                    ));
                }
                if is_true(p.nullable) {
                    errs.push(FieldError::forbidden(
                        child(&ppath, "nullable"),
                        "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                    ));
                }
            }
        }
    }
}

/// The checks of `x-kubernetes-validations` that need no CEL: compiling the rules, their cost,
/// `oldSelf` use and `fieldPath` resolution belong to the CEL module.
fn validation_rules(s: &JSONSchemaProps, path: &str, errs: &mut FieldErrors) {
    let has_newlines = |x: &str| x.contains(['\n', '\r']);
    for (i, rule) in s.x_kubernetes_validations.iter().flatten().enumerate() {
        let rpath = index(&child(path, "x-kubernetes-validations"), i);
        let field = |f: &str| child(&rpath, f);
        let trimmed_rule = rule.rule.trim();
        let message = rule.message.as_deref().unwrap_or_default();
        let trimmed_msg = message.trim();
        if trimmed_rule.is_empty() {
            errs.push(FieldError::required(field("rule"), "rule is not specified"));
        } else if !message.is_empty() && trimmed_msg.is_empty() {
            errs.push(FieldError::invalid(
                field("message"),
                message,
                "message must be non-empty if specified",
            ));
        } else if has_newlines(trimmed_msg) {
            errs.push(FieldError::invalid(
                field("message"),
                message,
                "message must not contain line breaks",
            ));
        } else if has_newlines(trimmed_rule) && trimmed_msg.is_empty() {
            errs.push(FieldError::required(
                field("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        let message_expression = rule.message_expression.as_deref().unwrap_or_default();
        if !message_expression.is_empty() && message_expression.trim().is_empty() {
            errs.push(FieldError::required(
                field("messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = rule.reason.as_deref()
            && !VALIDATION_REASONS.contains(&reason)
        {
            errs.push(FieldError::not_supported(
                field("reason"),
                reason,
                &VALIDATION_REASONS,
            ));
        }
        let field_path = rule.field_path.as_deref().unwrap_or_default();
        if !field_path.is_empty() && field_path.trim().is_empty() {
            errs.push(FieldError::invalid(
                field("fieldPath"),
                field_path,
                "fieldPath must be non-empty if specified",
            ));
        }
        if has_newlines(field_path) {
            errs.push(FieldError::invalid(
                field("fieldPath"),
                field_path,
                "fieldPath must not contain line breaks",
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Go's regexp/syntax parser (Perl flags), as far as needed for its error messages.
// ---------------------------------------------------------------------------------------------

/// What Go's `regexp.Compile` says about `expr`, or `None` when it compiles. Covers the syntax
/// errors Go reports (unbalanced groups and classes, bad repetitions, unsupported Perl groups such
/// as look-arounds, bad escapes); Unicode class names are checked loosely.
fn regexp_syntax_error(expr: &str) -> Option<String> {
    RegexpParser { whole: expr }
        .parse()
        .err()
        .map(|(code, fragment)| format!("error parsing regexp: {code}: `{fragment}`"))
}

type SyntaxError<'a> = (&'static str, &'a str);

struct RegexpParser<'a> {
    whole: &'a str,
}

/// What the top of Go's parse stack holds: repetition needs an operand there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StackTop {
    Empty,
    Marker,
    Operand,
}

impl<'a> RegexpParser<'a> {
    fn parse(&self) -> Result<(), SyntaxError<'a>> {
        let w = self.whole;
        let b = w.as_bytes();
        let mut depth = 0usize;
        let mut top = StackTop::Empty;
        let mut last_repeat: Option<usize> = None;
        let mut i = 0;
        while i < b.len() {
            let mut repeat_start = None;
            match b[i] {
                b'(' if b.get(i + 1) == Some(&b'?') => {
                    let (next, opens) = self.perl_group(i)?;
                    if opens {
                        depth += 1;
                        top = StackTop::Marker;
                    }
                    i = next;
                }
                b'(' => {
                    depth += 1;
                    top = StackTop::Marker;
                    i += 1;
                }
                b'|' => {
                    top = StackTop::Marker;
                    i += 1;
                }
                b')' => {
                    if depth == 0 {
                        return Err(("unexpected )", w));
                    }
                    depth -= 1;
                    top = StackTop::Operand;
                    i += 1;
                }
                b'[' => {
                    i = self.class(i)?;
                    top = StackTop::Operand;
                }
                b'*' | b'+' | b'?' => {
                    let mut after = i + 1;
                    if b.get(after) == Some(&b'?') {
                        after += 1;
                    }
                    self.check_repeat(i, after, last_repeat, top)?;
                    repeat_start = Some(i);
                    i = after;
                }
                b'{' => match repeat_braces(&w[i..]) {
                    None => {
                        top = StackTop::Operand;
                        i += 1;
                    }
                    Some((min, max, len)) => {
                        let mut after = i + len;
                        if !(0..=1000).contains(&min) || max > 1000 || (max >= 0 && min > max) {
                            return Err(("invalid repeat count", &w[i..after]));
                        }
                        if b.get(after) == Some(&b'?') {
                            after += 1;
                        }
                        self.check_repeat(i, after, last_repeat, top)?;
                        repeat_start = Some(i);
                        i = after;
                    }
                },
                b'\\' => {
                    let (next, operand) = self.top_level_escape(i)?;
                    if operand {
                        top = StackTop::Operand;
                    }
                    i = next;
                }
                _ => {
                    top = StackTop::Operand;
                    i += w[i..].chars().next().map_or(1, char::len_utf8);
                }
            }
            last_repeat = repeat_start;
        }
        if depth > 0 {
            return Err(("missing closing )", w));
        }
        Ok(())
    }

    fn check_repeat(
        &self,
        start: usize,
        after: usize,
        last_repeat: Option<usize>,
        top: StackTop,
    ) -> Result<(), SyntaxError<'a>> {
        if let Some(lr) = last_repeat {
            return Err(("invalid nested repetition operator", &self.whole[lr..after]));
        }
        if top != StackTop::Operand {
            return Err((
                "missing argument to repetition operator",
                &self.whole[start..after],
            ));
        }
        Ok(())
    }

    /// `(?...`: a named group, a non-capturing group or a flag change. Returns where parsing goes
    /// on and whether a group was opened.
    fn perl_group(&self, i: usize) -> Result<(usize, bool), SyntaxError<'a>> {
        let t = &self.whole[i..];
        let tb = t.as_bytes();
        let starts_p = tb.len() > 4 && tb[2] == b'P' && tb[3] == b'<';
        let starts_name = tb.len() > 3 && tb[2] == b'<';
        if starts_p || starts_name {
            let name_start = if starts_p { 4 } else { 3 };
            let Some(end) = t.find('>') else {
                return Err(("invalid named capture", t));
            };
            let name = &t[name_start..end];
            if name.is_empty() || !name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric()) {
                return Err(("invalid named capture", &t[..=end]));
            }
            return Ok((i + end + 1, true));
        }
        let mut negated = false;
        let mut saw_flag = false;
        let mut j = 2;
        while let Some(c) = t[j..].chars().next() {
            j += c.len_utf8();
            match c {
                'i' | 'm' | 's' | 'U' => saw_flag = true,
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if !negated || saw_flag => return Ok((i + j, c == ':')),
                _ => break,
            }
        }
        Err(("invalid or unsupported Perl syntax", &t[..j]))
    }

    /// An escape outside a class. Returns where parsing goes on and whether it pushed an operand.
    fn top_level_escape(&self, i: usize) -> Result<(usize, bool), SyntaxError<'a>> {
        let w = self.whole;
        match w.as_bytes().get(i + 1) {
            Some(b'A' | b'b' | b'B' | b'z' | b'd' | b'D' | b's' | b'S' | b'w' | b'W') => {
                Ok((i + 2, true))
            }
            Some(b'C') => Err(("invalid escape sequence", &w[i..i + 2])),
            Some(b'Q') => {
                let lit = &w[i + 2..];
                let (len, end) = match lit.find("\\E") {
                    Some(p) => (p, i + 2 + p + 2),
                    None => (lit.len(), w.len()),
                };
                Ok((end, len > 0))
            }
            Some(b'p' | b'P') => Ok((self.unicode_class(i)?, true)),
            _ => Ok((self.escape(i)?, true)),
        }
    }

    /// `\pL`, `\p{Greek}`, `\P{^Lu}`. Returns the index after it.
    fn unicode_class(&self, i: usize) -> Result<usize, SyntaxError<'a>> {
        let s = &self.whole[i..];
        let t = &s[2..];
        let (seq_len, name) = match t.chars().next() {
            Some('{') => match s.find('}') {
                Some(end) => (end + 1, &s[3..end]),
                None => return Err(("invalid character class range", s)),
            },
            Some(c) => (2 + c.len_utf8(), &t[..c.len_utf8()]),
            None => (2, ""),
        };
        let name = name.strip_prefix('^').unwrap_or(name);
        if !unicode_class_name(name) {
            return Err(("invalid character class range", &s[..seq_len]));
        }
        Ok(i + seq_len)
    }

    /// A single-character escape (Go's `parseEscape`). Returns the index after it.
    fn escape(&self, i: usize) -> Result<usize, SyntaxError<'a>> {
        let s = &self.whole[i..];
        let Some(c) = s[1..].chars().next() else {
            return Err(("trailing backslash at end of expression", ""));
        };
        let mut j = 1 + c.len_utf8();
        let sb = s.as_bytes();
        let octal = |k: usize| sb.get(k).is_some_and(|d| (b'0'..=b'7').contains(d));
        let invalid = |j: usize| Err(("invalid escape sequence", &s[..j]));
        match c {
            '1'..='7' if !octal(j) => invalid(j),
            '0'..='7' => {
                for _ in 0..2 {
                    if octal(j) {
                        j += 1;
                    }
                }
                Ok(i + j)
            }
            'x' => {
                let hex = |k: usize| sb.get(k).is_some_and(u8::is_ascii_hexdigit);
                if sb.get(j) == Some(&b'{') {
                    j += 1;
                    let start = j;
                    while hex(j) {
                        j += 1;
                    }
                    if sb.get(j) == Some(&b'}') && j > start {
                        let value = u32::from_str_radix(&s[start..j], 16).unwrap_or(u32::MAX);
                        if value <= 0x10FFFF {
                            return Ok(i + j + 1);
                        }
                    }
                    let stop = (j + 1).min(s.len());
                    let stop = (stop..=s.len())
                        .find(|&k| s.is_char_boundary(k))
                        .unwrap_or(s.len());
                    return invalid(stop);
                }
                if hex(j) && hex(j + 1) {
                    return Ok(i + j + 2);
                }
                // Go consumes the two runes it tried before giving up.
                let mut end = j;
                for _ in 0..2 {
                    if let Some(ch) = s[end..].chars().next() {
                        end += ch.len_utf8();
                    }
                }
                invalid(end)
            }
            'a' | 'f' | 'n' | 'r' | 't' | 'v' => Ok(i + j),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(i + j),
            _ => invalid(j),
        }
    }

    /// A bracketed class starting at `i`. Returns the index after its `]`.
    fn class(&self, i: usize) -> Result<usize, SyntaxError<'a>> {
        let whole_class = &self.whole[i..];
        let b = self.whole.as_bytes();
        let mut j = i + 1;
        if b.get(j) == Some(&b'^') {
            j += 1;
        }
        let mut first = true;
        loop {
            if b.get(j) == Some(&b']') && !first {
                return Ok(j + 1);
            }
            first = false;
            let t = &self.whole[j..];
            if t.len() > 2
                && t.starts_with("[:")
                && let Some(end) = t[2..].find(":]")
            {
                let name = &t[..end + 4];
                if !posix_class_name(name) {
                    return Err(("invalid character class range", name));
                }
                j += end + 4;
                continue;
            }
            if t.starts_with("\\p") || t.starts_with("\\P") {
                j = self.unicode_class(j)?;
                continue;
            }
            if t.len() >= 2
                && t.starts_with('\\')
                && matches!(t.as_bytes()[1], b'd' | b'D' | b's' | b'S' | b'w' | b'W')
            {
                j += 2;
                continue;
            }
            let range_start = j;
            let (lo, next) = self.class_char(j, whole_class)?;
            j = next;
            if b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(|c| *c != b']') {
                let (hi, next) = self.class_char(j + 1, whole_class)?;
                j = next;
                if hi < lo {
                    return Err(("invalid character class range", &self.whole[range_start..j]));
                }
            }
        }
    }

    /// One character of a class, escapes included. Returns its value and the index after it.
    fn class_char(&self, j: usize, whole_class: &'a str) -> Result<(u32, usize), SyntaxError<'a>> {
        let t = &self.whole[j..];
        let Some(c) = t.chars().next() else {
            return Err(("missing closing ]", whole_class));
        };
        if c != '\\' {
            return Ok((c as u32, j + c.len_utf8()));
        }
        let end = self.escape(j)?;
        Ok((escape_value(&self.whole[j..end]), end))
    }
}

/// The character an escape that Go accepted stands for (for range ordering).
fn escape_value(esc: &str) -> u32 {
    let body = &esc[1..];
    let c = body.chars().next().unwrap_or('\0');
    match c {
        '0'..='7' => u32::from_str_radix(body, 8).unwrap_or(0),
        'x' => {
            let hex = body[1..].trim_start_matches('{').trim_end_matches('}');
            u32::from_str_radix(hex, 16).unwrap_or(0)
        }
        'a' => 7,
        'f' => 12,
        'n' => 10,
        'r' => 13,
        't' => 9,
        'v' => 11,
        c => c as u32,
    }
}

/// `{n}`, `{n,}`, `{n,m}` as Go's `parseRepeat` reads them: `(min, max, length)`, max -1 for
/// "unbounded", -1 for numbers too large; `None` when the brace is a literal.
fn repeat_braces(s: &str) -> Option<(i64, i64, usize)> {
    let b = s.as_bytes();
    let int = |mut k: usize| -> Option<(i64, usize)> {
        let start = k;
        if !b.get(k).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        if b[k] == b'0' && b.get(k + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while b.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        let mut n: i64 = 0;
        for d in &b[start..k] {
            if n >= 100_000_000 {
                n = -1;
                break;
            }
            n = n * 10 + i64::from(d - b'0');
        }
        Some((n, k))
    };
    let (mut min, mut k) = int(1)?;
    let max;
    match b.get(k)? {
        b',' => {
            k += 1;
            if *b.get(k)? == b'}' {
                max = -1;
            } else {
                let (m, next) = int(k)?;
                k = next;
                max = m;
                if m < 0 {
                    min = -1;
                }
            }
        }
        _ => max = min,
    }
    (b.get(k)? == &b'}').then_some((min, max, k + 1))
}

fn posix_class_name(name: &str) -> bool {
    const NAMES: [&str; 14] = [
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];
    let inner = &name[2..name.len() - 2];
    NAMES.contains(&inner.strip_prefix('^').unwrap_or(inner))
}

/// Unicode categories exactly; script names loosely (capitalized words), for lack of Go's table.
fn unicode_class_name(name: &str) -> bool {
    const CATEGORIES: [&str; 38] = [
        "Any", "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me",
        "Mn", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc",
        "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs", "LC",
    ];
    CATEGORIES.contains(&name)
        || (name.len() > 2
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: &str = "spec.versions[0].schema.openAPIV3Schema";

    fn schema(v: Value) -> JSONSchemaProps {
        serde_json::from_value(v).unwrap()
    }

    fn no_value_errors(_: &JSONSchemaProps, _: &Value, _: &str) -> FieldErrors {
        Vec::new()
    }

    fn check(v: Value) -> Vec<String> {
        validate_schema(&schema(v), P, &no_value_errors)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn check_with(v: Value, vd: DefaultValidator<'_>) -> Vec<String> {
        validate_schema(&schema(v), P, vd)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn accepts_a_typical_schema() {
        let errs = check(json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer", "default": 1, "minimum": 0},
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                    "mode": {"type": "string", "enum": ["a", "b"], "pattern": "^(a|b)$"}
                },
                "oneOf": [{"required": ["replicas"]}, {"required": ["port"]}]}
            }
        }));
        assert_eq!(errs, Vec::<String>::new());
    }

    #[test]
    fn types_must_be_specified() {
        assert_eq!(
            check(
                json!({"properties": {"spec": {"properties": {"list": {"type": "array", "items": {}}}}}})
            ),
            vec![
                format!(
                    "{P}.properties[spec].properties[list].items.type: Required value: must not be empty for specified array items"
                ),
                format!(
                    "{P}.properties[spec].type: Required value: must not be empty for specified object fields"
                ),
                format!("{P}.type: Required value: must not be empty at the root"),
            ]
        );
        assert_eq!(
            check(json!({"type": "string"})),
            vec![format!(
                "{P}.type: Invalid value: \"string\": must be object at the root"
            )]
        );
        assert_eq!(
            check(json!({"type": "object", "properties": {"a": {"type": "array"}}})),
            vec![format!(
                "{P}.properties[a].items: Required value: must be specified"
            )]
        );
    }

    #[test]
    fn root_metadata_may_only_restrict_names() {
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"metadata": {"type": "object",
                "properties": {"name": {"type": "string"}, "labels": {"type": "object"}}}}})
            ),
            vec![format!(
                "{P}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
            )]
        );
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"metadata": {"type": "string"}, "kind": {"type": "integer"}}})
            ),
            vec![
                format!("{P}.properties[kind].type: Invalid value: \"integer\": must be string"),
                format!("{P}.properties[metadata].type: Invalid value: \"string\": must be object"),
            ]
        );
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"metadata": {"type": "object", "default": {"name": "x"}}}})
            ),
            vec![format!(
                "{P}.properties[metadata].default: Forbidden: must not be set in top-level metadata"
            )]
        );
    }

    #[test]
    fn value_validations_must_not_be_structural() {
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"a": {"type": "string"}},
                "anyOf": [{"type": "object", "description": "d", "nullable": true, "x-kubernetes-list-type": "set",
                    "properties": {"a": {"default": "x"}, "metadata": {}}}]})
            ),
            vec![
                format!("{P}.anyOf[0].description: Forbidden: must be empty to be structural"),
                format!("{P}.anyOf[0].nullable: Forbidden: must be false to be structural"),
                format!(
                    "{P}.anyOf[0].properties[a].default: Forbidden: must be undefined to be structural"
                ),
                format!(
                    "{P}.anyOf[0].properties[metadata]: Forbidden: must not be specified in a nested context"
                ),
                format!("{P}.anyOf[0].type: Forbidden: must be empty to be structural"),
                format!(
                    "{P}.anyOf[0].x-kubernetes-list-type: Forbidden: must be undefined to be structural"
                ),
                format!(
                    "{P}.properties[metadata]: Required value: because it is defined in {P}.anyOf[0].properties[metadata]"
                ),
                // The OpenAPI checks look inside junctors too.
                format!(
                    "{P}.anyOf[0].type: Invalid value: \"object\": must be array if x-kubernetes-list-type is specified"
                ),
            ]
        );
        assert_eq!(
            check(
                json!({"type": "object", "allOf": [{"properties": {"x": {"items": {"maxLength": 1}}}}]})
            ),
            vec![format!(
                "{P}.properties[x]: Required value: because it is defined in {P}.allOf[0].properties[x]"
            )]
        );
    }

    #[test]
    fn int_or_string_patterns_are_allowed() {
        assert_eq!(
            check(json!({"type": "object", "properties": {
                "a": {"x-kubernetes-int-or-string": true, "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"maxLength": 3}]},
                "b": {"x-kubernetes-int-or-string": true, "x-kubernetes-preserve-unknown-fields": true},
                "c": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]}
            }})),
            vec![
                format!(
                    "{P}.properties[b].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true"
                ),
                format!(
                    "{P}.properties[c].anyOf[0].type: Forbidden: must be empty to be structural"
                ),
                format!(
                    "{P}.properties[c].anyOf[1].type: Forbidden: must be empty to be structural"
                ),
                format!(
                    "{P}.properties[c].type: Required value: must not be empty for specified object fields"
                ),
            ]
        );
    }

    #[test]
    fn embedded_resources_need_object_type_and_fields() {
        assert_eq!(
            check(json!({"type": "object", "properties": {
                "e": {"x-kubernetes-embedded-resource": true},
                "f": {"type": "object", "x-kubernetes-embedded-resource": true, "additionalProperties": {"type": "string"}}
            }})),
            vec![
                format!(
                    "{P}.properties[e].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
                ),
                format!(
                    "{P}.properties[e].type: Required value: must be object if x-kubernetes-embedded-resource is true"
                ),
                format!(
                    "{P}.properties[f].additionalProperties: Forbidden: must not be used if x-kubernetes-embedded-resource is set"
                ),
                format!(
                    "{P}.properties[f].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
                ),
            ]
        );
    }

    #[test]
    fn additional_properties_rules() {
        assert_eq!(
            check(json!({"type": "object", "additionalProperties": {"type": "string"}})),
            vec![format!(
                "{P}.additionalProperties: Forbidden: must not be used at the root"
            )]
        );
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"m": {"type": "object",
                "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}}})
            ),
            vec![format!(
                "{P}.properties[m].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            )]
        );
    }

    #[test]
    fn openapi_keywords() {
        assert_eq!(
            check(json!({"type": "object", "properties": {
                "a": {"type": "string", "uniqueItems": true},
                "b": {"$ref": "#/definitions/x"},
                "c": {"type": "null"},
                "d": {"type": "array", "items": [{"type": "string"}]},
                "e": {"type": "object", "x-kubernetes-preserve-unknown-fields": false}
            }})),
            vec![
                format!(
                    "{P}.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
                ),
                format!("{P}.properties[b].$ref: Forbidden: $ref is not supported"),
                format!(
                    "{P}.properties[c].type: Unsupported value: \"null\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\""
                ),
                format!(
                    "{P}.properties[c].type: Forbidden: type cannot be set to null, use nullable as an alternative"
                ),
                format!(
                    "{P}.properties[d].items: Forbidden: items must be a schema object and not an array"
                ),
                format!(
                    "{P}.properties[e].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
                ),
            ]
        );
        // $schema is only caught when converting to a structural schema.
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"a": {"type": "string", "$schema": "x"}}})
            ),
            vec![format!(
                "{P}: Invalid value: \"\": OpenAPIV3Schema 'schema' is not supported"
            )]
        );
        assert_eq!(
            check(json!({"type": "object", "nullable": true})),
            vec![format!(
                "{P}.nullable: Forbidden: nullable cannot be true at the root"
            )]
        );
    }

    #[test]
    fn list_types() {
        assert_eq!(
            check(json!({"type": "object", "properties": {
                "a": {"type": "string", "x-kubernetes-list-type": "set"},
                "b": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bag"},
                "c": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "object"}}},
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k", "missing"]},
                "d": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-map-keys": ["k"]},
                "e": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}, "x-kubernetes-list-type": "set"},
                "f": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                    "items": {"type": "object", "nullable": true, "properties": {"k": {"type": "string", "nullable": true}}}}
            }})),
            vec![
                format!(
                    "{P}.properties[a].type: Invalid value: \"string\": must be array if x-kubernetes-list-type is specified"
                ),
                format!(
                    "{P}.properties[b].x-kubernetes-list-type: Unsupported value: \"bag\": supported values: \"atomic\", \"set\", \"map\""
                ),
                format!(
                    "{P}.properties[c].items.properties[k].type: Invalid value: \"object\": must be a scalar type if parent array's x-kubernetes-list-type is map"
                ),
                format!(
                    "{P}.properties[c].x-kubernetes-list-map-keys: Invalid value: []string{{\"k\", \"missing\"}}: entries must all be names of item properties"
                ),
                format!(
                    "{P}.properties[c].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
                ),
                format!(
                    "{P}.properties[d].x-kubernetes-list-type: Required value: must be map if x-kubernetes-list-map-keys is non-empty"
                ),
                format!(
                    "{P}.properties[e].items.x-kubernetes-map-type: Invalid value: \"null\": must be atomic as item of a list with x-kubernetes-list-type=set"
                ),
                format!(
                    "{P}.properties[f].items.nullable: Forbidden: cannot be nullable when x-kubernetes-list-type is map"
                ),
                format!(
                    "{P}.properties[f].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
                ),
                format!(
                    "{P}.properties[f].items.properties[k].nullable: Forbidden: this property is in x-kubernetes-list-map-keys, so it cannot be nullable"
                ),
            ]
        );
    }

    #[test]
    fn defaults_must_be_pruned_and_valid() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"x": {"type": "string"}}, "default": {"x": "1", "y": 2}},
            "b": {"type": "integer", "default": "two"}
        }}}});
        let vd = |s: &JSONSchemaProps, v: &Value, p: &str| -> FieldErrors {
            if type_of(s) == "integer" && !v.is_i64() {
                vec![FieldError {
                    kind: apimachinery::FieldErrorKind::Invalid,
                    field: p.to_string(),
                    value: Some(v.clone()),
                    detail: "must be of type integer".to_string(),
                }]
            } else {
                Vec::new()
            }
        };
        assert_eq!(
            check_with(s, &vd),
            vec![
                format!(
                    "{P}.properties[spec].properties[a].default: Invalid value: map[string]interface {{}}{{\"x\":\"1\", \"y\":2}}: must not have unknown fields"
                ),
                format!(
                    "{P}.properties[spec].properties[b].default: Invalid value: \"two\": must be of type integer"
                ),
            ]
        );
    }

    #[test]
    fn defaults_of_embedded_resources_need_type_meta() {
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"t": {"type": "object",
                "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true,
                "default": {"kind": "Pod", "metadata": {"name": "a/b"}}}}})
            ),
            vec![
                format!("{P}.properties[t].default.apiVersion: Required value"),
                format!(
                    "{P}.properties[t].default.metadata.name: Invalid value: \"a/b\": may not contain '/'"
                ),
            ]
        );
        // Defaults inside an embedded resource's metadata are checked in a stand-in object.
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"t": {"type": "object",
                "x-kubernetes-embedded-resource": true,
                "properties": {"metadata": {"type": "object", "properties": {
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}, "default": {"a b": "c"}}}}}}}})
            ),
            vec![format!(
                "{P}.properties[t].properties[metadata].properties[labels].default: Invalid value: map[string]interface {{}}{{\"a b\":\"c\"}}: must result in valid metadata: metadata.labels: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            )]
        );
    }

    #[test]
    fn validation_rules_static_checks() {
        assert_eq!(
            check(json!({"type": "object", "x-kubernetes-validations": [
                {"rule": " "},
                {"rule": "self.a\n|| self.b"},
                {"rule": "true", "message": "two\nlines", "reason": "Nope", "fieldPath": " "}
            ]})),
            vec![
                format!(
                    "{P}.x-kubernetes-validations[0].rule: Required value: rule is not specified"
                ),
                format!(
                    "{P}.x-kubernetes-validations[1].message: Required value: message must be specified if rule contains line breaks"
                ),
                format!(
                    "{P}.x-kubernetes-validations[2].message: Invalid value: \"two\\nlines\": message must not contain line breaks"
                ),
                format!(
                    "{P}.x-kubernetes-validations[2].reason: Unsupported value: \"Nope\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
                ),
                format!(
                    "{P}.x-kubernetes-validations[2].fieldPath: Invalid value: \" \": fieldPath must be non-empty if specified"
                ),
            ]
        );
    }

    #[test]
    fn patterns_must_be_go_regexps() {
        let cases = [
            (
                "^a(?=b)$",
                "error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
            ),
            (
                "(?<=a)b",
                "error parsing regexp: invalid named capture: `(?<=a)b`",
            ),
            ("[a-", "error parsing regexp: missing closing ]: `[a-`"),
            ("(ab", "error parsing regexp: missing closing ): `(ab`"),
            ("ab)", "error parsing regexp: unexpected ): `ab)`"),
            (
                "*a",
                "error parsing regexp: missing argument to repetition operator: `*`",
            ),
            (
                "a**",
                "error parsing regexp: invalid nested repetition operator: `**`",
            ),
            (
                "a{2}{3}",
                "error parsing regexp: invalid nested repetition operator: `{2}{3}`",
            ),
            (
                "a{1001}",
                "error parsing regexp: invalid repeat count: `{1001}`",
            ),
            (
                "[z-a]",
                "error parsing regexp: invalid character class range: `z-a`",
            ),
            (
                "\\q",
                "error parsing regexp: invalid escape sequence: `\\q`",
            ),
            (
                "a\\",
                "error parsing regexp: trailing backslash at end of expression: ``",
            ),
            (
                "[[:foo:]]",
                "error parsing regexp: invalid character class range: `[:foo:]`",
            ),
        ];
        for (pattern, want) in cases {
            assert_eq!(
                regexp_syntax_error(pattern).as_deref(),
                Some(want),
                "{pattern}"
            );
        }
        for ok in [
            "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$",
            "(?i)abc",
            "(?P<name>x)(?<other>y)",
            "a{,3}",
            "\\p{Greek}\\pL[\\p{Lu}\\d-]",
            "[]a]",
            "\\x41\\x{263a}\\Q*+\\E",
            "^*$",
        ] {
            assert_eq!(regexp_syntax_error(ok), None, "{ok}");
        }
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(?!x)"}}})
            ),
            vec![format!(
                "{P}.properties[a].pattern: Invalid value: \"(?!x)\": must be a valid regular expression, but isn't: error parsing regexp: invalid or unsupported Perl syntax: `(?!`"
            )]
        );
    }
}
