//! The endpointslice controller (upstream `pkg/controller/endpointslice`): keeps the
//! EndpointSlices of every Service that has a selector: its pods as endpoints ([`desired`]),
//! at most `--max-endpoints-per-slice` per slice, written with as little churn as possible
//! ([`reconcile`]). Slices are owned by their Service, so the garbage collector removes them
//! with it; Services without a selector are left to the mirroring controller.

pub mod desired;
pub mod reconcile;

use crate::endpoint::{self, HEADLESS, TRIGGER_TIME};
use crate::informer::{Change, Informers};
use crate::pods::template::controller_reference;
use crate::workqueue::{self, WorkQueue, feed, key_of};
use crate::{client, endpoint::subsets::has_cluster_ip};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The controller's name (upstream `names.EndpointSliceController`).
pub const NAME: &str = "endpointslice-controller";

/// The `endpointslice.kubernetes.io/managed-by` value of this controller's slices.
pub const MANAGED_BY_VALUE: &str = "endpointslice-controller.k8s.io";
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} EndpointSlice {namespace}/{name}: {}", client::message(.source))]
    Slice {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    client: kube::Client,
    services: Store<Service>,
    pods: Store<Pod>,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    max_per_slice: usize,
}

/// The Service key of a slice `managed_by` a controller.
pub fn service_of(slice: &EndpointSlice, managed_by: &str) -> Option<String> {
    let labels = slice.metadata.labels.as_ref()?;
    if labels.get(MANAGED_BY).map(String::as_str) != Some(managed_by) {
        return None;
    }
    Some(format!(
        "{}/{}",
        slice.metadata.namespace.as_deref().unwrap_or_default(),
        labels.get(SERVICE_NAME)?
    ))
}

/// Runs the controller with `workers` workers (`--concurrent-service-endpoint-syncs`),
/// `max_per_slice` endpoints per slice (`--max-endpoints-per-slice`).
pub async fn run(
    client: kube::Client,
    informers: Arc<Informers>,
    workers: u16,
    max_per_slice: u16,
) {
    let (svc_informer, pod_informer, slice_informer, node_informer) = (
        informers.get::<Service>(),
        informers.get::<Pod>(),
        informers.get::<EndpointSlice>(),
        informers.get::<Node>(),
    );
    let svc_changes = svc_informer.changes();
    let pod_changes = pod_informer.changes();
    let slice_changes = slice_informer.changes();
    let ctx = Arc::new(Context {
        client,
        services: svc_informer.store(),
        pods: pod_informer.store(),
        slices: slice_informer.store(),
        nodes: node_informer.store(),
        max_per_slice: usize::from(max_per_slice.max(1)),
    });
    svc_informer.ready().await;
    pod_informer.ready().await;
    slice_informer.ready().await;
    node_informer.ready().await;
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::<String>::new("endpoint_slice");
    for svc in ctx.services.state() {
        queue.add(key_of(&svc.metadata));
    }
    let services = ctx.services.clone();
    feed(&queue, svc_changes, move |change| match change {
        Change::Applied { new, .. } => vec![key_of(&new.metadata)],
        Change::Deleted(_) => Vec::new(),
        Change::Relisted => services
            .state()
            .iter()
            .map(|s| key_of(&s.metadata))
            .collect(),
    });
    let services = ctx.services.clone();
    feed(&queue, pod_changes, move |change| {
        endpoint::services_for_pod(&services, &change)
    });
    let services = ctx.services.clone();
    feed(&queue, slice_changes, move |change| match change {
        Change::Applied { new, .. } => service_of(&new, MANAGED_BY_VALUE).into_iter().collect(),
        Change::Deleted(slice) => service_of(&slice, MANAGED_BY_VALUE).into_iter().collect(),
        Change::Relisted => services
            .state()
            .iter()
            .map(|s| key_of(&s.metadata))
            .collect(),
    });
    workqueue::process(
        queue,
        workers,
        "the EndpointSlices of Service",
        move |key| {
            let ctx = ctx.clone();
            async move { sync(&ctx, &key).await }
        },
    )
    .await;
}

/// The labels every slice of `service` carries.
fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = service
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != SERVICE_NAME && k != MANAGED_BY && k != HEADLESS)
        .collect();
    if !has_cluster_ip(service) {
        labels.insert(HEADLESS.to_string(), String::new());
    }
    labels.insert(
        SERVICE_NAME.to_string(),
        service.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
    labels
}

async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(service) = ctx.services.get(&ObjectRef::new(name).within(namespace)) else {
        // Gone: its slices follow through their owner reference.
        return Ok(());
    };
    let spec = service.spec.clone().unwrap_or_default();
    if spec.selector.is_none() || spec.type_.as_deref() == Some("ExternalName") {
        return Ok(());
    }
    let all_pods = ctx.pods.state();
    let pods: Vec<&Pod> = all_pods
        .iter()
        .map(|p| &**p)
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| endpoint::selects(&service, p.metadata.labels.as_ref()))
        .collect();
    let nodes = |n: &str| ctx.nodes.get(&ObjectRef::new(n)).map(|n| (*n).clone());
    let wanted = desired::endpoints_by_ports(&service, &pods, &nodes);
    let address_type = desired::address_type(&service);
    let uid = service.metadata.uid.clone();
    let (existing, foreign): (Vec<EndpointSlice>, Vec<EndpointSlice>) = ctx
        .slices
        .state()
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .filter(|s| service_of(s, MANAGED_BY_VALUE).as_deref() == Some(key))
        .map(|s| (**s).clone())
        .partition(|s| {
            crate::ownership::controller_ref(&s.metadata)
                .is_some_and(|r| Some(&r.uid) == uid.as_ref())
                && s.address_type == address_type
        });
    let labels = slice_labels(&service);
    let owner = controller_reference(&*service);
    let new_slice = |ports: Vec<EndpointPort>| EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: Some(namespace.to_string()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        address_type: address_type.to_string(),
        endpoints: Vec::new(),
        ports: (!ports.is_empty()).then_some(ports),
    };
    let mut plan = reconcile::plan(existing, wanted, ctx.max_per_slice, &labels, &new_slice);
    plan.delete.extend(foreign);
    if plan.is_empty() {
        return Ok(());
    }
    let trigger = endpoint::trigger_time(&service, &pods).and_then(|t| {
        serde_json::to_value(&t)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    });
    let stamp = |slice: &mut EndpointSlice| {
        let annotations = slice.metadata.annotations.get_or_insert_with(BTreeMap::new);
        match &trigger {
            Some(t) => {
                annotations.insert(TRIGGER_TIME.to_string(), t.clone());
            }
            None => {
                annotations.remove(TRIGGER_TIME);
            }
        }
    };
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), namespace);
    let err = |action, name: &str, source| Error::Slice {
        action,
        namespace: namespace.to_string(),
        name: name.to_string(),
        source,
    };
    for mut slice in plan.update {
        stamp(&mut slice);
        let slice_name = slice.metadata.name.clone().unwrap_or_default();
        api.replace(&slice_name, &PostParams::default(), &slice)
            .await
            .map_err(|source| err("updating", &slice_name, source))?;
    }
    if service.metadata.deletion_timestamp.is_none() {
        for mut slice in plan.create {
            stamp(&mut slice);
            match api.create(&PostParams::default(), &slice).await {
                Ok(_) => {}
                Err(e) if client::has_cause(&e, client::NAMESPACE_TERMINATING_CAUSE) => {
                    return Ok(());
                }
                Err(source) => return Err(err("creating", name, source)),
            }
        }
    }
    for slice in plan.delete {
        let slice_name = slice.metadata.name.clone().unwrap_or_default();
        match api.delete(&slice_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if client::is_not_found(&e) => {}
            Err(source) => return Err(err("deleting", &slice_name, source)),
        }
    }
    Ok(())
}
