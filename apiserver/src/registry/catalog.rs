//! The catalog of served resources: one [`Endpoint`] per group/version/resource, each backed by
//! the [`Store`] of its storage path (shared between versions and groups that store the same
//! objects, such as core and `events.k8s.io` Events).

use super::store::Store;
use super::strategy::Strategy;
use super::{Conversion, Resource, ResourceInfo};
use crate::storage::cacher::{Cacher, Hub};
use crate::storage::etcd::EtcdStorage;
use crate::storage::predicate::metadata_attrs;
use crate::storage::{AttrsFn, Storage};
use std::collections::HashMap;
use std::sync::Arc;

/// One served resource.
pub struct Endpoint {
    pub info: ResourceInfo,
    /// The strategy of the served version (decoding, defaulting, printing).
    pub strategy: Arc<dyn Strategy>,
    /// Converts between the served version and the storage version, when they differ.
    pub conversion: Option<Arc<dyn Conversion>>,
    pub store: Arc<Store>,
}

/// All endpoints, by group, version and resource.
pub struct Catalog {
    endpoints: HashMap<(String, String, String), Arc<Endpoint>>,
    /// Endpoints in the order they were declared, for discovery.
    ordered: Vec<Arc<Endpoint>>,
    stores: HashMap<String, Arc<Store>>,
}

impl Catalog {
    /// Builds stores (registering each with the watch-cache hub) and endpoints.
    /// `prefix` is the etcd prefix, e.g. `/registry`.
    pub fn build(
        resources: Vec<Resource>,
        client: &etcd_client::Client,
        hub: &Arc<Hub>,
        prefix: &str,
    ) -> Self {
        let prefix = prefix.trim_end_matches('/');
        let mut stores: HashMap<String, Arc<Store>> = HashMap::new();
        // Storage versions first, so converted versions find their store.
        let (storage_versions, converted): (Vec<_>, Vec<_>) =
            resources.into_iter().partition(|r| r.conversion.is_none());
        let mut ordered = Vec::new();
        for r in storage_versions.into_iter().chain(converted) {
            let store = stores
                .entry(r.info.storage_path.to_string())
                .or_insert_with(|| {
                    let key_prefix = format!("{prefix}/{}/", r.info.storage_path);
                    let strategy = r.strategy.clone();
                    // Kinds selected only by metadata skip parsing the whole object.
                    let attrs: AttrsFn = if strategy.selectable_field_names().is_empty() {
                        Arc::new(metadata_attrs)
                    } else {
                        Arc::new(move |raw: &[u8]| {
                            let v: serde_json::Value =
                                serde_json::from_slice(raw).map_err(|e| e.to_string())?;
                            Ok(strategy.attrs(&v))
                        })
                    };
                    let cacher: Arc<dyn Storage> = match &r.storage {
                        Some(factory) => factory(client),
                        None => {
                            let etcd = EtcdStorage::for_resource(
                                client.clone(),
                                attrs.clone(),
                                r.info.resource,
                            );
                            Arc::new(Cacher::new(etcd, hub.clone(), &key_prefix, attrs))
                        }
                    };
                    Arc::new(Store {
                        info: r.info,
                        strategy: r.strategy.clone(),
                        storage: cacher,
                        prefix: key_prefix,
                        hooks: std::sync::OnceLock::new(),
                    })
                })
                .clone();
            ordered.push(Arc::new(Endpoint {
                info: r.info,
                strategy: r.strategy,
                conversion: r.conversion,
                store,
            }));
        }
        // Keep declaration order within each group for discovery.
        ordered.sort_by_key(|e| {
            (
                group_rank(e.info.group),
                e.info.group,
                version_rank(e.info.version),
            )
        });
        let endpoints = ordered
            .iter()
            .map(|e| {
                (
                    (
                        e.info.group.to_string(),
                        e.info.version.to_string(),
                        e.info.resource.to_string(),
                    ),
                    e.clone(),
                )
            })
            .collect();
        Self {
            endpoints,
            ordered,
            stores,
        }
    }

    pub fn endpoint(&self, group: &str, version: &str, resource: &str) -> Option<&Arc<Endpoint>> {
        self.endpoints
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
    }

    /// Endpoints in discovery order.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.ordered
    }

    /// The store of a storage path (`namespaces`, `services/specs`).
    pub fn store(&self, storage_path: &str) -> Option<&Arc<Store>> {
        self.stores.get(storage_path)
    }
}

/// Upstream's group priorities: the order groups appear in discovery.
fn group_rank(group: &str) -> usize {
    const ORDER: &[&str] = &[
        "",
        "apiregistration.k8s.io",
        "apps",
        "events.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "networking.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "node.k8s.io",
        "discovery.k8s.io",
        "flowcontrol.apiserver.k8s.io",
    ];
    ORDER
        .iter()
        .position(|g| *g == group)
        .unwrap_or(ORDER.len())
}

/// Within a group, the preferred (newest GA) version first.
fn version_rank(version: &str) -> i64 {
    let (major, rest) = version
        .trim_start_matches('v')
        .split_once(|c: char| !c.is_ascii_digit())
        .unwrap_or((version.trim_start_matches('v'), ""));
    let major: i64 = major.parse().unwrap_or(0);
    let stability = if rest.starts_with("alpha") {
        2
    } else if rest.starts_with("beta") {
        1
    } else {
        0
    };
    stability * 1000 - major
}
