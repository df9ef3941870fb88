//! The endpointslicemirroring controller (upstream `pkg/controller/endpointslicemirroring`):
//! Endpoints written by hand for a Service without a selector are mirrored into
//! EndpointSlices, so clients that read only slices (kube-proxy) see them. Ready addresses
//! become ready endpoints, not-ready addresses not-ready ones. Mirrored slices are owned by the
//! Endpoints object and go when it goes, when it is labeled
//! `endpointslice.kubernetes.io/skip-mirror: "true"`, or when its Service is missing or gains a
//! selector.

use crate::client;
use crate::endpointslice::{MANAGED_BY, SERVICE_NAME, desired::port_key, service_of};
use crate::informer::{Change, Informers};
use crate::pods::template::controller_reference;
use crate::workqueue::{self, WorkQueue, feed, key_of};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The controller's name (upstream `names.EndpointSliceMirroringController`).
pub const NAME: &str = "endpointslice-mirroring-controller";
/// The `endpointslice.kubernetes.io/managed-by` value of mirrored slices.
pub const MANAGED_BY_VALUE: &str = "endpointslicemirroring-controller.k8s.io";
/// The label that keeps an Endpoints object from being mirrored.
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Upstream's cap on the addresses mirrored from one subset.
const MAX_PER_SUBSET: usize = 1000;
/// Annotations of the Endpoints that are not copied onto the slices.
const NOT_COPIED: &[&str] = &[
    "endpoints.kubernetes.io/last-change-trigger-time",
    "kubectl.kubernetes.io/last-applied-configuration",
];
const LEADER: &str = "control-plane.alpha.kubernetes.io/leader";

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
    endpoints: Store<Endpoints>,
    slices: Store<EndpointSlice>,
}

/// Runs the controller with `workers` workers (`--mirroring-concurrent-service-endpoint-syncs`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, workers: u16) {
    let (svc_informer, ep_informer, slice_informer) = (
        informers.get::<Service>(),
        informers.get::<Endpoints>(),
        informers.get::<EndpointSlice>(),
    );
    let (svc_changes, ep_changes, slice_changes) = (
        svc_informer.changes(),
        ep_informer.changes(),
        slice_informer.changes(),
    );
    svc_informer.ready().await;
    ep_informer.ready().await;
    slice_informer.ready().await;
    let ctx = Arc::new(Context {
        client,
        services: svc_informer.store(),
        endpoints: ep_informer.store(),
        slices: slice_informer.store(),
    });
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::<String>::new("endpoint_slice_mirroring");
    for ep in ctx.endpoints.state() {
        queue.add(key_of(&ep.metadata));
    }
    for slice in ctx.slices.state() {
        if let Some(key) = service_of(&slice, MANAGED_BY_VALUE) {
            queue.add(key);
        }
    }
    let all = {
        let endpoints = ctx.endpoints.clone();
        move || -> Vec<String> {
            endpoints
                .state()
                .iter()
                .map(|e| key_of(&e.metadata))
                .collect()
        }
    };
    let everything = all.clone();
    feed(&queue, ep_changes, move |change| match change {
        Change::Applied { new, .. } => vec![key_of(&new.metadata)],
        Change::Deleted(ep) => vec![key_of(&ep.metadata)],
        Change::Relisted => everything(),
    });
    let everything = all.clone();
    feed(&queue, svc_changes, move |change| match change {
        Change::Applied { new, .. } => vec![key_of(&new.metadata)],
        Change::Deleted(svc) => vec![key_of(&svc.metadata)],
        Change::Relisted => everything(),
    });
    feed(&queue, slice_changes, move |change| match change {
        Change::Applied { new, .. } => service_of(&new, MANAGED_BY_VALUE).into_iter().collect(),
        Change::Deleted(slice) => service_of(&slice, MANAGED_BY_VALUE).into_iter().collect(),
        Change::Relisted => all(),
    });
    workqueue::process(
        queue,
        workers,
        "the mirrored EndpointSlices of Endpoints",
        move |key| {
            let ctx = ctx.clone();
            async move { sync(&ctx, &key).await }
        },
    )
    .await;
}

/// The slices mirroring `endpoints` (one per address type and port set), without names,
/// namespace or owner.
pub fn mirrored(endpoints: &Endpoints) -> Vec<EndpointSlice> {
    let name = endpoints.metadata.name.clone().unwrap_or_default();
    let mut labels = endpoints.metadata.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_NAME.to_string(), name.clone());
    labels.insert(MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
    let annotations: BTreeMap<String, String> = endpoints
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .collect();
    let mut groups: BTreeMap<
        (String, crate::endpointslice::desired::PortKey),
        (Vec<EndpointPort>, Vec<Endpoint>),
    > = BTreeMap::new();
    for subset in endpoints.subsets.iter().flatten() {
        let ports: Vec<EndpointPort> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPort {
                name: p.name.clone(),
                port: Some(p.port),
                protocol: p.protocol.clone(),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let ready = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| (a, false));
        for (address, is_ready) in ready.chain(not_ready).take(MAX_PER_SUBSET) {
            // Invalid addresses are skipped (upstream warns with an event).
            let Ok(ip) = address.ip.parse::<IpAddr>() else {
                continue;
            };
            let address_type = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            let group = groups
                .entry((address_type.to_string(), port_key(&ports)))
                .or_insert_with(|| (ports.clone(), Vec::new()));
            group.1.push(Endpoint {
                addresses: vec![ip.to_string()],
                conditions: Some(EndpointConditions {
                    ready: Some(is_ready),
                    ..Default::default()
                }),
                hostname: address.hostname.clone(),
                node_name: address.node_name.clone(),
                target_ref: address.target_ref.clone(),
                ..Default::default()
            });
        }
    }
    groups
        .into_iter()
        .map(|((address_type, _), (ports, endpoints))| EndpointSlice {
            metadata: ObjectMeta {
                generate_name: Some(format!("{name}-")),
                labels: Some(labels.clone()),
                annotations: (!annotations.is_empty()).then(|| annotations.clone()),
                ..Default::default()
            },
            address_type,
            endpoints,
            ports: (!ports.is_empty()).then_some(ports),
        })
        .collect()
}

async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let existing: Vec<EndpointSlice> = ctx
        .slices
        .state()
        .iter()
        .filter(|s| service_of(s, MANAGED_BY_VALUE).as_deref() == Some(key))
        .map(|s| (**s).clone())
        .collect();
    let endpoints = ctx.endpoints.get(&ObjectRef::new(name).within(namespace));
    let service = ctx.services.get(&ObjectRef::new(name).within(namespace));
    let mirror = endpoints.as_deref().filter(|ep| {
        let skip = ep
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.get(SKIP_MIRROR).map(String::as_str) == Some("true"));
        let leader = ep
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(LEADER));
        let selectorless = service
            .as_ref()
            .is_some_and(|s| s.spec.as_ref().is_some_and(|sp| sp.selector.is_none()));
        !skip && !leader && selectorless
    });
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), namespace);
    let err = |action, slice: &str, source| Error::Slice {
        action,
        namespace: namespace.to_string(),
        name: slice.to_string(),
        source,
    };
    let mut wanted: Vec<EndpointSlice> = match mirror {
        Some(ep) => {
            let owner = controller_reference(ep);
            mirrored(ep)
                .into_iter()
                .map(|mut s| {
                    s.metadata.namespace = Some(namespace.to_string());
                    s.metadata.owner_references = Some(vec![owner.clone()]);
                    s
                })
                .collect()
        }
        None => Vec::new(),
    };
    // Pair each wanted slice with the existing one of the same address type and ports, then
    // with any other of the same address type; the rest are created or deleted.
    let slot = |s: &EndpointSlice| {
        (
            s.address_type.clone(),
            port_key(s.ports.as_deref().unwrap_or_default()),
        )
    };
    let mut existing = existing;
    let mut pairs: Vec<(EndpointSlice, Option<EndpointSlice>)> = Vec::new();
    let mut unpaired = Vec::new();
    for desired in wanted.drain(..) {
        match existing.iter().position(|e| slot(e) == slot(&desired)) {
            Some(i) => pairs.push((desired, Some(existing.remove(i)))),
            None => unpaired.push(desired),
        }
    }
    for desired in unpaired {
        let current = existing
            .iter()
            .position(|e| e.address_type == desired.address_type)
            .map(|i| existing.remove(i));
        pairs.push((desired, current));
    }
    for (mut desired, current) in pairs {
        match current {
            Some(current) => {
                let same = current.endpoints == desired.endpoints
                    && current.ports == desired.ports
                    && current.metadata.labels == desired.metadata.labels
                    && current.metadata.annotations == desired.metadata.annotations;
                if same {
                    continue;
                }
                let slice_name = current.metadata.name.clone().unwrap_or_default();
                desired.metadata.name = Some(slice_name.clone());
                desired.metadata.resource_version = current.metadata.resource_version.clone();
                api.replace(&slice_name, &PostParams::default(), &desired)
                    .await
                    .map_err(|source| err("updating", &slice_name, source))?;
            }
            None => match api.create(&PostParams::default(), &desired).await {
                Ok(_) => {}
                Err(e) if client::has_cause(&e, client::NAMESPACE_TERMINATING_CAUSE) => {}
                Err(source) => return Err(err("creating", name, source)),
            },
        }
    }
    for extra in existing {
        let slice_name = extra.metadata.name.clone().unwrap_or_default();
        match api.delete(&slice_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if client::is_not_found(&e) => {}
            Err(source) => return Err(err("deleting", &slice_name, source)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort as CorePort, EndpointSubset};

    #[test]
    fn addresses_become_endpoints_by_family_and_ports() {
        let ep = Endpoints {
            metadata: ObjectMeta {
                name: Some("custom".to_string()),
                labels: Some([("team".to_string(), "a".to_string())].into()),
                annotations: Some(
                    [
                        (
                            "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                            "{}".to_string(),
                        ),
                        ("note".to_string(), "x".to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            subsets: Some(vec![EndpointSubset {
                addresses: Some(vec![
                    EndpointAddress {
                        ip: "10.1.2.3".to_string(),
                        ..Default::default()
                    },
                    EndpointAddress {
                        ip: "fd00::1".to_string(),
                        ..Default::default()
                    },
                    EndpointAddress {
                        ip: "not-an-ip".to_string(),
                        ..Default::default()
                    },
                ]),
                not_ready_addresses: Some(vec![EndpointAddress {
                    ip: "10.1.2.4".to_string(),
                    ..Default::default()
                }]),
                ports: Some(vec![CorePort {
                    port: 80,
                    ..Default::default()
                }]),
            }]),
        };
        let slices = mirrored(&ep);
        assert_eq!(slices.len(), 2);
        let v4 = slices.iter().find(|s| s.address_type == "IPv4").unwrap();
        let ready: Vec<(String, bool)> = v4
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.addresses[0].clone(),
                    e.conditions.as_ref().unwrap().ready.unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ready,
            vec![
                ("10.1.2.3".to_string(), true),
                ("10.1.2.4".to_string(), false)
            ]
        );
        let labels = v4.metadata.labels.as_ref().unwrap();
        assert_eq!(
            labels.get(MANAGED_BY).map(String::as_str),
            Some(MANAGED_BY_VALUE)
        );
        assert_eq!(labels.get(SERVICE_NAME).map(String::as_str), Some("custom"));
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        let annotations = v4.metadata.annotations.as_ref().unwrap();
        assert!(annotations.contains_key("note") && annotations.len() == 1);
        assert_eq!(v4.ports.as_ref().unwrap()[0].port, Some(80));
    }
}
