//! Simulated Node objects: registration with what a kubelet writes (kubelet_node_status.go and
//! the status setters of pkg/kubelet/nodestatus), the per-node loop renewing the Lease and
//! reporting status, and a watch of the simulated nodes for their pod CIDRs, the conditions
//! others wrote (the node lifecycle controller's Unknown) and their deletion.
//!
//! Timeline of one node:
//! 1. register: create the Node (or, when it exists, take it over: labels and status), retrying
//!    with the kubelet's backoff (100 ms doubling to 7 s) until it works; then create the Lease;
//! 2. wait `i/N` of the renew interval, so N nodes' renewals spread evenly;
//! 3. every renew interval (10 s): renew the Lease; report status when the conditions on the
//!    Node differ from ours (somebody marked it Unknown) or the report frequency (5 min) passed;
//! 4. stop when the Node is deleted (as kwok does; the garbage collector removes the Lease).

use super::lease::{self, Renewer};
use super::{Error, KUBELET_VERSION, RUNTIME_VERSION, Result, Settings, SimNode, Simulator};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The architecture as Go names it (`GOARCH`), for labels and `nodeInfo`.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The port of the kubelet's API a Node advertises (`daemonEndpoints.kubeletEndpoint`).
const KUBELET_PORT: i32 = 10250;

/// The conditions a healthy kubelet reports, in its order: type, reason, message.
const CONDITIONS: [(&str, &str, &str, &str); 4] = [
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "DiskPressure",
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    ),
    (
        "PIDPressure",
        "False",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
    (
        "Ready",
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
    ),
];

/// A time as the API stores it: whole seconds.
pub(crate) fn seconds(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// The labels the kubelet sets on its Node, plus `type=simulated`.
pub fn labels(name: &str) -> BTreeMap<String, String> {
    let os = std::env::consts::OS;
    BTreeMap::from([
        ("beta.kubernetes.io/arch".to_string(), arch().to_string()),
        ("beta.kubernetes.io/os".to_string(), os.to_string()),
        ("kubernetes.io/arch".to_string(), arch().to_string()),
        ("kubernetes.io/hostname".to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), os.to_string()),
        (
            super::TYPE_LABEL.0.to_string(),
            super::TYPE_LABEL.1.to_string(),
        ),
    ])
}

/// The conditions to report at `now`. A condition keeps the `lastTransitionTime` it has in
/// `observed` while its status stays the same, as the kubelet's setters do.
pub fn conditions(observed: &[NodeCondition], now: Timestamp) -> Vec<NodeCondition> {
    CONDITIONS
        .iter()
        .map(|(type_, status, reason, message)| {
            let transition = observed
                .iter()
                .find(|c| c.type_ == *type_ && c.status == *status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| seconds(now));
            NodeCondition {
                type_: type_.to_string(),
                status: status.to_string(),
                reason: Some(reason.to_string()),
                message: Some(message.to_string()),
                last_heartbeat_time: Some(seconds(now)),
                last_transition_time: Some(transition),
            }
        })
        .collect()
}

/// Whether the conditions on the Node say something else than the simulated kubelet does
/// (for instance the node lifecycle controller marked the node Unknown).
pub fn conditions_differ(observed: &[NodeCondition]) -> bool {
    CONDITIONS.iter().any(|(type_, status, reason, _)| {
        !observed.iter().any(|c| {
            c.type_ == *type_ && c.status == *status && c.reason.as_deref() == Some(*reason)
        })
    })
}

/// The status of node `node` at `now`, with `observed` conditions (see [`conditions`]).
pub fn status(
    settings: &Settings,
    node: &SimNode,
    observed: &[NodeCondition],
    now: Timestamp,
) -> NodeStatus {
    let name = &node.name;
    NodeStatus {
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_string(),
                address: node.ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".to_string(),
                address: name.clone(),
            },
        ]),
        allocatable: Some(settings.capacity.clone()),
        capacity: Some(settings.capacity.clone()),
        conditions: Some(conditions(observed, now)),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: KUBELET_PORT }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: arch().to_string(),
            boot_id: fake_id(name, "boot"),
            container_runtime_version: RUNTIME_VERSION.to_string(),
            kernel_version: "simulated".to_string(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.to_string(),
            machine_id: fake_id(name, "machine").replace('-', ""),
            operating_system: std::env::consts::OS.to_string(),
            os_image: "ferrokube simulated node".to_string(),
            swap: None,
            system_uuid: fake_id(name, "system"),
        }),
        ..Default::default()
    }
}

/// The Node object registered for `node` at `now`.
pub fn node(settings: &Settings, node: &SimNode, now: Timestamp) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(node.name.clone()),
            labels: Some(labels(&node.name)),
            annotations: Some(BTreeMap::from([(
                // The kubelet's default: attach/detach is the controller manager's job.
                "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(status(settings, node, &[], now)),
    }
}

/// A stable UUID-shaped identifier for `name`, so a restarted simulator reports the same
/// machine.
fn fake_id(name: &str, what: &str) -> String {
    let hex = super::stable_hex(&[what, name], 32);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn now() -> Timestamp {
    Timestamp::now()
}

/// Registers `node`: creates its Node, or takes an existing one over (its labels and status
/// become the simulator's, as a restarted kubelet reconciles its Node). Returns the Node's uid.
async fn register(sim: &Simulator, node: &SimNode) -> Result<String> {
    let api: Api<Node> = Api::all(sim.client.clone());
    let obj = self::node(&sim.settings, node, now());
    let registered = match api.create(&PostParams::default(), &obj).await {
        Ok(created) => created,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let labels = serde_json::json!({"metadata": {"labels": labels(&node.name)}});
            api.patch(&node.name, &PatchParams::default(), &Patch::Merge(labels))
                .await
                .map_err(Error::api(format!("labelling node {}", node.name)))?;
            let status = serde_json::json!({"status": obj.status});
            api.patch_status(&node.name, &PatchParams::default(), &Patch::Merge(status))
                .await
                .map_err(Error::api(format!(
                    "updating the status of node {}",
                    node.name
                )))?
        }
        Err(e) => return Err(Error::api(format!("registering node {}", node.name))(e)),
    };
    let uid = registered.metadata.uid.clone().unwrap_or_default();
    let mut state = node.state();
    state.uid = Some(uid.clone());
    state.deleted = false;
    state.conditions = registered
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    Ok(uid)
}

/// Reports the node's conditions with a fresh heartbeat (a strategic merge patch of
/// `status.conditions`, merged by type, as the kubelet patches its Node).
async fn report_status(sim: &Simulator, node: &SimNode) -> Result<()> {
    let observed = node.state().conditions.clone();
    let patch = serde_json::json!({"status": {"conditions": conditions(&observed, now())}});
    let api: Api<Node> = Api::all(sim.client.clone());
    let written = api
        .patch_status(
            &node.name,
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
        .map_err(Error::api(format!(
            "updating the status of node {}",
            node.name
        )))?;
    node.state().conditions = written
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    Ok(())
}

/// Renews a node's Lease, logging a failure (the next renewal tries again).
async fn renew(
    sim: &Simulator,
    leases: &Api<k8s_openapi::api::coordination::v1::Lease>,
    renewer: &mut Renewer,
    name: &str,
    uid: &str,
) {
    let duration = sim.settings.lease_duration_seconds;
    if let Err(e) = renewer.renew(leases, name, uid, duration, now()).await {
        tracing::warn!(node = %name, error = %e, "Renewing the Lease of node {name} failed.");
    }
}

/// Plays the kubelet of one node until the node is deleted (see the module's timeline).
pub async fn run_node(sim: Arc<Simulator>, node: Arc<SimNode>, offset: Duration) {
    let mut backoff = Duration::from_millis(100);
    let uid = loop {
        let Ok(permit) = sim.node_requests.acquire().await else {
            return;
        };
        match register(&sim, &node).await {
            Ok(uid) => break uid,
            Err(e) => {
                drop(permit);
                tracing::warn!(node = %node.name, error = %e, "Registering node {} failed; retrying in {backoff:?}.", node.name);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(7));
            }
        }
    };
    tracing::debug!(node = %node.name, uid = %uid, "Registered node {}.", node.name);
    sim.registered_one();
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(sim.client.clone(), lease::NAMESPACE);
    let mut renewer = Renewer::default();
    {
        let Ok(_permit) = sim.node_requests.acquire().await else {
            return;
        };
        renew(&sim, &leases, &mut renewer, &node.name, &uid).await;
    }
    tokio::time::sleep(offset).await;
    let mut ticker = tokio::time::interval(sim.settings.renew_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_report = Instant::now();
    loop {
        ticker.tick().await;
        let (deleted, differ) = {
            let state = node.state();
            (state.deleted, conditions_differ(&state.conditions))
        };
        if deleted {
            tracing::info!(node = %node.name, "Node {} was deleted; no longer simulating it.", node.name);
            return;
        }
        let Ok(_permit) = sim.node_requests.acquire().await else {
            return;
        };
        renew(&sim, &leases, &mut renewer, &node.name, &uid).await;
        if differ || last_report.elapsed() >= sim.settings.status_report_frequency {
            match report_status(&sim, &node).await {
                Ok(()) => last_report = Instant::now(),
                Err(e) if e.code() == Some(404) => node.state().deleted = true,
                Err(e) => {
                    tracing::warn!(node = %node.name, error = %e, "Reporting the status of node {} failed.", node.name);
                }
            }
        }
    }
}

/// Follows the simulated Nodes: their pod CIDRs (for pod IPs), the conditions on them (to
/// report again when somebody else changed them) and their deletion.
pub async fn watch(sim: Arc<Simulator>) {
    let api: Api<Node> = Api::all(sim.client.clone());
    let selector = format!("{}={}", super::TYPE_LABEL.0, super::TYPE_LABEL.1);
    let stream = watcher::watcher(api, watcher::Config::default().labels(&selector));
    let stream = kube::runtime::WatchStreamExt::default_backoff(stream);
    let events = super::ok_events("simulated nodes", stream);
    events
        .for_each(|event| {
            match event {
                watcher::Event::Apply(n) | watcher::Event::InitApply(n) => observe(&sim, &n),
                watcher::Event::Delete(n) => {
                    if let Some(node) = n.metadata.name.as_ref().and_then(|m| sim.nodes.get(m)) {
                        let mut state = node.state();
                        if state.uid == n.metadata.uid {
                            state.deleted = true;
                        }
                    }
                }
                watcher::Event::Init | watcher::Event::InitDone => {}
            }
            std::future::ready(())
        })
        .await;
}

/// Records what the simulator needs of a Node it saw.
fn observe(sim: &Simulator, n: &Node) {
    let Some(node) = n.metadata.name.as_ref().and_then(|m| sim.nodes.get(m)) else {
        return;
    };
    let mut state = node.state();
    if state.uid.is_some() && state.uid != n.metadata.uid {
        return; // an older Node of that name, deleted since
    }
    state.pod_cidr = n
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .and_then(|c| c.parse().ok());
    state.conditions = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulated::Options;

    #[test]
    fn a_node_as_the_kubelet_registers_it() {
        let settings = Settings::from_options(&Options::new(None, 3)).unwrap();
        let now: Timestamp = "2025-05-01T10:00:00.5Z".parse().unwrap();
        let n = node(&settings, &SimNode::new(&settings, 2), now);
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["metadata"]["name"], "sim-2");
        let labels = &v["metadata"]["labels"];
        assert_eq!(labels["kubernetes.io/hostname"], "sim-2");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["kubernetes.io/arch"], arch());
        assert_eq!(labels["type"], "simulated");
        assert!(v["spec"].get("taints").is_none());
        let status = &v["status"];
        assert_eq!(
            status["capacity"],
            serde_json::json!({"cpu": "32", "ephemeral-storage": "1Ti", "memory": "256Gi", "pods": "110"})
        );
        assert_eq!(status["allocatable"], status["capacity"]);
        assert_eq!(
            status["addresses"],
            serde_json::json!([
                {"type": "InternalIP", "address": "10.250.0.3"},
                {"type": "Hostname", "address": "sim-2"},
            ])
        );
        assert_eq!(status["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        let info = &status["nodeInfo"];
        assert!(
            info["kubeletVersion"]
                .as_str()
                .unwrap()
                .starts_with("v1.33.")
        );
        assert!(
            info["containerRuntimeVersion"]
                .as_str()
                .unwrap()
                .starts_with("simulated://")
        );
        assert_eq!(info["operatingSystem"], "linux");
        assert_eq!(info["systemUUID"].as_str().unwrap().len(), 36);
        let types: Vec<_> = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}={} {} {} {}",
                    c["type"].as_str().unwrap(),
                    c["status"].as_str().unwrap(),
                    c["reason"].as_str().unwrap(),
                    c["lastHeartbeatTime"].as_str().unwrap(),
                    c["lastTransitionTime"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            types,
            [
                "MemoryPressure=False KubeletHasSufficientMemory 2025-05-01T10:00:00Z 2025-05-01T10:00:00Z",
                "DiskPressure=False KubeletHasNoDiskPressure 2025-05-01T10:00:00Z 2025-05-01T10:00:00Z",
                "PIDPressure=False KubeletHasSufficientPID 2025-05-01T10:00:00Z 2025-05-01T10:00:00Z",
                "Ready=True KubeletReady 2025-05-01T10:00:00Z 2025-05-01T10:00:00Z",
            ]
        );
        assert_eq!(
            status["conditions"][3]["message"],
            "kubelet is posting ready status"
        );
    }

    #[test]
    fn heartbeats_keep_transition_times_while_the_status_holds() {
        let t0: Timestamp = "2025-05-01T10:00:00Z".parse().unwrap();
        let t1: Timestamp = "2025-05-01T10:05:00Z".parse().unwrap();
        let first = conditions(&[], t0);
        assert!(!conditions_differ(&first));
        let second = conditions(&first, t1);
        assert!(
            second
                .iter()
                .all(|c| c.last_transition_time == Some(seconds(t0))
                    && c.last_heartbeat_time == Some(seconds(t1)))
        );
        // The node lifecycle controller marked the node Unknown: Ready transitions again.
        let mut unknown = first.clone();
        unknown[3].status = "Unknown".into();
        unknown[3].reason = Some("NodeStatusUnknown".into());
        assert!(conditions_differ(&unknown));
        let third = conditions(&unknown, t1);
        assert_eq!(third[3].status, "True");
        assert_eq!(third[3].last_transition_time, Some(seconds(t1)));
        assert_eq!(third[0].last_transition_time, Some(seconds(t0)));
        assert!(conditions_differ(&[]));
    }

    #[test]
    fn fake_ids_are_stable_and_distinct() {
        assert_eq!(fake_id("sim-0", "boot"), fake_id("sim-0", "boot"));
        assert_ne!(fake_id("sim-0", "boot"), fake_id("sim-1", "boot"));
        assert_ne!(fake_id("sim-0", "boot"), fake_id("sim-0", "system"));
    }
}
