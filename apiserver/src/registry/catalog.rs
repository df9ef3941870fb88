//! The catalog of served resources: one [`Endpoint`] per group/version/resource, each backed by
//! the [`Store`] of its storage path (shared between versions and groups that store the same
//! objects, such as core and `events.k8s.io` Events).
//!
//! Built-in resources are fixed at startup. Custom resources come and go with their
//! CustomResourceDefinitions: the CRD controller replaces the [`CustomSet`] as a whole, so a
//! request sees either the old or the new set, never half of an update.

use super::store::Store;
use super::strategy::Strategy;
use super::{Conversion, Resource, ResourceInfo};
use crate::storage::cacher::{Cacher, Hub};
use crate::storage::etcd::EtcdStorage;
use crate::storage::predicate::metadata_attrs;
use crate::storage::{AttrsFn, Storage};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One served resource.
pub struct Endpoint {
    pub info: ResourceInfo,
    /// The strategy of the served version (decoding, defaulting, printing).
    pub strategy: Arc<dyn Strategy>,
    /// Converts between the served version and the storage version, when they differ.
    pub conversion: Option<Arc<dyn Conversion>>,
    pub store: Arc<Store>,
    /// Set for the custom resources of a CustomResourceDefinition being deleted: creates are
    /// refused while its objects are cleaned up.
    pub terminating: bool,
}

type Key = (String, String, String);

/// A set of endpoints, by group, version and resource, and their stores.
#[derive(Default)]
pub struct EndpointSet {
    endpoints: HashMap<Key, Arc<Endpoint>>,
    /// Endpoints in discovery order.
    ordered: Vec<Arc<Endpoint>>,
    stores: HashMap<String, Arc<Store>>,
}

impl EndpointSet {
    /// Adds an endpoint (and its store, under the store's storage path).
    pub fn add(&mut self, endpoint: Arc<Endpoint>) {
        self.stores
            .entry(endpoint.store.info.storage_path.to_string())
            .or_insert_with(|| endpoint.store.clone());
        self.ordered.push(endpoint);
    }

    /// Sorts into discovery order and indexes by group/version/resource.
    fn finish(mut self) -> Self {
        self.ordered.sort_by(|a, b| {
            (group_rank(a.info.group), a.info.group)
                .cmp(&(group_rank(b.info.group), b.info.group))
                .then_with(|| compare_versions(a.info.version, b.info.version))
        });
        self.endpoints = self
            .ordered
            .iter()
            .map(|e| (key(&e.info), e.clone()))
            .collect();
        self
    }
}

fn key(info: &ResourceInfo) -> Key {
    (
        info.group.to_string(),
        info.version.to_string(),
        info.resource.to_string(),
    )
}

/// The custom resources served now.
pub type CustomSet = EndpointSet;

/// All endpoints: the built-in ones and the custom ones of the moment.
pub struct Catalog {
    builtin: EndpointSet,
    custom: RwLock<Arc<CustomSet>>,
}

/// The attributes function of a kind: metadata only unless it has selectable fields.
pub fn attrs_of(strategy: &Arc<dyn Strategy>) -> AttrsFn {
    if strategy.selectable_field_names().is_empty() {
        return Arc::new(metadata_attrs);
    }
    let strategy = strategy.clone();
    Arc::new(move |raw: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
        Ok(strategy.attrs(&v))
    })
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
        let mut set = EndpointSet::default();
        for r in storage_versions.into_iter().chain(converted) {
            let store = stores
                .entry(r.info.storage_path.to_string())
                .or_insert_with(|| {
                    let key_prefix = format!("{prefix}/{}/", r.info.storage_path);
                    let attrs = attrs_of(&r.strategy);
                    let cacher: Arc<dyn Storage> = match &r.storage {
                        Some(factory) => factory(client),
                        None => {
                            let etcd = EtcdStorage::for_resource(
                                client.clone(),
                                attrs.clone(),
                                r.info.resource,
                            )
                            .with_transformer(hub.transformer_for(r.info.group, r.info.resource))
                            .with_ttl(r.ttl);
                            Arc::new(Cacher::new(etcd, hub.clone(), &key_prefix, attrs))
                        }
                    };
                    Arc::new(Store::new(r.info, r.strategy.clone(), cacher, key_prefix))
                })
                .clone();
            set.add(Arc::new(Endpoint {
                info: r.info,
                strategy: r.strategy,
                conversion: r.conversion,
                store,
                terminating: false,
            }));
        }
        Self {
            builtin: set.finish(),
            custom: RwLock::new(Arc::new(CustomSet::default())),
        }
    }

    fn custom(&self) -> Arc<CustomSet> {
        self.custom
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the custom endpoints.
    pub fn set_custom(&self, set: CustomSet) {
        *self.custom.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set.finish());
    }

    pub fn endpoint(&self, group: &str, version: &str, resource: &str) -> Option<Arc<Endpoint>> {
        let key = (group.to_string(), version.to_string(), resource.to_string());
        if let Some(e) = self.builtin.endpoints.get(&key) {
            return Some(e.clone());
        }
        self.custom().endpoints.get(&key).cloned()
    }

    /// Endpoints in discovery order: built-in groups first, then custom ones.
    pub fn endpoints(&self) -> Vec<Arc<Endpoint>> {
        let custom = self.custom();
        self.builtin
            .ordered
            .iter()
            .chain(custom.ordered.iter())
            .cloned()
            .collect()
    }

    /// The built-in endpoints, in discovery order.
    pub fn builtin_endpoints(&self) -> &[Arc<Endpoint>] {
        &self.builtin.ordered
    }

    /// The custom endpoints of the moment, in discovery order.
    pub fn custom_endpoints(&self) -> Vec<Arc<Endpoint>> {
        self.custom().ordered.clone()
    }

    /// The store of a storage path (`namespaces`, `services/specs`, `<group>/<plural>`).
    pub fn store(&self, storage_path: &str) -> Option<Arc<Store>> {
        if let Some(s) = self.builtin.stores.get(storage_path) {
            return Some(s.clone());
        }
        self.custom().stores.get(storage_path).cloned()
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

/// A Kubernetes-style version (`v1`, `v2beta1`, `v1alpha3`): (stability, major, minor), where
/// stability is 2 for GA, 1 for beta, 0 for alpha.
fn kube_version(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let major: u64 = rest[..digits].parse().ok().filter(|m| *m > 0)?;
    let tail = &rest[digits..];
    if tail.is_empty() {
        return Some((2, major, 0));
    }
    let (stability, minor) = if let Some(m) = tail.strip_prefix("beta") {
        (1, m)
    } else {
        (0, tail.strip_prefix("alpha")?)
    };
    let minor: u64 = minor.parse().ok().filter(|m| *m > 0)?;
    Some((stability, major, minor))
}

/// Upstream's kube-aware version order, most preferred first: GA before beta before alpha,
/// newer major (then minor) first, and versions not in Kubernetes form last, alphabetically.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (kube_version(a), kube_version(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_upstream_prefers_them() {
        let mut v = vec![
            "v1alpha1",
            "v2beta1",
            "v1",
            "foo",
            "v1beta2",
            "v2",
            "v1beta1",
            "v11alpha2",
            "bar",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            [
                "v2",
                "v1",
                "v2beta1",
                "v1beta2",
                "v1beta1",
                "v11alpha2",
                "v1alpha1",
                "bar",
                "foo"
            ]
        );
    }
}
