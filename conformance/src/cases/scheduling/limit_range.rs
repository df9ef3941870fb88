//! `[sig-scheduling] LimitRange` (upstream `test/e2e/scheduling/limit_range.go`): the
//! LimitRange API and the LimitRanger admission plugin's defaulting and min/max checks on pod
//! creation (no pod runs).

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::poll;
use crate::framework::watch::{EventType, Watch};
use crate::framework::{
    Framework, PodSecurityLevel, api, compare, new_uuid, quantity, rand_string,
};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{
    Container, LimitRange, LimitRangeItem, LimitRangeSpec, Pod, PodSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const D: Describe = Describe::new("limitrange").with_pod_security(PodSecurityLevel::Baseline);

/// Upstream's `imageutils.GetPauseImageName()`; pods here are only admitted, never run.
pub(crate) const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// Upstream's `e2eservice.RespondingTimeout`.
const RESPONDING_TIMEOUT: Duration = Duration::from_secs(120);

const POD_NAME: &str = "pfpod";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-scheduling] LimitRange should create a LimitRange with defaults and ensure pod has those defaults applied. [Conformance]",
            case_fn!(defaults_applied),
        ),
        D.case(
            "[sig-scheduling] LimitRange should list, patch and delete a LimitRange by collection [Conformance]",
            case_fn!(list_patch_delete_collection),
        ),
    ]
}

type ResourceList = BTreeMap<String, Quantity>;

/// Upstream's `getResourceList`: empty strings leave the resource out.
fn resources(cpu: &str, memory: &str, ephemeral: &str) -> ResourceList {
    [
        ("cpu", cpu),
        ("memory", memory),
        ("ephemeral-storage", ephemeral),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
    .collect()
}

/// Upstream's `equalResourceList`: same keys, equal quantities.
fn equal_resource_list(what: &str, expected: &ResourceList, actual: &ResourceList) -> Result<()> {
    for (k, v) in expected {
        match actual.get(k) {
            Some(a) if quantity::equal(&v.0, &a.0) => {}
            a => bail!(
                "{what}: resource {k} expected {} actual {:?}",
                v.0,
                a.map(|q| &q.0)
            ),
        }
    }
    for (k, v) in actual {
        if !expected.contains_key(k) {
            bail!("{what}: resource {k} expected none actual {}", v.0);
        }
    }
    Ok(())
}

fn equal_requirements(
    expected_requests: &ResourceList,
    expected_limits: &ResourceList,
    actual: Option<&ResourceRequirements>,
) -> Result<()> {
    let empty = ResourceList::new();
    let requests = actual.and_then(|r| r.requests.as_ref()).unwrap_or(&empty);
    let limits = actual.and_then(|r| r.limits.as_ref()).unwrap_or(&empty);
    equal_resource_list("requests", expected_requests, requests)?;
    equal_resource_list("limits", expected_limits, limits)
}

fn limit_range(name: &str, labels: BTreeMap<String, String>) -> LimitRange {
    LimitRange {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                min: Some(resources("50m", "100Mi", "100Gi")),
                max: Some(resources("500m", "500Mi", "500Gi")),
                default: Some(resources("500m", "500Mi", "500Gi")),
                default_request: Some(resources("100m", "200Mi", "200Gi")),
                max_limit_request_ratio: None,
            }],
        }),
    }
}

/// Upstream's `newTestPod`: one pause container with the given requests and limits.
fn test_pod(name: &str, requests: ResourceList, limits: ResourceList) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "pause".into(),
                image: Some(PAUSE_IMAGE.into()),
                resources: Some(ResourceRequirements {
                    requests: (!requests.is_empty()).then_some(requests),
                    limits: (!limits.is_empty()).then_some(limits),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn first_item(lr: &LimitRange) -> Result<&LimitRangeItem> {
    lr.spec
        .as_ref()
        .and_then(|s| s.limits.first())
        .context("the LimitRange has no limits")
}

async fn expect_pod_resources(
    f: &Framework,
    name: &str,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Result<()> {
    let pod = f.api::<Pod>().get(name).await.context("getting the pod")?;
    for c in pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
    {
        equal_requirements(requests, limits, c.resources.as_ref())
            .with_context(|| format!("Pod {name} does not have the expected requirements"))?;
    }
    Ok(())
}

async fn defaults_applied(f: &Framework) -> Result<()> {
    let lrs = f.api::<LimitRange>();
    let pods = f.api::<Pod>();
    let pp = PostParams::default();
    f.step("Creating a LimitRange");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let value = format!("{nanos}{}", new_uuid());
    let selector = format!("time={value}");

    f.step("Setting up watch");
    let list = lrs
        .list(&ListParams::default().labels(&selector))
        .await
        .context("failed to query for limitRanges")?;
    ensure!(
        list.items.is_empty(),
        "expected no limitRanges, found {}",
        list.items.len()
    );
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut w = Watch::start(&lrs, &rv, Some(&selector), None).await?;

    f.step("Submitting a LimitRange");
    let created = lrs
        .create(
            &pp,
            &limit_range(
                "limit-range",
                BTreeMap::from([("time".into(), value.clone())]),
            ),
        )
        .await
        .context("creating the LimitRange")?;

    f.step("Verifying LimitRange creation was observed");
    match w.next(RESPONDING_TIMEOUT).await? {
        Some(e) if e.kind == EventType::Added => {}
        Some(e) => bail!("Failed to observe limitRange creation : {:?}", e.kind),
        None => bail!("Timeout while waiting for LimitRange creation"),
    }

    f.step("Fetching the LimitRange to ensure it has proper values");
    let name = created.metadata.name.clone().unwrap_or_default();
    let mut lr = lrs.get(&name).await.context("getting the LimitRange")?;
    let default_request = resources("100m", "200Mi", "200Gi");
    let default_limit = resources("500m", "500Mi", "500Gi");
    {
        let item = first_item(&lr)?;
        equal_resource_list(
            "defaultRequest",
            &default_request,
            item.default_request
                .as_ref()
                .unwrap_or(&ResourceList::new()),
        )?;
        equal_resource_list(
            "default",
            &default_limit,
            item.default.as_ref().unwrap_or(&ResourceList::new()),
        )?;
    }

    f.step("Creating a Pod with no resource requirements");
    pods.create(
        &pp,
        &test_pod("pod-no-resources", ResourceList::new(), ResourceList::new()),
    )
    .await
    .context("creating pod-no-resources")?;
    f.step("Ensuring Pod has resource requirements applied from LimitRange");
    expect_pod_resources(f, "pod-no-resources", &default_request, &default_limit).await?;

    f.step("Creating a Pod with partial resource requirements");
    pods.create(
        &pp,
        &test_pod(
            "pod-partial-resources",
            resources("", "150Mi", "150Gi"),
            resources("300m", "", ""),
        ),
    )
    .await
    .context("creating pod-partial-resources")?;
    f.step("Ensuring Pod has merged resource requirements applied from LimitRange");
    // A limit without a request defaults the request to the limit, so the LimitRange's
    // default request only applies where no limit was given.
    expect_pod_resources(
        f,
        "pod-partial-resources",
        &resources("300m", "150Mi", "150Gi"),
        &resources("300m", "500Mi", "500Gi"),
    )
    .await?;

    f.step("Failing to create a Pod with less than min resources");
    let small = test_pod(
        POD_NAME,
        resources("10m", "50Mi", "50Gi"),
        ResourceList::new(),
    );
    ensure!(
        pods.create(&pp, &small).await.is_err(),
        "a pod below the minimum was admitted"
    );
    f.step("Failing to create a Pod with more than max resources");
    let big = test_pod(
        POD_NAME,
        resources("600m", "600Mi", "600Gi"),
        ResourceList::new(),
    );
    ensure!(
        pods.create(&pp, &big).await.is_err(),
        "a pod above the maximum was admitted"
    );

    f.step("Updating a LimitRange");
    let new_min = resources("9m", "49Mi", "49Gi");
    if let Some(item) = lr.spec.as_mut().and_then(|s| s.limits.first_mut()) {
        item.min = Some(new_min.clone());
    }
    lr = lrs
        .replace(&name, &pp, &lr)
        .await
        .context("updating the LimitRange")?;

    f.step("Verifying LimitRange updating is effective");
    tokio::time::sleep(Duration::from_secs(2)).await;
    poll(
        Duration::from_secs(2),
        Duration::from_secs(18),
        async || {
            lr = lrs.get(&name).await.context("getting the LimitRange")?;
            Ok(first_item(&lr)?
                .min
                .as_ref()
                .is_some_and(|m| compare::semantic_eq(m, &new_min)))
        },
    )
    .await?;

    f.step("Creating a Pod with less than former min resources");
    pods.create(&pp, &small)
        .await
        .context("creating a pod between the old and the new minimum")?;
    f.step("Failing to create a Pod with more than max resources");
    ensure!(
        pods.create(&pp, &big).await.is_err(),
        "a pod above the maximum was admitted"
    );

    f.step("Deleting a LimitRange");
    lrs.delete(
        &name,
        &DeleteParams {
            grace_period_seconds: Some(30),
            ..Default::default()
        },
    )
    .await
    .context("deleting the LimitRange")?;

    f.step("Verifying the LimitRange was deleted");
    tokio::time::sleep(Duration::from_secs(5)).await;
    poll(Duration::from_secs(5), RESPONDING_TIMEOUT, async || {
        Ok(match lrs.list(&ListParams::default()).await {
            Ok(list) => list.items.is_empty(),
            Err(e) => {
                f.log(format!(
                    "Unable to retrieve LimitRanges: {}",
                    api::describe(&e)
                ));
                false
            }
        })
    })
    .await?;

    f.step("Creating a Pod with more than former max resources");
    // The LimitRanger admission plugin may serve a deleted LimitRange from its 30s live
    // lookup cache, so upstream retries for that long.
    let big2 = test_pod(
        &format!("{POD_NAME}2"),
        resources("600m", "600Mi", "600Gi"),
        ResourceList::new(),
    );
    poll(
        Duration::from_secs(5),
        Duration::from_secs(30),
        async || match pods.create(&pp, &big2).await {
            Ok(_) => Ok(true),
            Err(e) => {
                f.log(format!("creating the pod failed: {}", api::describe(&e)));
                Ok(false)
            }
        },
    )
    .await
    .context("a pod above the deleted LimitRange's maximum was still rejected")
}

async fn list_patch_delete_collection(f: &Framework) -> Result<()> {
    let ns = f.ns();
    let lrs = f.api::<LimitRange>();
    let name = format!("e2e-limitrange-{}", rand_string(5));
    let e2e_selector = format!("e2e-test={name}");
    let patched_selector = format!("{name}=patched");
    let labels = BTreeMap::from([
        ("e2e-test".into(), name.clone()),
        (name.clone(), "created".into()),
    ]);
    let lr = limit_range(&name, labels);

    f.step(format!("Creating LimitRange {name:?} in namespace {ns:?}"));
    let created = lrs
        .create(&PostParams::default(), &lr)
        .await
        .with_context(|| format!("Failed to create limitRange {name:?}"))?;
    api::expect_valid_resource_version(&created.metadata)?;

    f.step("Creating another limitRange in another namespace");
    let other = f
        .create_namespace(&name, BTreeMap::new())
        .await
        .context("failed creating Namespace")?;
    let other_ns = other.metadata.name.clone().unwrap_or_default();
    f.api_in::<LimitRange>(&other_ns)
        .create(&PostParams::default(), &lr)
        .await
        .with_context(|| {
            format!("Failed to create limitRange {name:?} in {other_ns:?} namespace")
        })?;

    f.step(format!(
        "Listing all LimitRanges with label {e2e_selector:?}"
    ));
    let all = f.api_all::<LimitRange>();
    let list = all
        .list(&ListParams::default().labels(&e2e_selector))
        .await
        .context("Failed to list any limitRanges")?;
    ensure!(
        list.items.len() == 2,
        "Failed to find the correct limitRange count: {}",
        list.items.len()
    );

    f.step(format!("Patching LimitRange {name:?} in {ns:?} namespace"));
    let new_min = resources("9m", "49Mi", "49Gi");
    let mut limits = created.spec.clone().unwrap_or_default().limits;
    if let Some(item) = limits.first_mut() {
        item.min = Some(new_min.clone());
    }
    // What upstream marshals: a LimitRange carrying only the creation timestamp, the new label
    // and the limits.
    let patch = serde_json::json!({
        "metadata": {
            "creationTimestamp": created.metadata.creation_timestamp,
            "labels": {name.clone(): "patched"},
        },
        "spec": {"limits": limits},
    });
    let patched = lrs
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .with_context(|| format!("Failed to patch limitRange {name:?}"))?;
    let label = patched.metadata.labels.as_ref().and_then(|l| l.get(&name));
    ensure!(
        label.map(String::as_str) == Some("patched"),
        "{name:?} label didn't have value 'patched' for this limitRange. Current labels: {:?}",
        patched.metadata.labels
    );
    let min = first_item(&patched)?.min.clone().unwrap_or_default();
    ensure!(
        compare::semantic_eq(&min, &new_min),
        "LimitRange does not have the correct min limitRange. Currently is {min:?}"
    );
    api::expect_newer_resource_version(&created.metadata, &patched.metadata)?;

    f.step(format!(
        "Delete LimitRange {name:?} by Collection with labelSelector: {patched_selector:?}"
    ));
    lrs.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&patched_selector),
    )
    .await
    .context("failed to delete the LimitRange by Collection")?;

    f.step(format!(
        "Confirm that the limitRange {name:?} has been deleted"
    ));
    poll(
        Duration::from_secs(1),
        Duration::from_secs(10),
        async || {
            Ok(lrs
                .list(&ListParams::default().labels(&patched_selector))
                .await?
                .items
                .is_empty())
        },
    )
    .await
    .context("failed to count the required limitRanges")?;

    f.step(format!(
        "Confirm that a single LimitRange still exists with label {e2e_selector:?}"
    ));
    let list = all
        .list(&ListParams::default().labels(&e2e_selector))
        .await
        .context("Failed to list any limitRanges")?;
    ensure!(
        list.items.len() == 1,
        "Failed to find the correct limitRange count: {}",
        list.items.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_compare_both_ways() {
        let a = resources("100m", "1Gi", "");
        assert!(equal_resource_list("x", &a, &resources("0.1", "1024Mi", "")).is_ok());
        assert!(equal_resource_list("x", &a, &resources("100m", "", "")).is_err());
        assert!(equal_resource_list("x", &a, &resources("100m", "1Gi", "1Gi")).is_err());
    }
}
