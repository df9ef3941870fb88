//! The endpoints controller (upstream `pkg/controller/endpoint`): keeps an Endpoints object
//! beside every Service that has a selector, listing the addresses and ports of the pods it
//! selects ([`subsets`]), and deletes it when the Service goes. Services without a selector
//! (their Endpoints are written by hand) and ExternalName Services are left alone.
//!
//! Work is keyed by `namespace/name` (a Service that is gone must still have its Endpoints
//! deleted), on client-go's queue semantics ([`WorkQueue`]): a Service is queued when it
//! changes, when a pod it selects (before or after the change) changes, and when its Endpoints
//! are deleted; at start, every Service and every Endpoints object is queued, so Endpoints left
//! without a Service are removed.

pub mod ports;
pub mod subsets;

use crate::client;
use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informers};
use crate::workqueue::{self, WorkQueue, feed, key_of};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The controller's name (upstream `names.EndpointsController`).
pub const NAME: &str = "endpoints-controller";

/// The label marking the Endpoints of a headless Service.
pub const HEADLESS: &str = "service.kubernetes.io/headless";
/// When a change that moved the endpoints happened.
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Set to `truncated` when addresses were dropped for [`subsets::MAX_CAPACITY`].
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// Endpoints used for leader election (by old components) are not the controller's.
const LEADER: &str = "control-plane.alpha.kubernetes.io/leader";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} Endpoints {namespace}/{name}: {}", client::message(.source))]
    Endpoints {
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
    endpoints: Store<Endpoints>,
    recorder: Recorder,
}

/// Whether a Service's selector selects a pod's labels.
pub fn selects(service: &Service, labels: Option<&BTreeMap<String, String>>) -> bool {
    let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The Services of the pod's namespace that select it (with its labels before or after).
pub fn services_for_pod(services: &Store<Service>, change: &Change<Pod>) -> Vec<String> {
    let (pod, old) = match change {
        Change::Applied { new, old } => (new.clone(), old.clone()),
        Change::Deleted(pod) => (pod.clone(), None),
        Change::Relisted => {
            return services
                .state()
                .iter()
                .map(|s| key_of(&s.metadata))
                .collect();
        }
    };
    let namespace = pod.metadata.namespace.as_deref();
    services
        .state()
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == namespace)
        .filter(|s| {
            selects(s, pod.metadata.labels.as_ref())
                || old
                    .as_ref()
                    .is_some_and(|o| selects(s, o.metadata.labels.as_ref()))
        })
        .map(|s| key_of(&s.metadata))
        .collect()
}

/// Runs the controller with `workers` workers (`--concurrent-endpoint-syncs`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, workers: u16) {
    let (svc_informer, pod_informer, ep_informer) = (
        informers.get::<Service>(),
        informers.get::<Pod>(),
        informers.get::<Endpoints>(),
    );
    // Subscribed before the first look, so nothing falls between.
    let svc_changes = svc_informer.changes();
    let pod_changes = pod_informer.changes();
    let ep_changes = ep_informer.changes();
    let ctx = Arc::new(Context {
        client: client.clone(),
        services: svc_informer.store(),
        pods: pod_informer.store(),
        endpoints: ep_informer.store(),
        recorder: Recorder::new(client, NAME),
    });
    svc_informer.ready().await;
    pod_informer.ready().await;
    ep_informer.ready().await;
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::<String>::new("endpoint");
    for ep in ctx.endpoints.state() {
        let leader = ep
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(LEADER));
        if !leader {
            queue.add(key_of(&ep.metadata));
        }
    }
    for svc in ctx.services.state() {
        queue.add(key_of(&svc.metadata));
    }
    let services = ctx.services.clone();
    feed(&queue, svc_changes, move |change| match change {
        Change::Applied { new, .. } => vec![key_of(&new.metadata)],
        Change::Deleted(svc) => vec![key_of(&svc.metadata)],
        Change::Relisted => services
            .state()
            .iter()
            .map(|s| key_of(&s.metadata))
            .collect(),
    });
    let services = ctx.services.clone();
    feed(&queue, pod_changes, move |change| {
        services_for_pod(&services, &change)
    });
    feed(&queue, ep_changes, |change| match change {
        Change::Deleted(ep) => vec![key_of(&ep.metadata)],
        _ => Vec::new(),
    });
    workqueue::process(queue, workers, "the endpoints of Service", move |key| {
        let ctx = ctx.clone();
        async move { sync(&ctx, &key).await }
    })
    .await;
}

/// The latest change behind the endpoints: the Service's creation or a pod's readiness change.
pub fn trigger_time(service: &Service, pods: &[&Pod]) -> Option<Time> {
    let service_time = service.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let pod_times = pods.iter().filter_map(|p| {
        p.status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")?
            .last_transition_time
            .as_ref()
            .map(|t| t.0)
    });
    service_time.into_iter().chain(pod_times).max().map(Time)
}

async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), namespace);
    let err = |action, source| Error::Endpoints {
        action,
        namespace: namespace.to_string(),
        name: name.to_string(),
        source,
    };
    let Some(service) = ctx.services.get(&ObjectRef::new(name).within(namespace)) else {
        // The Service is gone: so are its Endpoints.
        return match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if client::is_not_found(&e) => Ok(()),
            Err(source) => Err(err("deleting", source)),
        };
    };
    let spec = service.spec.clone().unwrap_or_default();
    if spec.selector.is_none() || spec.type_.as_deref() == Some("ExternalName") {
        return Ok(());
    }
    let all = ctx.pods.state();
    let pods: Vec<&Pod> = all
        .iter()
        .map(|p| &**p)
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| selects(&service, p.metadata.labels.as_ref()))
        .collect();
    let (subsets, truncated) = subsets::desired(&service, &pods);
    let subsets = (!subsets.is_empty()).then_some(subsets);

    let current = ctx.endpoints.get(&ObjectRef::new(name).within(namespace));
    let service_labels = service.metadata.labels.clone().unwrap_or_default();
    if let Some(current) = &current {
        let mut labels = current.metadata.labels.clone().unwrap_or_default();
        labels.remove(HEADLESS);
        let capacity_right = current
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(OVER_CAPACITY))
            .is_some()
            == truncated;
        if current.subsets == subsets && labels == service_labels && capacity_right {
            return Ok(());
        }
    }
    let mut labels = service_labels;
    if subsets::has_cluster_ip(&service) {
        labels.remove(HEADLESS);
    } else {
        labels.insert(HEADLESS.to_string(), String::new());
    }
    let mut endpoints = current.as_deref().cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        subsets: None,
    });
    endpoints.subsets = subsets;
    endpoints.metadata.labels = Some(labels);
    let annotations = endpoints
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    match trigger_time(&service, &pods) {
        Some(t) => {
            annotations.insert(
                TRIGGER_TIME.to_string(),
                serde_json::to_value(&t)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            );
        }
        None => {
            annotations.remove(TRIGGER_TIME);
        }
    }
    if truncated {
        annotations.insert(OVER_CAPACITY.to_string(), "truncated".to_string());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    let result = if current.is_some() {
        api.replace(name, &PostParams::default(), &endpoints)
            .await
            .map(|_| ())
            .map_err(|source| err("updating", source))
    } else {
        match api.create(&PostParams::default(), &endpoints).await {
            Ok(_) => Ok(()),
            // The namespace is going away; so will the Service.
            Err(e) if client::has_cause(&e, client::NAMESPACE_TERMINATING_CAUSE) => Ok(()),
            Err(source) => Err(err("creating", source)),
        }
    };
    if let Err(Error::Endpoints { source, .. }) = &result
        && !client::is_conflict(source)
    {
        ctx.recorder.record(
            &*service,
            EventType::Warning,
            "FailedToUpdateEndpoint",
            format!(
                "Failed to update endpoint {key}: {}",
                client::message(source)
            ),
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ServiceSpec;

    #[test]
    fn selectors_are_label_subsets_and_none_selects_nothing() {
        let mut svc = Service {
            spec: Some(ServiceSpec {
                selector: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let labels = BTreeMap::from([
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "x".to_string()),
        ]);
        assert!(selects(&svc, Some(&labels)));
        assert!(!selects(&svc, None));
        svc.spec.as_mut().unwrap().selector = None;
        assert!(!selects(&svc, Some(&labels)));
    }
}
