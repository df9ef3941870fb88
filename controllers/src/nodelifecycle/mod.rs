//! The node lifecycle controller (upstream `pkg/controller/nodelifecycle`): notices nodes whose
//! kubelet stopped reporting and marks them, so the scheduler and the taint eviction controller
//! act on them.
//!
//! Every `--node-monitor-period` each node's health is looked at ([`health`]): Ready and the
//! pressure conditions become Unknown once no heartbeat or Lease renewal came for
//! `--node-monitor-grace-period`, and the pods on a node that stops being ready are marked not
//! ready ([`pods`]). Nodes that are not ready get the `not-ready` or `unreachable` NoExecute
//! taint, at a pace set per zone ([`zones`]); every node gets the NoSchedule taints its
//! conditions and `spec.unschedulable` call for as soon as they change. When every zone is down
//! the NoExecute taints are lifted rather than added: the fault is likelier to be ours.

pub mod health;
pub mod pods;
pub mod zones;

use crate::client;
use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informers};
use crate::taints::{self, NO_EXECUTE, NO_SCHEDULE, NOT_READY, UNREACHABLE, taint};
use crate::workqueue::{WorkQueue, feed, process};
use health::Health;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zones::{State, Zones};

/// The controller's name (upstream `names.NodeLifecycleController`).
pub const NAME: &str = "node-lifecycle-controller";

/// The component its events come from (upstream's recorder for the node controller).
const EVENT_SOURCE: &str = "node-controller";

/// Where kubelets renew their heartbeat Leases, one per node.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// How often the NoExecute queues are worked (upstream `NodeEvictionPeriod`).
const TAINTING_PERIOD: Duration = Duration::from_millis(100);

/// The controller's flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub monitor_period: Duration,
    pub monitor_grace: Duration,
    pub startup_grace: Duration,
    pub eviction_rate: f32,
    pub secondary_eviction_rate: f32,
    pub large_cluster_threshold: usize,
    pub unhealthy_zone_threshold: f32,
}

impl Default for Settings {
    /// Upstream's defaults (the grace period has been 50 s since v1.32).
    fn default() -> Self {
        Self {
            monitor_period: Duration::from_secs(5),
            monitor_grace: Duration::from_secs(50),
            startup_grace: Duration::from_secs(60),
            eviction_rate: 0.1,
            secondary_eviction_rate: 0.01,
            large_cluster_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }
}

/// What the monitor remembers between passes.
#[derive(Default)]
struct Memory {
    health: HashMap<String, Health>,
    known: HashSet<String>,
    zones: Zones,
    /// Nodes whose pods could not all be marked not ready.
    retry: HashSet<String>,
}

struct Controller {
    client: kube::Client,
    settings: Settings,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    recorder: Recorder,
    memory: Mutex<Memory>,
}

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, informers: Arc<Informers>, settings: Settings) {
    let node_informer = informers.get::<Node>();
    let lease_informer = informers.get::<Lease>();
    let pod_informer = informers.get::<Pod>();
    let (node_changes, pod_changes) = (node_informer.changes(), pod_informer.changes());
    node_informer.ready().await;
    lease_informer.ready().await;
    pod_informer.ready().await;
    let ctl = Arc::new(Controller {
        recorder: Recorder::new(client.clone(), EVENT_SOURCE),
        client,
        settings,
        nodes: node_informer.store(),
        leases: lease_informer.store(),
        pods: pod_informer.store(),
        memory: Mutex::new(Memory::default()),
    });
    tracing::info!("Starting {NAME}.");

    // NoSchedule taints and labels follow every node change.
    let node_queue = WorkQueue::new("node_lifecycle_controller");
    for node in ctl.nodes.state() {
        node_queue.add(node.metadata.name.clone().unwrap_or_default());
    }
    feed(&node_queue, node_changes, |change| match change {
        Change::Applied { new, .. } => vec![new.metadata.name.clone().unwrap_or_default()],
        Change::Deleted(_) => Vec::new(),
        Change::Relisted => Vec::new(),
    });
    // Pods arriving on a node that is not ready are marked at once.
    let pod_queue = WorkQueue::new("node_lifecycle_controller_pods");
    feed(&pod_queue, pod_changes, |change| match change {
        Change::Applied { new, old } => {
            let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone());
            let moved = old.as_deref().is_none_or(|o| node(o) != node(&new));
            if moved && node(&new).is_some() {
                vec![crate::workqueue::key_of(&new.metadata)]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    });

    let monitor = {
        let ctl = ctl.clone();
        async move {
            let mut tick = tokio::time::interval(ctl.settings.monitor_period);
            loop {
                tick.tick().await;
                ctl.monitor().await;
            }
        }
    };
    let tainting = {
        let ctl = ctl.clone();
        async move {
            let mut tick = tokio::time::interval(TAINTING_PERIOD);
            loop {
                tick.tick().await;
                ctl.no_execute_pass().await;
            }
        }
    };
    let nodes = {
        let ctl = ctl.clone();
        process(node_queue, 8, "the taints of Node", move |name| {
            let ctl = ctl.clone();
            async move { ctl.sync_node(&name).await }
        })
    };
    let pods = {
        let ctl = ctl.clone();
        process(pod_queue, 4, "the readiness of Pod", move |key| {
            let ctl = ctl.clone();
            async move { ctl.sync_pod(&key).await }
        })
    };
    tokio::join!(monitor, tainting, nodes, pods);
}

fn name_of(node: &Node) -> String {
    node.metadata.name.clone().unwrap_or_default()
}

/// The NoSchedule taints a node's conditions and `spec.unschedulable` call for (upstream's
/// `nodeConditionToTaintKeyStatusMap` and the unschedulable taint).
pub fn no_schedule_taints(node: &Node) -> Vec<Taint> {
    const BY_CONDITION: [(&str, &str, &str); 6] = [
        ("Ready", "False", NOT_READY),
        ("Ready", "Unknown", UNREACHABLE),
        ("MemoryPressure", "True", taints::MEMORY_PRESSURE),
        ("DiskPressure", "True", taints::DISK_PRESSURE),
        ("NetworkUnavailable", "True", taints::NETWORK_UNAVAILABLE),
        ("PIDPressure", "True", taints::PID_PRESSURE),
    ];
    let mut out: Vec<Taint> = BY_CONDITION
        .iter()
        .filter(|(type_, status, _)| {
            health::condition(node, type_).is_some_and(|c| c.status == *status)
        })
        .map(|(_, _, key)| taint(key, NO_SCHEDULE))
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        out.push(taint(taints::UNSCHEDULABLE, NO_SCHEDULE));
    }
    out
}

/// Every key [`no_schedule_taints`] may produce: the NoSchedule taints this controller owns.
const MANAGED_NO_SCHEDULE: [&str; 7] = [
    NOT_READY,
    UNREACHABLE,
    taints::MEMORY_PRESSURE,
    taints::DISK_PRESSURE,
    taints::NETWORK_UNAVAILABLE,
    taints::PID_PRESSURE,
    taints::UNSCHEDULABLE,
];

impl Controller {
    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn node_event(&self, node: &Node, reason: &str, message: String) {
        self.recorder
            .record(node, EventType::Normal, reason, message);
    }

    /// One monitor pass (upstream `monitorNodeHealth`).
    async fn monitor(&self) {
        let nodes = self.nodes.state();
        let names: HashSet<String> = nodes.iter().map(|n| name_of(n)).collect();
        let (added, gone): (Vec<_>, Vec<String>) = {
            let memory = self.memory();
            (
                nodes
                    .iter()
                    .filter(|n| !memory.known.contains(&name_of(n)))
                    .cloned()
                    .collect(),
                memory
                    .known
                    .iter()
                    .filter(|n| !names.contains(*n))
                    .cloned()
                    .collect(),
            )
        };
        for node in &added {
            let name = name_of(node);
            self.node_event(
                node,
                "RegisteredNode",
                format!("Node {name} event: Registered Node {name} in Controller"),
            );
            {
                let mut memory = self.memory();
                memory.known.insert(name.clone());
                memory
                    .zones
                    .queue(&zones::key(node), self.settings.eviction_rate);
            }
            self.reachable(node).await;
        }
        for name in gone {
            let mut memory = self.memory();
            memory.known.remove(&name);
            memory.health.remove(&name);
            memory.retry.remove(&name);
            drop(memory);
            let mut node = Node::default();
            node.metadata.name = Some(name.clone());
            self.node_event(
                &node,
                "RemovingNode",
                format!("Node {name} event: Removing Node {name} from Controller"),
            );
        }

        let mut by_zone: BTreeMap<String, Vec<Option<NodeCondition>>> = BTreeMap::new();
        for node in &nodes {
            let (observed, current) = match self.update_health(node).await {
                Ok(seen) => seen,
                Err(e) => {
                    tracing::warn!(
                        "The {NAME} could not update the health of node {}: {}.",
                        name_of(node),
                        client::message(&e)
                    );
                    continue;
                }
            };
            let excluded = node
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(zones::EXCLUDE_DISRUPTION));
            if !excluded {
                by_zone
                    .entry(zones::key(node))
                    .or_default()
                    .push(current.clone());
            }
            let Some(current) = current else {
                continue;
            };
            self.taint_for_health(node, &observed).await;
            let name = name_of(node);
            let retry = self.memory().retry.contains(&name);
            let fell = current.status != "True" && observed.status == "True";
            if fell {
                self.node_event(
                    node,
                    "NodeNotReady",
                    format!("Node {name} status is now: NodeNotReady"),
                );
            }
            if fell || (retry && observed.status != "True") {
                let pods = self.pods.state();
                let on_node: Vec<&Pod> = pods
                    .iter()
                    .map(|p| &**p)
                    .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(&name))
                    .collect();
                let ok = pods::mark_not_ready(&self.client, &self.recorder, &on_node).await;
                let mut memory = self.memory();
                if ok {
                    memory.retry.remove(&name);
                } else {
                    memory.retry.insert(name);
                }
            }
        }
        self.handle_disruption(&by_zone, &nodes).await;
    }

    /// Looks at one node's health and writes Unknown conditions when its grace period passed;
    /// returns the Ready condition as the node had it and as it is now.
    async fn update_health(
        &self,
        node: &Node,
    ) -> Result<(NodeCondition, Option<NodeCondition>), kube::Error> {
        let name = name_of(node);
        let api: Api<Node> = Api::all(self.client.clone());
        let mut node = node.clone();
        for attempt in 0..5 {
            let lease = self
                .leases
                .get(&ObjectRef::new(&name).within(NODE_LEASE_NAMESPACE));
            let lease_renewed = lease
                .as_ref()
                .and_then(|l| l.spec.as_ref()?.renew_time.clone());
            let seen = {
                let mut memory = self.memory();
                let health = memory.health.entry(name.clone()).or_default();
                health::observe(
                    health,
                    &node,
                    lease_renewed.as_ref(),
                    self.settings.monitor_grace,
                    self.settings.startup_grace,
                    Timestamp::now(),
                )
            };
            let Some(write) = seen.write else {
                return Ok((seen.observed, seen.current));
            };
            match api
                .replace_status(&name, &PostParams::default(), &write)
                .await
            {
                Ok(_) => return Ok((seen.observed, seen.current)),
                Err(e) if attempt < 4 && !client::is_not_found(&e) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    node = api.get(&name).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok((Default::default(), None))
    }

    /// Taints (or queues for tainting) a node by the Ready condition it reported (upstream
    /// `processTaintBaseEviction`).
    async fn taint_for_health(&self, node: &Node, observed: &NodeCondition) {
        let name = name_of(node);
        let zone = zones::key(node);
        let (wanted, opposite) = match observed.status.as_str() {
            "False" => (NOT_READY, UNREACHABLE),
            "Unknown" => (UNREACHABLE, NOT_READY),
            _ => {
                self.reachable(node).await;
                return;
            }
        };
        let present = taints::of(node);
        if taints::has(present, &taint(opposite, NO_EXECUTE)) {
            // Already tainted the other way: swapped at once, outside the rate limit.
            if let Err(e) = taints::swap(
                &self.client,
                node,
                &[taint(wanted, NO_EXECUTE)],
                &[taint(opposite, NO_EXECUTE)],
            )
            .await
            {
                tracing::warn!(
                    "The {NAME} could not swap the taints of node {name}: {}.",
                    client::message(&e)
                );
            }
            return;
        }
        let mut memory = self.memory();
        let queue = memory.zones.queue(&zone, self.settings.eviction_rate);
        if !taints::has(present, &taint(wanted, NO_EXECUTE)) {
            queue.remove(&name);
        }
        queue.add(&name);
    }

    /// Lifts both NoExecute taints and drops the node from its zone's queue (upstream
    /// `markNodeAsReachable`).
    async fn reachable(&self, node: &Node) {
        let name = name_of(node);
        if let Some(queue) = self.memory().zones.queues.get_mut(&zones::key(node)) {
            queue.remove(&name);
        }
        let remove = [taint(UNREACHABLE, NO_EXECUTE), taint(NOT_READY, NO_EXECUTE)];
        if !remove.iter().any(|t| taints::has(taints::of(node), t)) {
            return;
        }
        if let Err(e) = taints::swap(&self.client, node, &[], &remove).await {
            tracing::warn!(
                "The {NAME} could not remove the NoExecute taints of node {name}: {}.",
                client::message(&e)
            );
        }
    }

    /// Taints the queued nodes each zone's pace allows (upstream `doNoExecuteTaintingPass`).
    async fn no_execute_pass(&self) {
        let now = Instant::now();
        let due: Vec<String> = {
            let mut memory = self.memory();
            memory
                .zones
                .queues
                .values_mut()
                .filter_map(|q| q.take(now))
                .collect()
        };
        for name in due {
            let Some(node) = self.nodes.get(&ObjectRef::new(&name)) else {
                continue;
            };
            let Some(ready) = health::condition(&node, "Ready") else {
                self.requeue(&node, name);
                continue;
            };
            let (wanted, opposite) = match ready.status.as_str() {
                "False" => (NOT_READY, UNREACHABLE),
                "Unknown" => (UNREACHABLE, NOT_READY),
                _ => continue,
            };
            if let Err(e) = taints::swap(
                &self.client,
                &node,
                &[taint(wanted, NO_EXECUTE)],
                &[taint(opposite, NO_EXECUTE)],
            )
            .await
            {
                tracing::warn!(
                    "The {NAME} could not taint node {name}: {}.",
                    client::message(&e)
                );
                self.requeue(&node, name);
            }
        }
    }

    fn requeue(&self, node: &Node, name: String) {
        if let Some(queue) = self.memory().zones.queues.get_mut(&zones::key(node)) {
            queue.retry(name);
        }
    }

    /// Updates zone states and tainting rates (upstream `handleDisruption`).
    async fn handle_disruption(
        &self,
        by_zone: &BTreeMap<String, Vec<Option<NodeCondition>>>,
        nodes: &[Arc<Node>],
    ) {
        let threshold = self.settings.unhealthy_zone_threshold;
        let new_states: BTreeMap<String, State> = by_zone
            .iter()
            .map(|(zone, conditions)| {
                let refs: Vec<Option<&NodeCondition>> =
                    conditions.iter().map(Option::as_ref).collect();
                (zone.clone(), zones::state(&refs, threshold))
            })
            .collect();
        let all_now = new_states.values().all(|s| *s == State::FullDisruption);
        let all_before = {
            let mut memory = self.memory();
            for zone in new_states.keys() {
                memory
                    .zones
                    .states
                    .entry(zone.clone())
                    .or_insert(State::Initial);
            }
            memory
                .zones
                .states
                .retain(|zone, _| by_zone.contains_key(zone));
            memory
                .zones
                .queues
                .retain(|zone, _| by_zone.contains_key(zone));
            memory
                .zones
                .states
                .values()
                .all(|s| *s == State::FullDisruption)
        };
        if all_now && all_before {
            return;
        }
        if all_now {
            tracing::info!(
                "The {NAME} sees every node not ready: entering master disruption mode."
            );
            for node in nodes {
                self.reachable(node).await;
            }
            let mut memory = self.memory();
            for queue in memory.zones.queues.values_mut() {
                queue.set_rate(0.0);
            }
            for state in memory.zones.states.values_mut() {
                *state = State::FullDisruption;
            }
            return;
        }
        let settings = &self.settings;
        let mut memory = self.memory();
        if all_before {
            tracing::info!("The {NAME} sees ready nodes again: leaving master disruption mode.");
            let now = Timestamp::now();
            for health in memory.health.values_mut() {
                health.probe = Some(now);
                health.ready_transition = Some(now);
            }
        }
        for (zone, state) in &new_states {
            let size = by_zone.get(zone).map_or(0, Vec::len);
            let changed = memory.zones.states.get(zone) != Some(state);
            if changed || all_before {
                let rate = zones::rate(
                    *state,
                    size,
                    settings.eviction_rate,
                    settings.secondary_eviction_rate,
                    settings.large_cluster_threshold,
                );
                memory.zones.queue(zone, rate).set_rate(rate);
                memory.zones.states.insert(zone.clone(), *state);
            }
        }
    }

    /// Brings a node's NoSchedule taints in line with its conditions (upstream
    /// `doNoScheduleTaintingPass`) and its beta os/arch labels in line with the GA ones.
    async fn sync_node(&self, name: &str) -> Result<(), kube::Error> {
        let Some(node) = self.nodes.get(&ObjectRef::new(name)) else {
            return Ok(());
        };
        let wanted = no_schedule_taints(&node);
        let present: Vec<Taint> = taints::of(&node)
            .iter()
            .filter(|t| t.effect == NO_SCHEDULE && MANAGED_NO_SCHEDULE.contains(&t.key.as_str()))
            .cloned()
            .collect();
        let add: Vec<Taint> = wanted
            .iter()
            .filter(|t| !taints::has(&present, t))
            .cloned()
            .collect();
        let remove: Vec<Taint> = present
            .iter()
            .filter(|t| !taints::has(&wanted, t))
            .cloned()
            .collect();
        if !add.is_empty() || !remove.is_empty() {
            taints::swap(&self.client, &node, &add, &remove).await?;
        }
        self.reconcile_labels(&node).await
    }

    /// Copies `kubernetes.io/os` and `/arch` to their deprecated `beta.` twins.
    async fn reconcile_labels(&self, node: &Node) -> Result<(), kube::Error> {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let mut patch = serde_json::Map::new();
        for (ga, beta) in [
            ("kubernetes.io/os", "beta.kubernetes.io/os"),
            ("kubernetes.io/arch", "beta.kubernetes.io/arch"),
        ] {
            if let Some(value) = labels.get(ga)
                && labels.get(beta) != Some(value)
            {
                patch.insert(beta.to_string(), json!(value));
            }
        }
        if patch.is_empty() {
            return Ok(());
        }
        let api: Api<Node> = Api::all(self.client.clone());
        api.patch(
            &name_of(node),
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": patch}})),
        )
        .await
        .map(|_| ())
    }

    /// Marks a pod that landed on a not-ready node not ready (upstream `processPod`).
    async fn sync_pod(&self, key: &str) -> Result<(), kube::Error> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let Some(pod) = self.pods.get(&ObjectRef::new(name).within(namespace)) else {
            return Ok(());
        };
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return Ok(());
        };
        let ready = {
            let memory = self.memory();
            match memory.health.get(&node).and_then(|h| h.ready.clone()) {
                Some(ready) => ready.status == "True",
                // Not looked at yet, or never reported: left to the monitor.
                None => true,
            }
        };
        if !ready {
            pods::mark_not_ready(&self.client, &self.recorder, &[&pod]).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus};

    #[test]
    fn no_schedule_taints_follow_conditions() {
        let cond = |t: &str, s: &str| NodeCondition {
            type_: t.to_string(),
            status: s.to_string(),
            ..Default::default()
        };
        let node = Node {
            spec: Some(NodeSpec {
                unschedulable: Some(true),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(vec![
                    cond("Ready", "Unknown"),
                    cond("MemoryPressure", "True"),
                    cond("DiskPressure", "False"),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let keys: Vec<String> = no_schedule_taints(&node)
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(
            keys,
            [UNREACHABLE, taints::MEMORY_PRESSURE, taints::UNSCHEDULABLE]
        );
    }
}
