//! `[sig-api-machinery] Namespaces [Serial]` API cases (upstream
//! `test/e2e/apimachinery/namespace.go`): patch, status, update and the `finalize`
//! subresource. The deletion cases there need the namespace controller and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::retry_on_conflict;
use crate::framework::{Framework, PodSecurityLevel, api, new_uuid, rand_string};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;

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
    ]
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
