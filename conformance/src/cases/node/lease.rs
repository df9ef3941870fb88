//! `[sig-node] Lease` (upstream `test/e2e/common/node/lease.go`): the coordination.k8s.io
//! Lease API end to end.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api, compare};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

const D: Describe = Describe::new("lease-test").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-node] Lease lease API should be available [Conformance]",
        case_fn!(lease_api),
    )]
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) plus `secs`, as upstream builds its times.
fn zero_time_plus(secs: i64) -> Result<MicroTime> {
    const YEAR_ONE: i64 = -62_135_596_800;
    Ok(MicroTime(
        Timestamp::from_second(YEAR_ONE + secs).context("building a timestamp")?,
    ))
}

fn spec(
    holder: &str,
    duration: i32,
    acquire: i64,
    renew: i64,
    transitions: i32,
) -> Result<LeaseSpec> {
    Ok(LeaseSpec {
        holder_identity: Some(holder.into()),
        lease_duration_seconds: Some(duration),
        acquire_time: Some(zero_time_plus(acquire)?),
        renew_time: Some(zero_time_plus(renew)?),
        lease_transitions: Some(transitions),
        ..Default::default()
    })
}

fn expect_spec(want: &LeaseSpec, got: &Lease) -> Result<()> {
    let got = got.spec.clone().unwrap_or_default();
    ensure!(
        compare::semantic_eq(want, &got),
        "Leases don't match: {}",
        compare::diff(want, &got)
    );
    Ok(())
}

async fn lease_api(f: &Framework) -> Result<()> {
    let leases = f.api::<Lease>();
    let name = "lease";
    let first = spec("holder", 30, 2, 5, 0)?;
    let created = leases
        .create(
            &PostParams::default(),
            &Lease {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                spec: Some(first.clone()),
            },
        )
        .await
        .context("creating Lease failed")?;
    api::expect_valid_resource_version(&created.metadata)?;
    let read = leases.get(name).await.context("couldn't read Lease")?;
    expect_spec(&first, &read)?;

    let second = spec("holder2", 30, 20, 50, 1)?;
    let mut update = created.clone();
    update.spec = Some(second.clone());
    leases
        .replace(name, &PostParams::default(), &update)
        .await
        .context("updating Lease failed")?;
    let read = leases.get(name).await.context("couldn't read Lease")?;
    expect_spec(&second, &read)?;

    // The two-way strategic merge patch upstream computes between the two specs: every spec
    // field changed, so it names all of them.
    let third = spec("holder3", 60, 50, 70, 2)?;
    let patch = serde_json::json!({"spec": third});
    leases
        .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .context("patching Lease failed")?;
    let read = leases.get(name).await.context("couldn't read Lease")?;
    expect_spec(&third, &read)?;
    api::expect_newer_resource_version(&created.metadata, &read.metadata)?;

    let name2 = "lease2";
    leases
        .create(
            &PostParams::default(),
            &Lease {
                metadata: ObjectMeta {
                    name: Some(name2.into()),
                    labels: Some(BTreeMap::from([("deletecollection".into(), "true".into())])),
                    ..Default::default()
                },
                spec: Some(first.clone()),
            },
        )
        .await
        .context("creating Lease failed")?;
    let list = leases
        .list(&ListParams::default())
        .await
        .context("couldn't list Leases")?;
    ensure!(
        list.items.len() == 2,
        "expected 2 leases, got {}",
        list.items.len()
    );

    leases
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("deletecollection=true"),
        )
        .await
        .context("couldn't delete collection")?;
    let list = leases
        .list(&ListParams::default())
        .await
        .context("couldn't list Leases")?;
    ensure!(
        list.items.len() == 1,
        "expected 1 lease, got {}",
        list.items.len()
    );

    leases
        .delete(name, &DeleteParams::default())
        .await
        .context("deleting Lease failed")?;
    api::expect_not_found(leases.get(name).await, "the deleted Lease")?;

    f.api_all::<Lease>()
        .list(&ListParams::default())
        .await
        .context("couldn't list Leases from all namespace")?;
    Ok(())
}
