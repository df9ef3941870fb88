//! `[sig-storage] CSIStorageCapacity` (upstream `test/e2e/storage/csistoragecapacity.go`): the
//! storage.k8s.io CSIStorageCapacity API, in a namespace and across namespaces.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, api, discovery};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe =
    Describe::new("csistoragecapacity").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-storage] CSIStorageCapacity should support CSIStorageCapacities API operations [Conformance]",
        case_fn!(api_operations),
    )]
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

/// Upstream's watch loop: it ends at the first ADDED event, or MODIFIED one carrying either
/// annotation.
async fn expect_watch_result(kind: &str, w: &mut Watch<CSIStorageCapacity>) -> Result<()> {
    w.until(Duration::from_secs(30), |e| {
        Ok(match e.kind {
            EventType::Added => true,
            EventType::Modified => e.object.as_ref().is_some_and(|o| {
                annotation(&o.metadata, "patched").as_deref() == Some("true")
                    || annotation(&o.metadata, "updated").as_deref() == Some("true")
            }),
            _ => false,
        })
    })
    .await
    .with_context(|| format!("{kind}: timed out waiting for watch event"))?;
    Ok(())
}

fn deleted_or_finalizing(csc: &CSIStorageCapacity) -> bool {
    csc.metadata.deletion_timestamp.is_some()
        && csc
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty())
}

async fn api_operations(f: &Framework) -> Result<()> {
    let unique = f.ns();
    let cscs = f.api::<CSIStorageCapacity>();
    let all = f.api_all::<CSIStorageCapacity>();
    let selector = format!("test={unique}");
    let pp = PostParams::default();
    let new = |suffix: &str| CSIStorageCapacity {
        metadata: ObjectMeta {
            name: Some(format!("{unique}{suffix}")),
            labels: Some(BTreeMap::from([("test".into(), unique.to_string())])),
            ..Default::default()
        },
        // A storage class that exists only in name.
        storage_class_name: "e2e.example.com".into(),
        ..Default::default()
    };
    let (csc, csc2, csc3) = (new("-csc1"), new("-csc2"), new("-csc3"));

    discovery::expect_served(f, "storage.k8s.io", "v1", &["csistoragecapacities"]).await?;

    f.step("creating");
    let created = cscs
        .create(&pp, &csc)
        .await
        .context("creating the first capacity")?;
    match cscs.create(&pp, &csc).await {
        Err(e) if api::is_already_exists(&e) => {}
        other => bail!(
            "expected 409, got {:?}",
            other.map_err(|e| api::describe(&e))
        ),
    }
    cscs.create(&pp, &csc2)
        .await
        .context("creating the second capacity")?;

    f.step("watching");
    let mut w = Watch::start(&cscs, "", Some(&selector), None).await?;
    let mut w_all = Watch::start(&all, "", Some(&selector), None).await?;
    cscs.create(&pp, &csc3)
        .await
        .context("creating the third capacity")?;

    f.step("getting");
    let name = created.metadata.name.clone().unwrap_or_default();
    let got = cscs.get(&name).await.context("getting the capacity")?;
    ensure!(
        got.metadata.uid == created.metadata.uid,
        "got a different uid"
    );
    api::expect_valid_resource_version(&got.metadata)?;

    f.step("listing in namespace");
    let list = cscs.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() == 3,
        "filtered list should have 3 items, got {}",
        list.items.len()
    );
    f.step("listing across namespaces");
    let list = all.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() == 3,
        "filtered list should have 3 items, got {}",
        list.items.len()
    );

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = cscs
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching the capacity")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );
    api::expect_newer_resource_version(&created.metadata, &patched.metadata)?;

    f.step("updating");
    let mut to_update = patched.clone();
    to_update
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert("updated".into(), "true".into());
    let updated = cscs
        .replace(&name, &pp, &to_update)
        .await
        .context("updating the capacity")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    expect_watch_result("in namespace", &mut w).await?;
    expect_watch_result("across namespace", &mut w_all).await?;
    drop((w, w_all));

    f.step("deleting");
    cscs.delete(&name, &DeleteParams::default())
        .await
        .context("deleting the capacity")?;
    let (min, mut max) = (2, 2);
    match cscs.get(&name).await {
        Err(e) if api::is_not_found(&e) => {}
        Err(e) => bail!("expected 404, got {}", api::describe(&e)),
        // Held by a finalizer; it may still go before the list below.
        Ok(c) if deleted_or_finalizing(&c) => max += 1,
        Ok(_) => bail!(
            "CSIStorageCapacitity should have been deleted or have DeletionTimestamp and Finalizers"
        ),
    }
    let list = cscs.list(&ListParams::default().labels(&selector)).await?;
    let n = list.items.len();
    ensure!(
        (min..=max).contains(&n),
        "expected <= {max} and >= {min} remaining CSIStorageCapacity objects, got {n}"
    );

    f.step("deleting a collection");
    cscs.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .context("deleting the collection")?;
    let list = cscs.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.iter().all(deleted_or_finalizing),
        "CSIStorageCapacity should have been deleted or have DeletionTimestamp and Finalizers"
    );
    Ok(())
}
