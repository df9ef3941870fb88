//! The one schema source: the definitions of every kind the apiserver serves, named as
//! upstream names them (`io.k8s.api.core.v1.Pod`), with upstream's Kubernetes extensions
//! (group-version-kind, list types and map keys, patch strategies and merge keys, map types)
//! and the enums of enum-typed fields.
//!
//! Properties, types, formats and descriptions come from k8s-openapi's `schemars` impls; the
//! extensions, upstream's `required` lists and the enums (values, and the "Possible enum
//! values" paragraph of the description) come from a generated table of upstream facts
//! (`facts_table.rs`). OpenAPI v2 and v3 publishing read this; strategic merge patch, server-
//! side apply and `kubectl explain` (through the published documents) do too.
//!
//! Definitions are kept in OpenAPI v2 form: references are `#/definitions/<name>` and may have
//! siblings such as `description`. The v3 publisher rewrites them.

pub mod facts;
mod facts_table;
pub mod walk;

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where a v2 reference points.
pub const V2_REF_PREFIX: &str = "#/definitions/";

/// Metadata definitions every group-version's documents reference.
const META: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
];

/// A kind's identity.
pub type Gvk = (String, String, String);

/// All definitions, and which one describes each kind.
#[derive(Clone)]
pub struct Schemas {
    definitions: BTreeMap<String, Value>,
    by_gvk: HashMap<Gvk, String>,
}

impl Schemas {
    /// Builds the definitions of the kinds `served` accepts (and their lists), plus the
    /// metadata types every API uses.
    pub fn build(served: &dyn Fn(&str, &str, &str) -> bool) -> Self {
        let mut settings = schemars::generate::SchemaSettings::draft07();
        // Keep references' sibling descriptions as upstream's v2 documents have them.
        settings.transforms.clear();
        settings.meta_schema = None;
        let mut generator = settings.into_generator();
        facts_table::add_kinds(&mut generator, served);
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Patch>();
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent<
            k8s_openapi::apimachinery::pkg::runtime::RawExtension,
        >>();
        let mut definitions: BTreeMap<String, Value> =
            generator.take_definitions(false).into_iter().collect();
        for (name, schema) in &mut definitions {
            adjust(name, schema);
        }
        let mut by_gvk = HashMap::new();
        let mut lists = Vec::new();
        for (name, schema) in &definitions {
            for gvk in gvks_of(schema) {
                if name.ends_with(".WatchEvent") || name.ends_with(".DeleteOptions") {
                    continue;
                }
                if served(&gvk.0, &gvk.1, &gvk.2) {
                    lists.push((name.clone(), gvk.clone()));
                    by_gvk.insert(gvk, name.clone());
                }
            }
        }
        for (item, gvk) in lists {
            let list_name = format!("{item}List");
            if definitions.contains_key(&list_name) {
                continue;
            }
            let mut list = list_schema(&item, &definitions[&item], &gvk);
            adjust(&list_name, &mut list);
            by_gvk.insert((gvk.0, gvk.1, format!("{}List", gvk.2)), list_name.clone());
            definitions.insert(list_name, list);
        }
        Self {
            definitions,
            by_gvk,
        }
    }

    /// These schemas plus custom resources' definitions (named as upstream names them, each
    /// declaring its kind in `x-kubernetes-group-version-kind`).
    pub fn with_custom(&self, custom: Vec<(String, Value)>) -> Self {
        let mut next = self.clone();
        for (name, definition) in custom {
            for gvk in gvks_of(&definition) {
                next.by_gvk.insert(gvk, name.clone());
            }
            next.definitions.insert(name, definition);
        }
        next
    }

    /// Every definition, by name.
    pub fn definitions(&self) -> &BTreeMap<String, Value> {
        &self.definitions
    }

    /// The definition of a kind.
    pub fn definition_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.by_gvk
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .map(String::as_str)
    }

    /// The names of `roots`, the metadata definitions and every definition they reference.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut work: Vec<String> = roots
            .into_iter()
            .chain(META.iter().copied())
            .map(str::to_string)
            .collect();
        while let Some(name) = work.pop() {
            let Some(schema) = self.definitions.get(&name) else {
                continue;
            };
            if !seen.insert(name) {
                continue;
            }
            references(schema, &mut |r| work.push(r.to_string()));
        }
        seen
    }
}

/// Calls `found` with the definition name of every reference inside `schema`.
pub fn references(schema: &Value, found: &mut dyn FnMut(&str)) {
    match schema {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(name) = v.as_str().and_then(|r| r.strip_prefix(V2_REF_PREFIX))
                {
                    found(name);
                } else {
                    references(v, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

fn gvks_of(schema: &Value) -> Vec<Gvk> {
    schema
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|g| {
            let field = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (field("group"), field("version"), field("kind"))
        })
        .collect()
}

/// Brings one k8s-openapi definition to upstream's published form.
fn adjust(name: &str, schema: &mut Value) {
    if let Some(replacement) = special(name, schema) {
        *schema = replacement;
        return;
    }
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let Some(facts) = facts::definition(name) else {
        return;
    };
    // k8s-openapi calls every non-Option field required; upstream's list is the truth.
    if facts.required.is_empty() {
        obj.remove("required");
    } else {
        obj.insert("required".into(), json!(facts.required));
    }
    if !facts.gvks.is_empty() {
        let gvks: Vec<Value> = facts
            .gvks
            .iter()
            .map(|(g, v, k)| json!({"group": g, "kind": k, "version": v}))
            .collect();
        obj.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
    }
    if let Some(t) = facts.map_type {
        obj.insert("x-kubernetes-map-type".into(), t.into());
    }
    let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for p in facts.properties {
        let Some(prop) = props.get_mut(p.name).and_then(Value::as_object_mut) else {
            continue;
        };
        if !p.list_map_keys.is_empty() {
            prop.insert("x-kubernetes-list-map-keys".into(), json!(p.list_map_keys));
        }
        let extensions = [
            ("x-kubernetes-list-type", p.list_type),
            ("x-kubernetes-map-type", p.map_type),
            ("x-kubernetes-patch-merge-key", p.patch_merge_key),
            ("x-kubernetes-patch-strategy", p.patch_strategy),
        ];
        for (key, value) in extensions {
            if let Some(v) = value {
                prop.insert(key.into(), v.into());
            }
        }
        if let Some(e) = &p.enumeration {
            add_enum(prop, e);
        }
    }
}

/// Puts an enum-typed property's values where upstream does (on the property, its items or
/// its map values) and appends upstream's "Possible enum values" paragraph to its description.
fn add_enum(prop: &mut Map<String, Value>, e: &facts::Enum) {
    let target = match e.at {
        facts::EnumAt::Value => Some(&mut *prop),
        facts::EnumAt::Items => prop.get_mut("items").and_then(Value::as_object_mut),
        facts::EnumAt::MapValues => prop
            .get_mut("additionalProperties")
            .and_then(Value::as_object_mut),
    };
    if let Some(target) = target {
        target.insert("enum".into(), json!(e.values));
    }
    if let Some(paragraph) = e.description {
        let description = match prop.get("description").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => format!("{d}\n\n{paragraph}"),
            _ => paragraph.to_string(),
        };
        prop.insert("description".into(), description.into());
    }
}

/// Definitions whose k8s-openapi schema differs in kind from upstream's (k8s-openapi shapes
/// them for custom resource validation).
fn special(name: &str, schema: &Value) -> Option<Value> {
    let description = schema.get("description").cloned().unwrap_or_default();
    match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            Some(json!({"description": description, "format": "int-or-string", "type": "string"}))
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            Some(json!({"description": description, "type": "string"}))
        }
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray" => {
            Some(json!({"description": description}))
        }
        _ => None,
    }
}

/// The definition of a kind's list (k8s-openapi has one generic list type without a schema).
fn list_schema(item: &str, item_schema: &Value, gvk: &Gvk) -> Value {
    let kind = &gvk.2;
    let mut properties = Map::new();
    // apiVersion and kind read the same on a list as on its items.
    for field in ["apiVersion", "kind"] {
        if let Some(p) = item_schema.pointer(&format!("/properties/{field}")) {
            properties.insert(field.into(), p.clone());
        }
    }
    properties.insert(
        "items".into(),
        json!({"description": format!("The {kind} objects."), "type": "array", "items": {"$ref": format!("{V2_REF_PREFIX}{item}")}}),
    );
    properties.insert(
        "metadata".into(),
        json!({"$ref": format!("{V2_REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"), "description": "The list's metadata: its resourceVersion and continue token."}),
    );
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "properties": properties,
        "required": ["items"],
        "x-kubernetes-group-version-kind": [{"group": gvk.0, "kind": format!("{kind}List"), "version": gvk.1}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Schemas {
        Schemas::build(&|_, _, _| true)
    }

    #[test]
    fn kinds_carry_upstream_extensions_and_required_lists() {
        let s = all();
        let name = s.definition_of("", "v1", "Pod").unwrap();
        assert_eq!(name, "io.k8s.api.core.v1.Pod");
        let pod = &s.definitions()[name];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert!(
            pod.get("required").is_none(),
            "upstream requires nothing of a Pod"
        );
        let spec = &s.definitions()["io.k8s.api.core.v1.PodSpec"];
        assert_eq!(spec["required"], json!(["containers"]));
        let containers = &spec["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(
            containers["items"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.Container"
        );
        let volumes = &spec["properties"]["volumes"];
        assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    }

    #[test]
    fn lists_and_special_types_are_published_as_upstream() {
        let s = all();
        let list = s.definition_of("apps", "v1", "DeploymentList").unwrap();
        assert_eq!(
            s.definitions()[list]["properties"]["items"]["items"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.Deployment"
        );
        let ios = &s.definitions()["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
        assert_eq!(ios["format"], "int-or-string");
        assert_eq!(ios["type"], "string");
    }

    #[test]
    fn enum_typed_fields_list_their_values_as_upstream() {
        let s = all();
        let spec = &s.definitions()["io.k8s.api.core.v1.PodSpec"]["properties"];
        let dns = &spec["dnsPolicy"];
        assert_eq!(
            dns["enum"],
            json!(["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"])
        );
        // Upstream's v1.33 description: k8s-openapi's text, a blank line, then the values.
        assert_eq!(
            dns["description"],
            "Set DNS policy for the pod. Defaults to \"ClusterFirst\". Valid values are \
             'ClusterFirstWithHostNet', 'ClusterFirst', 'Default' or 'None'. DNS parameters given \
             in DNSConfig will be merged with the policy selected with DNSPolicy. To have DNS \
             options set along with hostNetwork, you have to specify DNS policy explicitly to \
             'ClusterFirstWithHostNet'.\n\nPossible enum values:\n - `\"ClusterFirst\"` indicates \
             that the pod should use cluster DNS first unless hostNetwork is true, if it is \
             available, then fall back on the default (as determined by kubelet) DNS settings.\n \
             - `\"ClusterFirstWithHostNet\"` indicates that the pod should use cluster DNS first, \
             if it is available, then fall back on the default (as determined by kubelet) DNS \
             settings.\n - `\"Default\"` indicates that the pod should use the default (as \
             determined by kubelet) DNS settings.\n - `\"None\"` indicates that the pod should \
             use empty DNS settings. DNS parameters such as nameservers and search paths should \
             be defined via DNSConfig."
        );
        let restart = &spec["restartPolicy"];
        assert_eq!(restart["enum"], json!(["Always", "Never", "OnFailure"]));
        assert!(restart["description"].as_str().unwrap().ends_with(
            "\n\nPossible enum values:\n - `\"Always\"`\n - `\"Never\"`\n - `\"OnFailure\"`"
        ));
        let service = &s.definitions()["io.k8s.api.core.v1.ServiceSpec"]["properties"];
        assert_eq!(
            service["type"]["enum"],
            json!(["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"])
        );
        // Lists and maps of enums carry the values on their items and values, and no paragraph.
        assert_eq!(
            service["ipFamilies"]["items"]["enum"],
            json!(["", "IPv4", "IPv6"])
        );
        assert!(service["ipFamilies"].get("enum").is_none());
        let claim = &s.definitions()["io.k8s.api.core.v1.PersistentVolumeClaimStatus"];
        let resizes = &claim["properties"]["allocatedResourceStatuses"];
        assert_eq!(
            resizes["additionalProperties"]["enum"][0],
            "ControllerResizeInProgress"
        );
        assert!(
            !resizes["description"]
                .as_str()
                .unwrap()
                .contains("Possible enum values")
        );
        // Fields of no enum type are untouched.
        assert!(spec["hostname"].get("enum").is_none());
    }

    #[test]
    fn closure_follows_references() {
        let s = all();
        let names = s.closure(["io.k8s.api.apps.v1.Deployment"]);
        assert!(names.contains("io.k8s.api.core.v1.Container"));
        assert!(names.contains("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
        assert!(names.contains("io.k8s.apimachinery.pkg.apis.meta.v1.Status"));
        assert!(!names.contains("io.k8s.api.batch.v1.Job"));
    }
}
