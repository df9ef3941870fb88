//! `[sig-api-machinery] CustomResourceDefinition Watch` (upstream
//! `test/e2e/apimachinery/crd_watch.go`): watches on custom resources by name see their
//! creation, modification and deletion, and nothing of the other object's.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::crd::{self, CLUSTER_SCOPED};
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, api};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, PostParams, WatchParams};
use serde_json::Value;

const D: Describe = Describe::new("crd-watch");

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-api-machinery] CustomResourceDefinition Watch [Privileged:ClusterAdmin] CustomResourceDefinition Watch watch on custom resource definition objects [Conformance]",
        case_fn!(watch_on_custom_resources),
    )]
}

/// `watchCRWithName`: a watch on one object by field selector, closed by the server after ten
/// minutes.
async fn watch_cr_with_name(api: &Api<DynamicObject>, name: &str) -> Result<Watch<DynamicObject>> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(600)
        .disable_bookmarks();
    Watch::start_with(api, "", params).await
}

/// `instantiateCustomResource`: creates the object and checks it came back with a uid and the
/// definition's apiVersion and kind.
async fn instantiate_custom_resource(
    instance: &DynamicObject,
    api: &Api<DynamicObject>,
    definition: &CustomResourceDefinition,
) -> Result<DynamicObject> {
    let created = api.create(&PostParams::default(), instance).await?;
    if created
        .metadata
        .uid
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        bail!("missing uuid: {created:?}");
    }
    ensure!(
        definition.spec.versions.len() == 1,
        "expected exactly one version, got {:?}",
        definition.spec.versions
    );
    let types = created.types.clone().unwrap_or_default();
    let want = format!(
        "{}/{}",
        definition.spec.group, definition.spec.versions[0].name
    );
    ensure!(
        types.api_version == want,
        "expected {want}, got {}",
        types.api_version
    );
    ensure!(
        types.kind == definition.spec.names.kind,
        "expected {}, got {}",
        definition.spec.names.kind,
        types.kind
    );
    Ok(created)
}

/// `patchCustomResource`: a JSON patch adding a top-level field.
async fn patch_custom_resource(f: &Framework, api: &Api<DynamicObject>, name: &str) -> Result<()> {
    let path = format!("{}/{name}", api.resource_url());
    let _: Value = api::json_patch(
        &f.client,
        &path,
        r#"[{ "op": "add", "path": "/dummy", "value": "test" }]"#,
    )
    .await?;
    Ok(())
}

async fn watch_on_custom_resources(f: &Framework) -> Result<()> {
    const WATCH_CR_NAME_A: &str = "name1";
    const WATCH_CR_NAME_B: &str = "name2";

    let noxu = crd::create(f, &crd::noxu_crd(CLUSTER_SCOPED))
        .await
        .context("failed to create CustomResourceDefinition")?;

    let ns = "";
    let api = crd::resource_api(&f.client, &noxu, &noxu.spec.versions[0].name, ns);

    let mut watch_a = watch_cr_with_name(&api, WATCH_CR_NAME_A)
        .await
        .with_context(|| format!("failed to watch custom resource: {WATCH_CR_NAME_A}"))?;
    let mut watch_b = watch_cr_with_name(&api, WATCH_CR_NAME_B)
        .await
        .with_context(|| format!("failed to watch custom resource: {WATCH_CR_NAME_B}"))?;

    let test_cr_a = crd::noxu_instance(ns, WATCH_CR_NAME_A);
    let test_cr_b = crd::noxu_instance(ns, WATCH_CR_NAME_B);

    f.step("Creating first CR ");
    let test_cr_a = instantiate_custom_resource(&test_cr_a, &api, &noxu)
        .await
        .with_context(|| format!("failed to instantiate custom resource: {test_cr_a:?}"))?;
    watch_a
        .expect_event(EventType::Added, Some(&test_cr_a))
        .await?;
    watch_b
        .expect_no_event(EventType::Added, Some(&test_cr_a))
        .await?;

    f.step("Creating second CR");
    let test_cr_b = instantiate_custom_resource(&test_cr_b, &api, &noxu)
        .await
        .with_context(|| format!("failed to instantiate custom resource: {test_cr_b:?}"))?;
    watch_b
        .expect_event(EventType::Added, Some(&test_cr_b))
        .await?;
    watch_a
        .expect_no_event(EventType::Added, Some(&test_cr_b))
        .await?;

    f.step("Modifying first CR");
    patch_custom_resource(f, &api, WATCH_CR_NAME_A)
        .await
        .with_context(|| format!("failed to patch custom resource: {WATCH_CR_NAME_A}"))?;
    watch_a.expect_event(EventType::Modified, None).await?;
    watch_b.expect_no_event(EventType::Modified, None).await?;

    f.step("Modifying second CR");
    patch_custom_resource(f, &api, WATCH_CR_NAME_B)
        .await
        .with_context(|| format!("failed to patch custom resource: {WATCH_CR_NAME_B}"))?;
    watch_b.expect_event(EventType::Modified, None).await?;
    watch_a.expect_no_event(EventType::Modified, None).await?;

    f.step("Deleting first CR");
    api.delete(WATCH_CR_NAME_A, &DeleteParams::default())
        .await
        .with_context(|| format!("failed to delete custom resource: {WATCH_CR_NAME_A}"))?;
    watch_a.expect_event(EventType::Deleted, None).await?;
    watch_b.expect_no_event(EventType::Deleted, None).await?;

    f.step("Deleting second CR");
    api.delete(WATCH_CR_NAME_B, &DeleteParams::default())
        .await
        .with_context(|| format!("failed to delete custom resource: {WATCH_CR_NAME_B}"))?;
    watch_b.expect_event(EventType::Deleted, None).await?;
    watch_a.expect_no_event(EventType::Deleted, None).await?;

    crd::delete(&f.client, &noxu)
        .await
        .context("failed to delete CustomResourceDefinition")
}
