//! OpenAPI publishing: `/openapi/v2` (one Swagger 2.0 document) and `/openapi/v3` (an index of
//! group-versions, each `serverRelativeURL?hash=`, and one document per group-version), built
//! from the catalog and the schema source (`crate::schema`). kubectl reads them for `explain`,
//! for the patch strategies of client-side `apply`, and to learn that the server validates
//! fields itself (`fieldValidation` on PATCH operations).
//!
//! The documents are built once, on first use or by the background warm-up at start, so they
//! cost nothing on the way to `/readyz`.

mod paths;

use crate::registry::catalog::Catalog;
use crate::schema::{Schemas, V2_REF_PREFIX};
use paths::Flavor;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

/// One published document and its hash (its ETag).
pub struct Document {
    pub json: bytes::Bytes,
    pub hash: String,
}

impl Document {
    fn new(doc: &Value) -> Self {
        let json = serde_json::to_vec(doc).unwrap_or_default();
        let hash = hash(&json);
        Self {
            json: bytes::Bytes::from(json),
            hash,
        }
    }
}

/// Every published document.
pub struct Documents {
    pub v2: Document,
    pub v3_index: bytes::Bytes,
    /// Keyed by `api/v1` or `apis/<group>/<version>`.
    pub v3: BTreeMap<String, Document>,
}

/// The schemas and documents of one catalog, built on first use.
pub struct OpenApi {
    catalog: Arc<Catalog>,
    schemas: OnceLock<Arc<Schemas>>,
    built: OnceLock<Documents>,
}

impl OpenApi {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            catalog,
            schemas: OnceLock::new(),
            built: OnceLock::new(),
        }
    }

    /// The definitions of every served kind (strategic merge patch reads them).
    pub fn schemas(&self) -> &Schemas {
        self.schemas
            .get_or_init(|| Arc::new(schemas_of(&self.catalog)))
    }

    /// The same schemas, to hand to the store.
    pub fn shared_schemas(&self) -> Arc<Schemas> {
        self.schemas
            .get_or_init(|| Arc::new(schemas_of(&self.catalog)))
            .clone()
    }

    /// The documents; the first call builds them (tens of milliseconds).
    pub fn documents(&self) -> &Documents {
        self.built.get_or_init(|| {
            let started = std::time::Instant::now();
            let docs = build(&self.catalog, self.schemas());
            tracing::info!(took = ?started.elapsed(), bytes = docs.v2.json.len(), "Built the OpenAPI documents.");
            docs
        })
    }
}

fn hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

const INFO_TITLE: &str = "Kubernetes";

fn security_v2() -> (Value, Value) {
    (
        json!({"BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}}),
        json!([{"BearerToken": []}]),
    )
}

/// The definitions of every kind the catalog serves, its subresources' kinds included.
fn schemas_of(catalog: &Catalog) -> Schemas {
    let served: BTreeSet<(String, String, String)> = catalog
        .endpoints()
        .iter()
        .flat_map(|e| {
            let main = (
                e.info.group.to_string(),
                e.info.version.to_string(),
                e.info.kind.to_string(),
            );
            let subs = e.info.subresources.iter().map(|s| {
                (
                    s.group.to_string(),
                    s.version.to_string(),
                    s.kind.to_string(),
                )
            });
            std::iter::once(main).chain(subs)
        })
        .collect();
    Schemas::build(&|g, v, k| served.contains(&(g.to_string(), v.to_string(), k.to_string())))
}

fn build(catalog: &Catalog, schemas: &Schemas) -> Documents {
    let mut v2_paths = Map::new();
    let mut v3_paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut v3_roots: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in catalog.endpoints() {
        let info = &e.info;
        let key = if info.group.is_empty() {
            format!("api/{}", info.version)
        } else {
            format!("apis/{}/{}", info.group, info.version)
        };
        paths::add(Flavor::V2, schemas, info, &mut v2_paths);
        paths::add(
            Flavor::V3,
            schemas,
            info,
            v3_paths.entry(key.clone()).or_default(),
        );
        let roots = v3_roots.entry(key).or_default();
        let kinds = [info.kind.to_string(), info.list_kind()]
            .into_iter()
            .map(|k| (info.group, info.version, k))
            .chain(
                info.subresources
                    .iter()
                    .map(|s| (s.group, s.version, s.kind.to_string())),
            );
        for (g, v, k) in kinds {
            if let Some(def) = schemas.definition_of(g, v, &k) {
                roots.insert(def.to_string());
            }
        }
    }

    let definitions: Map<String, Value> = schemas
        .definitions()
        .iter()
        .map(|(n, d)| (n.clone(), d.clone()))
        .collect();
    let (security_definitions, security) = security_v2();
    let v2 = Document::new(&json!({
        "swagger": "2.0",
        "info": {"title": INFO_TITLE, "version": crate::server::GIT_VERSION},
        "paths": v2_paths,
        "definitions": definitions,
        "securityDefinitions": security_definitions,
        "security": security,
    }));

    let mut v3 = BTreeMap::new();
    let mut index = Map::new();
    for (key, paths) in v3_paths {
        let roots = v3_roots.remove(&key).unwrap_or_default();
        let names = schemas.closure(roots.iter().map(String::as_str));
        let components: Map<String, Value> = names
            .iter()
            .filter_map(|n| Some((n.clone(), definition_v3(n, schemas.definitions().get(n)?))))
            .collect();
        let doc = Document::new(&json!({
            "openapi": "3.0.0",
            "info": {"title": INFO_TITLE, "version": crate::server::GIT_VERSION},
            "paths": paths,
            "components": {
                "schemas": components,
                "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
            },
        }));
        index.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.hash)}),
        );
        v3.insert(key, doc);
    }
    let v3_index = serde_json::to_vec(&json!({ "paths": index })).unwrap_or_default();
    Documents {
        v2,
        v3_index: bytes::Bytes::from(v3_index),
        v3,
    }
}

/// A definition in v3 form. IntOrString and Quantity are published in v3 as a choice of
/// types rather than as strings (so `kubectl explain` names them instead of saying `string`).
fn definition_v3(name: &str, schema: &Value) -> Value {
    let choice = |types: [&str; 2]| {
        let mut v = schema.clone();
        if let Some(obj) = v.as_object_mut() {
            obj.remove("type");
            obj.insert(
                "oneOf".into(),
                json!([{"type": types[0]}, {"type": types[1]}]),
            );
        }
        v
    };
    match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => choice(["integer", "string"]),
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => choice(["string", "number"]),
        _ => to_v3(schema),
    }
}

/// A v2 definition in v3 form: references point into `components/schemas`, and a reference
/// with siblings (a property's description) is wrapped in `allOf`, as upstream publishes it.
fn to_v3(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let reference = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(V2_REF_PREFIX))
                .map(|name| json!({"$ref": format!("#/components/schemas/{name}")}));
            match reference {
                Some(r) if map.len() == 1 => r,
                Some(r) => {
                    let mut out: Map<String, Value> = map
                        .iter()
                        .filter(|(k, _)| *k != "$ref")
                        .map(|(k, v)| (k.clone(), to_v3(v)))
                        .collect();
                    out.insert("allOf".into(), json!([r]));
                    Value::Object(out)
                }
                None => Value::Object(map.iter().map(|(k, v)| (k.clone(), to_v3(v))).collect()),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v3).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_wraps_references_with_siblings_in_all_of() {
        let v2 = json!({"properties": {
            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec", "description": "d"},
            "items": {"type": "array", "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Pod"}},
        }});
        let v3 = to_v3(&v2);
        assert_eq!(
            v3["properties"]["spec"],
            json!({"description": "d", "allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}]})
        );
        assert_eq!(
            v3["properties"]["items"]["items"],
            json!({"$ref": "#/components/schemas/io.k8s.api.core.v1.Pod"})
        );
    }
}
