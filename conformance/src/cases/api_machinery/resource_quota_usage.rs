//! `[sig-api-machinery] ResourceQuota` cases that need the quota controller's usage tracking
//! and admission's charges (upstream `test/e2e/apimachinery/resource_quota.go`); the life of a
//! pod and of a service also need admission to refuse what exceeds the quota.

use crate::case_fn;
use crate::cases::scheduling::limit_range::PAUSE_IMAGE;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, PodSecurityLevel, quantity, rand_string};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Pod, PodSpec, PodTemplateSpec, ReplicationController,
    ReplicationControllerSpec, ResourceQuota, ResourceQuotaSpec, ResourceQuotaStatus,
    ResourceRequirements, Secret, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("resourcequota").with_pod_security(PodSecurityLevel::Baseline);

/// Upstream's `resourceQuotaTimeout`.
const QUOTA_TIMEOUT: Duration = Duration::from_secs(60);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and ensure its status is promptly calculated. [Conformance]",
            case_fn!(promptly_calculated),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a service. [Conformance]",
            case_fn!(life_of_service),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a pod. [Conformance]",
            case_fn!(life_of_pod),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a secret. [Conformance]",
            case_fn!(life_of_secret),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a configMap. [Conformance]",
            case_fn!(life_of_configmap),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a replication controller. [Conformance]",
            case_fn!(life_of_rc),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a replica set. [Conformance]",
            case_fn!(life_of_rs),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should verify ResourceQuota with terminating scopes. [Conformance]",
            case_fn!(terminating_scopes),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should verify ResourceQuota with best effort scope. [Conformance]",
            case_fn!(best_effort_scope),
        ),
        D.case(
            "[sig-api-machinery] ResourceQuota should apply changes to a resourcequota status [Conformance]",
            case_fn!(status_changes),
        ),
    ]
}

fn q(v: &str) -> Quantity {
    Quantity(v.to_string())
}

fn list(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs.iter().map(|(k, v)| (k.to_string(), q(v))).collect()
}

/// Upstream's `newTestResourceQuota`.
fn test_quota(name: &str) -> ResourceQuota {
    ResourceQuota {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(list(&[
                ("pods", "5"),
                ("services", "10"),
                ("services.nodeports", "1"),
                ("services.loadbalancers", "1"),
                ("replicationcontrollers", "10"),
                ("resourcequotas", "1"),
                ("cpu", "1"),
                ("memory", "500Mi"),
                ("configmaps", "10"),
                ("secrets", "10"),
                ("persistentvolumeclaims", "10"),
                ("requests.storage", "10Gi"),
                ("ephemeral-storage", "50Gi"),
                (
                    "gold.storageclass.storage.k8s.io/persistentvolumeclaims",
                    "10",
                ),
                ("gold.storageclass.storage.k8s.io/requests.storage", "10Gi"),
                ("count/replicasets.apps", "5"),
                ("requests.example.com/dongle", "3"),
            ])),
            ..Default::default()
        }),
        status: None,
    }
}

/// Upstream's `newTestResourceQuotaWithScope`.
fn scoped_quota(name: &str, scope: &str) -> ResourceQuota {
    let mut hard = list(&[("pods", "5")]);
    if scope == "Terminating" || scope == "NotTerminating" {
        hard.extend(list(&[
            ("requests.cpu", "1"),
            ("requests.memory", "500Mi"),
            ("limits.cpu", "2"),
            ("limits.memory", "1Gi"),
        ]));
    }
    ResourceQuota {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            scopes: Some(vec![scope.into()]),
            ..Default::default()
        }),
        status: None,
    }
}

/// Upstream's `newTestPodForQuota`: never schedulable.
fn quota_pod(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_selector: Some(BTreeMap::from([(
                "x-test.k8s.io/unsatisfiable".to_string(),
                "not-schedulable".to_string(),
            )])),
            containers: vec![Container {
                name: "pause".into(),
                image: Some(PAUSE_IMAGE.into()),
                resources: Some(ResourceRequirements {
                    requests: Some(list(requests)),
                    limits: Some(list(limits)),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

/// Upstream's `countResourceQuota`-style count: the number of `K` once it held still for more
/// than `steady` looks a second apart.
async fn steady_count<K>(api: &Api<K>, steady: usize, timeout: Duration) -> Result<usize>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let (mut last, mut seen) = (usize::MAX, 0);
    poll(Duration::from_secs(1), timeout, async || {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let n = api.list(&ListParams::default()).await?.items.len();
        if n == last {
            seen += 1;
        } else {
            (last, seen) = (n, 0);
        }
        Ok(seen > steady)
    })
    .await?;
    Ok(last)
}

/// Upstream's `waitForResourceQuota`: every listed key used exactly as expected.
async fn wait_for_usage(f: &Framework, name: &str, used: &[(&str, String)]) -> Result<()> {
    let api = f.api::<ResourceQuota>();
    let mut last = None;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waited = poll(Duration::from_secs(2), QUOTA_TIMEOUT, async || {
        let quota = api.get(name).await?;
        let Some(got) = quota.status.and_then(|s| s.used) else {
            return Ok(false);
        };
        let ok = used
            .iter()
            .all(|(k, want)| got.get(*k).is_some_and(|v| quantity::equal(&v.0, want)));
        last = Some(got);
        Ok(ok)
    })
    .await;
    if let Err(e) = waited {
        bail!("resource quota {name} never reached {used:?} ({e}); last used {last:?}");
    }
    Ok(())
}

async fn create_quota(f: &Framework, quota: &ResourceQuota) -> Result<()> {
    f.step("Creating a ResourceQuota");
    f.api::<ResourceQuota>()
        .create(&PostParams::default(), quota)
        .await
        .context("creating the ResourceQuota")?;
    Ok(())
}

async fn promptly_calculated(f: &Framework) -> Result<()> {
    let c = steady_count(&f.api::<ResourceQuota>(), 4, Duration::from_secs(30)).await?;
    create_quota(f, &test_quota("test-quota")).await?;
    f.step("Ensuring resource quota status is calculated");
    wait_for_usage(f, "test-quota", &[("resourcequotas", (c + 1).to_string())]).await
}

/// Upstream's `newTestServiceForQuota`.
fn quota_service(name: &str, type_: &str, allocate_node_ports: bool) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            ports: Some(vec![ServicePort {
                port: 80,
                target_port: Some(IntOrString::Int(80)),
                ..Default::default()
            }]),
            allocate_load_balancer_node_ports: (type_ == "LoadBalancer")
                .then_some(allocate_node_ports),
            ..Default::default()
        }),
        status: None,
    }
}

async fn life_of_service(f: &Framework) -> Result<()> {
    let c = steady_count(&f.api::<ResourceQuota>(), 4, Duration::from_secs(30)).await?;
    create_quota(f, &test_quota("test-quota")).await?;
    let rq = (c + 1).to_string();
    f.step("Ensuring resource quota status is calculated");
    wait_for_usage(f, "test-quota", &[("resourcequotas", rq.clone())]).await?;
    let services = f.api::<Service>();
    f.step("Creating a Service");
    services
        .create(
            &PostParams::default(),
            &quota_service("test-service", "ClusterIP", false),
        )
        .await
        .context("creating the ClusterIP service")?;
    f.step("Creating a NodePort Service");
    services
        .create(
            &PostParams::default(),
            &quota_service("test-service-np", "NodePort", false),
        )
        .await
        .context("creating the NodePort service")?;
    f.step("Not allowing a LoadBalancer Service with NodePort to be created that exceeds remaining quota");
    let refused = services
        .create(
            &PostParams::default(),
            &quota_service("test-service-lb", "LoadBalancer", true),
        )
        .await;
    ensure!(
        refused.is_err(),
        "a LoadBalancer service past the node port quota was created"
    );
    f.step("Ensuring resource quota status captures service creation");
    wait_for_usage(
        f,
        "test-quota",
        &[
            ("resourcequotas", rq.clone()),
            ("services", "2".into()),
            ("services.nodeports", "1".into()),
            ("services.loadbalancers", "0".into()),
        ],
    )
    .await?;
    f.step("Deleting Services");
    for name in ["test-service", "test-service-np"] {
        services.delete(name, &DeleteParams::default()).await?;
    }
    f.step("Ensuring resource quota status released usage");
    wait_for_usage(
        f,
        "test-quota",
        &[
            ("resourcequotas", rq),
            ("services", "0".into()),
            ("services.nodeports", "0".into()),
            ("services.loadbalancers", "0".into()),
        ],
    )
    .await
}

/// The extended resource upstream's pod quota case requests.
const DONGLE: &str = "example.com/dongle";

async fn life_of_pod(f: &Framework) -> Result<()> {
    let c = steady_count(&f.api::<ResourceQuota>(), 4, Duration::from_secs(30)).await?;
    create_quota(f, &test_quota("test-quota")).await?;
    let rq = (c + 1).to_string();
    f.step("Ensuring resource quota status is calculated");
    wait_for_usage(f, "test-quota", &[("resourcequotas", rq.clone())]).await?;

    f.step("Creating a Pod that fits quota");
    let pods = f.api::<Pod>();
    let fits = quota_pod(
        "test-pod",
        &[
            ("cpu", "500m"),
            ("memory", "252Mi"),
            ("ephemeral-storage", "30Gi"),
            (DONGLE, "2"),
        ],
        &[(DONGLE, "2")],
    );
    let created = pods
        .create(&PostParams::default(), &fits)
        .await
        .context("creating a pod that fits the quota")?;
    f.step("Ensuring ResourceQuota status captures the pod usage");
    let in_use = |pods: &str, cpu: &str, memory: &str, ephemeral: &str, dongles: &str| {
        vec![
            ("resourcequotas", rq.clone()),
            ("pods", pods.to_string()),
            ("cpu", cpu.to_string()),
            ("memory", memory.to_string()),
            ("ephemeral-storage", ephemeral.to_string()),
            ("requests.example.com/dongle", dongles.to_string()),
        ]
    };
    let used = in_use("1", "500m", "252Mi", "30Gi", "2");
    wait_for_usage(f, "test-quota", &used).await?;

    f.step("Not allowing a pod to be created that exceeds remaining quota");
    let refused = pods
        .create(
            &PostParams::default(),
            &quota_pod("fail-pod", &[("cpu", "600m"), ("memory", "100Mi")], &[]),
        )
        .await;
    ensure!(refused.is_err(), "a pod past the cpu quota was created");
    f.step("Not allowing a pod to be created that exceeds remaining quota(validation on extended resources)");
    let refused = pods
        .create(
            &PostParams::default(),
            &quota_pod(
                "fail-pod-for-extended-resource",
                &[
                    ("cpu", "500m"),
                    ("memory", "100Mi"),
                    ("ephemeral-storage", "30Gi"),
                    (DONGLE, "2"),
                ],
                &[(DONGLE, "2")],
            ),
        )
        .await;
    ensure!(
        refused.is_err(),
        "a pod past the extended resource quota was created"
    );

    f.step("Ensuring a pod cannot update its resource requirements");
    let mut update = created;
    if let Some(c) = update.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        c.resources.get_or_insert_with(Default::default).requests = Some(list(&[
            ("cpu", "100m"),
            ("memory", "100Mi"),
            ("ephemeral-storage", "10Gi"),
        ]));
    }
    let refused = pods
        .replace("test-pod", &PostParams::default(), &update)
        .await;
    ensure!(refused.is_err(), "a pod changed its resource requests");
    f.step("Ensuring attempts to update pod resource requirements did not change quota usage");
    wait_for_usage(f, "test-quota", &used).await?;

    f.step("Deleting the pod");
    pods.delete("test-pod", &DeleteParams::default().grace_period(0))
        .await?;
    f.step("Ensuring resource quota status released the pod usage");
    wait_for_usage(f, "test-quota", &in_use("0", "0", "0", "0", "0")).await
}

async fn life_of_secret(f: &Framework) -> Result<()> {
    let secrets = f.api::<Secret>();
    f.step("Discovering how many secrets are in namespace by default");
    let found = steady_count(&secrets, 4, Duration::from_secs(30)).await?;
    let c = steady_count(&f.api::<ResourceQuota>(), 4, Duration::from_secs(30)).await?;
    let mut quota = test_quota("test-quota");
    if let Some(h) = quota.spec.as_mut().and_then(|s| s.hard.as_mut()) {
        h.insert("secrets".into(), q(&(found + 1).to_string()));
    }
    create_quota(f, &quota).await?;
    wait_for_usage(
        f,
        "test-quota",
        &[
            ("resourcequotas", (c + 1).to_string()),
            ("secrets", found.to_string()),
        ],
    )
    .await?;
    f.step("Creating a Secret");
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("test-secret".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([
            ("data-1".to_string(), "value-1\n".to_string()),
            ("data-2".to_string(), "value-2\n".to_string()),
            ("data-3".to_string(), "value-3\n".to_string()),
        ])),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .context("creating the Secret")?;
    f.step("Ensuring resource quota status captures secret creation");
    wait_for_usage(f, "test-quota", &[("secrets", (found + 1).to_string())]).await?;
    f.step("Deleting a secret");
    secrets
        .delete("test-secret", &DeleteParams::default())
        .await?;
    f.step("Ensuring resource quota status released usage");
    wait_for_usage(f, "test-quota", &[("secrets", found.to_string())]).await
}

async fn life_of_configmap(f: &Framework) -> Result<()> {
    let configmaps = f.api::<ConfigMap>();
    let found = steady_count(&configmaps, 15, Duration::from_secs(60)).await?;
    let c = steady_count(&f.api::<ResourceQuota>(), 4, Duration::from_secs(30)).await?;
    let mut quota = test_quota("test-quota");
    if let Some(h) = quota.spec.as_mut().and_then(|s| s.hard.as_mut()) {
        h.insert("configmaps".into(), q(&(found + 1).to_string()));
    }
    create_quota(f, &quota).await?;
    let rq = (c + 1).to_string();
    wait_for_usage(
        f,
        "test-quota",
        &[
            ("resourcequotas", rq.clone()),
            ("configmaps", found.to_string()),
        ],
    )
    .await?;
    f.step("Creating a ConfigMap");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("test-configmap".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("a".to_string(), "b".to_string())])),
        ..Default::default()
    };
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .context("creating the ConfigMap")?;
    f.step("Ensuring resource quota status captures configMap creation");
    wait_for_usage(
        f,
        "test-quota",
        &[
            ("resourcequotas", rq.clone()),
            ("configmaps", (found + 1).to_string()),
        ],
    )
    .await?;
    f.step("Deleting a ConfigMap");
    configmaps
        .delete("test-configmap", &DeleteParams::default())
        .await?;
    f.step("Ensuring resource quota status released usage");
    wait_for_usage(
        f,
        "test-quota",
        &[("resourcequotas", rq), ("configmaps", found.to_string())],
    )
    .await
}

fn template(name: &str, terminate_now: bool) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("name".to_string(), name.to_string())])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            termination_grace_period_seconds: terminate_now.then_some(0),
            containers: vec![Container {
                name: name.into(),
                image: Some("nginx".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

async fn life_of_rc(f: &Framework) -> Result<()> {
    let c = steady_count(&f.api::<ResourceQuota>(), 4, Duration::from_secs(30)).await?;
    create_quota(f, &test_quota("test-quota")).await?;
    wait_for_usage(
        f,
        "test-quota",
        &[
            ("resourcequotas", (c + 1).to_string()),
            ("replicationcontrollers", "0".into()),
        ],
    )
    .await?;
    f.step("Creating a ReplicationController");
    let rcs = f.api::<ReplicationController>();
    let rc = ReplicationController {
        metadata: ObjectMeta {
            name: Some("test-rc".into()),
            ..Default::default()
        },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(0),
            selector: Some(BTreeMap::from([(
                "name".to_string(),
                "test-rc".to_string(),
            )])),
            template: Some(template("test-rc", false)),
            ..Default::default()
        }),
        status: None,
    };
    rcs.create(&PostParams::default(), &rc)
        .await
        .context("creating the ReplicationController")?;
    f.step("Ensuring resource quota status captures replication controller creation");
    wait_for_usage(f, "test-quota", &[("replicationcontrollers", "1".into())]).await?;
    f.step("Deleting a ReplicationController");
    rcs.delete("test-rc", &DeleteParams::background()).await?;
    f.step("Ensuring resource quota status released usage");
    wait_for_usage(f, "test-quota", &[("replicationcontrollers", "0".into())]).await
}

async fn life_of_rs(f: &Framework) -> Result<()> {
    let c = steady_count(&f.api::<ResourceQuota>(), 4, Duration::from_secs(30)).await?;
    create_quota(f, &test_quota("test-quota")).await?;
    wait_for_usage(
        f,
        "test-quota",
        &[
            ("resourcequotas", (c + 1).to_string()),
            ("count/replicasets.apps", "0".into()),
        ],
    )
    .await?;
    f.step("Creating a ReplicaSet");
    let sets = f.api::<ReplicaSet>();
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some("test-rs".into()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "name".to_string(),
                    "test-rs".to_string(),
                )])),
                match_expressions: None,
            },
            template: Some(template("test-rs", true)),
            ..Default::default()
        }),
        status: None,
    };
    sets.create(&PostParams::default(), &rs)
        .await
        .context("creating the ReplicaSet")?;
    f.step("Ensuring resource quota status captures replicaset creation");
    wait_for_usage(f, "test-quota", &[("count/replicasets.apps", "1".into())]).await?;
    f.step("Deleting a ReplicaSet");
    sets.delete("test-rs", &DeleteParams::default()).await?;
    f.step("Ensuring resource quota status released usage");
    wait_for_usage(f, "test-quota", &[("count/replicasets.apps", "0".into())]).await
}

const COMPUTE_KEYS: [&str; 5] = [
    "pods",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

fn compute_used(values: [&str; 5]) -> Vec<(&'static str, String)> {
    COMPUTE_KEYS
        .iter()
        .zip(values)
        .map(|(k, v)| (*k, v.to_string()))
        .collect()
}

async fn terminating_scopes(f: &Framework) -> Result<()> {
    let pods = f.api::<Pod>();
    create_quota(f, &scoped_quota("quota-terminating", "Terminating")).await?;
    wait_for_usage(f, "quota-terminating", &[("pods", "0".into())]).await?;
    create_quota(f, &scoped_quota("quota-not-terminating", "NotTerminating")).await?;
    wait_for_usage(f, "quota-not-terminating", &[("pods", "0".into())]).await?;
    let requests = [("cpu", "500m"), ("memory", "200Mi")];
    let limits = [("cpu", "1"), ("memory", "400Mi")];
    let zero = compute_used(["0"; 5]);
    let one = compute_used(["1", "500m", "200Mi", "1", "400Mi"]);

    f.step("Creating a long running pod");
    pods.create(
        &PostParams::default(),
        &quota_pod("test-pod", &requests, &limits),
    )
    .await?;
    wait_for_usage(f, "quota-not-terminating", &one).await?;
    wait_for_usage(f, "quota-terminating", &zero).await?;
    pods.delete("test-pod", &DeleteParams::default().grace_period(0))
        .await?;
    wait_for_usage(f, "quota-not-terminating", &zero).await?;

    f.step("Creating a terminating pod");
    let mut terminating = quota_pod("terminating-pod", &requests, &limits);
    if let Some(spec) = terminating.spec.as_mut() {
        spec.active_deadline_seconds = Some(3600);
    }
    pods.create(&PostParams::default(), &terminating).await?;
    wait_for_usage(f, "quota-terminating", &one).await?;
    wait_for_usage(f, "quota-not-terminating", &zero).await?;
    pods.delete("terminating-pod", &DeleteParams::default().grace_period(0))
        .await?;
    wait_for_usage(f, "quota-terminating", &zero).await
}

async fn best_effort_scope(f: &Framework) -> Result<()> {
    let pods = f.api::<Pod>();
    create_quota(f, &scoped_quota("quota-besteffort", "BestEffort")).await?;
    wait_for_usage(f, "quota-besteffort", &[("pods", "0".into())]).await?;
    create_quota(f, &scoped_quota("quota-not-besteffort", "NotBestEffort")).await?;
    wait_for_usage(f, "quota-not-besteffort", &[("pods", "0".into())]).await?;

    f.step("Creating a best-effort pod");
    pods.create(&PostParams::default(), &quota_pod("pfpod", &[], &[]))
        .await?;
    wait_for_usage(f, "quota-besteffort", &[("pods", "1".into())]).await?;
    wait_for_usage(f, "quota-not-besteffort", &[("pods", "0".into())]).await?;
    pods.delete("pfpod", &DeleteParams::default().grace_period(0))
        .await?;
    wait_for_usage(f, "quota-besteffort", &[("pods", "0".into())]).await?;

    f.step("Creating a not best-effort pod");
    let burstable = quota_pod(
        "burstable-pod",
        &[("cpu", "500m"), ("memory", "200Mi")],
        &[("cpu", "1"), ("memory", "400Mi")],
    );
    pods.create(&PostParams::default(), &burstable).await?;
    wait_for_usage(f, "quota-not-besteffort", &[("pods", "1".into())]).await?;
    wait_for_usage(f, "quota-besteffort", &[("pods", "0".into())]).await?;
    pods.delete("burstable-pod", &DeleteParams::default().grace_period(0))
        .await?;
    wait_for_usage(f, "quota-not-besteffort", &[("pods", "0".into())]).await
}

fn status_hard(rq: &ResourceQuota, key: &str) -> Option<String> {
    rq.status
        .as_ref()?
        .hard
        .as_ref()?
        .get(key)
        .map(|q| q.0.clone())
}

/// Polls until the quota's status hard holds `cpu` and `memory`.
async fn wait_for_status_hard(
    api: &Api<ResourceQuota>,
    name: &str,
    cpu: &str,
    memory: &str,
    timeout: Duration,
) -> Result<()> {
    poll(Duration::from_millis(500), timeout, async || {
        let rq = api.get(name).await?;
        Ok(
            status_hard(&rq, "cpu").is_some_and(|v| quantity::equal(&v, cpu))
                && status_hard(&rq, "memory").is_some_and(|v| quantity::equal(&v, memory)),
        )
    })
    .await
}

async fn status_changes(f: &Framework) -> Result<()> {
    let api = f.api::<ResourceQuota>();
    let name = format!("e2e-rq-status-{}", rand_string(5));
    f.step(format!("Creating resourceQuota {name:?}"));
    let created = api
        .create(
            &PostParams::default(),
            &ResourceQuota {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(BTreeMap::from([("e2e-rq-label".to_string(), name.clone())])),
                    ..Default::default()
                },
                spec: Some(ResourceQuotaSpec {
                    hard: Some(list(&[("cpu", "500m"), ("memory", "500Mi")])),
                    ..Default::default()
                }),
                status: None,
            },
        )
        .await?;
    let spec_hard = created
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .unwrap_or_default();
    ensure!(
        spec_hard
            .get("cpu")
            .is_some_and(|v| quantity::equal(&v.0, "500m"))
            && spec_hard
                .get("memory")
                .is_some_and(|v| quantity::equal(&v.0, "500Mi")),
        "unexpected spec.hard {spec_hard:?}"
    );
    f.step(format!("Updating resourceQuota {name:?} /status"));
    retry_on_conflict(async || {
        let mut rq = api.get(&name).await?;
        rq.status = Some(ResourceQuotaStatus {
            hard: rq.spec.as_ref().and_then(|s| s.hard.clone()),
            used: None,
        });
        Ok(api
            .replace_status(&name, &PostParams::default(), &rq)
            .await?)
    })
    .await?;
    wait_for_status_hard(&api, &name, "500m", "500Mi", Duration::from_secs(120)).await?;

    f.step("Patching hard spec values for cpu & memory");
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"hard": {"cpu": "1", "memory": "1Gi"}}})),
    )
    .await?;
    f.step(format!("Patching resourceQuota {name:?} /status"));
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"hard": {"cpu": "1", "memory": "1Gi"}}})),
    )
    .await?;
    wait_for_status_hard(&api, &name, "1", "1Gi", Duration::from_secs(120)).await?;

    f.step(format!(
        "Patching resourceQuota {name:?} /status to values the spec does not hold"
    ));
    let patched = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"hard": {"cpu": "2", "memory": "2Gi"}}})),
        )
        .await?;
    ensure!(
        status_hard(&patched, "cpu").is_some_and(|v| quantity::equal(&v, "2"))
            && status_hard(&patched, "memory").is_some_and(|v| quantity::equal(&v, "2Gi")),
        "the status patch answered {:?}",
        patched.status
    );
    f.step(format!(
        "Waiting for the controller to reset the status of resourceQuota {name:?}"
    ));
    wait_for_status_hard(&api, &name, "1", "1Gi", Duration::from_secs(360))
        .await
        .with_context(|| format!("Error waiting for ResourceQuota {name:?} to reset its Status"))
}
