//! `[sig-network] EndpointSlice` cases (upstream `test/e2e/network/endpointslice.go`): the API
//! operations, and those that need the endpoints and EndpointSlice controllers but no traffic.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, api, discovery};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{Endpoints, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("endpointslice").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-network] EndpointSlice should support creating EndpointSlice API operations [Conformance]",
            case_fn!(api_operations),
        ),
        D.case(
            "[sig-network] EndpointSlice should create and delete Endpoints and EndpointSlices for a Service with a selector specified [Conformance]",
            case_fn!(service_with_selector),
        ),
        D.case(
            "[sig-network] EndpointSlice should have Endpoints and EndpointSlices pointing to API Server [Conformance]",
            case_fn!(pointing_to_api_server),
        ),
    ]
}

/// Upstream's `wait.ForeverTestTimeout`.
const FOREVER: Duration = Duration::from_secs(30);

async fn service_with_selector(f: &Framework) -> Result<()> {
    let services = f.api::<Service>();
    let service = services
        .create(
            &PostParams::default(),
            &Service {
                metadata: ObjectMeta {
                    name: Some("example-empty-selector".into()),
                    ..Default::default()
                },
                spec: Some(ServiceSpec {
                    selector: Some(BTreeMap::from([(
                        "does-not-match-anything".into(),
                        "endpoints-and-endpoint-slices-should-still-be-created".into(),
                    )])),
                    ports: Some(vec![ServicePort {
                        name: Some("example".into()),
                        port: 80,
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                status: None,
            },
        )
        .await
        .context("error creating Service")?;
    let name = service.metadata.name.clone().unwrap_or_default();
    let ns = f.ns().to_string();
    let endpoints = f.api::<Endpoints>();
    poll(Duration::from_secs(2), FOREVER, async || {
        Ok(endpoints.get(&name).await.is_ok())
    })
    .await
    .with_context(|| format!("No Endpoints found for Service {ns}/{name}"))?;
    let slices = f.api::<EndpointSlice>();
    let by_service = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    let mut found = None;
    poll(Duration::from_secs(2), FOREVER, async || {
        found = slices.list(&by_service).await?.items.into_iter().next();
        Ok(found.is_some())
    })
    .await
    .with_context(|| format!("No EndpointSlice found for Service {ns}/{name}"))?;
    let slice = found.context("no EndpointSlice")?;
    let managed_by = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("endpointslice.kubernetes.io/managed-by"));
    ensure!(
        managed_by.is_some(),
        "Expected EndpointSlice to have endpointslice.kubernetes.io/managed-by label, got {:?}",
        slice.metadata.labels
    );
    ensure!(
        managed_by.map(String::as_str) == Some("endpointslice-controller.k8s.io"),
        "Expected EndpointSlice to have endpointslice.kubernetes.io/managed-by label with endpointslice-controller.k8s.io value, got {managed_by:?}"
    );
    ensure!(
        slice.endpoints.is_empty(),
        "Expected EndpointSlice to have 0 endpoints, got {}: {:?}",
        slice.endpoints.len(),
        slice.endpoints
    );
    services
        .delete(&name, &DeleteParams::default())
        .await
        .context("error deleting Service")?;
    poll(Duration::from_secs(2), FOREVER, async || {
        match endpoints.get(&name).await {
            Ok(_) => Ok(false),
            Err(e) if api::is_not_found(&e) => Ok(true),
            Err(e) => Err(e.into()),
        }
    })
    .await
    .with_context(|| {
        format!("Endpoints resource not deleted after Service {ns}/{name} was deleted")
    })?;
    poll(
        Duration::from_secs(2),
        Duration::from_secs(90),
        async || Ok(slices.list(&by_service).await?.items.is_empty()),
    )
    .await
    .with_context(|| {
        format!("EndpointSlice resource not deleted after Service {ns}/{name} was deleted")
    })
}

async fn pointing_to_api_server(f: &Framework) -> Result<()> {
    f.api_in::<Service>("default")
        .get("kubernetes")
        .await
        .context(
            "error obtaining API server \"kubernetes\" Service resource on \"default\" namespace",
        )?;
    let endpoints = f
        .api_in::<Endpoints>("default")
        .get("kubernetes")
        .await
        .context(
            "error obtaining API server \"kubernetes\" Endpoint resource on \"default\" namespace",
        )?;
    let subsets = endpoints.subsets.clone().unwrap_or_default();
    ensure!(
        !subsets.is_empty(),
        "Expected at least 1 subset in endpoints, got {}: {:?}",
        subsets.len(),
        endpoints
    );
    let slices = f
        .api_in::<EndpointSlice>("default")
        .list(&ListParams::default().labels("kubernetes.io/service-name=kubernetes"))
        .await
        .context("error obtaining API server \"kubernetes\" EndpointSlice resource on \"default\" namespace")?
        .items;
    ensure!(
        !slices.is_empty(),
        "Expected at least 1 EndpointSlice, got {}: {:?}",
        slices.len(),
        slices
    );
    // Upstream's endpointSlicesEqual: the same addresses and ports, IPv4 slices only here.
    let mut ep_ips = std::collections::BTreeSet::new();
    let mut ep_ports = std::collections::BTreeSet::new();
    for subset in &subsets {
        for a in subset
            .addresses
            .iter()
            .flatten()
            .chain(subset.not_ready_addresses.iter().flatten())
        {
            ep_ips.insert(a.ip.clone());
        }
        for p in subset.ports.iter().flatten() {
            ep_ports.insert(p.port);
        }
    }
    let mut slice_ips = std::collections::BTreeSet::new();
    let mut slice_ports = std::collections::BTreeSet::new();
    for slice in slices.iter().filter(|s| s.address_type == "IPv4") {
        for e in &slice.endpoints {
            slice_ips.extend(e.addresses.iter().cloned());
        }
        for p in slice.ports.iter().flatten() {
            slice_ports.extend(p.port);
        }
    }
    ensure!(
        ep_ips == slice_ips && ep_ports == slice_ports,
        "Expected EndpointSlice to have same addresses and port as Endpoints, got {slices:?}: {endpoints:?}"
    );
    Ok(())
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

async fn api_operations(f: &Framework) -> Result<()> {
    let unique = f.ns();
    let slices = f.api::<EndpointSlice>();
    let selector = format!("special-label={unique}");
    let pp = PostParams::default();
    let template = EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some("e2e-example-ing".into()),
            labels: Some(BTreeMap::from([(
                "special-label".into(),
                unique.to_string(),
            )])),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![
            Endpoint {
                addresses: vec!["1.2.3.4".into(), "5.6.7.8".into()],
                ..Default::default()
            },
            Endpoint {
                addresses: vec!["2.2.3.4".into(), "6.6.7.8".into()],
                ..Default::default()
            },
        ],
        ports: None,
    };

    discovery::expect_served(f, "discovery.k8s.io", "v1", &["endpointslices"]).await?;

    f.step("creating");
    slices
        .create(&pp, &template)
        .await
        .context("creating slice 1")?;
    slices
        .create(&pp, &template)
        .await
        .context("creating slice 2")?;
    let created = slices
        .create(&pp, &template)
        .await
        .context("creating slice 3")?;
    let name = created.metadata.name.clone().unwrap_or_default();

    f.step("getting");
    let got = slices.get(&name).await.context("getting the slice")?;
    ensure!(
        got.metadata.uid == created.metadata.uid,
        "got a different uid"
    );

    f.step("listing");
    let list = slices
        .list(&ListParams::default().labels(&selector))
        .await?;
    ensure!(
        list.items.len() == 3,
        "filtered list should have 3 items, got {}",
        list.items.len()
    );
    let list_rv = list.metadata.resource_version.clone().unwrap_or_default();

    f.step("watching");
    let mut w = Watch::start(&slices, &list_rv, Some(&selector), None).await?;

    let all = f.api_all::<EndpointSlice>();
    f.step("cluster-wide listing");
    let cluster = all.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        cluster.items.len() == 3,
        "filtered list should have 3 items, got {}",
        cluster.items.len()
    );
    f.step("cluster-wide watching");
    let _cluster_watch = Watch::start(&all, &list_rv, Some(&selector), None).await?;

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = slices
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching the slice")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut eps = slices.get(&name).await?;
        eps.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        Ok(slices.replace(&name, &pp, &eps).await?)
    })
    .await
    .context("updating the slice")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.log("waiting for watch events with expected annotations");
    w.until(Duration::from_secs(30), |e| {
        ensure!(
            e.kind == EventType::Modified,
            "expected a MODIFIED event, got {:?}",
            e.kind
        );
        Ok(e.object
            .as_ref()
            .is_some_and(|o| annotation(&o.metadata, "patched").as_deref() == Some("true")))
    })
    .await
    .context("timed out waiting for watch event")?;
    drop(w);

    f.step("deleting");
    slices
        .delete(&name, &DeleteParams::default())
        .await
        .context("deleting the slice")?;
    api::expect_not_found(slices.get(&name).await, "the deleted EndpointSlice")?;
    let list = slices
        .list(&ListParams::default().labels(&selector))
        .await?;
    ensure!(
        list.items.len() == 2,
        "filtered list should have 2 items, got {}",
        list.items.len()
    );
    ensure!(
        !list
            .items
            .iter()
            .any(|e| e.metadata.name.as_deref() == Some(name.as_str())),
        "listing after deleting createdEPS"
    );

    f.step("deleting a collection");
    slices
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&selector),
        )
        .await
        .context("deleting the collection")?;
    let list = slices
        .list(&ListParams::default().labels(&selector))
        .await?;
    ensure!(
        list.items.is_empty(),
        "filtered list should have 0 items, got {}",
        list.items.len()
    );
    Ok(())
}
