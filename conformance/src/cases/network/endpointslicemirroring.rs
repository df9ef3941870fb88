//! `[sig-network] EndpointSliceMirroring` case (upstream
//! `test/e2e/network/endpointslicemirroring.go`): hand-written Endpoints of a Service without a
//! selector are mirrored into EndpointSlices.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::poll;
use crate::framework::{Framework, PodSecurityLevel};
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use std::time::Duration;

const D: Describe =
    Describe::new("endpointslicemirroring").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-network] EndpointSliceMirroring should mirror a custom Endpoints resource through create update and delete [Conformance]",
        case_fn!(mirror_custom_endpoints),
    )]
}

fn endpoints(name: &str, ip: &str) -> Endpoints {
    Endpoints {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        subsets: Some(vec![EndpointSubset {
            ports: Some(vec![EndpointPort {
                port: 80,
                ..Default::default()
            }]),
            addresses: Some(vec![EndpointAddress {
                ip: ip.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
    }
}

/// Upstream's check of one mirrored slice: one port 80, one endpoint, one address `ip`.
fn check(slice: &EndpointSlice, ip: &str) -> Result<()> {
    let ports = slice.ports.clone().unwrap_or_default();
    if ports.len() != 1 {
        bail!("Expected EndpointSlice to have 1 Port, got {}", ports.len());
    }
    if ports[0].port != Some(80) {
        bail!("Expected port to be 80, got {:?}", ports[0].port);
    }
    if slice.endpoints.len() != 1 {
        bail!(
            "Expected EndpointSlice to have 1 endpoints, got {}",
            slice.endpoints.len()
        );
    }
    let addresses = &slice.endpoints[0].addresses;
    if addresses.len() != 1 {
        bail!(
            "Expected EndpointSlice endpoint to have 1 address, got {}",
            addresses.len()
        );
    }
    if addresses[0] != ip {
        bail!(
            "Expected EndpointSlice to have {ip} as address, got {}",
            addresses[0]
        );
    }
    Ok(())
}

async fn mirror_custom_endpoints(f: &Framework) -> Result<()> {
    let name = "example-custom-endpoints";
    let ns = f.ns().to_string();
    f.api::<Service>()
        .create(
            &PostParams::default(),
            &Service {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                spec: Some(ServiceSpec {
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
    let eps = f.api::<Endpoints>();
    let created = eps
        .create(&PostParams::default(), &endpoints(name, "10.1.2.3"))
        .await
        .context("Unexpected error creating Endpoints")?;
    let slices = f.api::<EndpointSlice>();
    let by_service = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    let not_found = || format!("Did not find matching EndpointSlice for {ns}/{name}");

    f.step("mirroring a new custom Endpoint");
    poll(
        Duration::from_secs(2),
        Duration::from_secs(12),
        async || {
            let Ok(list) = slices.list(&by_service).await else {
                return Ok(false);
            };
            if list.items.is_empty() {
                return Ok(false);
            }
            for slice in &list.items {
                check(slice, "10.1.2.3")?;
            }
            Ok(true)
        },
    )
    .await
    .with_context(not_found)?;

    f.step("mirroring an update to a custom Endpoint");
    let mut updated = created.clone();
    updated.subsets = endpoints(name, "10.2.3.4").subsets;
    eps.replace(name, &PostParams::default(), &updated)
        .await
        .context("Unexpected error updating Endpoints")?;
    poll(
        Duration::from_secs(2),
        Duration::from_secs(12),
        async || {
            let list = slices.list(&by_service).await?;
            if list.items.len() != 1 {
                f.log(format!(
                    "Expected 1 EndpointSlice, got {}",
                    list.items.len()
                ));
                return Ok(false);
            }
            match check(&list.items[0], "10.2.3.4") {
                Ok(()) => Ok(true),
                Err(e) => {
                    f.log(e.to_string());
                    Ok(false)
                }
            }
        },
    )
    .await
    .with_context(not_found)?;

    f.step("mirroring deletion of a custom Endpoint");
    eps.delete(name, &DeleteParams::default())
        .await
        .context("Unexpected error deleting Endpoints")?;
    poll(
        Duration::from_secs(2),
        Duration::from_secs(12),
        async || Ok(slices.list(&by_service).await?.items.is_empty()),
    )
    .await
    .with_context(not_found)
}
