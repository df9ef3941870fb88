//! OpenAPI publishing: `/openapi/v2` (one Swagger 2.0 document) and `/openapi/v3` (an index of
//! group-versions, each `serverRelativeURL?hash=`, and one document per group-version), built
//! from the catalog and the schema source (`crate::schema`). kubectl reads them for `explain`,
//! for the patch strategies of client-side `apply`, and to learn that the server validates
//! fields itself (`fieldValidation` on PATCH operations).
//!
//! The documents are built once, on first use or by the background warm-up at start, so they
//! cost nothing on the way to `/readyz`.

mod paths;
pub mod v2_protobuf;
mod v3;

use crate::registry::catalog::Catalog;
use crate::schema::Schemas;
use paths::Flavor;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// One published document and its hash (its ETag).
pub struct Document {
    pub json: bytes::Bytes,
    pub hash: String,
}

impl Document {
    fn new(doc: &impl serde::Serialize) -> Self {
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

/// The schemas and documents of one catalog, built on first use and again after the
/// custom resources change.
///
/// Each cached value carries the generation it was built for; [`OpenApi::invalidate`] moves
/// the generation on, so a value built from the old custom set while the set changed is
/// handed out once but never cached.
pub struct OpenApi {
    catalog: Arc<Catalog>,
    /// The built-in kinds' schemas, which never change.
    builtin: std::sync::OnceLock<Arc<Schemas>>,
    generation: AtomicU64,
    /// The built-in ones plus the custom resources' of the moment.
    schemas: RwLock<Option<(u64, Arc<Schemas>)>>,
    built: Mutex<Option<(u64, Arc<Documents>)>>,
}

impl OpenApi {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            catalog,
            builtin: std::sync::OnceLock::new(),
            generation: AtomicU64::new(0),
            schemas: RwLock::new(None),
            built: Mutex::new(None),
        }
    }

    /// The definitions of every served kind (strategic merge patch and managedFields read
    /// them).
    pub fn schemas(&self) -> Arc<Schemas> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((g, v)) = self
            .schemas
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && *g == generation
        {
            return v.clone();
        }
        let builtin = self
            .builtin
            .get_or_init(|| Arc::new(schemas_of(&self.catalog)))
            .clone();
        let custom: Vec<(String, Value)> = self
            .catalog
            .custom_endpoints()
            .iter()
            .flat_map(|e| e.strategy.openapi_definitions(&e.info))
            .collect();
        let schemas = if custom.is_empty() {
            builtin
        } else {
            Arc::new(builtin.with_custom(custom))
        };
        let mut w = self.schemas.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            *w = Some((generation, schemas.clone()));
        }
        schemas
    }

    /// The documents; the first call builds them (tens of milliseconds). Concurrent callers
    /// wait for one build.
    pub fn documents(&self) -> Arc<Documents> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((g, docs)) = built.as_ref()
            && *g == generation
        {
            return docs.clone();
        }
        let started = std::time::Instant::now();
        let docs = Arc::new(build(&self.catalog, &self.schemas()));
        tracing::info!(took = ?started.elapsed(), bytes = docs.v2.json.len(), "Built the OpenAPI documents.");
        if self.generation.load(Ordering::Acquire) == generation {
            *built = Some((generation, docs.clone()));
        }
        docs
    }

    /// Forgets the schemas and documents after the served resources changed; the next use
    /// builds them again.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
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

/// The definitions of every built-in kind the catalog serves, its subresources' kinds
/// included.
fn schemas_of(catalog: &Catalog) -> Schemas {
    let served: BTreeSet<(String, String, String)> = catalog
        .builtin_endpoints()
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
        let strategic = e.strategy.takes_strategic_merge_patch();
        paths::add(Flavor::V2, schemas, info, strategic, &mut v2_paths);
        paths::add(
            Flavor::V3,
            schemas,
            info,
            strategic,
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

    // Custom kinds publish a v2 form of their definitions that kubectl's v2 validation reads.
    let v2_custom: BTreeMap<String, Value> = catalog
        .custom_endpoints()
        .iter()
        .flat_map(|e| e.strategy.openapi_definitions(&e.info))
        .map(|(name, def)| (name, crate::crd::openapi::to_v2(&def)))
        .collect();
    let v2_definitions: BTreeMap<&String, &Value> = schemas
        .definitions()
        .iter()
        .map(|(name, def)| (name, v2_custom.get(name).unwrap_or(def)))
        .collect();
    let (security_definitions, security) = security_v2();
    // Serialized from borrowed parts: the definitions are not copied for the document.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct SwaggerDocument<'a> {
        swagger: &'a str,
        info: Value,
        paths: &'a Map<String, Value>,
        definitions: &'a BTreeMap<&'a String, &'a Value>,
        security_definitions: Value,
        security: Value,
    }
    let v2 = Document::new(&SwaggerDocument {
        swagger: "2.0",
        info: json!({"title": INFO_TITLE, "version": crate::server::GIT_VERSION}),
        paths: &v2_paths,
        definitions: &v2_definitions,
        security_definitions,
        security,
    });

    let mut v3 = BTreeMap::new();
    let mut index = Map::new();
    for (key, paths) in v3_paths {
        let roots = v3_roots.remove(&key).unwrap_or_default();
        let names = schemas.closure(roots.iter().map(String::as_str));
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct ComponentsSection<'a> {
            schemas: v3::Components<'a>,
            security_schemes: Value,
        }
        #[derive(serde::Serialize)]
        struct OpenApiDocument<'a> {
            openapi: &'a str,
            info: Value,
            paths: Map<String, Value>,
            components: ComponentsSection<'a>,
        }
        let doc = Document::new(&OpenApiDocument {
            openapi: "3.0.0",
            info: json!({"title": INFO_TITLE, "version": crate::server::GIT_VERSION}),
            paths,
            components: ComponentsSection {
                schemas: v3::Components {
                    names: names.iter().map(String::as_str).collect(),
                    definitions: schemas.definitions(),
                },
                security_schemes: json!({"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}}),
            },
        });
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
