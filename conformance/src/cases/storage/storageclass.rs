//! `[sig-storage] StorageClasses CSI Conformance` (upstream `test/e2e/storage/storageclass.go`):
//! the storage.k8s.io StorageClass API.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("csi-storageclass").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-storage] StorageClasses CSI Conformance should run through the lifecycle of a StorageClass [Conformance]",
        case_fn!(lifecycle),
    )]
}

fn storage_class(generate_name: &str) -> StorageClass {
    StorageClass {
        metadata: ObjectMeta {
            generate_name: Some(generate_name.into()),
            ..Default::default()
        },
        provisioner: "e2e-fake-provisioner".into(),
        ..Default::default()
    }
}

fn label<'a>(sc: &'a StorageClass, key: &str) -> Option<&'a str> {
    sc.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Upstream's `Eventually(...).WithTimeout(30s)`: the selector must stop matching anything.
async fn confirm_deleted(
    f: &Framework,
    scs: &Api<StorageClass>,
    selector: &str,
    name: &str,
) -> Result<()> {
    f.step(format!("Confirm deletion of StorageClass {name:?}"));
    poll(
        Duration::from_millis(100),
        Duration::from_secs(30),
        async || {
            let list = scs
                .list(&ListParams::default().labels(selector))
                .await
                .context("failed to list StorageClass")?;
            Ok(list.items.is_empty())
        },
    )
    .await
    .with_context(|| format!("timeout while waiting to confirm StorageClass {name:?} deletion"))
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let scs = f.api_all::<StorageClass>();
    let pp = PostParams::default();

    f.step("Creating a StorageClass");
    let created = scs
        .create(&pp, &storage_class("e2e-"))
        .await
        .context("failed to create the requested StorageClass")?;
    api::expect_valid_resource_version(&created.metadata)?;
    let name = created.metadata.name.clone().unwrap_or_default();
    f.defer_delete(scs.clone(), &name);

    f.step(format!("Get StorageClass {name:?}"));
    let retrieved = scs
        .get(&name)
        .await
        .with_context(|| format!("failed to get StorageClass {name:?}"))?;

    f.step(format!("Patching the StorageClass {name:?}"));
    let patch = serde_json::json!({"metadata": {"labels": {name.clone(): "patched"}}});
    let patched = scs
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .with_context(|| format!("failed to patch StorageClass {name:?}"))?;
    ensure!(
        label(&patched, &name) == Some("patched"),
        "checking that patched label has been applied: {:?}",
        patched.metadata.labels
    );
    api::expect_newer_resource_version(&retrieved.metadata, &patched.metadata)?;

    f.step(format!("Delete StorageClass {name:?}"));
    scs.delete(&name, &DeleteParams::default())
        .await
        .with_context(|| format!("failed to delete StorageClass {name:?}"))?;
    confirm_deleted(f, &scs, &format!("{name}=patched"), &name).await?;

    f.step("Create a replacement StorageClass");
    let replacement = scs
        .create(&pp, &storage_class("e2e-v2-"))
        .await
        .context("failed to create replacement StorageClass")?;
    let name = replacement.metadata.name.clone().unwrap_or_default();
    f.defer_delete(scs.clone(), &name);

    f.step(format!("Updating StorageClass {name:?}"));
    let updated = retry_on_conflict(async || {
        let mut sc = scs
            .get(&name)
            .await
            .with_context(|| format!("unable to get Storage {name:?}"))?;
        sc.metadata.labels = Some(BTreeMap::from([(name.clone(), "updated".into())]));
        Ok(scs.replace(&name, &pp, &sc).await?)
    })
    .await
    .with_context(|| format!("failed to update StorageClass {name:?}"))?;
    ensure!(
        label(&updated, &name) == Some("updated"),
        "checking that updated label has been applied: {:?}",
        updated.metadata.labels
    );

    let selector = format!("{name}=updated");
    f.step(format!(
        "Listing all StorageClass with the labelSelector: {selector:?}"
    ));
    let list = scs
        .list(&ListParams::default().labels(&selector))
        .await
        .with_context(|| {
            format!("failed to list StorageClasses with the labelSelector: {selector:?}")
        })?;
    ensure!(
        list.items.len() == 1,
        "expected 1 StorageClass, got {}",
        list.items.len()
    );

    f.step(format!(
        "Deleting StorageClass {name:?} via DeleteCollection"
    ));
    scs.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .with_context(|| format!("failed to delete StorageClass {name:?}"))?;
    confirm_deleted(f, &scs, &selector, &name).await
}
