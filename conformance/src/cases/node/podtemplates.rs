//! `[sig-node] PodTemplates` (upstream `test/e2e/common/node/podtemplates.go`).

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, PodSecurityLevel, api, new_uuid, rand_string};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplate, PodTemplateSpec};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("podtemplate").with_pod_security(PodSecurityLevel::Privileged);

/// The images upstream names; nothing runs them.
const NGINX_IMAGE: &str = "registry.k8s.io/e2e-test-images/nginx:1.14-4";
const AGNHOST_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-node] PodTemplates should run the lifecycle of PodTemplates [Conformance]",
            case_fn!(lifecycle),
        ),
        D.case(
            "[sig-node] PodTemplates should delete a collection of pod templates [Conformance]",
            case_fn!(delete_collection),
        ),
        D.case(
            "[sig-node] PodTemplates should replace a pod template [Conformance]",
            case_fn!(replace),
        ),
    ]
}

pub(crate) fn template(
    name: &str,
    labels: &[(&str, &str)],
    container: &str,
    image: &str,
) -> PodTemplate {
    PodTemplate {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>()
            }),
            ..Default::default()
        },
        template: Some(PodTemplateSpec {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: container.into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let api = f.api::<PodTemplate>();
    let all = f.api_all::<PodTemplate>();
    let name = format!("nginx-pod-template-{}", new_uuid());
    let static_label = ListParams::default().labels("podtemplate-static=true");

    let list = all
        .list(&static_label)
        .await
        .context("failed to list all PodTemplates")?;
    ensure!(
        list.items.is_empty(),
        "unable to find templates: expected none, got {}",
        list.items.len()
    );

    api.create(
        &PostParams::default(),
        &template(
            &name,
            &[("podtemplate-static", "true")],
            "nginx",
            NGINX_IMAGE,
        ),
    )
    .await
    .context("failed to create PodTemplate")?;

    let read = api
        .get(&name)
        .await
        .context("failed to get created PodTemplate")?;
    ensure!(
        read.metadata.name.as_deref() == Some(name.as_str()),
        "got {:?}",
        read.metadata.name
    );
    api::expect_valid_resource_version(&read.metadata)?;

    let patch = serde_json::json!({"metadata": {"labels": {"podtemplate": "patched"}}});
    let patched = api
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .context("failed to patch PodTemplate")?;
    api::expect_newer_resource_version(&read.metadata, &patched.metadata)?;

    let read = api.get(&name).await.context("failed to get PodTemplate")?;
    let label = read
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("podtemplate"));
    ensure!(
        label.map(String::as_str) == Some("patched"),
        "failed to patch template, new label not found: {:?}",
        read.metadata.labels
    );

    api.delete(&name, &DeleteParams::default())
        .await
        .context("failed to delete PodTemplate")?;
    let list = all
        .list(&static_label)
        .await
        .context("failed to list PodTemplate")?;
    ensure!(
        list.items.is_empty(),
        "PodTemplate list returned items, failed to delete PodTemplate"
    );
    Ok(())
}

async fn delete_collection(f: &Framework) -> Result<()> {
    let api = f.api::<PodTemplate>();
    let names = [
        "test-podtemplate-1",
        "test-podtemplate-2",
        "test-podtemplate-3",
    ];
    f.step("Create set of pod templates");
    for name in names {
        api.create(
            &PostParams::default(),
            &template(
                name,
                &[("podtemplate-set", "true")],
                "token-test",
                AGNHOST_IMAGE,
            ),
        )
        .await
        .context("failed to create pod template")?;
        f.log(format!("created {name}"));
    }

    f.step("get a list of pod templates with a label in the current namespace");
    let selector = ListParams::default().labels("podtemplate-set=true");
    let list = api
        .list(&selector)
        .await
        .context("failed to get a list of pod templates")?;
    ensure!(
        list.items.len() == names.len(),
        "looking for expected number of pod templates: got {}",
        list.items.len()
    );

    f.step("delete collection of pod templates");
    api.delete_collection(&DeleteParams::default(), &selector)
        .await
        .context("failed to delete all pod templates")?;

    f.step("check that the list of pod templates matches the requested quantity");
    poll(
        Duration::from_secs(1),
        Duration::from_secs(60),
        async || Ok(api.list(&selector).await?.items.is_empty()),
    )
    .await
    .context("failed to count required pod templates")
}

async fn replace(f: &Framework) -> Result<()> {
    let api = f.api::<PodTemplate>();
    let name = format!("podtemplate-{}", rand_string(5));
    f.step("Create a pod template");
    api.create(
        &PostParams::default(),
        &template(&name, &[], "e2e-test", AGNHOST_IMAGE),
    )
    .await
    .context("failed to create pod template")?;

    f.step("Replace a pod template");
    let updated = retry_on_conflict(async || {
        let mut pt = api
            .get(&name)
            .await
            .with_context(|| format!("Unable to get pod template {name}"))?;
        pt.metadata.annotations = Some(BTreeMap::from([("updated".into(), "true".into())]));
        Ok(api.replace(&name, &PostParams::default(), &pt).await?)
    })
    .await?;
    let annotation = updated
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("updated"));
    ensure!(
        annotation.map(String::as_str) == Some("true"),
        "updated object should have the applied annotation: {:?}",
        updated.metadata.annotations
    );
    Ok(())
}
