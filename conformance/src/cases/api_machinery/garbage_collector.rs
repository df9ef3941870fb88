//! `[sig-api-machinery] Garbage collector` cases (upstream
//! `test/e2e/apimachinery/garbage_collector.go`) that need the garbage collector, the
//! deployment, replicaset and replication controllers, but no running pods.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::poll;
use crate::framework::{Framework, PodSecurityLevel};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet};
use k8s_openapi::api::core::v1::{
    Container, Pod, PodSpec, PodTemplateSpec, ReplicationController, ReplicationControllerSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{
    Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const D: Describe = Describe::new("gc").with_pod_security(PodSecurityLevel::Baseline);

/// Upstream's `imageutils.GetE2EImage(imageutils.Nginx)`; nothing runs it here.
const NGINX_IMAGE: &str = "registry.k8s.io/e2e-test-images/nginx:1.14-4";

/// upstream's `gcInformerResyncRetryTimeout`.
const RESYNC_RETRY: Duration = Duration::from_secs(60);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] Garbage collector should delete RS created by deployment when not orphaning [Conformance]",
            case_fn!(delete_rs_of_deployment),
        ),
        D.case(
            "[sig-api-machinery] Garbage collector should orphan RS created by deployment when deleteOptions.PropagationPolicy is Orphan [Conformance]",
            case_fn!(orphan_rs_of_deployment),
        ),
        D.case(
            "[sig-api-machinery] Garbage collector should not be blocked by dependency circle [Conformance]",
            case_fn!(dependency_circle),
        ),
        D.case(
            "[sig-api-machinery] Garbage collector should delete pods created by rc when not orphaning [Conformance]",
            case_fn!(delete_pods_of_rc),
        ),
    ]
}

/// Upstream's `getUniqLabel`: one counter for the whole run.
fn uniq_label(key: &str, value: &str) -> BTreeMap<String, String> {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::SeqCst);
    BTreeMap::from([(format!("{key}-{n:05}"), format!("{value}-{n:05}"))])
}

/// Upstream's `getPodTemplateSpec`.
fn pod_template(labels: &BTreeMap<String, String>) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            termination_grace_period_seconds: Some(0),
            containers: vec![Container {
                name: "nginx".into(),
                image: Some(NGINX_IMAGE.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

/// Upstream's `newOwnerDeployment`.
fn owner_deployment(name: &str, labels: &BTreeMap<String, String>) -> Deployment {
    let mut template = pod_template(labels);
    if let Some(c) = template.spec.as_mut().map(|s| &mut s.containers[0]) {
        c.security_context = Some(Default::default());
    }
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(2),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            },
            template,
            strategy: Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: None,
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn delete_with(policy: kube::api::PropagationPolicy, uid: Option<String>) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..Default::default()
    }
}

/// One count of upstream's `verifyRemainingObjects`: whether the namespace holds `want` objects
/// of `K` (unchecked when `None`), logging a mismatch as upstream does with `what`.
async fn count_is<K>(f: &Framework, want: Option<usize>, what: &str) -> Result<bool>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let Some(want) = want else {
        return Ok(true);
    };
    let got = f
        .api::<K>()
        .list(&ListParams::default())
        .await
        .with_context(|| format!("failed to list {what}"))?
        .items
        .len();
    if got != want {
        f.step(format!("expected {want} {what}, got {got} {what}"));
    }
    Ok(got == want)
}

/// Upstream's `verifyRemainingObjects`: counts in the whole namespace, `None` for kinds not
/// checked; every kind is looked at (and logged) even after a mismatch.
async fn remaining(
    f: &Framework,
    pods: Option<usize>,
    deployments: Option<usize>,
    sets: Option<usize>,
    rcs: Option<usize>,
) -> Result<bool> {
    let results = [
        count_is::<Pod>(f, pods, "pods").await?,
        count_is::<Deployment>(f, deployments, "Deployments").await?,
        count_is::<ReplicaSet>(f, sets, "rs").await?,
        count_is::<ReplicationController>(f, rcs, "RCs").await?,
    ];
    Ok(results.iter().all(|ok| *ok))
}

async fn create_deployment_and_wait_for_rs(
    f: &Framework,
    labels: &BTreeMap<String, String>,
) -> Result<(Deployment, ReplicaSet)> {
    f.step("create the deployment");
    let deployment = f
        .api::<Deployment>()
        .create(
            &PostParams::default(),
            &owner_deployment("simpletest.deployment", labels),
        )
        .await
        .context("Failed to create deployment")?;
    f.step("Wait for the Deployment to create new ReplicaSet");
    let sets = f.api::<ReplicaSet>();
    let mut first = None;
    poll(
        Duration::from_millis(500),
        Duration::from_secs(60),
        async || {
            let list = sets.list(&ListParams::default()).await?;
            first = list.items.into_iter().next();
            Ok(first.is_some())
        },
    )
    .await
    .context("Failed to wait for the Deployment to create some ReplicaSet")?;
    Ok((deployment, first.context("no ReplicaSet")?))
}

async fn delete_rs_of_deployment(f: &Framework) -> Result<()> {
    let labels = uniq_label("gctest", "delete_rs");
    let (deployment, _) = create_deployment_and_wait_for_rs(f, &labels).await?;
    f.step("delete the deployment");
    f.api::<Deployment>()
        .delete(
            "simpletest.deployment",
            &delete_with(
                kube::api::PropagationPolicy::Background,
                deployment.metadata.uid.clone(),
            ),
        )
        .await
        .context("failed to delete the deployment")?;
    f.step("wait for all rs to be garbage collected");
    let waited = poll(
        Duration::from_millis(500),
        Duration::from_secs(60) + RESYNC_RETRY,
        async || remaining(f, Some(0), Some(0), Some(0), None).await,
    )
    .await;
    if let Err(e) = waited {
        let left = f.api::<ReplicaSet>().list(&ListParams::default()).await?;
        let names: Vec<_> = left
            .items
            .iter()
            .filter_map(|r| r.metadata.name.clone())
            .collect();
        bail!(
            "Failed to wait for all rs to be garbage collected: {e}; remaining rs are: {names:?}"
        );
    }
    Ok(())
}

async fn orphan_rs_of_deployment(f: &Framework) -> Result<()> {
    let labels = uniq_label("gctest", "orphan_rs");
    let (deployment, rs) = create_deployment_and_wait_for_rs(f, &labels).await?;
    let rs_name = rs.metadata.name.clone().unwrap_or_default();
    let generation = rs.metadata.generation.unwrap_or(0);
    let sets = f.api::<ReplicaSet>();
    poll(Duration::from_millis(100), Duration::from_secs(60), async || {
        let got = sets.get(&rs_name).await?;
        let status = got.status.unwrap_or_default();
        Ok(status.observed_generation.unwrap_or(0) >= generation
            && Some(status.replicas) == got.spec.and_then(|s| s.replicas))
    })
    .await
    .with_context(|| format!("failed to verify .Status.Replicas is equal to .Spec.Replicas for replicaset {rs_name:?}"))?;

    f.step("delete the deployment");
    let deployments = f.api::<Deployment>();
    deployments
        .delete(
            "simpletest.deployment",
            &delete_with(
                kube::api::PropagationPolicy::Orphan,
                deployment.metadata.uid.clone(),
            ),
        )
        .await
        .context("failed to delete the deployment")?;
    f.step(
        "wait for deployment deletion to see if the garbage collector mistakenly deletes the rs",
    );
    poll(
        Duration::from_millis(500),
        Duration::from_secs(60) + RESYNC_RETRY,
        async || {
            Ok(deployments
                .list(&ListParams::default())
                .await?
                .items
                .is_empty())
        },
    )
    .await
    .context("Failed to wait for the Deployment to be deleted")?;
    let ok = remaining(f, Some(2), Some(0), Some(1), None)
        .await
        .context("Unexpected error while verifying remaining deployments, rs, and pods")?;
    ensure!(ok, "Failed to verify remaining deployments, rs, and pods");
    for rs in sets.list(&ListParams::default()).await?.items {
        let controller = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true));
        ensure!(
            controller.is_none(),
            "Found ReplicaSet with non nil ownerRef {controller:?}"
        );
    }
    Ok(())
}

/// Upstream's `newGCPod`.
fn gc_pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            termination_grace_period_seconds: Some(0),
            containers: vec![Container {
                name: "nginx".into(),
                image: Some(NGINX_IMAGE.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

async fn dependency_circle(f: &Framework) -> Result<()> {
    let pods = f.api::<Pod>();
    let mut uids = BTreeMap::new();
    for name in ["pod1", "pod2", "pod3"] {
        let pod = pods
            .create(&PostParams::default(), &gc_pod(name))
            .await
            .with_context(|| format!("failed to create pod {name} in namespace: {}", f.ns()))?;
        uids.insert(name, pod.metadata.uid.unwrap_or_default());
    }
    // pod1 is owned by pod3, pod2 by pod1, pod3 by pod2.
    for (pod, owner) in [("pod1", "pod3"), ("pod2", "pod1"), ("pod3", "pod2")] {
        let patch = json!({"metadata": {"ownerReferences": [{
            "apiVersion": "v1", "kind": "Pod", "name": owner, "uid": uids[owner],
            "controller": true, "blockOwnerDeletion": true,
        }]}});
        let patched = pods
            .patch(pod, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .with_context(|| {
                format!("failed to apply to pod {pod} in namespace {}, a strategic merge patch: {patch}", f.ns())
            })?;
        f.log(format!(
            "pod {pod} has owner references {:?}",
            patched.metadata.owner_references
        ));
    }
    pods.delete(
        "pod1",
        &delete_with(
            kube::api::PropagationPolicy::Foreground,
            Some(uids["pod1"].clone()),
        ),
    )
    .await
    .with_context(|| format!("failed to delete pod pod1 in namespace: {}", f.ns()))?;
    // Upstream polls every 5 s and does not look right away.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let waited = poll(
        Duration::from_secs(5),
        Duration::from_secs(90) + RESYNC_RETRY,
        async || Ok(pods.list(&ListParams::default()).await?.items.is_empty()),
    )
    .await;
    if let Err(e) = waited {
        let left = pods.list(&ListParams::default()).await?;
        let names: Vec<_> = left
            .items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        bail!("failed to wait for all pods to be deleted: {e}; pods are {names:?}");
    }
    Ok(())
}

/// Upstream's `newOwnerRC`.
fn owner_rc(name: &str, replicas: i32, labels: &BTreeMap<String, String>) -> ReplicationController {
    ReplicationController {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(replicas),
            selector: Some(labels.clone()),
            template: Some(pod_template(labels)),
            ..Default::default()
        }),
        status: None,
    }
}

async fn delete_pods_of_rc(f: &Framework) -> Result<()> {
    let labels = uniq_label("gctest", "delete_pods");
    f.step("create the rc");
    let rcs: Api<ReplicationController> = f.api();
    let rc = rcs
        .create(
            &PostParams::default(),
            &owner_rc("simpletest.rc", 2, &labels),
        )
        .await
        .context("Failed to create replication controller")?;
    f.step("wait for the rc to create some pods");
    let pods = f.api::<Pod>();
    tokio::time::sleep(Duration::from_secs(5)).await;
    poll(
        Duration::from_secs(5),
        Duration::from_secs(25),
        async || Ok(!pods.list(&ListParams::default()).await?.items.is_empty()),
    )
    .await
    .context("failed to wait for the rc to create some pods")?;
    f.step("delete the rc");
    rcs.delete(
        "simpletest.rc",
        &delete_with(
            kube::api::PropagationPolicy::Background,
            rc.metadata.uid.clone(),
        ),
    )
    .await
    .context("failed to delete the rc")?;
    f.step("wait for all pods to be garbage collected");
    tokio::time::sleep(Duration::from_secs(5)).await;
    poll(
        Duration::from_secs(5),
        Duration::from_secs(55) + RESYNC_RETRY,
        async || remaining(f, Some(0), None, None, Some(0)).await,
    )
    .await
    .context("failed to wait for all pods to be deleted")?;
    Ok(())
}
