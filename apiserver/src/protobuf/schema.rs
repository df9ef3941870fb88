//! The shape of the schema table: per protobuf message, its fields with their tags, JSON
//! names, wire kinds and whether a zero value survives into JSON; and the look-ups by kind.
//!
//! The table itself is generated (`schema_table.rs`, see `hack/protobuf-schema/gen.py`).

use super::schema_table::MESSAGES;

/// The value kind of a field (of each element for repeated fields, of each value for maps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    I32,
    I64,
    F64,
    /// `bytes`: a base64 string in JSON.
    Bytes,
    /// A nested message: an index into [`MESSAGES`].
    Msg(u16),
}

/// How often a field occurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    One,
    Rep,
    /// `map<string, V>`: entries with the key in field 1 and the value in field 2.
    Map,
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    None,
    /// `metav1.Time`: an RFC 3339 string with second precision.
    Time,
    /// `metav1.MicroTime`: an RFC 3339 string with microseconds.
    MicroTime,
    /// `metav1.Duration`: a Go duration string.
    Duration,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`, `metav1.FieldsV1`, apiextensions `JSON`: embedded JSON bytes.
    RawJson,
    /// A message wrapping `repeated string items = 1` that is a plain array in JSON
    /// (`ExtraValue`, `Verbs`).
    StringList,
    /// `JSONSchemaPropsOrArray`: a schema or an array of schemas.
    SchemaOrArray,
    /// `JSONSchemaPropsOrBool`: a schema or a boolean.
    SchemaOrBool,
    /// `JSONSchemaPropsOrStringArray`: a schema or an array of strings.
    SchemaOrStringArray,
}

#[derive(Debug)]
pub struct Field {
    pub tag: u32,
    /// The JSON property; empty for an `inline` field.
    pub json: &'static str,
    pub kind: Kind,
    pub card: Card,
    /// Whether a zero scalar stays in JSON: the Go field is a pointer (set explicitly) or has no
    /// `omitempty`. A zero non-pointer `omitempty` field is written on the wire but not in JSON.
    pub keep_zero: bool,
    /// A nested message whose fields the JSON form embeds in this object (`json:",inline"`).
    pub inline: bool,
}

#[derive(Debug)]
pub struct Message {
    /// `<apiVersion>/<Kind>`, e.g. `apps/v1/Deployment`; `meta.k8s.io/v1/...`, `runtime/...`,
    /// `intstr/...` and `resource/...` for the shared packages.
    pub name: &'static str,
    pub special: Special,
    /// Ordered by tag.
    pub fields: &'static [Field],
}

impl Message {
    pub fn field(&self, tag: u32) -> Option<&'static Field> {
        let fields: &'static [Field] = self.fields;
        fields
            .binary_search_by_key(&tag, |f| f.tag)
            .ok()
            .map(|i| &fields[i])
    }

    /// The upstream Kind (the last segment of the name).
    pub fn kind(&self) -> &'static str {
        let name: &'static str = self.name;
        name.rsplit('/').next().unwrap_or(name)
    }
}

/// The message at `index` of the table.
pub fn message(index: u16) -> &'static Message {
    &MESSAGES[usize::from(index)]
}

fn find(name: &str) -> Option<&'static Message> {
    MESSAGES
        .binary_search_by(|m| cmp_ignore_case(m.name, name))
        .ok()
        .map(|i| &MESSAGES[i])
}

fn cmp_ignore_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// The message of a kind in an API version. Every group version also serves the shared
/// `meta.k8s.io/v1` kinds (`Status`, `DeleteOptions`, `WatchEvent`, ...), as upstream registers
/// them in each.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    if api_version.is_empty() || kind.is_empty() {
        return None;
    }
    find(&format!("{api_version}/{kind}")).or_else(|| find(&format!("meta.k8s.io/v1/{kind}")))
}

/// Whether objects of `kind` in `api_version` have a protobuf form.
pub fn supports(api_version: &str, kind: &str) -> bool {
    lookup(api_version, kind).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_fields_ordered() {
        for pair in MESSAGES.windows(2) {
            assert_eq!(
                cmp_ignore_case(pair[0].name, pair[1].name),
                std::cmp::Ordering::Less,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for m in MESSAGES {
            for pair in m.fields.windows(2) {
                assert!(pair[0].tag < pair[1].tag, "{}", m.name);
            }
        }
    }

    #[test]
    fn finds_kinds() {
        assert_eq!(
            lookup("apps/v1", "Deployment").unwrap().kind(),
            "Deployment"
        );
        assert_eq!(
            lookup("v1", "ConfigMapList").unwrap().kind(),
            "ConfigMapList"
        );
        assert_eq!(
            lookup("apps/v1", "DeleteOptions").unwrap().name,
            "meta.k8s.io/v1/DeleteOptions"
        );
        assert_eq!(
            lookup("v1", "Status").unwrap().name,
            "meta.k8s.io/v1/Status"
        );
        assert!(lookup("storage.k8s.io/v1", "CSIDriver").is_some());
        assert!(lookup("apiextensions.k8s.io/v1", "CustomResourceDefinition").is_some());
        assert!(lookup("stable.example.com/v1", "CronTab").is_none());
        let spec = lookup("apps/v1", "DeploymentSpec").unwrap();
        let replicas = spec.field(1).unwrap();
        assert_eq!(replicas.json, "replicas");
        assert!(replicas.keep_zero);
        let min_ready = spec.field(5).unwrap();
        assert_eq!(min_ready.json, "minReadySeconds");
        assert!(!min_ready.keep_zero);
    }
}
