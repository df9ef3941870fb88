//! `[sig-storage] CSIInlineVolumes` (upstream `test/e2e/storage/csi_inline.go`): pods carrying
//! inline CSI volumes through the Pod API (no pod runs), and the storage.k8s.io CSIDriver API.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::retry_on_conflict;
use crate::framework::{Framework, PodSecurityLevel, api, new_uuid};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{CSIVolumeSource, Container, Pod, PodSpec, Volume, VolumeMount};
use k8s_openapi::api::storage::v1::{CSIDriver, CSIDriverSpec};
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;

const D: Describe =
    Describe::new("csiinlinevolumes").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `imageutils.GetE2EImage(imageutils.BusyBox)`; nothing runs it here.
const BUSYBOX_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-storage] CSIInlineVolumes should support CSIVolumeSource in Pod API [Conformance]",
            case_fn!(csi_volume_source_in_pod_api),
        ),
        D.case(
            "[sig-storage] CSIInlineVolumes should run through the lifecycle of a CSIDriver [Conformance]",
            case_fn!(csi_driver_lifecycle),
        ),
    ]
}

/// After a delete, the object is gone or at least marked for deletion.
async fn confirm_deleted<K>(api: &Api<K>, name: &str, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    match api.get(name).await {
        Err(e) if api::is_not_found(&e) => Ok(()),
        Err(e) => bail!("expected 404, got {}", api::describe(&e)),
        Ok(o) if o.meta().deletion_timestamp.is_some() => Ok(()),
        Ok(_) => bail!("{what} should have been deleted or have DeletionTimestamp"),
    }
}

async fn csi_volume_source_in_pod_api(f: &Framework) -> Result<()> {
    let pods = f.api::<Pod>();
    let driver = "e2e.example.com";
    let name = "pod-csi-inline-volumes";
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            volumes: Some(vec![
                Volume {
                    name: "csi-inline-vol1".into(),
                    csi: Some(CSIVolumeSource {
                        driver: driver.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Volume {
                    name: "csi-inline-vol2".into(),
                    csi: Some(CSIVolumeSource {
                        driver: driver.into(),
                        fs_type: Some("ext4".into()),
                        read_only: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ]),
            containers: vec![Container {
                name: name.into(),
                image: Some(BUSYBOX_IMAGE.into()),
                command: Some(vec!["sh".into(), "-c".into(), "ls /mnt/*".into()]),
                volume_mounts: Some(vec![
                    VolumeMount {
                        name: "csi-inline-vol1".into(),
                        mount_path: "/mnt/vol1".into(),
                        ..Default::default()
                    },
                    VolumeMount {
                        name: "csi-inline-vol2".into(),
                        mount_path: "/mnt/vol2".into(),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };

    f.step("creating");
    let pp = PostParams::default();
    let created = pods.create(&pp, &pod).await.context("creating the pod")?;
    match pods.create(&pp, &pod).await {
        Err(e) if api::is_already_exists(&e) => {}
        other => bail!(
            "expected 409, got {:?}",
            other.map_err(|e| api::describe(&e))
        ),
    }

    f.step("getting");
    let got = pods.get(name).await.context("getting the pod")?;
    ensure!(
        got.metadata.uid == created.metadata.uid,
        "got a different uid"
    );

    f.step("listing in namespace");
    let list = pods.list(&ListParams::default()).await?;
    ensure!(
        list.items.len() == 1,
        "list should have 1 items, got: {}",
        list.items.len()
    );

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = pods
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching the pod")?;
    ensure!(
        patched
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("patched"))
            .map(String::as_str)
            == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("deleting");
    pods.delete(name, &DeleteParams::default())
        .await
        .context("deleting the pod")?;
    confirm_deleted(&pods, name, "Pod").await
}

fn label<'a>(d: &'a CSIDriver, key: &str) -> Option<&'a str> {
    d.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

async fn csi_driver_lifecycle(f: &Framework) -> Result<()> {
    let drivers = f.api_all::<CSIDriver>();
    let pp = PostParams::default();
    let labels = BTreeMap::from([("e2e-test".to_string(), f.ns().to_string())]);
    let selector = format!("e2e-test={}", f.ns());
    let driver = |modes: &[&str]| CSIDriver {
        metadata: ObjectMeta {
            name: Some(format!("inline-driver-{}", new_uuid())),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: CSIDriverSpec {
            volume_lifecycle_modes: Some(modes.iter().map(|m| m.to_string()).collect()),
            fs_group_policy: Some("ReadWriteOnceWithFSType".into()),
            ..Default::default()
        },
    };
    let driver1 = driver(&["Ephemeral"]);
    let driver2 = driver(&["Persistent", "Ephemeral"]);
    let name1 = driver1.metadata.name.clone().unwrap_or_default();
    let name2 = driver2.metadata.name.clone().unwrap_or_default();
    f.defer_delete(drivers.clone(), &name1);
    f.defer_delete(drivers.clone(), &name2);

    f.step("Creating two CSIDrivers");
    let created1 = drivers
        .create(&pp, &driver1)
        .await
        .context("Failed to create first CSIDriver")?;
    let created2 = drivers
        .create(&pp, &driver2)
        .await
        .context("Failed to create second CSIDriver")?;
    match drivers.create(&pp, &driver1).await {
        Err(e) if api::is_already_exists(&e) => {}
        other => bail!(
            "expected 409, got {:?}",
            other.map_err(|e| api::describe(&e))
        ),
    }

    f.step(format!("Getting {name1:?} & {name2:?}"));
    let got1 = drivers
        .get(&name1)
        .await
        .with_context(|| format!("Failed to get CSIDriver {name1:?}"))?;
    ensure!(
        got1.metadata.uid == created1.metadata.uid,
        "got a different uid for {name1}"
    );
    let got2 = drivers
        .get(&name2)
        .await
        .with_context(|| format!("Failed to get CSIDriver {name2:?}"))?;
    ensure!(
        got2.metadata.uid == created2.metadata.uid,
        "got a different uid for {name2}"
    );

    f.step(format!("Patching the CSIDriver {name2:?}"));
    let patch = serde_json::json!({"metadata": {"labels": {name2.clone(): "patched"}}});
    let patched = drivers
        .patch(&name2, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .with_context(|| format!("failed to patch CSIDriver {name2:?}"))?;
    ensure!(
        label(&patched, &name2).is_some_and(|v| v.contains("patched")),
        "Checking that patched label has been applied"
    );

    f.step(format!("Updating the CSIDriver {name2:?}"));
    let updated = retry_on_conflict(async || {
        let mut d = drivers
            .get(&name2)
            .await
            .with_context(|| format!("Unable to get CSIDriver {name2:?}"))?;
        d.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(name2.clone(), "updated".into());
        Ok(drivers.replace(&name2, &pp, &d).await?)
    })
    .await
    .with_context(|| format!("failed to update CSIDriver {name2:?}"))?;
    ensure!(
        label(&updated, &name2).is_some_and(|v| v.contains("updated")),
        "Checking that updated label has been applied"
    );

    f.step(format!(
        "Listing all CSIDrivers with the labelSelector: {selector:?}"
    ));
    let list = drivers
        .list(&ListParams::default().labels(&selector))
        .await?;
    ensure!(
        list.items.len() == 2,
        "filtered list should have 2 items, got: {}",
        list.items.len()
    );

    f.step(format!("Deleting CSIDriver {name1:?}"));
    drivers
        .delete(&name1, &DeleteParams::default())
        .await
        .with_context(|| format!("Failed to delete CSIDriver {name1:?}"))?;
    f.step(format!("Confirm deletion of CSIDriver {name1:?}"));
    confirm_deleted(&drivers, &name1, "CSIDriver").await?;

    f.step(format!("Deleting CSIDriver {name2:?} via DeleteCollection"));
    drivers
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&format!("{name2}=updated")),
        )
        .await
        .with_context(|| format!("Failed to delete CSIDriver {name2:?}"))?;
    f.step(format!("Confirm deletion of CSIDriver {name2:?}"));
    confirm_deleted(&drivers, &name2, "CSIDriver").await
}
