//! The in-tree plugins, one folder each, and the registry that maps their names to factories
//! ([`build`]) together with upstream's default plugin set and weights ([`default_plugins`]).
//! Plugins upstream has but ferrokube does not yet ([`NOT_YET`]) may be disabled in a
//! configuration, not enabled.

pub mod default_binder;
pub mod default_preemption;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod node_volume_limits;
pub mod pod_topology_spread;
pub mod priority_sort;
pub mod scheduling_gates;
pub mod taint_toleration;
pub mod volume_binding;
pub mod volume_restrictions;
pub mod volume_zone;

use crate::framework::Plugin;
use std::sync::Arc;

/// What a plugin may use while it runs.
#[derive(Clone, Default)]
pub struct Handle {
    /// The API client (binders need it); none in unit tests.
    pub client: Option<kube::Client>,
    /// The process's shared informers (listers for plugins); none in unit tests.
    pub informers: Option<Arc<controllers::informer::Informers>>,
}

/// Upstream's default MultiPoint plugins with their score weights (v1 `getDefaultPlugins`),
/// without the ones not built yet.
pub fn default_plugins() -> Vec<(&'static str, i64)> {
    vec![
        (scheduling_gates::NAME, 0),
        (priority_sort::NAME, 0),
        (node_unschedulable::NAME, 0),
        (node_name::NAME, 0),
        (taint_toleration::NAME, 3),
        (node_affinity::NAME, 2),
        (node_ports::NAME, 0),
        (node_resources_fit::NAME, 1),
        (volume_restrictions::NAME, 0),
        (node_volume_limits::NAME, 0),
        (volume_binding::NAME, 0),
        (volume_zone::NAME, 0),
        (pod_topology_spread::NAME, 2),
        (inter_pod_affinity::NAME, 2),
        (default_preemption::NAME, 0),
        (node_resources_balanced_allocation::NAME, 1),
        (image_locality::NAME, 1),
        (default_binder::NAME, 0),
    ]
}

/// Upstream in-tree plugins that are not built yet.
pub const NOT_YET: &[&str] = &["DynamicResources"];

/// Builds the plugin `name` from its `pluginConfig` args.
pub fn build(
    name: &str,
    args: Option<&serde_json::Value>,
    handle: &Handle,
) -> Result<Arc<dyn Plugin>, String> {
    match name {
        priority_sort::NAME => Ok(priority_sort::new()),
        scheduling_gates::NAME => Ok(scheduling_gates::new()),
        node_unschedulable::NAME => Ok(node_unschedulable::new()),
        node_name::NAME => Ok(node_name::new()),
        taint_toleration::NAME => Ok(taint_toleration::new()),
        node_affinity::NAME => Ok(node_affinity::new()),
        node_ports::NAME => Ok(node_ports::new()),
        node_resources_fit::NAME => node_resources_fit::new(args),
        node_resources_balanced_allocation::NAME => node_resources_balanced_allocation::new(args),
        default_binder::NAME => default_binder::new(handle.client.clone()),
        default_preemption::NAME => default_preemption::new(
            args,
            handle.client.clone(),
            handle.informers.as_ref().map(|i| {
                i.get::<k8s_openapi::api::policy::v1::PodDisruptionBudget>()
                    .store()
            }),
        ),
        pod_topology_spread::NAME => pod_topology_spread::new(
            args,
            pod_topology_spread::Listers {
                services: lister(handle),
                replication_controllers: lister(handle),
                replica_sets: lister(handle),
                stateful_sets: lister(handle),
            },
        ),
        inter_pod_affinity::NAME => inter_pod_affinity::new(args, lister(handle)),
        image_locality::NAME => Ok(image_locality::new()),
        volume_restrictions::NAME => Ok(volume_restrictions::new(volume_listers(handle))),
        node_volume_limits::NAME => Ok(node_volume_limits::new(volume_listers(handle))),
        volume_binding::NAME => volume_binding::new(
            args,
            volume_binding::Deps {
                listers: volume_listers(handle),
                pods: lister(handle),
                nodes: lister(handle),
                client: handle.client.clone(),
            },
        ),
        volume_zone::NAME => Ok(volume_zone::new(volume_listers(handle))),
        other if NOT_YET.contains(&other) => Err(format!(
            "plugin {other:?} is not built yet in ferrokube's kube-scheduler"
        )),
        other => Err(format!("plugin {other:?} does not exist")),
    }
}

/// The cache of every `K` from the handle's shared informers (started on first use), as
/// upstream's plugins take listers from the informer factory; none in unit tests.
fn lister<K: controllers::informer::Watched>(
    handle: &Handle,
) -> Option<kube::runtime::reflector::Store<K>> {
    handle.informers.as_ref().map(|i| i.get::<K>().store())
}

/// The storage caches the volume plugins read (empty ones in unit tests).
fn volume_listers(handle: &Handle) -> crate::volumes::Listers {
    crate::volumes::Listers::new(handle.informers.as_deref())
}

/// Waits until the caches PodTopologySpread's default constraints, InterPodAffinity's
/// namespace selectors and the volume plugins read are filled (upstream waits for every informer plugins asked for
/// before scheduling).
pub async fn wait_for_listers(informers: &controllers::informer::Informers) {
    use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
    use k8s_openapi::api::core::v1::{Namespace, ReplicationController, Service};
    informers.get::<Service>().ready().await;
    informers.get::<ReplicationController>().ready().await;
    informers.get::<ReplicaSet>().ready().await;
    informers.get::<StatefulSet>().ready().await;
    informers.get::<Namespace>().ready().await;
    crate::volumes::wait_for_listers(informers).await;
}
