//! Pods bound to simulated nodes, played as the kubelet's status manager would report them had
//! every container started at once: Running, Ready, with addresses and container statuses.
//!
//! One watch of every bound pod (`spec.nodeName!=`), filtered locally by node name, serves any
//! number of simulated nodes (a watch per node would cost the apiserver a watcher each). Per pod:
//!
//! - being deleted (`deletionTimestamp` set): the containers "stop" at once, so the pod is
//!   deleted with grace period 0 and a uid precondition, as the kubelet finishes a pod;
//! - Succeeded or Failed: left alone;
//! - otherwise: the status below is written through the status subresource (a merge patch
//!   carrying the uid, as the kubelet's status manager patches) unless the pod already has it.
//!   Pods whose `restartPolicy` is `Never` or `OnFailure` keep running too: nothing makes a
//!   simulated container exit.

use super::{Error, RUNTIME_VERSION, Result, SimNode, Simulator};
use crate::simulated::nodes::seconds;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus,
    HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher;
use std::collections::HashSet;
use std::sync::Arc;

/// The conditions the kubelet owns, in the order it writes them.
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// The addresses of a running pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    pub host_ip: String,
    pub pod_ip: String,
}

/// A condition of `type_` with `status`, keeping the `lastTransitionTime` of `existing` while its
/// status stays the same (the status manager's updateLastTransitionTime).
fn condition(
    existing: &[PodCondition],
    type_: &str,
    status: &str,
    reason_message: Option<(&str, String)>,
    now: Timestamp,
) -> PodCondition {
    let transition = existing
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| seconds(now));
    let (reason, message) = match reason_message {
        Some((reason, message)) => (Some(reason.to_string()), Some(message)),
        None => (None, None),
    };
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason,
        message,
        last_transition_time: Some(transition),
        last_probe_time: None,
        observed_generation: None,
    }
}

/// Why the pod's readiness gates hold it unready (the messages of upstream's
/// GeneratePodReadyCondition), empty when they do not.
fn unready_gates(pod: &Pod, existing: &[PodCondition]) -> Vec<String> {
    let gates = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_deref())
        .unwrap_or_default();
    gates
        .iter()
        .filter_map(|gate| {
            let t = &gate.condition_type;
            match existing.iter().find(|c| &c.type_ == t) {
                None => Some(format!(
                    "corresponding condition of pod readiness gate \"{t}\" does not exist."
                )),
                Some(c) if c.status != "True" => Some(format!(
                    "the status of pod readiness gate \"{t}\" is not \"True\", but {}",
                    c.status
                )),
                Some(_) => None,
            }
        })
        .collect()
}

/// A container ID in the simulated runtime's scheme, stable per pod and container.
fn container_id(uid: &str, name: &str) -> String {
    format!(
        "{}{}",
        RUNTIME_VERSION
            .split_once("://")
            .map_or("simulated://", |(scheme, _)| &RUNTIME_VERSION
                [..scheme.len() + 3]),
        super::stable_hex(&[uid, name], 64)
    )
}

/// The status of a running `container`, keeping the `startedAt` it already has.
fn running(
    container: &Container,
    uid: &str,
    previous: Option<&ContainerStatus>,
    started: &Time,
) -> ContainerStatus {
    let started_at = previous
        .and_then(|p| p.state.as_ref())
        .and_then(|s| s.running.as_ref())
        .and_then(|r| r.started_at.clone())
        .unwrap_or_else(|| started.clone());
    ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        image_id: container.image.clone().unwrap_or_default(),
        container_id: Some(container_id(uid, &container.name)),
        ready: true,
        started: Some(true),
        restart_count: 0,
        state: Some(ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(started_at),
            }),
            ..Default::default()
        }),
        last_state: Some(ContainerState::default()),
        ..Default::default()
    }
}

/// The status of an init container that ran to completion.
fn completed(container: &Container, uid: &str, started: &Time) -> ContainerStatus {
    let id = container_id(uid, &container.name);
    ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        image_id: container.image.clone().unwrap_or_default(),
        container_id: Some(id.clone()),
        ready: true,
        started: Some(false),
        restart_count: 0,
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                container_id: Some(id),
                exit_code: 0,
                reason: Some("Completed".to_string()),
                started_at: Some(started.clone()),
                finished_at: Some(started.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        last_state: Some(ContainerState::default()),
        ..Default::default()
    }
}

/// The status of `pod` running on its node at `now`: what the kubelet reports once every
/// container started and is ready. Fields the kubelet does not own (`qosClass`, conditions
/// such as readiness gates' or `DisruptionTarget`) are kept; times already set are kept.
pub fn running_status(pod: &Pod, addresses: &Addresses, now: Timestamp) -> PodStatus {
    let mut status = pod.status.clone().unwrap_or_default();
    let existing = status.conditions.clone().unwrap_or_default();
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let start = status.start_time.clone().unwrap_or_else(|| seconds(now));

    status.phase = Some("Running".to_string());
    status.host_ip = Some(addresses.host_ip.clone());
    status.host_ips = Some(vec![HostIP {
        ip: addresses.host_ip.clone(),
    }]);
    status.pod_ip = Some(addresses.pod_ip.clone());
    status.pod_ips = Some(vec![PodIP {
        ip: addresses.pod_ip.clone(),
    }]);
    status.start_time = Some(start.clone());

    let gates = unready_gates(pod, &existing);
    let mut conditions: Vec<PodCondition> = existing
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    for type_ in KUBELET_CONDITIONS {
        let c = if type_ == "Ready" && !gates.is_empty() {
            let message = gates.join(", ");
            condition(
                &existing,
                type_,
                "False",
                Some(("ReadinessGatesNotReady", message)),
                now,
            )
        } else {
            condition(&existing, type_, "True", None, now)
        };
        conditions.push(c);
    }
    status.conditions = Some(conditions);

    let previous = status.container_statuses.clone().unwrap_or_default();
    let mut containers: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            let before = previous.iter().find(|p| p.name == c.name);
            running(c, uid, before, &start)
        })
        .collect();
    // The kubelet sorts container statuses by name (kubetypes.SortedContainerStatuses).
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    status.container_statuses = Some(containers);

    let previous_init = status.init_container_statuses.clone().unwrap_or_default();
    let init: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            if c.restart_policy.as_deref() == Some("Always") {
                // A sidecar: it keeps running beside the containers.
                let before = previous_init.iter().find(|p| p.name == c.name);
                running(c, uid, before, &start)
            } else {
                completed(c, uid, &start)
            }
        })
        .collect();
    status.init_container_statuses = (!init.is_empty()).then_some(init);
    status
}

/// What to do about one pod event.
enum Work {
    /// Finish a pod being deleted.
    Delete(Pod),
    /// Make sure the pod runs.
    Run(Arc<SimNode>, Pod),
}

/// The simulated node a pod is bound to, if it is bound to one.
fn node_of<'a>(sim: &'a Simulator, pod: &Pod) -> Option<&'a Arc<SimNode>> {
    let name = pod.spec.as_ref()?.node_name.as_deref()?;
    sim.nodes.get(name)
}

fn uid_of(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// Frees the address of a pod that is gone.
fn release(sim: &Simulator, pod: &Pod) {
    if let Some(node) = node_of(sim, pod) {
        node.state().pod_ips.release(uid_of(pod));
    }
}

/// The watch's bookkeeping, done in event order: addresses freed for deleted pods (and, after a
/// re-list, for pods that vanished meanwhile), and the work for each pod event.
struct Planner {
    sim: Arc<Simulator>,
    /// The uids seen since the watch (re)listed, until it is done listing.
    relisting: Option<HashSet<String>>,
}

impl Planner {
    fn plan(&mut self, event: watcher::Event<Pod>) -> Option<Work> {
        let pod = match event {
            watcher::Event::Init => {
                self.relisting = Some(HashSet::new());
                return None;
            }
            watcher::Event::InitDone => {
                if let Some(seen) = self.relisting.take() {
                    for node in self.sim.nodes.values() {
                        let mut state = node.state();
                        let gone: Vec<String> = state
                            .pod_ips
                            .uids()
                            .filter(|u| !seen.contains(*u))
                            .map(str::to_string)
                            .collect();
                        for uid in gone {
                            state.pod_ips.release(&uid);
                        }
                    }
                }
                return None;
            }
            watcher::Event::Delete(pod) => {
                release(&self.sim, &pod);
                return None;
            }
            watcher::Event::InitApply(pod) => {
                if let Some(seen) = &mut self.relisting {
                    seen.insert(uid_of(&pod).to_string());
                }
                pod
            }
            watcher::Event::Apply(pod) => pod,
        };
        let node = node_of(&self.sim, &pod)?.clone();
        if pod.metadata.deletion_timestamp.is_some() {
            return Some(Work::Delete(pod));
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) || node.state().deleted {
            return None; // finished; or its node is gone and the pod GC collects it
        }
        Some(Work::Run(node, pod))
    }
}

/// The addresses of `pod` on `node`: the node's for a host-network pod; else the address the
/// pod already has (claimed, after a restart of the simulator) or a free one of the node's pod
/// CIDR (its fallback range while it has none).
fn addresses(node: &SimNode, pod: &Pod) -> Option<Addresses> {
    let host_ip = node.ip.to_string();
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    if host_network {
        return Some(Addresses {
            pod_ip: host_ip.clone(),
            host_ip,
        });
    }
    let uid = uid_of(pod);
    let mut state = node.state();
    let cidr = state.pod_cidr.unwrap_or(node.fallback_pod_cidr);
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let ip = match current {
        Some(ip) => {
            state.pod_ips.claim(uid, ip);
            ip
        }
        None => state.pod_ips.assign(uid, cidr)?,
    };
    Some(Addresses {
        host_ip,
        pod_ip: ip.to_string(),
    })
}

/// Does the work for one pod.
async fn act(sim: &Simulator, work: Work) -> Result<()> {
    match work {
        Work::Delete(pod) => finish(sim, &pod).await,
        Work::Run(node, pod) => start(sim, &node, &pod).await,
    }
}

/// Deletes a pod being deleted, with grace period 0 and its uid as precondition (a newer pod of
/// the same name is left alone).
async fn finish(sim: &Simulator, pod: &Pod) -> Result<()> {
    if pod.metadata.deletion_grace_period_seconds == Some(0) {
        return Ok(()); // deleted already; finalizers hold it
    }
    let (ns, name) = names(pod);
    let api: Api<Pod> = Api::namespaced(sim.client.clone(), ns);
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid_of(pod).to_string()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => {
            tracing::debug!(pod = %format!("{ns}/{name}"), "Deleted pod {ns}/{name}.");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(Error::api(format!("deleting pod {ns}/{name}"))(e)),
    }
}

/// Writes the running status of a pod unless it has it already.
async fn start(sim: &Simulator, node: &SimNode, pod: &Pod) -> Result<()> {
    let (ns, name) = names(pod);
    let Some(addresses) = addresses(node, pod) else {
        tracing::warn!(pod = %format!("{ns}/{name}"), node = %node.name, "Node {} has no free pod address for pod {ns}/{name}.", node.name);
        return Ok(());
    };
    let status = running_status(pod, &addresses, Timestamp::now());
    if pod.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<Pod> = Api::namespaced(sim.client.clone(), ns);
    let patch = serde_json::json!({
        "metadata": {"uid": uid_of(pod)},
        "status": status,
    });
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => {
            tracing::debug!(pod = %format!("{ns}/{name}"), node = %node.name, "Pod {ns}/{name} is running.");
            Ok(())
        }
        // Deleted, or replaced by a pod of the same name, meanwhile.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(Error::api(format!(
            "updating the status of pod {ns}/{name}"
        ))(e)),
    }
}

fn names(pod: &Pod) -> (&str, &str) {
    (
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// Plays the pods of every simulated node until the task is stopped.
pub async fn watch(sim: Arc<Simulator>) {
    let api: Api<Pod> = Api::all(sim.client.clone());
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let stream = kube::runtime::WatchStreamExt::default_backoff(watcher::watcher(api, config));
    let mut planner = Planner {
        sim: sim.clone(),
        relisting: None,
    };
    super::ok_events("pods on simulated nodes", stream)
        .filter_map(move |event| std::future::ready(planner.plan(event)))
        .for_each_concurrent(sim.settings.concurrency, |work| {
            let sim = sim.clone();
            async move {
                if let Err(e) = act(&sim, work).await {
                    tracing::warn!(error = %e, "Simulating a pod failed: {e}.");
                }
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: serde_json::Value) -> Pod {
        serde_json::from_value(yaml).unwrap()
    }

    fn addrs() -> Addresses {
        Addresses {
            host_ip: "10.250.0.1".into(),
            pod_ip: "10.244.1.2".into(),
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_bound_pod_runs_as_the_kubelet_reports_it() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {
                "nodeName": "sim-0",
                "initContainers": [
                    {"name": "setup", "image": "busybox"},
                    {"name": "proxy", "image": "envoy", "restartPolicy": "Always"},
                ],
                "containers": [
                    {"name": "web", "image": "nginx:1.27"},
                    {"name": "app", "image": "busybox"},
                ],
            },
            "status": {
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [{"type": "PodScheduled", "status": "True",
                                "lastTransitionTime": "2025-05-01T09:00:00Z"}],
            },
        }));
        let now = t("2025-05-01T10:00:00.7Z");
        let s = running_status(&p, &addrs(), now);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["phase"], "Running");
        assert_eq!(v["qosClass"], "BestEffort");
        assert_eq!(v["hostIP"], "10.250.0.1");
        assert_eq!(v["hostIPs"], serde_json::json!([{"ip": "10.250.0.1"}]));
        assert_eq!(v["podIP"], "10.244.1.2");
        assert_eq!(v["podIPs"], serde_json::json!([{"ip": "10.244.1.2"}]));
        assert_eq!(v["startTime"], "2025-05-01T10:00:00Z");
        let conditions: Vec<String> = v["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}={}@{}",
                    c["type"].as_str().unwrap(),
                    c["status"].as_str().unwrap(),
                    c["lastTransitionTime"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            conditions,
            [
                "PodReadyToStartContainers=True@2025-05-01T10:00:00Z",
                "Initialized=True@2025-05-01T10:00:00Z",
                "Ready=True@2025-05-01T10:00:00Z",
                "ContainersReady=True@2025-05-01T10:00:00Z",
                "PodScheduled=True@2025-05-01T09:00:00Z",
            ]
        );
        let cs = v["containerStatuses"].as_array().unwrap();
        assert_eq!(cs[0]["name"], "app", "sorted by name");
        assert_eq!(cs[1]["name"], "web");
        assert_eq!(cs[1]["image"], "nginx:1.27");
        assert_eq!(cs[1]["imageID"], "nginx:1.27");
        assert_eq!(cs[1]["ready"], true);
        assert_eq!(cs[1]["started"], true);
        assert_eq!(cs[1]["restartCount"], 0);
        assert_eq!(
            cs[1]["state"],
            serde_json::json!({"running": {"startedAt": "2025-05-01T10:00:00Z"}})
        );
        let id = cs[1]["containerID"].as_str().unwrap();
        assert!(
            id.starts_with("simulated://") && id.len() == 12 + 64,
            "{id}"
        );
        let init = v["initContainerStatuses"].as_array().unwrap();
        assert_eq!(init[0]["name"], "setup");
        assert_eq!(init[0]["started"], false);
        assert_eq!(init[0]["ready"], true);
        assert_eq!(init[0]["state"]["terminated"]["reason"], "Completed");
        assert_eq!(init[0]["state"]["terminated"]["exitCode"], 0);
        assert_eq!(init[1]["name"], "proxy");
        assert!(init[1]["state"]["running"].is_object(), "a sidecar runs");
    }

    #[test]
    fn a_running_pod_is_not_written_again() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"nodeName": "sim-0", "containers": [{"name": "c", "image": "busybox"}]},
        }));
        let first = running_status(&p, &addrs(), t("2025-05-01T10:00:00Z"));
        let mut p2 = p.clone();
        p2.status = Some(first.clone());
        let second = running_status(&p2, &addrs(), t("2025-05-01T10:07:00Z"));
        assert_eq!(first, second);
    }

    #[test]
    fn readiness_gates_hold_the_pod_unready() {
        let mut p = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"nodeName": "sim-0", "containers": [{"name": "c", "image": "busybox"}],
                     "readinessGates": [{"conditionType": "example.com/lb"}]},
        }));
        let now = t("2025-05-01T10:00:00Z");
        let s = running_status(&p, &addrs(), now);
        let ready = s
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ReadinessGatesNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some(
                "corresponding condition of pod readiness gate \"example.com/lb\" does not exist."
            )
        );
        let mut status = s.clone();
        status.conditions.as_mut().unwrap().insert(
            0,
            PodCondition {
                type_: "example.com/lb".into(),
                status: "True".into(),
                ..Default::default()
            },
        );
        p.status = Some(status);
        let s = running_status(&p, &addrs(), now);
        let types: Vec<_> = s
            .conditions
            .unwrap()
            .iter()
            .map(|c| format!("{}={}", c.type_, c.status))
            .collect();
        assert_eq!(
            types,
            [
                "example.com/lb=True",
                "PodReadyToStartContainers=True",
                "Initialized=True",
                "Ready=True",
                "ContainersReady=True",
                "PodScheduled=True",
            ]
        );
    }

    #[test]
    fn host_network_pods_take_the_node_address_and_others_one_of_its_cidr() {
        let settings =
            crate::simulated::Settings::from_options(&crate::simulated::Options::new(None, 2))
                .unwrap();
        let node = SimNode::new(&settings, 1);
        let host = pod(serde_json::json!({
            "metadata": {"uid": "h"},
            "spec": {"hostNetwork": true, "containers": []},
        }));
        let a = addresses(&node, &host).unwrap();
        assert_eq!(a.pod_ip, "10.250.0.2");
        assert_eq!(a.host_ip, "10.250.0.2");
        let p = pod(serde_json::json!({"metadata": {"uid": "p"}, "spec": {"containers": []}}));
        assert_eq!(addresses(&node, &p).unwrap().pod_ip, "10.128.1.2");
        node.state().pod_cidr = Some("10.244.7.0/24".parse().unwrap());
        let q = pod(serde_json::json!({"metadata": {"uid": "q"}, "spec": {"containers": []}}));
        assert_eq!(addresses(&node, &q).unwrap().pod_ip, "10.244.7.2");
        assert_eq!(
            addresses(&node, &p).unwrap().pod_ip,
            "10.128.1.2",
            "a pod keeps its address"
        );
    }
}
