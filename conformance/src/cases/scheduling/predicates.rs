//! `[sig-scheduling] SchedulerPredicates [Serial]` (upstream `test/e2e/scheduling/predicates.go`):
//! the scheduler keeps pods off nodes without room for their CPU requests, honours node
//! selectors, and does not put two pods with the same host port on a node when one of them
//! binds every address. Pods need a kubelet to run (simulated nodes will do).
//!
//! Upstream's BeforeEach also waits for other tests' namespaces to be gone
//! (`CheckTestingNSDeletedExcept`); here the runner runs `[Serial]` cases alone, after the
//! others, and the cases count what other pods request as upstream's do.

use super::pause_pods::{
    PausePodConfig, create_pause_pod, create_pause_pod_action, get_node_that_can_run_pod,
    node_affinity, requests_and_limits, resource_list, verify_result,
    wait_for_scheduler_after_action, wait_for_stable_cluster,
};
use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::pod::{POD_START_TIMEOUT, POLL, phase, wait_running};
use crate::framework::wait::poll;
use crate::framework::{Framework, PodSecurityLevel, new_uuid, node, pod, quantity};
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HTTPGetAction, Node, Pod, PodSpec, Probe,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{ListParams, ObjectMeta, PostParams};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const D: Describe = Describe::new("sched-pred").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `imageutils.GetE2EImage(imageutils.Agnhost)` in v1.33.
const AGNHOST_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-scheduling] SchedulerPredicates [Serial] validates resource limits of pods that are allowed to run [Conformance]",
            case_fn!(resource_limits),
        ),
        D.case(
            "[sig-scheduling] SchedulerPredicates [Serial] validates that NodeSelector is respected if not matching [Conformance]",
            case_fn!(node_selector_not_matching),
        ),
        D.case(
            "[sig-scheduling] SchedulerPredicates [Serial] validates that NodeSelector is respected if matching [Conformance]",
            case_fn!(node_selector_matching),
        ),
        D.case(
            "[sig-scheduling] SchedulerPredicates [Serial] validates that there exists conflict between pods with same hostPort and protocol but one using 0.0.0.0 hostIP [Conformance]",
            case_fn!(host_port_conflict_with_any_address),
        ),
    ]
}

/// Upstream's BeforeEach: every node Ready within a minute, then the ready schedulable
/// nodes (the "worker nodes") and the pods already on them.
async fn before_each(f: &Framework) -> Result<(Vec<Node>, BTreeSet<String>)> {
    node::all_ready(&f.client, Duration::from_secs(60)).await?;
    let nodes = node::ready_schedulable(&f.client).await?;
    let workers: BTreeSet<String> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    for name in &workers {
        f.log(format!(
            "Logging pods the apiserver thinks is on node {name} before test"
        ));
        let on_node = f
            .api_all::<Pod>()
            .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await
            .with_context(|| format!("listing the pods on node {name}"))?;
        for p in on_node.items {
            f.log(format!(
                "{} from {} (phase {})",
                p.metadata.name.as_deref().unwrap_or_default(),
                p.metadata.namespace.as_deref().unwrap_or_default(),
                phase(&p)
            ));
        }
    }
    Ok((nodes, workers))
}

/// Upstream's `getRequestedCPU`: the sum of the containers' CPU requests, in millicores.
fn requested_cpu(pod: &Pod) -> i64 {
    pod.spec
        .iter()
        .flat_map(|s| &s.containers)
        .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get("cpu"))
        .filter_map(|q| quantity::milli_value(&q.0))
        .sum()
}

/// Removes label `key` from `nodes` after the case (upstream's deferred `RemoveLabelOffNode`).
fn defer_remove_label(f: &Framework, nodes: Vec<String>, key: &str) {
    let client = f.client.clone();
    let key = key.to_string();
    f.defer(format!("removing label {key} from {nodes:?}"), async move {
        for n in nodes {
            let _ = node::remove_label(&client, &n, &key).await;
        }
    });
}

/// Fill 70% of every node's free CPU with one pod each, then a pod asking for half the largest
/// node's CPU must not schedule.
async fn resource_limits(f: &Framework) -> Result<()> {
    let (nodes, workers) = before_each(f).await?;
    wait_for_stable_cluster(f, &workers).await?;
    let mut node_max_allocatable = 0i64;
    let mut node_to_allocatable: BTreeMap<String, i64> = BTreeMap::new();
    let mut labelled = Vec::new();
    for n in &nodes {
        if !node::is_ready(n) {
            continue;
        }
        let name = n.metadata.name.clone().unwrap_or_default();
        // Apply node label to each node.
        node::add_label(&f.client, &name, "node", &name).await?;
        labelled.push(name.clone());
        let allocatable = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get("cpu"))
            .and_then(|q| quantity::milli_value(&q.0));
        let Some(allocatable) = allocatable else {
            bail!("node.Status.Allocatable of {name} does not contain entry cpu");
        };
        node_to_allocatable.insert(name, allocatable);
        node_max_allocatable = node_max_allocatable.max(allocatable);
    }
    // Clean up added labels after this test.
    defer_remove_label(f, labelled, "node");

    let pods = f
        .api_all::<Pod>()
        .list(&ListParams::default())
        .await
        .context("listing all pods")?;
    for p in &pods.items {
        let node_name = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let Some(left) = node_name.and_then(|n| node_to_allocatable.get_mut(n)) else {
            continue;
        };
        if !matches!(phase(p), "Succeeded" | "Failed") {
            f.log(format!(
                "Pod {} requesting resource cpu={}m on Node {}",
                p.metadata.name.as_deref().unwrap_or_default(),
                requested_cpu(p),
                node_name.unwrap_or_default()
            ));
            *left -= requested_cpu(p);
        }
    }

    f.step("Starting Pods to consume most of the cluster CPU.");
    // Create one pod per node that requires 70% of the node remaining CPU.
    let mut filler_pods = Vec::new();
    for (node_name, cpu) in &node_to_allocatable {
        let requested = cpu * 7 / 10;
        f.log(format!(
            "Creating a pod which consumes cpu={requested}m on Node {node_name}"
        ));
        let conf = PausePodConfig {
            name: format!("filler-pod-{}", new_uuid()),
            resources: Some(requests_and_limits(resource_list(&[(
                "cpu",
                &format!("{requested}m"),
            )]))),
            affinity: Some(node_affinity(false, "node", "In", &[node_name])),
            ..Default::default()
        };
        create_pause_pod(f, &conf).await?;
        filler_pods.push(conf.name);
    }
    // Wait for filler pods to schedule.
    let pods_api = f.api::<Pod>();
    for name in &filler_pods {
        wait_running(&pods_api, name, POD_START_TIMEOUT).await?;
    }
    f.step("Creating another pod that requires unavailable amount of CPU.");
    // Another pod that requires 50% of the largest node CPU resources. This pod should remain
    // pending as at least 70% of CPU of other nodes in the cluster are already consumed.
    let pod_name = "additional-pod";
    let half = format!("{}m", node_max_allocatable * 5 / 10);
    let conf = PausePodConfig {
        name: pod_name.into(),
        labels: BTreeMap::from([("name".into(), "additional".into())]),
        resources: Some(requests_and_limits(resource_list(&[("cpu", &half)]))),
        ..Default::default()
    };
    wait_for_scheduler_after_action(f, create_pause_pod_action(f, &conf), pod_name, false).await?;
    verify_result(f, &workers, filler_pods.len(), 1).await
}

/// No node has the label the pod selects, so it must not schedule.
async fn node_selector_not_matching(f: &Framework) -> Result<()> {
    let (_, workers) = before_each(f).await?;
    f.step("Trying to schedule Pod with nonempty NodeSelector.");
    let pod_name = "restricted-pod";
    wait_for_stable_cluster(f, &workers).await?;
    let conf = PausePodConfig {
        name: pod_name.into(),
        labels: BTreeMap::from([("name".into(), "restricted".into())]),
        node_selector: Some(BTreeMap::from([("label".into(), "nonempty".into())])),
        ..Default::default()
    };
    wait_for_scheduler_after_action(f, create_pause_pod_action(f, &conf), pod_name, false).await?;
    verify_result(f, &workers, 0, 1).await
}

/// A random label on the node a pod can run on; a pod selecting it lands there.
async fn node_selector_matching(f: &Framework) -> Result<()> {
    before_each(f).await?;
    let node_name = get_node_that_can_run_pod(f).await?;

    f.step("Trying to apply a random label on the found node.");
    let k = format!("kubernetes.io/e2e-{}", new_uuid());
    let v = "42";
    node::add_label(&f.client, &node_name, &k, v).await?;
    defer_remove_label(f, vec![node_name.clone()], &k);

    f.step("Trying to relaunch the pod, now with labels.");
    let label_pod_name = "with-labels";
    create_pause_pod(
        f,
        &PausePodConfig {
            name: label_pod_name.into(),
            node_selector: Some(BTreeMap::from([(k.clone(), v.to_string())])),
            ..Default::default()
        },
    )
    .await?;
    // Upstream checks that the pod was scheduled, not that it runs: the kubelet might not
    // know of its node's new label yet and refuse the pod.
    let pods = f.api::<Pod>();
    pod::wait_not_pending(&pods, label_pod_name).await?;
    let label_pod = pods.get(label_pod_name).await?;
    let got = label_pod.spec.and_then(|s| s.node_name).unwrap_or_default();
    if got != node_name {
        bail!("expected pod {label_pod_name} on node {node_name:?}, it is on {got:?}");
    }
    Ok(())
}

/// Upstream's `createHostPortPodOnNode`: an agnhost pod with one host port, on the node the
/// selector picks.
fn host_port_pod(
    name: &str,
    host_ip: &str,
    port: i32,
    protocol: &str,
    node_selector: &BTreeMap<String, String>,
) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "agnhost".into(),
                image: Some(AGNHOST_IMAGE.into()),
                args: Some(vec![
                    "netexec".into(),
                    "--http-port=8080".into(),
                    "--udp-port=8080".into(),
                ]),
                ports: Some(vec![ContainerPort {
                    host_port: Some(port),
                    container_port: 8080,
                    protocol: Some(protocol.into()),
                    host_ip: (!host_ip.is_empty()).then(|| host_ip.to_string()),
                    ..Default::default()
                }]),
                readiness_probe: Some(Probe {
                    http_get: Some(HTTPGetAction {
                        path: Some("/hostname".into()),
                        port: IntOrString::Int(8080),
                        scheme: Some("HTTP".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            node_selector: Some(node_selector.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Waits until the scheduler reports the pod unschedulable (its PodScheduled condition False
/// with reason Unschedulable); fails if it gets a node instead.
async fn wait_unschedulable(pods: &kube::Api<Pod>, name: &str) -> Result<()> {
    poll(POLL, POD_START_TIMEOUT, async || {
        let p = pods.get(name).await?;
        if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            bail!("pod {name} was scheduled to node {n}");
        }
        let unschedulable = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "PodScheduled"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("Unschedulable")
                })
            });
        Ok(unschedulable)
    })
    .await
    .with_context(|| format!("waiting for pod {name} to be found unschedulable"))
}

/// pod4 takes a host port on every address (hostIP empty, 0.0.0.0); pod5 asks for the same
/// port and protocol on the node's own address and must not fit beside it.
async fn host_port_conflict_with_any_address(f: &Framework) -> Result<()> {
    before_each(f).await?;
    let node_name = get_node_that_can_run_pod(f).await?;
    let host_ip = node::internal_ip(&f.client, &node_name).await?;
    // A node selector makes sure both pods are meant for the same node.
    f.step("Trying to apply a random label on the found node.");
    let k = format!("kubernetes.io/e2e-{}", new_uuid());
    let v = "95";
    let node_selector = BTreeMap::from([(k.clone(), v.to_string())]);
    node::add_label(&f.client, &node_name, &k, v).await?;
    defer_remove_label(f, vec![node_name.clone()], &k);

    let port = 54322;
    let pods = f.api::<Pod>();
    f.step(format!(
        "Trying to create a pod(pod4) with hostport {port} and hostIP 0.0.0.0(empty string here) and expect scheduled"
    ));
    pods.create(
        &PostParams::default(),
        &host_port_pod("pod4", "", port, "TCP", &node_selector),
    )
    .await
    .context("creating pod4")?;
    pod::wait_not_pending(&pods, "pod4").await?;

    f.step(format!(
        "Trying to create another pod(pod5) with hostport {port} but hostIP {host_ip} on the node which pod4 resides and expect not scheduled"
    ));
    pods.create(
        &PostParams::default(),
        &host_port_pod("pod5", &host_ip, port, "TCP", &node_selector),
    )
    .await
    .context("creating pod5")?;
    // Upstream waits the whole PodStart timeout (5 minutes) for pod5 to leave Pending and
    // ignores the outcome; waiting for the scheduler to call it unschedulable checks what the
    // test is named for, and in seconds.
    wait_unschedulable(&pods, "pod5").await
}
