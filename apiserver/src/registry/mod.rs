//! The registry: which resources exist, and the generic [`Store`](store::Store) every built-in
//! kind is served by, specialised only through its [`Strategy`](strategy::Strategy).
//!
//! Adding a built-in kind means one strategy file under `resources/<group>/` and one line in
//! that group's table; handlers, store and storage never change.

pub mod catalog;
pub mod managed_fields;
pub mod resources;
pub mod scale;
pub mod store;
pub mod strategy;
pub mod table;
pub mod typed;

use crate::errors::GroupResource;
use std::sync::Arc;
use strategy::Strategy;

/// The verbs of a fully writable resource, in discovery order.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// The verbs of a status or scale subresource.
pub const SUBRESOURCE_VERBS: &[&str] = &["get", "patch", "update"];

/// A subresource served beside its parent (`status`, `scale`, `binding`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubresourceInfo {
    pub name: &'static str,
    /// The group, version and kind of what the subresource takes and returns.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

impl SubresourceInfo {
    /// The `status` subresource of a kind: the same kind, get/patch/update.
    pub const fn status(group: &'static str, version: &'static str, kind: &'static str) -> Self {
        Self {
            name: "status",
            group,
            version,
            kind,
            verbs: SUBRESOURCE_VERBS,
        }
    }

    /// The `scale` subresource: an `autoscaling/v1` Scale.
    pub const fn scale() -> Self {
        Self {
            name: "scale",
            group: "autoscaling",
            version: "v1",
            kind: "Scale",
            verbs: SUBRESOURCE_VERBS,
        }
    }
}

/// What discovery says about a resource, and where it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    /// The plural, lower-case name in URLs.
    pub resource: &'static str,
    pub kind: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [SubresourceInfo],
    /// The path under the etcd prefix (upstream's layout: `services/specs`, `minions`, ...).
    pub storage_path: &'static str,
    /// The warning every response carries when the API is deprecated.
    pub deprecation: Option<&'static str>,
}

impl ResourceInfo {
    /// A namespaced or cluster-scoped resource with all verbs, stored under its own name.
    pub const fn new(
        group: &'static str,
        version: &'static str,
        resource: &'static str,
        kind: &'static str,
        singular: &'static str,
        namespaced: bool,
    ) -> Self {
        Self {
            group,
            version,
            resource,
            kind,
            singular,
            namespaced,
            short_names: &[],
            categories: &[],
            verbs: ALL_VERBS,
            subresources: &[],
            storage_path: resource,
            deprecation: None,
        }
    }

    pub const fn deprecated(self, warning: &'static str) -> Self {
        Self {
            deprecation: Some(warning),
            ..self
        }
    }

    pub const fn short_names(self, short_names: &'static [&'static str]) -> Self {
        Self {
            short_names,
            ..self
        }
    }

    pub const fn categories(self, categories: &'static [&'static str]) -> Self {
        Self { categories, ..self }
    }

    pub const fn verbs(self, verbs: &'static [&'static str]) -> Self {
        Self { verbs, ..self }
    }

    pub const fn subresources(self, subresources: &'static [SubresourceInfo]) -> Self {
        Self {
            subresources,
            ..self
        }
    }

    pub const fn storage_path(self, storage_path: &'static str) -> Self {
        Self {
            storage_path,
            ..self
        }
    }

    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(self.group, self.resource)
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

/// Converts objects between a served version and the version they are stored in
/// (autoscaling/v1 HPAs stored as v2, events.k8s.io Events stored as core Events).
pub trait Conversion: Send + Sync + 'static {
    fn to_storage(&self, obj: serde_json::Value) -> Result<serde_json::Value, String>;
    fn to_served(&self, obj: serde_json::Value) -> Result<serde_json::Value, String>;
}

/// A built-in resource as its strategy file declares it.
#[derive(Clone)]
pub struct Resource {
    pub info: ResourceInfo,
    pub strategy: Arc<dyn Strategy>,
    /// Set when this version is not the storage version of its `storage_path`.
    pub conversion: Option<Arc<dyn Conversion>>,
    /// Storage other than etcd behind the watch cache, for resources computed on read
    /// (componentstatuses).
    pub storage: Option<StorageFactory>,
    /// How long objects live after their last write (Events: `--event-ttl`); `None` keeps
    /// them until deleted. Read from the storage version's resource.
    pub ttl: Option<std::time::Duration>,
}

/// Builds a resource's storage from the etcd client, for resources not kept in etcd.
pub type StorageFactory =
    Arc<dyn Fn(&etcd_client::Client) -> Arc<dyn crate::storage::Storage> + Send + Sync>;

impl Resource {
    pub fn new(info: ResourceInfo, strategy: impl Strategy) -> Self {
        Self {
            info,
            strategy: Arc::new(strategy),
            conversion: None,
            storage: None,
            ttl: None,
        }
    }

    /// Serves the resource from `factory`'s storage instead of etcd.
    pub fn with_storage(self, factory: StorageFactory) -> Self {
        Self {
            storage: Some(factory),
            ..self
        }
    }

    pub fn with_conversion(self, conversion: impl Conversion) -> Self {
        Self {
            conversion: Some(Arc::new(conversion)),
            ..self
        }
    }
}
