//! OpenAPI v3 discovery: `/openapi/v3` (the index of group-versions, each with a
//! `serverRelativeURL?hash=`) and one document per group-version listing its paths and
//! operations with `x-kubernetes-group-version-kind` and `x-kubernetes-action`.
//!
//! This first cut publishes the operations and their query parameters, which is what clients
//! use to learn that the server validates fields itself (kubectl's `--validate=strict` looks
//! for `fieldValidation` on PATCH operations). Schemas (`components`), OpenAPI v2 and
//! `kubectl explain` come with the schemas issue, from the same catalog.

use crate::registry::ResourceInfo;
use crate::registry::catalog::Catalog;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One published document and its hash.
pub struct Document {
    pub json: bytes::Bytes,
    pub hash: String,
}

/// The OpenAPI v3 documents, built once from the catalog.
pub struct OpenApiV3 {
    pub index: bytes::Bytes,
    /// Keyed by `api/v1` or `apis/<group>/<version>`.
    pub documents: BTreeMap<String, Document>,
}

fn param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params() -> Vec<Value> {
    vec![
        param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (the default) and Strict.",
        ),
    ]
}

fn list_params() -> Vec<Value> {
    [
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
    ]
    .iter()
    .map(|p| param(p, ""))
    .collect()
}

fn operation(info: &ResourceInfo, kind: &str, action: &str, id: &str, params: Vec<Value>) -> Value {
    json!({
        "operationId": id,
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.group, "version": info.version, "kind": kind},
    })
}

fn paths_of(info: &ResourceInfo, paths: &mut Map<String, Value>) {
    let root = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let scope = if info.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let collection = format!("{root}{scope}/{}", info.resource);
    let item = format!("{collection}/{{name}}");
    let id = format!("{}{}", info.kind, info.version);
    let mut coll = Map::new();
    if info.supports("list") {
        coll.insert(
            "get".into(),
            operation(info, info.kind, "list", &format!("list{id}"), list_params()),
        );
    }
    if info.supports("create") {
        coll.insert(
            "post".into(),
            operation(
                info,
                info.kind,
                "post",
                &format!("create{id}"),
                write_params(),
            ),
        );
    }
    if info.supports("deletecollection") {
        coll.insert(
            "delete".into(),
            operation(
                info,
                info.kind,
                "deletecollection",
                &format!("deletecollection{id}"),
                list_params(),
            ),
        );
    }
    if !coll.is_empty() {
        paths.insert(collection.clone(), Value::Object(coll));
    }
    let mut one = Map::new();
    if info.supports("get") {
        one.insert(
            "get".into(),
            operation(info, info.kind, "get", &format!("read{id}"), vec![]),
        );
    }
    if info.supports("update") {
        one.insert(
            "put".into(),
            operation(
                info,
                info.kind,
                "put",
                &format!("replace{id}"),
                write_params(),
            ),
        );
    }
    if info.supports("patch") {
        let mut p = write_params();
        p.push(param(
            "force",
            "Force is going to \"force\" Apply requests.",
        ));
        one.insert(
            "patch".into(),
            operation(info, info.kind, "patch", &format!("patch{id}"), p),
        );
    }
    if info.supports("delete") {
        one.insert(
            "delete".into(),
            operation(
                info,
                info.kind,
                "delete",
                &format!("delete{id}"),
                vec![
                    param("dryRun", ""),
                    param("gracePeriodSeconds", ""),
                    param("propagationPolicy", ""),
                ],
            ),
        );
    }
    if !one.is_empty() {
        paths.insert(item.clone(), Value::Object(one));
    }
    for sub in info.subresources {
        let mut ops = Map::new();
        let sub_info = ResourceInfo {
            group: sub.group,
            version: sub.version,
            ..*info
        };
        let sid = format!("{id}{}", sub.name);
        for verb in sub.verbs {
            let (method, action, params) = match *verb {
                "get" => ("get", "get", vec![]),
                "update" => ("put", "put", write_params()),
                "patch" => ("patch", "patch", write_params()),
                "create" => ("post", "post", write_params()),
                _ => continue,
            };
            ops.insert(
                method.into(),
                operation(
                    &sub_info,
                    sub.kind,
                    action,
                    &format!("{action}{sid}"),
                    params,
                ),
            );
        }
        paths.insert(format!("{item}/{}", sub.name), Value::Object(ops));
    }
}

fn hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(32).map(|b| format!("{b:02X}")).collect()
}

impl OpenApiV3 {
    pub fn build(catalog: &Catalog) -> Self {
        let mut by_gv: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for e in catalog.endpoints() {
            let key = if e.info.group.is_empty() {
                format!("api/{}", e.info.version)
            } else {
                format!("apis/{}/{}", e.info.group, e.info.version)
            };
            paths_of(&e.info, by_gv.entry(key).or_default());
        }
        let mut documents = BTreeMap::new();
        let mut index = Map::new();
        for (key, paths) in by_gv {
            let doc = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": crate::server::GIT_VERSION},
                "paths": paths,
                "components": {"schemas": {}},
            });
            let json = serde_json::to_vec(&doc).unwrap_or_default();
            let h = hash(&json);
            index.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={h}")}),
            );
            documents.insert(
                key,
                Document {
                    json: bytes::Bytes::from(json),
                    hash: h,
                },
            );
        }
        let index = serde_json::to_vec(&json!({"paths": index})).unwrap_or_default();
        Self {
            index: bytes::Bytes::from(index),
            documents,
        }
    }
}
