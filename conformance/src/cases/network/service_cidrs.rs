//! `[sig-network] ServiceCIDR and IPAddress API` (upstream `test/e2e/network/service_cidrs.go`):
//! the networking.k8s.io ServiceCIDR API on the cluster's default `kubernetes` ServiceCIDR, and
//! the IPAddress API. The case serving traffic from a second range needs nodes and kube-proxy.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::retry_on_conflict;
use crate::framework::watch::Watch;
use crate::framework::{Framework, PodSecurityLevel};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::networking::v1::{IPAddress, IPAddressSpec, ParentReference, ServiceCIDR};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

const D: Describe = Describe::new("servicecidr").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `defaultservicecidr.DefaultServiceCIDRName`.
const DEFAULT_SERVICE_CIDR: &str = "kubernetes";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-network] ServiceCIDR and IPAddress API should support ServiceCIDR API operations [Conformance]",
            case_fn!(service_cidr_api),
        ),
        D.case(
            "[sig-network] ServiceCIDR and IPAddress API should support IPAddress API operations [Conformance]",
            case_fn!(ip_address_api),
        ),
    ]
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

async fn service_cidr_api(f: &Framework) -> Result<()> {
    let cidrs = f.api_all::<ServiceCIDR>();
    f.step("getting");
    cidrs
        .get(DEFAULT_SERVICE_CIDR)
        .await
        .context("unexpected error getting default ServiceCIDR")?;

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = cidrs
        .patch(
            DEFAULT_SERVICE_CIDR,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .context("unexpected error patching ServiceCIDR")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut cidr = cidrs.get(DEFAULT_SERVICE_CIDR).await?;
        cidr.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        Ok(cidrs
            .replace(DEFAULT_SERVICE_CIDR, &PostParams::default(), &cidr)
            .await?)
    })
    .await
    .context("unexpected error updating ServiceCIDR")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.step("listing");
    let list = cidrs
        .list(&ListParams::default())
        .await
        .context("unexpected error listing ServiceCIDR")?;
    ensure!(
        !list.items.is_empty(),
        "expected at list one, the default, ServiceCIDR"
    );

    f.step("watching");
    Watch::start(&cidrs, "", None, None)
        .await
        .context("unexpected error watching ServiceCIDR")?;
    Ok(())
}

fn ip_address(name: &str, kind: &str) -> IPAddress {
    IPAddress {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("type".into(), kind.into())])),
            ..Default::default()
        },
        spec: Some(IPAddressSpec {
            parent_ref: ParentReference {
                group: Some("mygroup".into()),
                resource: "myresources".into(),
                namespace: Some("foo".into()),
                name: "bar".into(),
            },
        }),
    }
}

async fn ip_address_api(f: &Framework) -> Result<()> {
    let ips = f.api_all::<IPAddress>();
    let pp = PostParams::default();
    let (v4, v6) = ("255.255.255.255", "fe80::42:1dff:fe84:f9e2");
    f.defer_delete(ips.clone(), v4);
    f.defer_delete(ips.clone(), v6);

    f.step("creating");
    ips.create(&pp, &ip_address(v4, "broadcast"))
        .await
        .context("unexpected error creating IPAddress")?;
    ips.create(&pp, &ip_address(v6, "link-local"))
        .await
        .context("unexpected error creating IPAddress")?;

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = ips
        .patch(v4, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("unexpected error patching IPAddress")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut ip = ips.get(v4).await?;
        ip.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        Ok(ips.replace(v4, &pp, &ip).await?)
    })
    .await
    .context("unexpected error updating IPAddress")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.step("getting");
    ips.get(v4)
        .await
        .context("unexpected error getting IPAddress")?;

    f.step("listing");
    let list = ips
        .list(&ListParams::default().labels("type=broadcast"))
        .await
        .context("unexpected error listing IPAddress")?;
    ensure!(
        list.items.len() == 1,
        "expected one IPAddress, got {}",
        list.items.len()
    );

    f.step("watching");
    Watch::start(&ips, "", Some("type=broadcast"), None)
        .await
        .context("unexpected error watching IPAddress")?;

    f.step("deleting");
    ips.delete(v4, &DeleteParams::default())
        .await
        .context("unexpected error deleting IPAddress")?;

    f.step("deleting a collection");
    ips.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("type=link-local"),
    )
    .await
    .context("unexpected error deleting IPAddress Collection")?;
    let list = ips
        .list(&ListParams::default().labels("type=link-local"))
        .await
        .context("unexpected error listing IPAddress")?;
    ensure!(
        list.items.is_empty(),
        "expected 0 IPAddresses, got {}",
        list.items.len()
    );
    Ok(())
}
