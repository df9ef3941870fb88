//! `[sig-apps] ReplicationController` cases (upstream `test/e2e/apps/rc.go`) that need the
//! replication controller but no running pods (the quota case also needs quota admission).

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, PodSecurityLevel, rand_string};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{
    Container, PodSpec, PodTemplateSpec, ReplicationController, ReplicationControllerSpec,
    ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ObjectMeta, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe =
    Describe::new("replication-controller").with_pod_security(PodSecurityLevel::Baseline);

/// Upstream's `imageutils.GetE2EImage(imageutils.Httpd)`; nothing runs it here.
const HTTPD_IMAGE: &str = "registry.k8s.io/e2e-test-images/httpd:2.4.38-4";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-apps] ReplicationController should get and update a ReplicationController scale [Conformance]",
            case_fn!(scale_subresource),
        ),
        D.case(
            "[sig-apps] ReplicationController should surface a failure condition on a common issue like exceeded quota [Conformance]",
            case_fn!(exceeded_quota),
        ),
    ]
}

/// Upstream's `newRC`: no selector, so the apiserver takes the template's labels.
fn new_rc(name: &str, replicas: i32, labels: BTreeMap<String, String>) -> ReplicationController {
    ReplicationController {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(replicas),
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    termination_grace_period_seconds: Some(0),
                    containers: vec![Container {
                        name: "httpd".into(),
                        image: Some(HTTPD_IMAGE.into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

async fn wait_for_replicas(
    f: &Framework,
    rcs: &Api<ReplicationController>,
    name: &str,
    want: i32,
) -> Result<()> {
    poll(
        Duration::from_secs(1),
        Duration::from_secs(60),
        async || {
            f.log(format!(
                "Get Replication Controller {name:?} to confirm replicas"
            ));
            let rc = rcs.get(name).await?;
            let got = rc.status.map_or(0, |s| s.replicas);
            f.log(format!(
                "Found {got} replicas for {name:?} replication controller"
            ));
            Ok(got == want)
        },
    )
    .await
    .context("failed to confirm the quantity of ReplicationController replicas")
}

async fn scale_subresource(f: &Framework) -> Result<()> {
    let name = format!("e2e-rc-{}", rand_string(5));
    let rcs: Api<ReplicationController> = f.api();
    f.step(format!("Creating ReplicationController {name:?}"));
    rcs.create(
        &PostParams::default(),
        &new_rc(
            &name,
            1,
            BTreeMap::from([("name".to_string(), name.clone())]),
        ),
    )
    .await
    .context("Failed to create ReplicationController")?;
    wait_for_replicas(f, &rcs, &name, 1).await?;

    f.step("Getting scale subresource for ReplicationController");
    let scale: Scale = rcs
        .get_scale(&name)
        .await
        .context("Failed to get scale subresource")?;
    ensure!(
        scale.status.as_ref().map(|s| s.replicas) == Some(1),
        "Failed to get the current replica count"
    );
    f.step("Updating a scale subresource");
    let mut update = scale.clone();
    update.metadata.resource_version = None;
    update.spec.get_or_insert_with(Default::default).replicas = Some(2);
    rcs.replace_scale(&name, &PostParams::default(), &update)
        .await
        .context("Failed to update scale subresource")?;
    f.step("Verifying replicas where modified for replication controller");
    wait_for_replicas(f, &rcs, &name, 2).await
}

/// Waits until the controller observed the RC's latest generation and its `ReplicaFailure`
/// condition is present (or absent).
async fn wait_for_failure_condition(
    rcs: &Api<ReplicationController>,
    name: &str,
    generation: i64,
    present: bool,
) -> Result<()> {
    let mut conditions = None;
    let waited = poll(
        Duration::from_secs(1),
        Duration::from_secs(60),
        async || {
            let rc = rcs.get(name).await?;
            let status = rc.status.unwrap_or_default();
            if status.observed_generation.unwrap_or_default() < generation {
                return Ok(false);
            }
            let failure = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "ReplicaFailure");
            conditions = status.conditions;
            Ok(failure == present)
        },
    )
    .await;
    waited.with_context(|| {
        format!(
            "rc manager never {} the failure condition for rc {name:?}: {conditions:?}",
            if present { "added" } else { "removed" }
        )
    })
}

async fn exceeded_quota(f: &Framework) -> Result<()> {
    let name = "condition-test";
    f.log(format!(
        "Creating quota {name:?} that allows only two pods to run in the current namespace"
    ));
    let quotas: Api<ResourceQuota> = f.api();
    let quota = ResourceQuota {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([("pods".to_string(), Quantity("2".into()))])),
            ..Default::default()
        }),
        status: None,
    };
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .context("creating the quota")?;
    poll(
        Duration::from_secs(1),
        Duration::from_secs(60),
        async || {
            let quota = quotas.get(name).await?;
            let hard = quota.status.and_then(|s| s.hard).unwrap_or_default();
            Ok(hard.get("pods").is_some_and(|q| q.0 == "2"))
        },
    )
    .await
    .context("resource quota status never showed its hard limit")?;

    f.step(format!(
        "Creating rc {name:?} that asks for more than the allowed pod quota"
    ));
    let rcs: Api<ReplicationController> = f.api();
    let rc = rcs
        .create(
            &PostParams::default(),
            &new_rc(
                name,
                3,
                BTreeMap::from([("name".to_string(), name.to_string())]),
            ),
        )
        .await
        .context("creating the ReplicationController")?;
    f.step(format!(
        "Checking rc {name:?} has the desired failure condition set"
    ));
    wait_for_failure_condition(&rcs, name, rc.metadata.generation.unwrap_or_default(), true)
        .await?;

    f.step(format!("Scaling down rc {name:?} to satisfy pod quota"));
    let rc = retry_on_conflict(async || {
        let mut rc = rcs.get(name).await?;
        if let Some(spec) = rc.spec.as_mut() {
            spec.replicas = Some(2);
        }
        Ok(rcs.replace(name, &PostParams::default(), &rc).await?)
    })
    .await
    .context("scaling the ReplicationController down")?;
    f.step(format!("Checking rc {name:?} has no failure condition set"));
    wait_for_failure_condition(
        &rcs,
        name,
        rc.metadata.generation.unwrap_or_default(),
        false,
    )
    .await
}
