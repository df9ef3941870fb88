//! `[sig-api-machinery] Namespaces [Serial]` cases (upstream
//! `test/e2e/apimachinery/namespace.go`): patch, status, update, the `finalize` subresource,
//! and deleting a namespace's Services with it (the namespace controller). The case deleting a
//! namespace's pods needs a kubelet to finish them and is not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, PodSecurityLevel, api, new_uuid, rand_string};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{
    Namespace, NamespaceCondition, Service, ServiceAccount, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("namespaces").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] Namespaces [Serial] should patch a Namespace [Conformance]",
            case_fn!(patch_namespace),
        ),
        D.case(
            "[sig-api-machinery] Namespaces [Serial] should apply changes to a namespace status [Conformance]",
            case_fn!(namespace_status),
        ),
        D.case(
            "[sig-api-machinery] Namespaces [Serial] should apply an update to a Namespace [Conformance]",
            case_fn!(update_namespace),
        ),
        D.case(
            "[sig-api-machinery] Namespaces [Serial] should apply a finalizer to a Namespace [Conformance]",
            case_fn!(finalize_namespace),
        ),
        D.case(
            "[sig-api-machinery] Namespaces [Serial] should ensure that all services are removed when a namespace is deleted [Conformance]",
            case_fn!(services_removed),
        ),
    ]
}

/// Upstream's `ensureServicesAreRemovedWhenNamespaceIsDeleted`.
async fn services_removed(f: &Framework) -> Result<()> {
    f.step("Creating a test namespace");
    let ns = f.create_namespace("nsdeletetest", BTreeMap::new()).await?;
    let name = ns.metadata.name.clone().unwrap_or_default();

    f.step("Waiting for a default service account to be provisioned in namespace");
    let accounts: Api<ServiceAccount> = f.api_in(&name);
    poll(
        Duration::from_secs(2),
        Duration::from_secs(60),
        async || Ok(accounts.get_opt("default").await?.is_some()),
    )
    .await
    .context("waiting for the default ServiceAccount")?;

    f.step("Creating a service in the namespace");
    let services: Api<Service> = f.api_in(&name);
    let service = Service {
        metadata: ObjectMeta {
            name: Some("test-service".into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([
                ("foo".into(), "bar".into()),
                ("baz".into(), "blah".into()),
            ])),
            ports: Some(vec![ServicePort {
                port: 80,
                target_port: Some(IntOrString::Int(80)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    services
        .create(&PostParams::default(), &service)
        .await
        .with_context(|| format!("failed to create service test-service in namespace: {name}"))?;

    f.step("Deleting the namespace");
    let namespaces = f.api_all::<Namespace>();
    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .with_context(|| format!("failed to delete namespace: {name}"))?;

    f.step("Waiting for the namespace to be removed.");
    poll(
        Duration::from_secs(1),
        Duration::from_secs(60),
        async || Ok(namespaces.get_opt(&name).await?.is_none()),
    )
    .await
    .with_context(|| format!("namespace {name} was not removed"))?;

    f.step("Recreating the namespace");
    let again = f.create_namespace("nsdeletetest", BTreeMap::new()).await?;
    let again = again.metadata.name.unwrap_or_default();

    f.step("Verifying there is no service in the namespace");
    let services: Api<Service> = f.api_in(&again);
    ensure!(
        services.get_opt("test-service").await?.is_none(),
        "found service test-service in namespace {again}"
    );
    Ok(())
}

async fn patch_namespace(f: &Framework) -> Result<()> {
    f.step("creating a Namespace");
    let ns = f
        .create_namespace(&format!("nspatchtest-{}", new_uuid()), BTreeMap::new())
        .await
        .context("failed creating Namespace")?;
    api::expect_valid_resource_version(&ns.metadata)?;
    let name = ns.metadata.name.clone().unwrap_or_default();
    let nss = f.api_all::<Namespace>();

    f.step("patching the Namespace");
    let patch = json!({"metadata": {"labels": {"testLabel": "testValue"}}});
    let patched = nss
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .context("failed to patch Namespace")?;
    api::expect_newer_resource_version(&ns.metadata, &patched.metadata)?;

    f.step("get the Namespace and ensuring it has the label");
    let got = nss.get(&name).await.context("failed to get Namespace")?;
    let label = got
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("testLabel"));
    ensure!(
        label.map(String::as_str) == Some("testValue"),
        "namespace not patched: labels are {:?}",
        got.metadata.labels
    );
    Ok(())
}

fn last_condition(ns: &Namespace) -> Result<&NamespaceCondition> {
    ns.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.last())
        .context("the namespace status has no conditions")
}

async fn namespace_status(f: &Framework) -> Result<()> {
    let ns = f.ns();
    let nss = f.api_all::<Namespace>();

    f.step("Read namespace status");
    let status = nss
        .get_status(ns)
        .await
        .with_context(|| format!("failed to fetch NamespaceStatus {ns}"))?;
    let phase = status.status.as_ref().and_then(|s| s.phase.clone());
    ensure!(
        phase.as_deref() == Some("Active"),
        "The phase returned was {phase:?}"
    );

    f.step("Patch namespace status");
    let condition = NamespaceCondition {
        type_: "StatusPatch".into(),
        status: "True".into(),
        reason: Some("E2E".into()),
        message: Some("Patched by an e2e test".into()),
        last_transition_time: None,
    };
    let patch = json!({
        "metadata": {"annotations": {"e2e-patched-ns-status": ns}},
        "status": {"conditions": [condition]},
    });
    let patched = nss
        .patch_status(ns, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("Failed to patch status")?;
    let annotation = patched
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("e2e-patched-ns-status"));
    ensure!(
        annotation.map(String::as_str) == Some(ns),
        "patched object should have the applied annotation, got {:?}",
        patched.metadata.annotations
    );
    let last = last_condition(&patched)?;
    ensure!(
        last.reason.as_deref() == Some("E2E"),
        "The Reason returned was {:?}",
        last.reason
    );
    ensure!(
        last.message.as_deref() == Some("Patched by an e2e test"),
        "The Message returned was {:?}",
        last.message
    );

    f.step("Update namespace status");
    let updated = retry_on_conflict(async || {
        let mut current = nss
            .get_status(ns)
            .await
            .with_context(|| format!("failed to fetch NamespaceStatus {ns}"))?;
        current
            .status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new)
            .push(NamespaceCondition {
                type_: "StatusUpdate".into(),
                status: "True".into(),
                reason: Some("E2E".into()),
                message: Some("Updated by an e2e test".into()),
                last_transition_time: None,
            });
        Ok(nss
            .replace_status(ns, &PostParams::default(), &current)
            .await?)
    })
    .await
    .with_context(|| format!("failed to update namespace status {ns}"))?;
    let last = last_condition(&updated)?;
    ensure!(
        last.type_ == "StatusUpdate",
        "updated object should have the approved condition, got {:?}",
        updated.status
    );
    ensure!(
        last.message.as_deref() == Some("Updated by an e2e test"),
        "The Message returned was {:?}",
        last.message
    );
    Ok(())
}

async fn update_namespace(f: &Framework) -> Result<()> {
    let ns = f.ns();
    let nss = f.api_all::<Namespace>();
    f.step(format!("Updating Namespace {ns:?}"));
    let updated = retry_on_conflict(async || {
        let mut current = nss
            .get(ns)
            .await
            .with_context(|| format!("Unable to get Namespace {ns:?}"))?;
        current
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(ns.to_string(), "updated".into());
        Ok(nss.replace(ns, &PostParams::default(), &current).await?)
    })
    .await
    .with_context(|| format!("failed to update Namespace: {ns:?}"))?;
    let label = updated.metadata.labels.as_ref().and_then(|l| l.get(ns));
    ensure!(
        label.map(String::as_str) == Some("updated"),
        "Failed to update namespace {ns:?}. Current Labels: {:?}",
        updated.metadata.labels
    );
    Ok(())
}

fn finalizers(ns: &Namespace) -> Vec<String> {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default()
}

async fn finalize_namespace(f: &Framework) -> Result<()> {
    const FAKE_FINALIZER: &str = "e2e.example.com/fakeFinalizer";
    let base = format!("e2e-ns-{}", rand_string(5));
    f.step(format!("Creating namespace {base:?}"));
    let created = f
        .create_namespace(&base, BTreeMap::new())
        .await
        .context("failed creating Namespace")?;
    let ns = created.metadata.name.clone().unwrap_or_default();
    let nss = f.api_all::<Namespace>();
    f.log(format!("Namespace {ns:?} has {:?}", finalizers(&created)));

    f.step(format!("Adding e2e finalizer to namespace {ns:?}"));
    let updated = retry_on_conflict(async || {
        let mut current = nss
            .get(&ns)
            .await
            .with_context(|| format!("Unable to get Namespace {ns:?}"))?;
        current
            .spec
            .get_or_insert_with(Default::default)
            .finalizers
            .get_or_insert_with(Vec::new)
            .push(FAKE_FINALIZER.into());
        Ok(nss
            .replace_subresource("finalize", &ns, &PostParams::default(), &current)
            .await?)
    })
    .await
    .with_context(|| format!("failed to add finalizer to the namespace: {ns:?}"))?;
    if !finalizers(&updated).iter().any(|x| x == FAKE_FINALIZER) {
        bail!(
            "Finalizer {FAKE_FINALIZER:?} was not found. Namespace {ns:?} has {:?}",
            finalizers(&updated)
        );
    }

    f.step(format!("Removing e2e finalizer from namespace {ns:?}"));
    let updated = retry_on_conflict(async || {
        let mut current = nss
            .get(&ns)
            .await
            .with_context(|| format!("Unable to get namespace {ns:?}"))?;
        let kept: Vec<String> = finalizers(&current)
            .into_iter()
            .filter(|x| x != FAKE_FINALIZER)
            .collect();
        current.spec.get_or_insert_with(Default::default).finalizers = Some(kept);
        Ok(nss
            .replace_subresource("finalize", &ns, &PostParams::default(), &current)
            .await?)
    })
    .await
    .with_context(|| format!("failed to remove finalizer from namespace: {ns:?}"))?;
    if finalizers(&updated).iter().any(|x| x == FAKE_FINALIZER) {
        bail!(
            "Finalizer {FAKE_FINALIZER:?} was found. Namespace {ns:?} has {:?}",
            finalizers(&updated)
        );
    }
    Ok(())
}
