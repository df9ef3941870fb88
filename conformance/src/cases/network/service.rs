//! `[sig-network] Services` API cases (upstream `test/e2e/network/service.go`): the
//! `kubernetes` Service, Service status, collections, and the Endpoints lifecycle. The cases
//! that send traffic through Services need kube-proxy and pods and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::retry_on_conflict;
use crate::framework::watch::{EventType, watch_until};
use crate::framework::{Framework, PodSecurityLevel, rand_string};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, LoadBalancerIngress,
    LoadBalancerStatus, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams,
    PostParams,
};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("services").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `svcReadyTimeout`.
const SVC_READY_TIMEOUT: Duration = Duration::from_secs(60);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-network] Services should provide secure master service [Conformance]",
            case_fn!(secure_master_service),
        ),
        D.case(
            "[sig-network] Services should find a service from listing all namespaces [Conformance]",
            case_fn!(find_service_in_all_namespaces),
        ),
        D.case(
            "[sig-network] Services should test the lifecycle of an Endpoint [Conformance]",
            case_fn!(endpoint_lifecycle),
        ),
        D.case(
            "[sig-network] Services should complete a service status lifecycle [Conformance]",
            case_fn!(service_status_lifecycle),
        ),
        D.case(
            "[sig-network] Services should delete a collection of services [Conformance]",
            case_fn!(delete_collection),
        ),
    ]
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

async fn secure_master_service(f: &Framework) -> Result<()> {
    f.api_in::<Service>("default")
        .get("kubernetes")
        .await
        .context("failed to fetch the service object for the service named kubernetes")?;
    Ok(())
}

async fn find_service_in_all_namespaces(f: &Framework) -> Result<()> {
    f.step("fetching services");
    // Upstream ignores the list error and fails on the missing Service instead.
    let found = match f.api_all::<Service>().list(&ListParams::default()).await {
        Ok(list) => list.items.iter().any(|s| {
            s.metadata.name.as_deref() == Some("kubernetes")
                && s.metadata.namespace.as_deref() == Some("default")
        }),
        Err(_) => false,
    };
    ensure!(
        found,
        "could not find service 'kubernetes' in service list in all namespaces"
    );
    Ok(())
}

async fn endpoint_lifecycle(f: &Framework) -> Result<()> {
    let ns = f.ns();
    let api = f.api::<Endpoints>();
    let name = "testservice";
    let selector = "test-endpoint-static=true";
    let static_label =
        |e: &crate::framework::watch::Event<Endpoints>, kind: EventType| -> Result<bool> {
            Ok(e.kind == kind
                && e.object
                    .as_ref()
                    .is_some_and(|o| label(&o.metadata, "test-endpoint-static") == Some("true")))
        };

    let list = f
        .api_all::<Endpoints>()
        .list(&ListParams::default().labels(selector))
        .await
        .context("failed to list Endpoints")?;
    let list_rv = list.metadata.resource_version.unwrap_or_default();

    f.step("creating an Endpoint");
    let endpoints = Endpoints {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(&[("test-endpoint-static", "true")])),
            ..Default::default()
        },
        subsets: Some(vec![EndpointSubset {
            addresses: Some(vec![EndpointAddress {
                ip: "10.0.0.24".into(),
                ..Default::default()
            }]),
            ports: Some(vec![EndpointPort {
                name: Some("http".into()),
                port: 80,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
    };
    api.create(&PostParams::default(), &endpoints)
        .await
        .context("failed to create Endpoint")?;
    f.step("waiting for available Endpoint");
    watch_until(
        &api,
        &list_rv,
        Some(selector),
        Duration::from_secs(30),
        |e| static_label(e, EventType::Added),
    )
    .await
    .context("failed to see ADDED event")?;

    f.step("listing all Endpoints");
    let list = f
        .api_all::<Endpoints>()
        .list(&ListParams::default().labels(selector))
        .await
        .context("failed to list Endpoints")?;
    let list_rv = list.metadata.resource_version.clone().unwrap_or_default();
    let Some(mut found) = list.items.into_iter().find(|e| {
        e.metadata.name.as_deref() == Some(name) && e.metadata.namespace.as_deref() == Some(ns)
    }) else {
        bail!("unable to find Endpoint Service in list of Endpoints");
    };

    f.step("updating the Endpoint");
    found
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("test-service".into(), "updated".into());
    api.replace(name, &PostParams::default(), &found)
        .await
        .context("failed to update Endpoint with new label")?;
    watch_until(
        &api,
        &list_rv,
        Some(selector),
        Duration::from_secs(30),
        |e| static_label(e, EventType::Modified),
    )
    .await
    .context("failed to see MODIFIED event")?;

    f.step("fetching the Endpoint");
    let fetched = api.get(name).await.context("failed to fetch Endpoint")?;
    ensure!(
        label(&fetched.metadata, "test-service") == Some("updated"),
        "failed to update Endpoint {name} in namespace {ns} label not updated"
    );

    let patch = serde_json::json!({
        "metadata": {"labels": {"test-service": "patched"}},
        "subsets": [{
            "addresses": [{"ip": "10.0.0.25"}],
            "ports": [{"name": "http-test", "port": 8080}],
        }],
    });
    f.step("patching the Endpoint");
    api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .context("failed to patch Endpoint")?;
    let rv = fetched
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    watch_until(&api, &rv, Some(selector), Duration::from_secs(30), |e| {
        static_label(e, EventType::Modified)
    })
    .await
    .context("failed to see MODIFIED event")?;

    f.step("fetching the Endpoint");
    let fetched = api.get(name).await.context("failed to fetch Endpoint")?;
    ensure!(
        label(&fetched.metadata, "test-service") == Some("patched"),
        "failed to patch Endpoint with Label"
    );
    let subset = fetched
        .subsets
        .as_ref()
        .and_then(|s| s.first())
        .context("the patched Endpoint has no subsets")?;
    let address = subset
        .addresses
        .as_ref()
        .and_then(|a| a.first())
        .context("the patched Endpoint has no addresses")?;
    let port = subset
        .ports
        .as_ref()
        .and_then(|p| p.first())
        .context("the patched Endpoint has no ports")?;
    ensure!(
        address.ip == "10.0.0.25",
        "failed to patch Endpoint: ip is {}",
        address.ip
    );
    ensure!(
        port.name.as_deref() == Some("http-test"),
        "failed to patch Endpoint: port name is {:?}",
        port.name
    );
    ensure!(
        port.port == 8080,
        "failed to patch Endpoint: port is {}",
        port.port
    );

    f.step("deleting the Endpoint by Collection");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(selector),
    )
    .await
    .context("failed to delete Endpoint by Collection")?;
    f.step("waiting for Endpoint deletion");
    let rv = fetched
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    watch_until(&api, &rv, Some(selector), Duration::from_secs(30), |e| {
        static_label(e, EventType::Deleted)
    })
    .await
    .context("failed to see DELETED event")?;

    f.step("fetching the Endpoint");
    ensure!(
        api.get(name).await.is_err(),
        "should not be able to fetch Endpoint"
    );
    Ok(())
}

/// Upstream appends a condition with Go's zero `lastTransitionTime`, which the server stores
/// and returns as `null`; typed k8s-openapi Services cannot hold that, so this case reads and
/// writes Services as untyped objects throughout.
async fn service_status_lifecycle(f: &Framework) -> Result<()> {
    let ns = f.ns();
    let resource = ApiResource::erase::<Service>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(f.client.clone(), ns, &resource);
    let all: Api<DynamicObject> = Api::all_with(f.client.clone(), &resource);
    let name = format!("test-service-{}", rand_string(5));
    let selector = "test-service-static=true";
    let is_ours = |s: &DynamicObject| {
        s.metadata.name.as_deref() == Some(name.as_str())
            && s.metadata.namespace.as_deref() == Some(ns)
    };

    let list = all
        .list(&ListParams::default().labels(selector))
        .await
        .context("failed to list Services")?;
    let list_rv = list.metadata.resource_version.unwrap_or_default();

    f.step("creating a Service");
    let service = Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels(&[("test-service-static", "true")])),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                protocol: Some("TCP".into()),
                port: 80,
                target_port: Some(IntOrString::Int(80)),
                ..Default::default()
            }]),
            load_balancer_class: Some("example.com/internal-vip".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    f.api::<Service>()
        .create(&PostParams::default(), &service)
        .await
        .context("failed to create Service")?;

    f.step("watching for the Service to be added");
    watch_until(&api, &list_rv, Some(selector), SVC_READY_TIMEOUT, |e| {
        Ok(e.object.as_ref().is_some_and(|s| {
            is_ours(s) && label(&s.metadata, "test-service-static") == Some("true")
        }))
    })
    .await
    .with_context(|| format!("Failed to locate Service {name} in namespace {ns}"))?;

    f.step("Getting /status");
    api.get_status(&name).await.with_context(|| {
        format!("Failed to fetch ServiceStatus of Service {name} in namespace {ns}")
    })?;

    f.step("patching the ServiceStatus");
    let lb = LoadBalancerStatus {
        ingress: Some(vec![LoadBalancerIngress {
            ip: Some("203.0.113.1".into()),
            ..Default::default()
        }]),
    };
    let patch = serde_json::json!({
        "metadata": {"annotations": {"patchedstatus": "true"}},
        "status": {"loadBalancer": lb},
    });
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("Could not patch service status")?;

    f.step("watching for the Service to be patched");
    watch_until(&api, &list_rv, Some(selector), SVC_READY_TIMEOUT, |e| {
        Ok(e.object.as_ref().is_some_and(|s| {
            is_ours(s) && annotation(&s.metadata, "patchedstatus") == Some("true")
        }))
    })
    .await
    .with_context(|| format!("failed to locate Service {name} in namespace {ns}"))?;

    f.step("updating the ServiceStatus");
    retry_on_conflict(async || {
        let mut svc = api
            .get(&name)
            .await
            .with_context(|| format!("Unable to retrieve service {name}"))?;
        let status = svc
            .data
            .as_object_mut()
            .context("a Service is a JSON object")?
            .entry("status")
            .or_insert_with(|| serde_json::json!({}));
        let conditions = status
            .as_object_mut()
            .context("status is a JSON object")?
            .entry("conditions")
            .or_insert_with(|| serde_json::json!([]));
        conditions
            .as_array_mut()
            .context("conditions is a JSON array")?
            .push(serde_json::json!({
                "type": "StatusUpdate",
                "status": "True",
                "lastTransitionTime": null,
                "reason": "E2E",
                "message": "Set from e2e test",
            }));
        Ok(api
            .replace_status(&name, &PostParams::default(), &svc)
            .await?)
    })
    .await
    .context("Failed to UpdateStatus")?;

    f.step("watching for the Service to be updated");
    watch_until(&api, &list_rv, Some(selector), SVC_READY_TIMEOUT, |e| {
        let Some(s) = e.object.as_ref() else {
            return Ok(false);
        };
        if !(is_ours(s) && annotation(&s.metadata, "patchedstatus") == Some("true")) {
            return Ok(false);
        }
        // As upstream: only the first condition is looked at.
        let first = &s.data["status"]["conditions"][0];
        Ok(first["type"] == "StatusUpdate"
            && first["reason"] == "E2E"
            && first["message"] == "Set from e2e test")
    })
    .await
    .with_context(|| format!("failed to locate Service {name} in namespace {ns}"))?;

    f.step("patching the service");
    let patch = serde_json::json!({"metadata": {"labels": {"test-service": "patched"}}});
    api.patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .context("failed to patch service")?;

    f.step("watching for the Service to be patched");
    watch_until(&api, &list_rv, Some(selector), SVC_READY_TIMEOUT, |e| {
        Ok(e.object
            .as_ref()
            .is_some_and(|s| is_ours(s) && label(&s.metadata, "test-service") == Some("patched")))
    })
    .await
    .with_context(|| format!("failed to locate Service {name} in namespace {ns}"))?;

    f.step("deleting the service");
    api.delete(&name, &DeleteParams::default())
        .await
        .context("failed to delete the Service")?;

    f.step("watching for the Service to be deleted");
    watch_until(&api, &list_rv, Some(selector), SVC_READY_TIMEOUT, |e| {
        Ok(e.kind == EventType::Deleted
            && e.object.as_ref().is_some_and(|s| {
                is_ours(s) && label(&s.metadata, "test-service-static") == Some("true")
            }))
    })
    .await
    .with_context(|| format!("failed to delete Service {name} in namespace {ns}"))?;
    Ok(())
}

async fn delete_collection(f: &Framework) -> Result<()> {
    let api = f.api::<Service>();
    f.step("creating a collection of services");
    let services = [
        (format!("e2e-svc-a-{}", rand_string(5)), "delete", 8001),
        (format!("e2e-svc-b-{}", rand_string(5)), "delete", 8002),
        (format!("e2e-svc-c-{}", rand_string(5)), "keep", 8003),
    ];
    for (name, value, port) in &services {
        f.log(format!("Creating {name}"));
        let svc = Service {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels(&[("e2e-test-service", value)])),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    protocol: Some("TCP".into()),
                    port: *port,
                    target_port: Some(IntOrString::Int(*port)),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        api.create(&PostParams::default(), &svc)
            .await
            .context("failed to create Service")?;
    }
    let list = api
        .list(&ListParams::default())
        .await
        .context("failed to list Services")?;
    ensure!(
        list.items.len() == 3,
        "Required count of services out of sync: {}",
        list.items.len()
    );

    f.step("deleting service collection");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("e2e-test-service=delete"),
    )
    .await
    .context("failed to delete service collection")?;
    let list = api
        .list(&ListParams::default())
        .await
        .context("failed to list Services")?;
    ensure!(
        list.items.len() == 1,
        "Required count of services out of sync: {}",
        list.items.len()
    );
    Ok(())
}
