//! `[sig-apps] DisruptionController` cases (upstream `test/e2e/apps/disruption.go`) that need
//! the disruption controller but no running pods. The status and eviction cases wait for pods
//! to become ready, which takes a kubelet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const D: Describe = Describe::new("disruption").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `defaultName`.
const DEFAULT_NAME: &str = "foo";

/// Upstream's `framework.Poll` and `schedulingTimeout`.
const POLL: Duration = Duration::from_secs(2);
const SCHEDULING_TIMEOUT: Duration = Duration::from_secs(600);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-apps] DisruptionController Listing PodDisruptionBudgets for all namespaces should list and delete a collection of PodDisruptionBudgets [Conformance]",
            case_fn!(list_and_delete_collection),
        ),
        D.case(
            "[sig-apps] DisruptionController should create a PodDisruptionBudget [Conformance]",
            case_fn!(create_update_patch_delete),
        ),
    ]
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn min_available(pdb: &PodDisruptionBudget) -> String {
    match pdb.spec.as_ref().and_then(|s| s.min_available.as_ref()) {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => String::new(),
    }
}

/// Upstream's `waitForPdbToBeProcessed`: the controller has observed the budget's generation.
async fn wait_processed(f: &Framework, pdbs: &Api<PodDisruptionBudget>, name: &str) -> Result<()> {
    f.step("Waiting for the pdb to be processed");
    poll(POLL, SCHEDULING_TIMEOUT, async || {
        let pdb = pdbs.get(name).await?;
        let observed = pdb
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            .unwrap_or(0);
        Ok(observed >= pdb.metadata.generation.unwrap_or(0))
    })
    .await
    .with_context(|| format!("Waiting for the pdb {name} to be processed"))
}

/// Upstream's `createPDBMinAvailableOrDie`: selects `foo=bar`.
async fn create_min_available(
    f: &Framework,
    pdbs: &Api<PodDisruptionBudget>,
    name: &str,
    min_available: IntOrString,
    pdb_labels: BTreeMap<String, String>,
) -> Result<()> {
    let pdb = PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(pdb_labels),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[("foo", "bar")])),
                match_expressions: None,
            }),
            min_available: Some(min_available),
            ..Default::default()
        }),
        status: None,
    };
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .context("Waiting for the pdb to be created")?;
    wait_processed(f, pdbs, name).await
}

/// Upstream's `listPDBs`.
async fn list_pdbs(
    pdbs: &Api<PodDisruptionBudget>,
    selector: &str,
    want: &[&str],
    where_: &str,
) -> Result<()> {
    let list = pdbs
        .list(&ListParams::default().labels(selector))
        .await
        .with_context(|| format!("Listing PDB set in namespace {where_}"))?;
    ensure!(
        list.items.len() == want.len(),
        "Expecting {} PDBs returned in namespace {where_}, got {}",
        want.len(),
        list.items.len()
    );
    let names: BTreeSet<String> = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let expected: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    ensure!(
        names == expected,
        "Expecting returned PDBs '{want:?}' in namespace {where_}, got {names:?}"
    );
    Ok(())
}

async fn list_and_delete_collection(f: &Framework) -> Result<()> {
    // Upstream's second framework, `disruption-2`, with a namespace of its own.
    let other = f
        .create_namespace("disruption-2", labels(&[("e2e-framework", "disruption-2")]))
        .await?
        .metadata
        .name
        .unwrap_or_default();
    let special = labels(&[("foo_pdb", "bar_pdb")]);
    let selector = "foo_pdb=bar_pdb";
    let pdbs: Api<PodDisruptionBudget> = f.api();
    create_min_available(f, &pdbs, DEFAULT_NAME, IntOrString::Int(2), special.clone()).await?;
    create_min_available(
        f,
        &pdbs,
        "foo2",
        IntOrString::String("1%".into()),
        special.clone(),
    )
    .await?;
    let others: Api<PodDisruptionBudget> = f.api_in(&other);
    create_min_available(f, &others, "foo3", IntOrString::Int(2), special).await?;

    f.step("listing a collection of PDBs across all namespaces");
    list_pdbs(&f.api_all(), selector, &[DEFAULT_NAME, "foo2", "foo3"], "").await?;
    f.step(format!(
        "listing a collection of PDBs in namespace {}",
        f.ns()
    ));
    list_pdbs(&pdbs, selector, &[DEFAULT_NAME, "foo2"], f.ns()).await?;

    f.step("deleting a collection of PDBs");
    pdbs.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .with_context(|| format!("Deleting PDB set in namespace {}", f.ns()))?;
    f.step("Waiting for the PDB collection to be deleted");
    poll(POLL, SCHEDULING_TIMEOUT, async || {
        Ok(pdbs.list(&ListParams::default()).await?.items.is_empty())
    })
    .await
    .with_context(|| {
        format!(
            "Waiting for the PDB collection to be deleted in namespace {}",
            f.ns()
        )
    })
}

async fn create_update_patch_delete(f: &Framework) -> Result<()> {
    let pdbs: Api<PodDisruptionBudget> = f.api();
    f.step("creating the pdb");
    create_min_available(
        f,
        &pdbs,
        DEFAULT_NAME,
        IntOrString::String("1%".into()),
        labels(&[("foo", "bar")]),
    )
    .await?;

    f.step("updating the pdb");
    let updated = retry_on_conflict(async || {
        let mut pdb = pdbs.get(DEFAULT_NAME).await?;
        pdb.spec.get_or_insert_with(Default::default).min_available =
            Some(IntOrString::String("2%".into()));
        Ok(pdbs
            .replace(DEFAULT_NAME, &PostParams::default(), &pdb)
            .await?)
    })
    .await
    .with_context(|| {
        format!(
            "Waiting for the PDB update to be processed in namespace {}",
            f.ns()
        )
    })?;
    wait_processed(f, &pdbs, DEFAULT_NAME).await?;
    ensure!(
        min_available(&updated) == "2%",
        "expected minAvailable 2%, got {:?}",
        min_available(&updated)
    );

    f.step("patching the pdb");
    let patched = retry_on_conflict(async || {
        // Upstream reads the budget through the status subresource before patching.
        pdbs.get_status(DEFAULT_NAME).await?;
        let patch = serde_json::json!({"spec": {"minAvailable": "3%"}});
        Ok(pdbs
            .patch(DEFAULT_NAME, &PatchParams::default(), &Patch::Merge(&patch))
            .await?)
    })
    .await
    .with_context(|| {
        format!(
            "Waiting for the pdb update to be processed in namespace {}",
            f.ns()
        )
    })?;
    wait_processed(f, &pdbs, DEFAULT_NAME).await?;
    ensure!(
        min_available(&patched) == "3%",
        "expected minAvailable 3%, got {:?}",
        min_available(&patched)
    );

    pdbs.delete(DEFAULT_NAME, &DeleteParams::default())
        .await
        .with_context(|| format!("Deleting pdb in namespace {}", f.ns()))?;
    f.step("Waiting for the pdb to be deleted");
    poll(POLL, SCHEDULING_TIMEOUT, async || {
        match pdbs.get(DEFAULT_NAME).await {
            Err(e) if api::is_not_found(&e) => Ok(true),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(false),
        }
    })
    .await
    .with_context(|| format!("Waiting for the pdb to be deleted in namespace {}", f.ns()))
}
