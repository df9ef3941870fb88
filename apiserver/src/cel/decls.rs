//! The functions rules may call and their overloads, as the checker knows them: the CEL
//! standard library, optional types, cel-go's strings (version 2) and sets extensions, and the
//! Kubernetes libraries of `k8s.io/apiserver/pkg/cel/library` that the v1.33 base environment
//! offers new expressions (URLs, regex, lists, quantity, IP, CIDR, format).
//!
//! Libraries the environment only adds in 1.33 (semver) are left out on purpose: upstream
//! compiles new CRD rules against the previous minor's environment, where they do not exist.
//!
//! Signatures are written as text (`string.startsWith(string) -> bool` for a member overload,
//! `size(list(A)) -> int` for a global one; single capital letters are type parameters) so
//! the table reads like upstream's declarations.

use super::types::{
    AUTHORIZER, CIDR, DECISION, FORMAT, GROUP_CHECK, IP, OPTIONAL, PATH_CHECK, QUANTITY,
    RESOURCE_CHECK, Type, URL,
};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// One overload of a function.
#[derive(Debug)]
pub(super) struct Overload {
    pub member: bool,
    /// Receiver first for member overloads.
    pub params: Vec<Type>,
    pub result: Type,
    /// The type parameters appearing in the signature, instantiated afresh per call.
    pub type_params: Vec<Arc<str>>,
}

/// Every declared function by name.
pub(super) struct Decls {
    functions: HashMap<String, Vec<Overload>>,
}

impl Decls {
    pub fn function(&self, name: &str) -> Option<&[Overload]> {
        self.functions.get(name).map(Vec::as_slice)
    }
}

/// The format library's named formats, by the name of their constructor function.
pub(super) const NAMED_FORMATS: &[&str] = &[
    "dns1123Label",
    "dns1123Subdomain",
    "dns1035Label",
    "qualifiedName",
    "dns1123LabelPrefix",
    "dns1123SubdomainPrefix",
    "dns1035LabelPrefix",
    "labelValue",
    "uri",
    "uuid",
    "byte",
    "date",
    "datetime",
];

const STANDARD: &str = "
_?_:_(bool, A, A) -> A
_&&_(bool, bool) -> bool
_||_(bool, bool) -> bool
!_(bool) -> bool
@not_strictly_false(bool) -> bool
_==_(A, A) -> bool
_!=_(A, A) -> bool
-_(int) -> int
-_(double) -> double
_+_(int, int) -> int
_+_(uint, uint) -> uint
_+_(double, double) -> double
_+_(string, string) -> string
_+_(bytes, bytes) -> bytes
_+_(list(A), list(A)) -> list(A)
_+_(duration, duration) -> duration
_+_(timestamp, duration) -> timestamp
_+_(duration, timestamp) -> timestamp
_-_(int, int) -> int
_-_(uint, uint) -> uint
_-_(double, double) -> double
_-_(duration, duration) -> duration
_-_(timestamp, timestamp) -> duration
_-_(timestamp, duration) -> timestamp
_*_(int, int) -> int
_*_(uint, uint) -> uint
_*_(double, double) -> double
_/_(int, int) -> int
_/_(uint, uint) -> uint
_/_(double, double) -> double
_%_(int, int) -> int
_%_(uint, uint) -> uint
_[_](list(A), int) -> A
_[_](map(K, V), K) -> V
@in(A, list(A)) -> bool
@in(A, map(A, B)) -> bool
size(string) -> int
size(bytes) -> int
size(list(A)) -> int
size(map(K, V)) -> int
string.size() -> int
bytes.size() -> int
list(A).size() -> int
map(K, V).size() -> int
bool(bool) -> bool
bool(string) -> bool
bytes(bytes) -> bytes
bytes(string) -> bytes
double(double) -> double
double(int) -> double
double(uint) -> double
double(string) -> double
int(int) -> int
int(uint) -> int
int(double) -> int
int(string) -> int
int(timestamp) -> int
uint(uint) -> uint
uint(int) -> uint
uint(double) -> uint
uint(string) -> uint
string(string) -> string
string(bool) -> string
string(int) -> string
string(uint) -> string
string(double) -> string
string(bytes) -> string
string(timestamp) -> string
string(duration) -> string
type(A) -> type(A)
dyn(A) -> dyn
duration(duration) -> duration
duration(string) -> duration
timestamp(timestamp) -> timestamp
timestamp(string) -> timestamp
timestamp(int) -> timestamp
matches(string, string) -> bool
string.matches(string) -> bool
string.contains(string) -> bool
string.endsWith(string) -> bool
string.startsWith(string) -> bool
duration.getHours() -> int
duration.getMinutes() -> int
duration.getSeconds() -> int
duration.getMilliseconds() -> int
optional.of(A) -> optional_type(A)
optional.ofNonZeroValue(A) -> optional_type(A)
optional.none() -> optional_type(T)
optional_type(A).hasValue() -> bool
optional_type(A).value() -> A
optional_type(A).or(optional_type(A)) -> optional_type(A)
optional_type(A).orValue(A) -> A
_[?_](list(V), int) -> optional_type(V)
_[?_](map(K, V), K) -> optional_type(V)
_[?_](optional_type(list(V)), int) -> optional_type(V)
_[?_](optional_type(map(K, V)), K) -> optional_type(V)
_[_](optional_type(list(V)), int) -> optional_type(V)
_[_](optional_type(map(K, V)), K) -> optional_type(V)
string.charAt(int) -> string
string.indexOf(string) -> int
string.indexOf(string, int) -> int
string.lastIndexOf(string) -> int
string.lastIndexOf(string, int) -> int
string.lowerAscii() -> string
string.upperAscii() -> string
string.replace(string, string) -> string
string.replace(string, string, int) -> string
string.split(string) -> list(string)
string.split(string, int) -> list(string)
string.substring(int) -> string
string.substring(int, int) -> string
string.trim() -> string
list(string).join() -> string
list(string).join(string) -> string
string.format(list(dyn)) -> string
strings.quote(string) -> string
sets.contains(list(A), list(A)) -> bool
sets.equivalent(list(A), list(A)) -> bool
sets.intersects(list(A), list(A)) -> bool
list(A).indexOf(A) -> int
list(A).lastIndexOf(A) -> int
string.find(string) -> string
string.findAll(string) -> list(string)
string.findAll(string, int) -> list(string)
url(string) -> kubernetes.URL
isURL(string) -> bool
kubernetes.URL.getScheme() -> string
kubernetes.URL.getHost() -> string
kubernetes.URL.getHostname() -> string
kubernetes.URL.getPort() -> string
kubernetes.URL.getEscapedPath() -> string
kubernetes.URL.getQuery() -> map(string, list(string))
kubernetes.authorization.Authorizer.path(string) -> kubernetes.authorization.PathCheck
kubernetes.authorization.Authorizer.group(string) -> kubernetes.authorization.GroupCheck
kubernetes.authorization.Authorizer.serviceAccount(string, string) -> kubernetes.authorization.Authorizer
kubernetes.authorization.GroupCheck.resource(string) -> kubernetes.authorization.ResourceCheck
kubernetes.authorization.ResourceCheck.subresource(string) -> kubernetes.authorization.ResourceCheck
kubernetes.authorization.ResourceCheck.namespace(string) -> kubernetes.authorization.ResourceCheck
kubernetes.authorization.ResourceCheck.name(string) -> kubernetes.authorization.ResourceCheck
kubernetes.authorization.ResourceCheck.check(string) -> kubernetes.authorization.Decision
kubernetes.authorization.PathCheck.check(string) -> kubernetes.authorization.Decision
kubernetes.authorization.Decision.allowed() -> bool
kubernetes.authorization.Decision.reason() -> string
kubernetes.authorization.Decision.errored() -> bool
kubernetes.authorization.Decision.error() -> string
quantity(string) -> kubernetes.Quantity
isQuantity(string) -> bool
sign(kubernetes.Quantity) -> int
kubernetes.Quantity.isGreaterThan(kubernetes.Quantity) -> bool
kubernetes.Quantity.isLessThan(kubernetes.Quantity) -> bool
kubernetes.Quantity.compareTo(kubernetes.Quantity) -> int
kubernetes.Quantity.asApproximateFloat() -> double
kubernetes.Quantity.asInteger() -> int
kubernetes.Quantity.isInteger() -> bool
kubernetes.Quantity.add(kubernetes.Quantity) -> kubernetes.Quantity
kubernetes.Quantity.add(int) -> kubernetes.Quantity
kubernetes.Quantity.sub(kubernetes.Quantity) -> kubernetes.Quantity
kubernetes.Quantity.sub(int) -> kubernetes.Quantity
ip(string) -> net.IP
isIP(string) -> bool
ip.isCanonical(string) -> bool
net.IP.family() -> int
net.IP.isUnspecified() -> bool
net.IP.isLoopback() -> bool
net.IP.isLinkLocalMulticast() -> bool
net.IP.isLinkLocalUnicast() -> bool
net.IP.isGlobalUnicast() -> bool
string(net.IP) -> string
cidr(string) -> net.CIDR
isCIDR(string) -> bool
net.CIDR.containsIP(string) -> bool
net.CIDR.containsIP(net.IP) -> bool
net.CIDR.containsCIDR(string) -> bool
net.CIDR.containsCIDR(net.CIDR) -> bool
net.CIDR.ip() -> net.IP
net.CIDR.prefixLength() -> int
net.CIDR.masked() -> net.CIDR
string(net.CIDR) -> string
kubernetes.NamedFormat.validate(string) -> optional_type(list(string))
format.named(string) -> optional_type(kubernetes.NamedFormat)
cel.@mapInsert(map(K, V), K, V) -> map(K, V)
cel.@mapInsert(map(K, V), map(K, V)) -> map(K, V)
";

/// Comparable types for `<` and friends and for the lists library's `min`, `max`,
/// `isSorted`.
const COMPARABLE: &[&str] = &[
    "int",
    "uint",
    "double",
    "bool",
    "duration",
    "timestamp",
    "string",
    "bytes",
];

/// Types the lists library sums.
const SUMMABLE: &[&str] = &["int", "uint", "double", "duration"];

/// Timestamp accessors, each with and without a time zone argument.
const TIMESTAMP_ACCESSORS: &[&str] = &[
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

/// Signature lines generated from the tables above.
fn generated() -> Vec<String> {
    let mut lines = Vec::new();
    for op in ["_<_", "_<=_", "_>_", "_>=_"] {
        for t in COMPARABLE {
            lines.push(format!("{op}({t}, {t}) -> bool"));
        }
        // cel-go's cross-type numeric comparisons, which the base environment enables.
        for (a, b) in [
            ("int", "uint"),
            ("int", "double"),
            ("uint", "int"),
            ("uint", "double"),
            ("double", "int"),
            ("double", "uint"),
        ] {
            lines.push(format!("{op}({a}, {b}) -> bool"));
        }
    }
    for t in COMPARABLE {
        lines.push(format!("list({t}).isSorted() -> bool"));
        lines.push(format!("list({t}).min() -> {t}"));
        lines.push(format!("list({t}).max() -> {t}"));
    }
    for t in SUMMABLE {
        lines.push(format!("list({t}).sum() -> {t}"));
    }
    for f in TIMESTAMP_ACCESSORS {
        lines.push(format!("timestamp.{f}() -> int"));
        lines.push(format!("timestamp.{f}(string) -> int"));
    }
    for f in NAMED_FORMATS {
        lines.push(format!("format.{f}() -> kubernetes.NamedFormat"));
    }
    lines
}

/// The declarations, built once.
pub(super) static DECLS: LazyLock<Decls> = LazyLock::new(|| {
    let mut functions: HashMap<String, Vec<Overload>> = HashMap::new();
    let generated = generated();
    let lines = STANDARD
        .lines()
        .map(str::trim)
        .chain(generated.iter().map(String::as_str))
        .filter(|l| !l.is_empty());
    for line in lines {
        if let Some((name, overload)) = parse_signature(line) {
            functions.entry(name).or_default().push(overload);
        } else {
            // A typo in the table above; the unit tests parse every line, so this is not
            // reachable in a build that passed them.
            tracing::error!(signature = line, "unparseable CEL function signature");
        }
    }
    Decls { functions }
});

/// Parses `name(args) -> result` or `receiver.name(args) -> result`.
fn parse_signature(line: &str) -> Option<(String, Overload)> {
    let (call, result) = line.split_once(" -> ")?;
    let open = args_open(call)?;
    let args = call[open + 1..].strip_suffix(')')?;
    let callee = &call[..open];
    let mut params = Vec::new();
    // A member overload names its receiver type before the last dot; a dotted global name
    // (`optional.of`, `sets.contains`, `format.named`) has a lowercase namespace that is not a
    // type.
    let (member, name) = match callee.rfind('.') {
        Some(dot) if is_type_expr(&callee[..dot]) => {
            params.push(parse_type(&callee[..dot])?);
            (true, &callee[dot + 1..])
        }
        _ => (false, callee),
    };
    for arg in split_top_level(args) {
        params.push(parse_type(arg)?);
    }
    let result = parse_type(result.trim())?;
    let mut type_params = Vec::new();
    for t in params.iter().chain(std::iter::once(&result)) {
        collect_params(t, &mut type_params);
    }
    Some((
        name.to_string(),
        Overload {
            member,
            params,
            result,
            type_params,
        },
    ))
}

/// The byte offset of the `(` that opens the argument list ending `call`.
fn args_open(call: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in call.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_type_expr(s: &str) -> bool {
    let base = s.split('(').next().unwrap_or(s);
    matches!(
        base,
        "string"
            | "bytes"
            | "list"
            | "map"
            | "duration"
            | "timestamp"
            | "optional_type"
            | QUANTITY
            | URL
            | IP
            | CIDR
            | FORMAT
            | AUTHORIZER
            | PATH_CHECK
            | GROUP_CHECK
            | RESOURCE_CHECK
            | DECISION
    )
}

/// Splits `a, map(b, c), d` at its top-level commas.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

fn parse_type(s: &str) -> Option<Type> {
    let s = s.trim();
    if let Some(open) = s.find('(') {
        let inner = s[open + 1..].strip_suffix(')')?;
        let args: Option<Vec<Type>> = split_top_level(inner).into_iter().map(parse_type).collect();
        let mut args = args?;
        return match (&s[..open], args.len()) {
            ("list", 1) => args.pop().map(Type::list),
            ("map", 2) => {
                let v = args.pop()?;
                let k = args.pop()?;
                Some(Type::map(k, v))
            }
            ("optional_type", 1) => Some(Type::Opaque(OPTIONAL, args)),
            ("type", 1) => args.pop().map(|t| Type::Meta(Box::new(t))),
            _ => None,
        };
    }
    Some(match s {
        "bool" => Type::Bool,
        "int" => Type::Int,
        "uint" => Type::Uint,
        "double" => Type::Double,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "duration" => Type::Duration,
        "timestamp" => Type::Timestamp,
        "dyn" => Type::Dyn,
        QUANTITY => Type::Opaque(QUANTITY, Vec::new()),
        URL => Type::Opaque(URL, Vec::new()),
        IP => Type::Opaque(IP, Vec::new()),
        CIDR => Type::Opaque(CIDR, Vec::new()),
        FORMAT => Type::Opaque(FORMAT, Vec::new()),
        AUTHORIZER => Type::Opaque(AUTHORIZER, Vec::new()),
        PATH_CHECK => Type::Opaque(PATH_CHECK, Vec::new()),
        GROUP_CHECK => Type::Opaque(GROUP_CHECK, Vec::new()),
        RESOURCE_CHECK => Type::Opaque(RESOURCE_CHECK, Vec::new()),
        DECISION => Type::Opaque(DECISION, Vec::new()),
        p if p.len() == 1 && p.chars().all(|c| c.is_ascii_uppercase()) => Type::Param(p.into()),
        _ => return None,
    })
}

fn collect_params(t: &Type, out: &mut Vec<Arc<str>>) {
    match t {
        Type::Param(p) if !out.contains(p) => out.push(p.clone()),
        Type::List(e) => collect_params(e, out),
        Type::Map(k, v) => {
            collect_params(k, out);
            collect_params(v, out);
        }
        Type::Opaque(_, ps) => ps.iter().for_each(|p| collect_params(p, out)),
        Type::Meta(t) => collect_params(t, out),
        _ => {}
    }
}

/// Identifiers that name types (`type(x) == int`), with the type of the identifier itself.
pub(super) fn type_ident(name: &str) -> Option<Type> {
    let t = match name {
        "bool" => Type::Bool,
        "int" => Type::Int,
        "uint" => Type::Uint,
        "double" => Type::Double,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "list" => Type::list(Type::Dyn),
        "map" => Type::map(Type::Dyn, Type::Dyn),
        "null_type" => Type::Null,
        "type" => Type::Meta(Box::new(Type::Dyn)),
        "google.protobuf.Duration" => Type::Duration,
        "google.protobuf.Timestamp" => Type::Timestamp,
        "net.IP" => Type::Opaque(IP, Vec::new()),
        "net.CIDR" => Type::Opaque(CIDR, Vec::new()),
        _ => return None,
    };
    Some(Type::Meta(Box::new(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signature_parses() {
        for line in STANDARD
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .chain(generated())
        {
            assert!(parse_signature(&line).is_some(), "{line}");
        }
        let starts = DECLS.function("startsWith").unwrap();
        assert!(starts[0].member);
        let of = DECLS.function("optional.of").unwrap();
        assert!(!of[0].member);
        assert_eq!(of[0].result.to_string(), "optional_type(A)");
    }
}
