//! The CEL types a schema node exposes to its rules, as upstream's `SchemaDeclType` builds them
//! (`k8s.io/apiserver/pkg/cel/common/schemas.go`), and the type algebra the checker works with
//! (cel-go's `common/types.Type`): names as cel-go prints them in messages, type parameters and
//! their substitution.
//!
//! Property names reach CEL escaped (`foo-bar` is `foo__dash__bar`), as upstream's `Escape`
//! does; names that cannot be escaped are not visible to rules at all.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// A type as the checker sees it.
#[derive(Clone, Debug)]
pub(super) enum Type {
    Dyn,
    /// The type of an expression that failed to check; assignable to anything so that one
    /// mistake is reported once.
    Error,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    List(Box<Type>),
    Map(Box<Type>, Box<Type>),
    /// A schema object with declared properties; compared by name, as cel-go compares
    /// struct types.
    Object(Arc<Object>),
    /// `optional_type(T)` and the Kubernetes library types (`kubernetes.Quantity`, ...).
    Opaque(&'static str, Vec<Type>),
    /// `type(T)`: the type of a type value such as `int`.
    Meta(Box<Type>),
    /// A type parameter of an overload or a free type variable (`_var0`).
    Param(Arc<str>),
}

/// A schema object: its generated type name and its (escaped) fields.
#[derive(Debug)]
pub(super) struct Object {
    pub name: String,
    pub fields: BTreeMap<String, Type>,
}

pub(super) const OPTIONAL: &str = "optional_type";
pub(super) const QUANTITY: &str = "kubernetes.Quantity";
pub(super) const URL: &str = "kubernetes.URL";
pub(super) const IP: &str = "net.IP";
pub(super) const CIDR: &str = "net.CIDR";
pub(super) const FORMAT: &str = "kubernetes.NamedFormat";
pub(super) const AUTHORIZER: &str = "kubernetes.authorization.Authorizer";
pub(super) const PATH_CHECK: &str = "kubernetes.authorization.PathCheck";
pub(super) const GROUP_CHECK: &str = "kubernetes.authorization.GroupCheck";
pub(super) const RESOURCE_CHECK: &str = "kubernetes.authorization.ResourceCheck";
pub(super) const DECISION: &str = "kubernetes.authorization.Decision";

impl Type {
    pub fn list(elem: Type) -> Type {
        Type::List(Box::new(elem))
    }

    pub fn map(key: Type, value: Type) -> Type {
        Type::Map(Box::new(key), Box::new(value))
    }

    pub fn optional(inner: Type) -> Type {
        Type::Opaque(OPTIONAL, vec![inner])
    }

    pub fn is_dyn(&self) -> bool {
        matches!(self, Type::Dyn)
    }

    pub fn is_dyn_or_error(&self) -> bool {
        matches!(self, Type::Dyn | Type::Error)
    }

    /// The parameters of a parameterized type, in cel-go's order.
    fn params(&self) -> Vec<&Type> {
        match self {
            Type::List(e) => vec![e],
            Type::Map(k, v) => vec![k, v],
            Type::Opaque(_, ps) => ps.iter().collect(),
            Type::Meta(t) => vec![t],
            _ => Vec::new(),
        }
    }

    /// Whether two types are the same type, as cel-go's `IsExactType`.
    pub fn is_exact(&self, other: &Type) -> bool {
        match (self, other) {
            (Type::List(a), Type::List(b)) => a.is_exact(b),
            (Type::Map(ak, av), Type::Map(bk, bv)) => ak.is_exact(bk) && av.is_exact(bv),
            (Type::Object(a), Type::Object(b)) => a.name == b.name,
            (Type::Opaque(an, ap), Type::Opaque(bn, bp)) => {
                an == bn && ap.len() == bp.len() && ap.iter().zip(bp).all(|(a, b)| a.is_exact(b))
            }
            (Type::Meta(a), Type::Meta(b)) => a.is_exact(b),
            (Type::Param(a), Type::Param(b)) => a == b,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl fmt::Display for Type {
    /// cel-go's `FormatCELType`, which its error messages use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Dyn => f.write_str("dyn"),
            Type::Error => f.write_str("*error*"),
            Type::Null => f.write_str("null_type"),
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Uint => f.write_str("uint"),
            Type::Double => f.write_str("double"),
            Type::String => f.write_str("string"),
            Type::Bytes => f.write_str("bytes"),
            Type::Duration => f.write_str("google.protobuf.Duration"),
            Type::Timestamp => f.write_str("google.protobuf.Timestamp"),
            Type::List(e) => write!(f, "list({e})"),
            Type::Map(k, v) => write!(f, "map({k}, {v})"),
            Type::Object(o) => f.write_str(&o.name),
            Type::Opaque(name, params) if params.is_empty() => f.write_str(name),
            Type::Opaque(name, params) => {
                write!(f, "{name}(")?;
                for (i, p) in params.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                }
                f.write_str(")")
            }
            Type::Meta(t) => write!(f, "type({t})"),
            Type::Param(name) => f.write_str(name),
        }
    }
}

/// Type variable bindings found while checking one expression (cel-go's `mapping`).
#[derive(Clone, Debug, Default)]
pub(super) struct Mapping(HashMap<Arc<str>, Type>);

impl Mapping {
    fn find(&self, t: &Type) -> Option<&Type> {
        match t {
            Type::Param(name) => self.0.get(name),
            _ => None,
        }
    }

    pub fn add(&mut self, param: &Arc<str>, t: Type) {
        self.0.insert(param.clone(), t);
    }
}

/// Replaces bound type parameters by their bindings; unbound ones become `dyn` when
/// `param_to_dyn` (cel-go's `substitute`).
pub(super) fn substitute(m: &Mapping, t: &Type, param_to_dyn: bool) -> Type {
    if let Some(sub) = m.find(t) {
        return substitute(m, sub, param_to_dyn);
    }
    match t {
        Type::Param(_) if param_to_dyn => Type::Dyn,
        Type::List(e) => Type::list(substitute(m, e, param_to_dyn)),
        Type::Map(k, v) => Type::map(
            substitute(m, k, param_to_dyn),
            substitute(m, v, param_to_dyn),
        ),
        Type::Opaque(name, ps) => Type::Opaque(
            name,
            ps.iter().map(|p| substitute(m, p, param_to_dyn)).collect(),
        ),
        Type::Meta(inner) => Type::Meta(Box::new(substitute(m, inner, param_to_dyn))),
        other => other.clone(),
    }
}

/// Whether a value of type `t2` may be used where `t1` is expected, recording the type
/// parameter bindings that makes it so (cel-go's `internalIsAssignable`).
pub(super) fn is_assignable(m: &mut Mapping, t1: &Type, t2: &Type) -> bool {
    if let Type::Param(_) = t2 {
        let (valid, has_sub) = is_valid_substitution(m, t1, t2);
        if valid {
            return true;
        }
        if has_sub {
            return false;
        }
    }
    if let Type::Param(_) = t1 {
        return is_valid_substitution(m, t2, t1).0;
    }
    if t1.is_dyn_or_error() || t2.is_dyn_or_error() {
        return true;
    }
    if let Type::Null = t1 {
        return is_nullable(t2);
    }
    if let Type::Null = t2 {
        return is_nullable(t1);
    }
    match (t1, t2) {
        (Type::Meta(_), Type::Meta(_)) => true,
        (Type::List(a), Type::List(b)) => is_assignable(m, a, b),
        (Type::Map(ak, av), Type::Map(bk, bv)) => {
            is_assignable(m, ak, bk) && is_assignable(m, av, bv)
        }
        (Type::Opaque(an, ap), Type::Opaque(bn, bp)) => {
            an == bn
                && ap.len() == bp.len()
                && ap.iter().zip(bp).all(|(a, b)| is_assignable(m, a, b))
        }
        (a, b) => a.is_exact(b),
    }
}

/// Types `null` is assignable to, as cel-go's legacy nullability.
fn is_nullable(t: &Type) -> bool {
    matches!(
        t,
        Type::Null | Type::Object(_) | Type::Opaque(..) | Type::Duration | Type::Timestamp
    )
}

fn is_valid_substitution(m: &mut Mapping, t1: &Type, t2: &Type) -> (bool, bool) {
    if t1.is_exact(t2) {
        return (true, true);
    }
    let Type::Param(name) = t2 else {
        return (false, false);
    };
    if let Some(sub) = m.find(t2).cloned() {
        if t1.is_exact(&sub) {
            return (true, true);
        }
        if is_assignable(m, t1, &sub) {
            let general = most_general(t1, &sub);
            if not_referenced_in(m, t2, &general) {
                m.add(name, general);
            }
            return (true, true);
        }
        return (false, true);
    }
    if not_referenced_in(m, t2, t1) {
        m.add(name, t1.clone());
        return (true, false);
    }
    (false, false)
}

fn not_referenced_in(m: &Mapping, t: &Type, within: &Type) -> bool {
    if t.is_exact(within) {
        return false;
    }
    match within {
        Type::Param(_) => match m.find(within) {
            None => true,
            Some(sub) => not_referenced_in(m, t, sub),
        },
        Type::List(_) | Type::Map(..) | Type::Opaque(..) | Type::Meta(_) => {
            within.params().iter().all(|p| not_referenced_in(m, t, p))
        }
        _ => true,
    }
}

/// The less specific of two compatible types (cel-go's `mostGeneral`).
pub(super) fn most_general(t1: &Type, t2: &Type) -> Type {
    if is_equal_or_less_specific(t1, t2) {
        t1.clone()
    } else {
        t2.clone()
    }
}

fn is_equal_or_less_specific(t1: &Type, t2: &Type) -> bool {
    if t1.is_dyn() || matches!(t1, Type::Param(_)) {
        return true;
    }
    if t2.is_dyn() || matches!(t2, Type::Param(_)) {
        return false;
    }
    match (t1, t2) {
        (Type::Opaque(an, ap), Type::Opaque(bn, bp)) => {
            an == bn
                && ap.len() == bp.len()
                && ap
                    .iter()
                    .zip(bp)
                    .all(|(a, b)| is_equal_or_less_specific(a, b))
        }
        (Type::List(a), Type::List(b)) => is_equal_or_less_specific(a, b),
        (Type::Map(ak, av), Type::Map(bk, bv)) => {
            is_equal_or_less_specific(ak, bk) && is_equal_or_less_specific(av, bv)
        }
        (Type::Meta(_), Type::Meta(_)) => true,
        (a, b) => a.is_exact(b),
    }
}

/// What a schema node looks like to CEL, before object types are named: upstream's
/// `DeclType` as `SchemaDeclType` returns it.
#[derive(Clone, Debug)]
pub(super) enum Decl {
    /// `x-kubernetes-int-or-string`.
    Dyn,
    Bool,
    Int,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    List(Box<Decl>),
    Map(Box<Decl>),
    Object(BTreeMap<String, Decl>),
}

impl Decl {
    /// The checker type of this declaration, naming objects after `name` the way upstream's
    /// `MaybeAssignTypeName` does (`selfType123.spec`, `.@idx` for list items, `.@elem` for
    /// map values).
    pub fn to_type(&self, name: &str) -> Type {
        match self {
            Decl::Dyn => Type::Dyn,
            Decl::Bool => Type::Bool,
            Decl::Int => Type::Int,
            Decl::Double => Type::Double,
            Decl::String => Type::String,
            Decl::Bytes => Type::Bytes,
            Decl::Duration => Type::Duration,
            Decl::Timestamp => Type::Timestamp,
            Decl::List(items) => Type::list(items.to_type(&format!("{name}.@idx"))),
            Decl::Map(values) => Type::map(Type::String, values.to_type(&format!("{name}.@elem"))),
            Decl::Object(fields) => Type::Object(Arc::new(Object {
                name: name.to_string(),
                fields: fields
                    .iter()
                    .map(|(k, d)| (k.clone(), d.to_type(&format!("{name}.{k}"))))
                    .collect(),
            })),
        }
    }

    /// The declaration of an escaped field of an object declaration.
    pub fn field(&self, escaped: &str) -> Option<&Decl> {
        match self {
            Decl::Object(fields) => fields.get(escaped),
            _ => None,
        }
    }

    /// The declaration of list items or map values.
    pub fn elem(&self) -> Option<&Decl> {
        match self {
            Decl::List(e) | Decl::Map(e) => Some(e),
            _ => None,
        }
    }
}

/// The items schema of an array schema, when it is a single schema.
pub(super) fn items(s: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(items)) => Some(items),
        _ => None,
    }
}

/// The additionalProperties schema of an object schema, when it is a schema.
pub(super) fn additional_properties(s: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match &s.additional_properties {
        Some(JSONSchemaPropsOrBool::Schema(ap)) => Some(ap),
        _ => None,
    }
}

/// The declared properties, when there are any (a structural schema has no empty map).
pub(super) fn properties(s: &JSONSchemaProps) -> Option<&BTreeMap<String, JSONSchemaProps>> {
    s.properties.as_ref().filter(|p| !p.is_empty())
}

pub(super) fn type_name(s: &JSONSchemaProps) -> &str {
    s.type_.as_deref().unwrap_or("")
}

pub(super) fn is_embedded(s: &JSONSchemaProps) -> bool {
    s.x_kubernetes_embedded_resource == Some(true)
}

pub(super) fn is_int_or_string(s: &JSONSchemaProps) -> bool {
    s.x_kubernetes_int_or_string == Some(true)
}

/// The schema of a resource root: `apiVersion`, `kind`, `metadata.name` and
/// `metadata.generateName` are always visible to rules there, even when the schema does not
/// declare them (upstream's `WithTypeAndObjectMeta`).
pub(super) fn with_type_and_object_meta(s: &JSONSchemaProps) -> Cow<'_, JSONSchemaProps> {
    let props = s.properties.as_ref();
    let is = |name: &str, ty: &str| {
        props
            .and_then(|p| p.get(name))
            .is_some_and(|p| type_name(p) == ty)
    };
    let meta_has = |name: &str| {
        props
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.properties.as_ref())
            .and_then(|p| p.get(name))
            .is_some_and(|p| type_name(p) == "string")
    };
    if is("kind", "string")
        && is("apiVersion", "string")
        && is("metadata", "object")
        && meta_has("name")
        && meta_has("generateName")
    {
        return Cow::Borrowed(s);
    }
    let string = || JSONSchemaProps {
        type_: Some("string".into()),
        ..Default::default()
    };
    let mut result = s.clone();
    let props = result.properties.get_or_insert_with(BTreeMap::new);
    props.insert("kind".into(), string());
    props.insert("apiVersion".into(), string());
    props.insert(
        "metadata".into(),
        JSONSchemaProps {
            type_: Some("object".into()),
            properties: Some(BTreeMap::from([
                ("name".to_string(), string()),
                ("generateName".to_string(), string()),
            ])),
            ..Default::default()
        },
    );
    Cow::Owned(result)
}

/// Upstream's `SchemaDeclType`: how a schema node is typed in CEL, or `None` when rules cannot
/// see it (untyped preserved fields, arrays of such, ...).
pub(super) fn schema_decl(s: &JSONSchemaProps, resource_root: bool) -> Option<Decl> {
    if is_int_or_string(s) {
        return Some(Decl::Dyn);
    }
    let s = if resource_root {
        with_type_and_object_meta(s)
    } else {
        Cow::Borrowed(s)
    };
    match type_name(&s) {
        "array" => {
            let items = items(&s)?;
            Some(Decl::List(Box::new(schema_decl(
                items,
                is_embedded(items),
            )?)))
        }
        "object" => {
            if let Some(ap) = additional_properties(&s) {
                return Some(Decl::Map(Box::new(schema_decl(ap, is_embedded(ap))?)));
            }
            let mut fields = BTreeMap::new();
            for (name, prop) in s.properties.iter().flatten() {
                if let Some(decl) = schema_decl(prop, is_embedded(prop))
                    && let Some(escaped) = escape(name)
                {
                    fields.insert(escaped, decl);
                }
            }
            Some(Decl::Object(fields))
        }
        "string" => Some(match s.format.as_deref() {
            Some("byte") => Decl::Bytes,
            Some("duration") => Decl::Duration,
            Some("date") | Some("date-time") => Decl::Timestamp,
            _ => Decl::String,
        }),
        "boolean" => Some(Decl::Bool),
        "number" => Some(Decl::Double),
        "integer" => Some(Decl::Int),
        _ => None,
    }
}

/// CEL's reserved words: a property named so is reached as `__name__`.
pub(super) const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Upstream's `Escape`: a property name as a CEL identifier, or `None` if it has characters
/// outside `[a-zA-Z0-9_.-/]` or starts with a digit.
pub(super) fn escape(ident: &str) -> Option<String> {
    let first = ident.chars().next()?;
    if first.is_ascii_digit() {
        return None;
    }
    if RESERVED.contains(&ident) {
        return Some(format!("__{ident}__"));
    }
    let mut out = String::with_capacity(ident.len());
    let mut chars = ident.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}
