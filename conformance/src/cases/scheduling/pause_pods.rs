//! What upstream's scheduling tests share (`test/e2e/scheduling/framework.go`, `events.go` and
//! the helpers at the end of `predicates.go`): pause pods built from a small config, finding a
//! node that can run a pod, waiting for a stable cluster and for the scheduler's verdict on a
//! pod (its `Scheduled` or `FailedScheduling` event), and counting scheduled pods.

use crate::cases::scheduling::limit_range::PAUSE_IMAGE;
use crate::framework::Framework;
use crate::framework::pod::{POD_START_SHORT_TIMEOUT, phase, wait_running};
use crate::framework::wait::poll;
use crate::framework::watch::{EventType, Watch};
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, Event, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSecurityContext, PodSpec,
    ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Upstream's `timeout` of `WaitForStableCluster`.
const STABLE_CLUSTER_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long upstream's `observeEventAfterAction` waits for the event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// Upstream's `pausePodConfig` (the fields these cases use).
#[derive(Debug, Clone, Default)]
pub struct PausePodConfig {
    pub name: String,
    /// The case's namespace when `None`.
    pub namespace: Option<String>,
    pub finalizers: Vec<String>,
    pub affinity: Option<Affinity>,
    pub labels: BTreeMap<String, String>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub resources: Option<ResourceRequirements>,
    pub ports: Option<Vec<ContainerPort>>,
    pub priority_class_name: Option<String>,
}

/// A resource list of `(name, quantity)` pairs.
pub fn resource_list(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// Requests and limits both set to `list`, as upstream's preemption tests set them.
pub fn requests_and_limits(list: BTreeMap<String, Quantity>) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(list.clone()),
        limits: Some(list),
        ..Default::default()
    }
}

/// Required node affinity with one term of one requirement, on a label (`match_fields`
/// false) or a field (`metadata.name`).
pub fn node_affinity(match_fields: bool, key: &str, operator: &str, values: &[&str]) -> Affinity {
    let requirement = NodeSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
    };
    let term = if match_fields {
        NodeSelectorTerm {
            match_fields: Some(vec![requirement]),
            ..Default::default()
        }
    } else {
        NodeSelectorTerm {
            match_expressions: Some(vec![requirement]),
            ..Default::default()
        }
    };
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![term],
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Upstream's `GetRestrictedPodSecurityContext`.
fn restricted_pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(1000),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Upstream's `GetRestrictedContainerSecurityContext`.
fn restricted_container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Upstream's `initPausePod`: one pause container named after the pod, grace period 1 s.
pub fn init_pause_pod(conf: &PausePodConfig) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(conf.name.clone()),
            namespace: conf.namespace.clone(),
            labels: Some(conf.labels.clone()),
            finalizers: (!conf.finalizers.is_empty()).then(|| conf.finalizers.clone()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            security_context: Some(restricted_pod_security_context()),
            node_selector: conf.node_selector.clone(),
            affinity: conf.affinity.clone(),
            containers: vec![Container {
                name: conf.name.clone(),
                image: Some(PAUSE_IMAGE.into()),
                ports: conf.ports.clone(),
                security_context: Some(restricted_container_security_context()),
                resources: conf.resources.clone(),
                ..Default::default()
            }],
            priority_class_name: conf.priority_class_name.clone(),
            termination_grace_period_seconds: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn namespace_of<'a>(f: &'a Framework, conf: &'a PausePodConfig) -> &'a str {
    conf.namespace.as_deref().unwrap_or(f.ns())
}

/// Upstream's `createPausePod`.
pub async fn create_pause_pod(f: &Framework, conf: &PausePodConfig) -> Result<Pod> {
    let ns = namespace_of(f, conf);
    f.api_in::<Pod>(ns)
        .create(&PostParams::default(), &init_pause_pod(conf))
        .await
        .with_context(|| format!("creating pod {ns}/{}", conf.name))
}

/// Upstream's `runPausePod`: creates the pod and waits `PodStartShort` for it to run.
pub async fn run_pause_pod(f: &Framework, conf: &PausePodConfig) -> Result<Pod> {
    let ns = namespace_of(f, conf);
    let pods = f.api_in::<Pod>(ns);
    create_pause_pod(f, conf).await?;
    wait_running(&pods, &conf.name, POD_START_SHORT_TIMEOUT).await?;
    pods.get(&conf.name)
        .await
        .with_context(|| format!("getting pod {ns}/{}", conf.name))
}

/// Upstream's `runPodAndGetNodeName`: runs the pod to find a node that can run one, deletes
/// it (grace period 0) and returns the node.
pub async fn run_pod_and_get_node_name(f: &Framework, conf: &PausePodConfig) -> Result<String> {
    let pod = run_pause_pod(f, conf).await?;
    f.step("Explicitly delete pod here to free the resource it takes.");
    f.api::<Pod>()
        .delete(&conf.name, &DeleteParams::default().grace_period(0))
        .await
        .with_context(|| format!("deleting pod {}", conf.name))?;
    Ok(pod.spec.and_then(|s| s.node_name).unwrap_or_default())
}

/// Upstream's `GetNodeThatCanRunPod`.
pub async fn get_node_that_can_run_pod(f: &Framework) -> Result<String> {
    f.step("Trying to launch a pod without a label to get a node which can launch it.");
    run_pod_and_get_node_name(
        f,
        &PausePodConfig {
            name: "without-label".into(),
            ..Default::default()
        },
    )
    .await
}

fn pod_name(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or_default(),
        p.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Upstream's `GetPodsScheduled`: pods bound to one of `workers` (which must have their
/// PodScheduled condition True) and pods bound to no node.
pub fn pods_scheduled(workers: &BTreeSet<String>, pods: Vec<Pod>) -> Result<(Vec<Pod>, Vec<Pod>)> {
    let mut scheduled = Vec::new();
    let mut not_scheduled = Vec::new();
    for pod in pods {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if node.is_empty() {
            not_scheduled.push(pod);
        } else if workers.contains(&node) {
            match crate::framework::pod::condition_status(&pod, "PodScheduled") {
                None => bail!(
                    "Did not find 'scheduled' condition for pod {}",
                    pod_name(&pod)
                ),
                Some("True") => scheduled.push(pod),
                Some(_) => bail!("PodStatus isn't 'true' for pod {}", pod_name(&pod)),
            }
        }
    }
    Ok((scheduled, not_scheduled))
}

/// Upstream's `WaitForStableCluster`: waits until every pod of the cluster that has not
/// terminated is bound to a node; returns how many are bound to `workers`.
pub async fn wait_for_stable_cluster(f: &Framework, workers: &BTreeSet<String>) -> Result<usize> {
    let all = f.api_all::<Pod>();
    let mut scheduled = 0;
    let mut waiting: Vec<String> = Vec::new();
    poll(Duration::from_secs(2), STABLE_CLUSTER_TIMEOUT, async || {
        let pods: Vec<Pod> = all
            .list(&ListParams::default())
            .await
            .context("listing all pods in namespace \"\" while waiting for stable cluster")?
            .items
            .into_iter()
            .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
            .collect();
        let (s, n) = pods_scheduled(workers, pods)?;
        scheduled = s.len();
        waiting = n.iter().map(pod_name).collect();
        Ok(waiting.is_empty())
    })
    .await
    .with_context(|| {
        format!("Timed out waiting for stable cluster; pods not scheduled: {waiting:?}")
    })?;
    Ok(scheduled)
}

/// Upstream's `scheduleSuccessEvent` (any node) and `scheduleFailureEvent`.
fn is_verdict(e: &Event, ns: &str, pod: &str, success: bool) -> bool {
    let named = e
        .metadata
        .name
        .as_deref()
        .unwrap_or_default()
        .starts_with(pod);
    let (type_, reason) = (e.type_.as_deref(), e.reason.as_deref());
    if success {
        named
            && type_ == Some("Normal")
            && reason == Some("Scheduled")
            && e.message
                .as_deref()
                .unwrap_or_default()
                .contains(&format!("Successfully assigned {ns}/{pod} to "))
    } else {
        named && type_ == Some("Warning") && reason == Some("FailedScheduling")
    }
}

/// Upstream's `WaitForSchedulerAfterAction`: watches the namespace's events (core/v1, as
/// upstream's informer does), runs `action`, and expects the scheduler's success or failure
/// event for `pod` within two minutes.
pub async fn wait_for_scheduler_after_action(
    f: &Framework,
    action: impl std::future::Future<Output = Result<()>>,
    pod: &str,
    expect_success: bool,
) -> Result<()> {
    let ns = f.ns().to_string();
    let events = f.api::<Event>();
    let list = events
        .list(&ListParams::default())
        .await
        .context("listing events")?;
    let mut observed = list
        .items
        .iter()
        .any(|e| is_verdict(e, &ns, pod, expect_success));
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut watch = Watch::start_retrying(&events, &rv, None).await?;
    action.await?;
    if !observed {
        observed = watch
            .until(EVENT_TIMEOUT, |e| {
                Ok(e.kind == EventType::Added
                    && e.object
                        .as_ref()
                        .is_some_and(|e| is_verdict(e, &ns, pod, expect_success)))
            })
            .await
            .is_ok();
    }
    if !observed {
        let what = if expect_success { "success" } else { "failed" };
        bail!("Did not observe {what} event after performing the supplied action for pod {pod}");
    }
    Ok(())
}

/// Upstream's `createPausePodAction`, run at once.
pub async fn create_pause_pod_action(f: &Framework, conf: &PausePodConfig) -> Result<()> {
    f.api::<Pod>()
        .create(&PostParams::default(), &init_pause_pod(conf))
        .await
        .with_context(|| format!("creating pod {}", conf.name))?;
    Ok(())
}

/// Upstream's `verifyResult`: how many of the namespace's pods are scheduled and not.
pub async fn verify_result(
    f: &Framework,
    workers: &BTreeSet<String>,
    expected_scheduled: usize,
    expected_not_scheduled: usize,
) -> Result<()> {
    let pods = f
        .api::<Pod>()
        .list(&ListParams::default())
        .await
        .context("listing pods")?
        .items;
    let (scheduled, not_scheduled) = pods_scheduled(workers, pods)?;
    let names = |v: &[Pod]| v.iter().map(pod_name).collect::<Vec<_>>();
    anyhow::ensure!(
        not_scheduled.len() == expected_not_scheduled,
        "Not scheduled Pods: expected {expected_not_scheduled}, got {:?}",
        names(&not_scheduled)
    );
    anyhow::ensure!(
        scheduled.len() == expected_scheduled,
        "Scheduled Pods: expected {expected_scheduled}, got {:?}",
        names(&scheduled)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};

    fn event(name: &str, type_: &str, reason: &str, message: &str) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            type_: Some(type_.into()),
            reason: Some(reason.into()),
            message: Some(message.into()),
            ..Default::default()
        }
    }

    #[test]
    fn verdicts_are_matched_as_upstream_matches_them() {
        let ok = event(
            "p.18ec3125316c90cb",
            "Normal",
            "Scheduled",
            "Successfully assigned ns/p to sim-1",
        );
        assert!(is_verdict(&ok, "ns", "p", true));
        assert!(!is_verdict(&ok, "ns", "p", false));
        assert!(!is_verdict(&ok, "other", "p", true));
        let failed = event(
            "p.1",
            "Warning",
            "FailedScheduling",
            "0/2 nodes are available",
        );
        assert!(is_verdict(&failed, "ns", "p", false));
        assert!(!is_verdict(&failed, "ns", "q", false));
    }

    fn pod(node: Option<&str>, scheduled: Option<&str>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                node_name: node.map(str::to_string),
                ..Default::default()
            }),
            status: Some(PodStatus {
                conditions: scheduled.map(|s| {
                    vec![PodCondition {
                        type_: "PodScheduled".into(),
                        status: s.into(),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn scheduled_pods_are_those_on_workers() {
        let workers = BTreeSet::from(["sim-0".to_string()]);
        let (s, n) = pods_scheduled(
            &workers,
            vec![
                pod(Some("sim-0"), Some("True")),
                pod(None, Some("False")),
                pod(Some("elsewhere"), Some("True")),
            ],
        )
        .unwrap();
        assert_eq!((s.len(), n.len()), (1, 1));
        assert!(pods_scheduled(&workers, vec![pod(Some("sim-0"), None)]).is_err());
    }

    #[test]
    fn pause_pods_carry_the_config() {
        let conf = PausePodConfig {
            name: "p".into(),
            priority_class_name: Some("high".into()),
            affinity: Some(node_affinity(true, "metadata.name", "In", &["sim-0"])),
            ..Default::default()
        };
        let v = serde_json::to_value(init_pause_pod(&conf)).unwrap();
        assert_eq!(v["spec"]["containers"][0]["name"], "p");
        assert_eq!(v["spec"]["priorityClassName"], "high");
        assert_eq!(v["spec"]["terminationGracePeriodSeconds"], 1);
        assert_eq!(
            v["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0],
            "sim-0"
        );
    }
}
