//! `[sig-node] ConfigMap` API cases (upstream `test/e2e/common/node/configmap.go`). The cases
//! that consume ConfigMaps from pods need a kubelet and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, new_uuid};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

const D: Describe = Describe::new("configmap").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-node] ConfigMap should fail to create ConfigMap with empty key [Conformance]",
            case_fn!(empty_key),
        ),
        D.case(
            "[sig-node] ConfigMap should run through a ConfigMap lifecycle [Conformance]",
            case_fn!(lifecycle),
        ),
    ]
}

async fn empty_key(f: &Framework) -> Result<()> {
    // Upstream's name has an upper-case letter as well; the empty key alone must be rejected,
    // so this name is valid.
    let name = format!("configmap-test-emptykey-{}", new_uuid());
    f.step(format!("Creating configMap that has name {name}"));
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(String::new(), "value-1".into())])),
        ..Default::default()
    };
    match f
        .api::<ConfigMap>()
        .create(&PostParams::default(), &cm)
        .await
    {
        Err(_) => Ok(()),
        Ok(_) => bail!(
            "created configMap {name:?} with empty key in namespace {:?}",
            f.ns()
        ),
    }
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let api = f.api::<ConfigMap>();
    let name = format!("test-configmap{}", new_uuid());
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([(
                "test-configmap-static".into(),
                "true".into(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("valueName".into(), "value".into())])),
        ..Default::default()
    };
    f.step("creating a ConfigMap");
    api.create(&PostParams::default(), &cm)
        .await
        .context("failed to create ConfigMap")?;

    f.step("fetching the ConfigMap");
    let got = api.get(&name).await.context("failed to get ConfigMap")?;
    let value = got.data.as_ref().and_then(|d| d.get("valueName"));
    ensure!(
        value.map(String::as_str) == Some("value"),
        "data.valueName is {value:?}"
    );
    let label = got
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("test-configmap-static"));
    ensure!(
        label.map(String::as_str) == Some("true"),
        "label is {label:?}"
    );

    f.step("patching the ConfigMap");
    let patch = serde_json::json!({
        "metadata": {"labels": {"test-configmap": "patched"}},
        "data": {"valueName": "value1"},
    });
    api.patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .context("failed to patch ConfigMap")?;

    f.step("listing all ConfigMaps in all namespaces with a label selector");
    let list = f
        .api_all::<ConfigMap>()
        .list(&ListParams::default().labels("test-configmap=patched"))
        .await
        .context("failed to list ConfigMaps with LabelSelector")?;
    let found = list.items.iter().any(|cm| {
        let labels = cm.metadata.labels.clone().unwrap_or_default();
        cm.metadata.name.as_deref() == Some(name.as_str())
            && cm.metadata.namespace.as_deref() == Some(f.ns())
            && labels.get("test-configmap-static").map(String::as_str) == Some("true")
            && labels.get("test-configmap").map(String::as_str) == Some("patched")
            && cm
                .data
                .as_ref()
                .and_then(|d| d.get("valueName"))
                .map(String::as_str)
                == Some("value1")
    });
    ensure!(
        found,
        "failed to find ConfigMap {}/{name} by label selector",
        f.ns()
    );

    f.step("deleting the ConfigMap by collection with a label selector");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("test-configmap-static=true"),
    )
    .await
    .context("failed to delete ConfigMap collection with LabelSelector")?;

    f.step("listing all ConfigMaps in test namespace");
    let list = api
        .list(&ListParams::default().labels("test-configmap-static=true"))
        .await
        .context("failed to list ConfigMap by LabelSelector")?;
    ensure!(
        list.items.is_empty(),
        "ConfigMap is still present after being deleted by collection"
    );
    Ok(())
}
