//! Discovery: `/api`, `/apis`, `/apis/<group>`, the per-group-version resource lists, and
//! aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1) in one response each for `/api`
//! and `/apis`. Every document is built once at startup from the catalog.

use crate::registry::ResourceInfo;
use crate::registry::catalog::Catalog;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The documents, pre-serialized.
pub struct Discovery {
    /// `/api`
    pub api_versions: Value,
    /// `/apis`
    pub group_list: Value,
    /// `/apis/<group>`
    pub groups: BTreeMap<String, Value>,
    /// `/api/v1` and `/apis/<group>/<version>`, keyed by the path without the leading slash.
    pub resource_lists: BTreeMap<String, Value>,
    /// Aggregated discovery of `/api` (the core group) and `/apis`, version-independent parts.
    pub aggregated_core: Vec<Value>,
    pub aggregated_groups: Vec<Value>,
}

/// upstream's `storageVersionHash`: the first 8 bytes of the SHA-256 of the storage
/// version's group/version/kind, base64.
fn storage_version_hash(info: &ResourceInfo) -> String {
    let digest = Sha256::digest(format!("{}/{}/{}", info.group, info.version, info.kind));
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

fn legacy_resources(
    infos: &[&ResourceInfo],
    storage: &dyn Fn(&ResourceInfo) -> ResourceInfo,
) -> Vec<Value> {
    let mut out = Vec::new();
    for info in infos {
        let mut r = json!({
            "name": info.resource,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": info.verbs,
        });
        if !info.short_names.is_empty() {
            r["shortNames"] = json!(info.short_names);
        }
        if !info.categories.is_empty() {
            r["categories"] = json!(info.categories);
        }
        r["storageVersionHash"] = json!(storage_version_hash(&storage(info)));
        out.push(r);
        for sub in info.subresources {
            let mut s = json!({
                "name": format!("{}/{}", info.resource, sub.name),
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if sub.group != info.group || sub.version != info.version {
                s["group"] = json!(sub.group);
                s["version"] = json!(sub.version);
            }
            out.push(s);
        }
    }
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    out
}

fn aggregated_resource(info: &ResourceInfo) -> Value {
    let mut r = json!({
        "resource": info.resource,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": if info.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": info.singular,
        "verbs": info.verbs,
    });
    if !info.short_names.is_empty() {
        r["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        r["categories"] = json!(info.categories);
    }
    if !info.subresources.is_empty() {
        r["subresources"] = info
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                    "verbs": s.verbs,
                })
            })
            .collect();
    }
    r
}

impl Discovery {
    pub fn build(catalog: &Catalog) -> Self {
        // group -> versions (in preference order) -> resources
        let mut order: Vec<String> = Vec::new();
        let mut by_group: BTreeMap<String, Vec<(String, Vec<&ResourceInfo>)>> = BTreeMap::new();
        let storage_info = |info: &ResourceInfo| -> ResourceInfo {
            catalog
                .store(info.storage_path)
                .map(|s| s.info)
                .unwrap_or(*info)
        };
        let endpoints = catalog.endpoints();
        for e in &endpoints {
            let info = &e.info;
            if !by_group.contains_key(info.group) {
                order.push(info.group.to_string());
            }
            let versions = by_group.entry(info.group.to_string()).or_default();
            match versions.iter_mut().find(|(v, _)| v == info.version) {
                Some((_, list)) => list.push(info),
                None => versions.push((info.version.to_string(), vec![info])),
            }
        }
        let mut resource_lists = BTreeMap::new();
        let mut groups = BTreeMap::new();
        let mut group_list = Vec::new();
        let mut aggregated_core = Vec::new();
        let mut aggregated_groups = Vec::new();
        for group in &order {
            let versions = &by_group[group];
            let mut aggregated_versions = Vec::new();
            for (version, infos) in versions {
                let gv = if group.is_empty() {
                    version.clone()
                } else {
                    format!("{group}/{version}")
                };
                let path = if group.is_empty() {
                    format!("api/{version}")
                } else {
                    format!("apis/{gv}")
                };
                resource_lists.insert(
                    path,
                    json!({
                        "kind": "APIResourceList",
                        "apiVersion": "v1",
                        "groupVersion": gv,
                        "resources": legacy_resources(infos, &storage_info),
                    }),
                );
                let mut sorted: Vec<&&ResourceInfo> = infos.iter().collect();
                sorted.sort_by_key(|i| i.resource);
                aggregated_versions.push(json!({
                    "version": version,
                    "resources": sorted.iter().map(|i| aggregated_resource(i)).collect::<Vec<_>>(),
                    "freshness": "Current",
                }));
            }
            if group.is_empty() {
                aggregated_core.push(json!({
                    "metadata": {"creationTimestamp": null},
                    "versions": aggregated_versions,
                }));
                continue;
            }
            let version_refs: Vec<Value> = versions
                .iter()
                .map(|(v, _)| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            let preferred = version_refs.first().cloned().unwrap_or(Value::Null);
            let g = json!({
                "name": group,
                "versions": version_refs,
                "preferredVersion": preferred,
            });
            groups.insert(
                group.clone(),
                json!({
                    "kind": "APIGroup",
                    "apiVersion": "v1",
                    "name": group,
                    "versions": g["versions"],
                    "preferredVersion": g["preferredVersion"],
                }),
            );
            group_list.push(g);
            aggregated_groups.push(json!({
                "metadata": {"name": group, "creationTimestamp": null},
                "versions": aggregated_versions,
            }));
        }
        Self {
            api_versions: json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [],
            }),
            group_list: json!({
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": group_list,
            }),
            groups,
            resource_lists,
            aggregated_core,
            aggregated_groups,
        }
    }

    /// The aggregated document for `/api` (`core`) or `/apis`, in `v2` or `v2beta1`.
    pub fn aggregated(&self, core: bool, version: &str) -> Value {
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{version}"),
            "metadata": {},
            "items": if core { &self.aggregated_core } else { &self.aggregated_groups },
        })
    }
}

/// Which aggregated-discovery version an Accept header asks for, if any.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}
