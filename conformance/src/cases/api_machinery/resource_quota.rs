//! `[sig-api-machinery] ResourceQuota` API cases (upstream
//! `test/e2e/apimachinery/resource_quota.go`). The usage-tracking cases need the quota
//! controller and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api, quantity, rand_string};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

const D: Describe = Describe::new("resourcequota").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] ResourceQuota should be able to update and delete ResourceQuota. [Conformance]",
            case_fn!(update_and_delete),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should manage the lifecycle of a ResourceQuota [Conformance]",
            case_fn!(lifecycle),
        ),
    ]
}

fn hard(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.into())),
        ("memory".to_string(), Quantity(memory.into())),
    ])
}

/// `HaveKeyWithValue(name, resource.MustParse(value))` on a resource list.
fn expect_hard(rq: &ResourceQuota, name: &str, value: &str) -> Result<()> {
    let got = rq
        .spec
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .and_then(|h| h.get(name));
    ensure!(
        got.is_some_and(|q| quantity::equal(&q.0, value)),
        "expected spec.hard[{name}] to be {value}, got {:?}",
        got.map(|q| &q.0)
    );
    Ok(())
}

async fn update_and_delete(f: &Framework) -> Result<()> {
    let api = f.api::<ResourceQuota>();
    let name = "test-quota";
    f.step("Creating a ResourceQuota");
    let mut quota = ResourceQuota {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard("1", "500Mi")),
            ..Default::default()
        }),
        ..Default::default()
    };
    api.create(&PostParams::default(), &quota)
        .await
        .context("creating the ResourceQuota")?;

    f.step("Getting a ResourceQuota");
    let got = api.get(name).await.context("getting the ResourceQuota")?;
    expect_hard(&got, "cpu", "1")?;
    expect_hard(&got, "memory", "500Mi")?;

    f.step("Updating a ResourceQuota");
    quota.spec = Some(ResourceQuotaSpec {
        hard: Some(hard("2", "1Gi")),
        ..Default::default()
    });
    let updated = api
        .replace(name, &PostParams::default(), &quota)
        .await
        .context("updating the ResourceQuota")?;
    expect_hard(&updated, "cpu", "2")?;
    expect_hard(&updated, "memory", "1Gi")?;

    f.step("Verifying a ResourceQuota was modified");
    let got = api.get(name).await.context("getting the ResourceQuota")?;
    expect_hard(&got, "cpu", "2")?;
    expect_hard(&got, "memory", "1Gi")?;

    f.step("Deleting a ResourceQuota");
    api.delete(name, &DeleteParams::default())
        .await
        .context("deleting the ResourceQuota")?;

    f.step("Verifying the deleted ResourceQuota");
    api::expect_not_found(api.get(name).await, "the deleted ResourceQuota")
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let api = f.api::<ResourceQuota>();
    let name = format!("e2e-quota-{}", rand_string(5));
    let selector = format!("e2e-rq-label={name}");

    f.step("Creating a ResourceQuota");
    let quota = ResourceQuota {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([("e2e-rq-label".into(), name.clone())])),
            ..Default::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard("1", "500Mi")),
            ..Default::default()
        }),
        ..Default::default()
    };
    api.create(&PostParams::default(), &quota)
        .await
        .context("creating the ResourceQuota")?;

    f.step("Getting a ResourceQuota");
    let got = api.get(&name).await.context("getting the ResourceQuota")?;
    expect_hard(&got, "cpu", "1")?;
    expect_hard(&got, "memory", "500Mi")?;

    f.step("Listing all ResourceQuotas with LabelSelector");
    let all = f
        .api_all::<ResourceQuota>()
        .list(&ListParams::default().labels(&selector))
        .await
        .context("Failed to list ResourceQuotas")?;
    ensure!(
        all.items.len() == 1,
        "Failed to find ResourceQuotas {name}: found {}",
        all.items.len()
    );

    f.step("Patching the ResourceQuota");
    let patch = serde_json::json!({
        "metadata": {"labels": {name.clone(): "patched"}},
        "spec": {"hard": {"memory": "750Mi"}},
    });
    let patched = api
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .with_context(|| {
            format!(
                "failed to patch ResourceQuota {name} in namespace {}",
                f.ns()
            )
        })?;
    let label = patched.metadata.labels.as_ref().and_then(|l| l.get(&name));
    ensure!(
        label.map(String::as_str) == Some("patched"),
        "Failed to find the label for this ResourceQuota. Current labels: {:?}",
        patched.metadata.labels
    );
    expect_hard(&patched, "memory", "750Mi")?;

    f.step("Deleting a Collection of ResourceQuotas");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .context("deleting the collection")?;

    f.step("Verifying the deleted ResourceQuota");
    api::expect_not_found(api.get(&name).await, "the deleted ResourceQuota")
}
