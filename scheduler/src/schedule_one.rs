//! One pod's way through the scheduler, as upstream's `schedule_one.go`.
//!
//! Scheduling cycle (one pod at a time): pop -> snapshot -> PreFilter -> Filter (counting the
//! pods nominated to each node) on the pod's nominated node first, then over (a share of) the
//! nodes, starting where the last pod stopped -> PreScore/Score/NormalizeScore -> pick the best
//! node (ties at random) -> assume the pod there in the cache -> Reserve -> Permit. When no
//! node fits, PostFilter (preemption) may nominate a node for the pod's next attempt.
//! Binding cycle (in the background, while the next pod is scheduled): PreBind -> Bind ->
//! `Scheduled` event -> PostBind. A failure anywhere undoes the reservation, forgets the
//! assumed pod, and hands the pod back to the queue with its PodScheduled condition and a
//! `FailedScheduling` event saying why.

use crate::cache::{Cache, Snapshot};
use crate::events::Recorder;
use crate::framework::{CycleState, Framework, NodeScore, PostFilterInput, Status};
use crate::metrics::{self, Outcome};
use crate::node_info::{NodeInfo, pod_uid};
use crate::nominator::{NominatedPods, Nominating, nominated_node_name};
use crate::queue::{self, QueuedPodInfo, SchedulingQueue};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use rand::Rng;
use serde_json::json;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Upstream's `ErrNoNodesAvailable`.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";
/// Below this many nodes, every node is looked at.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;

/// Where the pod goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleResult {
    pub node: String,
    /// Nodes looked at (feasible or not).
    pub evaluated: usize,
    pub feasible: usize,
}

/// Why no node was found, per node (upstream's `Diagnosis`).
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    pub node_to_status: BTreeMap<String, Status>,
    /// The status of nodes not in `node_to_status` (PreFilter rejected them all, or a
    /// PreFilterResult left them out).
    pub absent_status: Option<Status>,
    pub unschedulable_plugins: BTreeSet<&'static str>,
    pub pre_filter_msg: String,
    pub post_filter_msg: String,
}

/// Why scheduling one pod failed.
#[derive(Debug, Clone)]
pub enum ScheduleError {
    /// The cluster has no nodes.
    NoNodes,
    /// No node fits.
    Fit {
        num_all_nodes: usize,
        diagnosis: Box<Diagnosis>,
    },
    /// A plugin failed.
    Internal(Status),
}

impl ScheduleError {
    /// The status the failure is handled with.
    pub fn status(&self) -> Status {
        match self {
            ScheduleError::NoNodes => Status::unresolvable(NO_NODES_AVAILABLE),
            // Whatever PostFilter did, the pod is Unschedulable this time.
            ScheduleError::Fit {
                num_all_nodes,
                diagnosis,
            } => Status::unschedulable(fit_error_message(*num_all_nodes, diagnosis)),
            ScheduleError::Internal(s) => s.clone(),
        }
    }

    /// The plugins that turned the pod down.
    pub fn rejectors(&self) -> BTreeSet<&'static str> {
        match self {
            ScheduleError::Fit { diagnosis, .. } => diagnosis.unschedulable_plugins.clone(),
            _ => BTreeSet::new(),
        }
    }
}

/// Upstream's `FitError.Error()`: `0/N nodes are available: <PreFilter message>.` or the
/// sorted histogram of the nodes' reasons, then the PostFilter message.
pub fn fit_error_message(num_all_nodes: usize, d: &Diagnosis) -> String {
    let mut msg = format!("0/{num_all_nodes} nodes are available:");
    if !d.pre_filter_msg.is_empty() {
        msg.push_str(&format!(" {}.", d.pre_filter_msg));
    } else {
        let mut reasons: HashMap<&str, usize> = HashMap::new();
        for status in d.node_to_status.values() {
            for r in status.reasons() {
                *reasons.entry(r.as_str()).or_default() += 1;
            }
        }
        let absent = num_all_nodes.saturating_sub(d.node_to_status.len());
        if absent > 0
            && let Some(s) = &d.absent_status
        {
            for r in s.reasons() {
                *reasons.entry(r.as_str()).or_default() += absent;
            }
        }
        let mut lines: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        lines.sort();
        if !lines.is_empty() {
            msg.push_str(&format!(" {}.", lines.join(", ")));
        }
    }
    if !d.post_filter_msg.is_empty() {
        msg.push_str(&format!(" {}.", d.post_filter_msg));
    }
    msg
}

/// How many feasible nodes to look for among `num_all_nodes` (upstream's
/// `numFeasibleNodesToFind`): all below 100 nodes; otherwise the configured percentage, or
/// `50 - nodes/125` (at least 5) when it is 0; never fewer than 100.
pub fn num_feasible_nodes_to_find(percentage: i32, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let n = num_all_nodes as i64;
    let mut pct = i64::from(percentage);
    if pct == 0 {
        pct = (50 - n / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let nodes = (n * pct / 100) as usize;
    nodes.max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The node-choosing part of a cycle, with the round-robin start index it keeps across pods.
#[derive(Debug, Default)]
pub struct Algorithm {
    next_start_node_index: usize,
}

impl Algorithm {
    /// Finds the node for `pod` (upstream's `schedulePod`), with no nominated pods.
    pub fn schedule_pod(
        &mut self,
        fw: &Framework,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        percentage: i32,
    ) -> Result<ScheduleResult, ScheduleError> {
        let none = NominatedPods::default();
        self.schedule_pod_with_nominated(fw, state, pod, snapshot, percentage, &none)
    }

    /// Finds the node for `pod`, keeping room for the `nominated` pods of equal or higher
    /// priority.
    pub fn schedule_pod_with_nominated(
        &mut self,
        fw: &Framework,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        percentage: i32,
        nominated: &NominatedPods,
    ) -> Result<ScheduleResult, ScheduleError> {
        if snapshot.nodes.is_empty() {
            return Err(ScheduleError::NoNodes);
        }
        let num_all_nodes = snapshot.nodes.len();
        let (feasible, diagnosis) =
            self.find_nodes_that_fit(fw, state, pod, snapshot, percentage, nominated)?;
        if feasible.is_empty() {
            return Err(ScheduleError::Fit {
                num_all_nodes,
                diagnosis: Box::new(diagnosis),
            });
        }
        let evaluated = feasible.len() + diagnosis.node_to_status.len();
        if feasible.len() == 1 {
            return Ok(ScheduleResult {
                node: feasible[0].name().to_string(),
                evaluated,
                feasible: 1,
            });
        }
        let scores = prioritize(fw, state, pod, &feasible)?;
        Ok(ScheduleResult {
            node: select_host(&scores),
            evaluated,
            feasible: feasible.len(),
        })
    }

    fn find_nodes_that_fit(
        &mut self,
        fw: &Framework,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        percentage: i32,
        nominated: &NominatedPods,
    ) -> Result<(Vec<Arc<NodeInfo>>, Diagnosis), ScheduleError> {
        let mut diagnosis = Diagnosis::default();
        let (pre, status) = fw.run_pre_filter(state, pod, snapshot);
        if !status.is_success() {
            if !status.is_rejected() {
                return Err(ScheduleError::Internal(status));
            }
            diagnosis.pre_filter_msg = status.message();
            if let Some(p) = status.plugin() {
                diagnosis.unschedulable_plugins.insert(p);
            }
            diagnosis.absent_status = Some(status);
            return Ok((Vec::new(), diagnosis));
        }
        // A node nominated in an earlier cycle (preemption) is likely the only one that fits:
        // it is tried first.
        let nominated_node = nominated_node_name(pod);
        if !nominated_node.is_empty()
            && let Some(node) = snapshot.get(nominated_node)
            && fw
                .run_filter_with_nominated_pods(state, pod, node, nominated)
                .is_success()
        {
            return Ok((vec![node.clone()], diagnosis));
        }
        let nodes: Cow<'_, [Arc<NodeInfo>]> = match &pre {
            Some(r) => {
                diagnosis.absent_status = Some(Status::unresolvable(format!(
                    "node(s) didn't satisfy plugin(s) [{}]",
                    r.plugins.iter().copied().collect::<Vec<_>>().join(" ")
                )));
                snapshot
                    .nodes
                    .iter()
                    .filter(|n| r.node_names.contains(n.name()))
                    .cloned()
                    .collect()
            }
            None => Cow::Borrowed(&snapshot.nodes),
        };
        let feasible = self.find_nodes_that_pass_filters(
            fw,
            state,
            pod,
            &nodes,
            percentage,
            &mut diagnosis,
            nominated,
        )?;
        Ok((feasible, diagnosis))
    }

    #[allow(clippy::too_many_arguments)] // upstream's findNodesThatPassFilters, whole
    fn find_nodes_that_pass_filters(
        &mut self,
        fw: &Framework,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        percentage: i32,
        diagnosis: &mut Diagnosis,
        nominated: &NominatedPods,
    ) -> Result<Vec<Arc<NodeInfo>>, ScheduleError> {
        let n = nodes.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let want = num_feasible_nodes_to_find(percentage, n);
        let start = self.next_start_node_index % n;
        let mut feasible = Vec::with_capacity(want.min(n));
        let mut processed = 0;
        for i in 0..n {
            let node = &nodes[(start + i) % n];
            processed += 1;
            if !fw.has_filter_plugins() {
                feasible.push(node.clone());
            } else {
                let status = fw.run_filter_with_nominated_pods(state, pod, node, nominated);
                if status.is_success() {
                    feasible.push(node.clone());
                } else if status.is_rejected() {
                    if let Some(p) = status.plugin() {
                        diagnosis.unschedulable_plugins.insert(p);
                    }
                    diagnosis
                        .node_to_status
                        .insert(node.name().to_string(), status);
                } else {
                    return Err(ScheduleError::Internal(status));
                }
            }
            if feasible.len() >= want {
                break;
            }
        }
        self.next_start_node_index = (start + processed) % n;
        Ok(feasible)
    }
}

/// PreScore and Score; every node scores 1 without Score plugins.
fn prioritize<'n>(
    fw: &Framework,
    state: &mut CycleState,
    pod: &Pod,
    nodes: &'n [Arc<NodeInfo>],
) -> Result<Vec<NodeScore<'n>>, ScheduleError> {
    if !fw.has_score_plugins() {
        return Ok(nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name(),
                score: 1,
            })
            .collect());
    }
    let s = fw.run_pre_score(state, pod, nodes);
    if !s.is_success() {
        return Err(ScheduleError::Internal(s));
    }
    fw.run_score(state, pod, nodes)
        .map_err(ScheduleError::Internal)
}

/// The node with the highest score; ties broken uniformly at random (reservoir sampling).
pub fn select_host(scores: &[NodeScore]) -> String {
    let mut rng = rand::rng();
    let mut best: Option<&NodeScore> = None;
    let mut ties = 0u32;
    for s in scores {
        match best {
            Some(b) if s.score < b.score => {}
            Some(b) if s.score == b.score => {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = Some(s);
                }
            }
            _ => {
                best = Some(s);
                ties = 1;
            }
        }
    }
    best.map(|b| b.name.to_string()).unwrap_or_default()
}

/// Everything a cycle and its binding need, shared with the binding tasks.
#[derive(Clone)]
pub struct Shared {
    pub cache: Arc<Mutex<Cache>>,
    pub queue: Arc<SchedulingQueue>,
    /// The pods informer's cache: the latest version of a failed pod.
    pub pods: Option<Store<Pod>>,
    pub client: Option<kube::Client>,
    /// Event recorders by profile.
    pub recorders: HashMap<String, Recorder>,
    /// Fills in the priority of pods read back from the informer.
    pub priorities: crate::priority::Resolver,
}

impl Shared {
    pub fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The scheduling loop.
pub struct Scheduler {
    pub shared: Shared,
    /// The configuration's percentage (0: adaptive); a profile's own overrides it.
    pub percentage_of_nodes_to_score: i32,
    algorithm: Algorithm,
}

impl Scheduler {
    pub fn new(shared: Shared, percentage_of_nodes_to_score: i32) -> Self {
        Self {
            shared,
            percentage_of_nodes_to_score,
            algorithm: Algorithm::default(),
        }
    }

    /// Schedules pods until the queue closes.
    pub async fn run(mut self) {
        while let Some((info, cycle)) = self.shared.queue.pop().await {
            self.schedule_one(info, cycle);
        }
    }

    /// One scheduling cycle; the binding cycle continues in the background.
    pub fn schedule_one(&mut self, info: QueuedPodInfo, cycle: u64) {
        let pod = info.pod.clone();
        let uid = pod_uid(&pod).to_string();
        let Some(fw) = self.shared.queue.profiles().for_pod(&pod).cloned() else {
            self.shared.queue.done(&uid);
            return;
        };
        if pod.metadata.deletion_timestamp.is_some() || self.shared.cache().is_assumed(&uid) {
            self.shared.queue.done(&uid);
            return;
        }
        let span = tracing::info_span!(
            "schedule",
            namespace = pod.metadata.namespace.as_deref().unwrap_or_default(),
            name = pod.metadata.name.as_deref().unwrap_or_default(),
            uid = %uid
        );
        let _entered = span.enter();
        let started = Instant::now();
        let mut state = CycleState::new();
        let snapshot = self.shared.cache().snapshot();
        let nominated = self.shared.queue.nominator.snapshot();
        let percentage = fw
            .percentage_of_nodes_to_score
            .unwrap_or(self.percentage_of_nodes_to_score);
        let result = self
            .algorithm
            .schedule_pod_with_nominated(&fw, &mut state, &pod, &snapshot, percentage, &nominated);
        let result = match result {
            Ok(r) => r,
            Err(mut e) => {
                let nominating = match &mut e {
                    ScheduleError::Fit { diagnosis, .. } if fw.has_post_filter_plugins() => {
                        let input = PostFilterInput {
                            framework: &fw,
                            snapshot: &snapshot,
                            node_to_status: &diagnosis.node_to_status,
                            absent_status: diagnosis.absent_status.as_ref(),
                            nominated: &nominated,
                            recorder: self.shared.recorders.get(&fw.profile_name),
                        };
                        let (result, status) = fw.run_post_filter(&state, &pod, &input);
                        diagnosis.post_filter_msg = status.message();
                        tracing::debug!("Status after running PostFilter plugins: {status}.");
                        match result {
                            Some(r) => Nominating::Override(r.nominated_node_name),
                            None => Nominating::Noop,
                        }
                    }
                    ScheduleError::Fit { .. } => Nominating::Noop,
                    ScheduleError::NoNodes | ScheduleError::Internal(_) => Nominating::clear(),
                };
                let mut info = info;
                info.unschedulable_plugins = e.rejectors();
                let status = e.status();
                tracing::debug!("Unable to schedule the pod: {status}.");
                handle_failure(&self.shared, &fw, info, status, nominating, cycle, started);
                return;
            }
        };
        let node = result.node;
        let mut assumed = (*pod).clone();
        assumed.spec.get_or_insert_default().node_name = Some(node.clone());
        let assumed = Arc::new(assumed);
        self.shared.cache().assume(assumed.clone(), &node);
        self.shared.queue.nominator.delete(&assumed);
        let mut status = fw.run_reserve(&mut state, &assumed, &node);
        if status.is_success() {
            status = fw.run_permit(&mut state, &assumed, &node);
        }
        if !status.is_success() {
            fw.run_unreserve(&mut state, &assumed, &node);
            undo_assume(&self.shared, &assumed);
            let mut info = info;
            if status.is_rejected()
                && let Some(p) = status.plugin()
            {
                info.unschedulable_plugins.insert(p);
            }
            let clear = Nominating::clear();
            handle_failure(&self.shared, &fw, info, status, clear, cycle, started);
            return;
        }
        state.clear_snapshot();
        let shared = self.shared.clone();
        let binding = async move {
            binding_cycle(shared, fw, state, info, assumed, node, cycle, started).await;
        };
        tokio::spawn(tracing::Instrument::instrument(binding, span.clone()));
    }
}

/// Takes an assumed pod off its node and tells the queue resources were freed.
fn undo_assume(shared: &Shared, assumed: &Arc<Pod>) {
    shared.cache().forget(pod_uid(assumed));
    shared.queue.on_event(
        &queue::assigned_pod_deleted(assumed.clone()),
        Instant::now(),
    );
}

#[allow(clippy::too_many_arguments)] // the pieces of one cycle, handed over whole
async fn binding_cycle(
    shared: Shared,
    fw: Arc<Framework>,
    mut state: CycleState,
    info: QueuedPodInfo,
    assumed: Arc<Pod>,
    node: String,
    cycle: u64,
    started: Instant,
) {
    let uid = pod_uid(&assumed).to_string();
    let mut status = fw.run_pre_bind(&state, &assumed, &node).await;
    if status.is_success() {
        status = fw.run_bind(&state, &assumed, &node).await;
    }
    if !status.is_success() {
        tracing::warn!(
            "Binding {}/{} to {node} failed: {}.",
            assumed.metadata.namespace.as_deref().unwrap_or_default(),
            assumed.metadata.name.as_deref().unwrap_or_default(),
            status.message()
        );
        fw.run_unreserve(&mut state, &assumed, &node);
        undo_assume(&shared, &assumed);
        // A failed bind is an error, not a rejection: the pod backs off.
        let status = if status.is_rejected() {
            Status::error(status.message())
        } else {
            status
        };
        handle_failure(
            &shared,
            &fw,
            info,
            status,
            Nominating::clear(),
            cycle,
            started,
        );
        return;
    }
    shared.cache().finish_binding(&uid);
    let namespace = assumed.metadata.namespace.as_deref().unwrap_or_default();
    let name = assumed.metadata.name.as_deref().unwrap_or_default();
    // Upstream logs this at V(2), below its default verbosity: a line per pod is noise, and
    // formatting it cost about 1.5% of the scheduler's CPU at thousands of pods a second.
    tracing::debug!("Successfully bound {namespace}/{name} to {node}.");
    if let Some(r) = shared.recorders.get(&fw.profile_name) {
        r.record(
            &assumed,
            "Normal",
            "Scheduled",
            "Binding",
            format!("Successfully assigned {namespace}/{name} to {node}"),
        );
    }
    metrics::global().attempt(&fw.profile_name, Outcome::Scheduled, started.elapsed());
    fw.run_post_bind(&state, &assumed, &node).await;
    shared.queue.done(&uid);
}

/// Hands a pod that could not be scheduled back to the queue, records `FailedScheduling` and
/// sets its PodScheduled condition and, as `nominating` says, its nominated node (upstream's
/// `handleSchedulingFailure`).
fn handle_failure(
    shared: &Shared,
    fw: &Framework,
    info: QueuedPodInfo,
    status: Status,
    nominating: Nominating,
    cycle: u64,
    started: Instant,
) {
    let rejected = status.is_rejected();
    let reason = if rejected {
        "Unschedulable"
    } else {
        "SchedulerError"
    };
    let outcome = if rejected {
        Outcome::Unschedulable
    } else {
        Outcome::Error
    };
    metrics::global().attempt(&fw.profile_name, outcome, started.elapsed());
    let pod = info.pod.clone();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod_uid(&pod).to_string();
    // The informer's version decides whether the pod is still there and still pending.
    let current = match &shared.pods {
        Some(store) => store.get(&ObjectRef::new(&name).within(&namespace)),
        None => Some(pod.clone()),
    };
    match &current {
        None => {
            tracing::info!("Pod {namespace}/{name} doesn't exist in informer cache.");
            shared.queue.done(&uid);
        }
        Some(p)
            if p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty()) =>
        {
            tracing::info!(
                "Pod {namespace}/{name} has been assigned to a node; not requeueing it."
            );
            shared.queue.done(&uid);
        }
        Some(p) => {
            let mut info = info;
            info.pod = shared.priorities.resolve(p.clone());
            // Without this, the next cycle could run before the pod's status update arrives
            // and not see the nomination.
            shared.queue.nominator.add(info.pod.clone(), &nominating);
            shared.queue.add_unschedulable(info, cycle, Instant::now());
        }
    }
    let message = status.message();
    tracing::info!("Unable to schedule {namespace}/{name}: {message}.");
    if let Some(r) = shared.recorders.get(&fw.profile_name) {
        r.record(
            &pod,
            "Warning",
            "FailedScheduling",
            "Scheduling",
            crate::events::truncate(&message),
        );
    }
    let latest = current.unwrap_or(pod);
    let mut patch = condition_patch(&latest, reason, &message, Timestamp::now());
    if let Nominating::Override(node) = &nominating
        && nominated_node_name(&latest) != node
    {
        let p = patch.get_or_insert_with(|| json!({"status": {}}));
        p["status"]["nominatedNodeName"] = if node.is_empty() {
            serde_json::Value::Null
        } else {
            json!(node)
        };
    }
    if let Some(patch) = patch
        && let Some(client) = shared.client.clone()
    {
        tokio::spawn(async move {
            let api: Api<Pod> = Api::namespaced(client, &namespace);
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                tracing::warn!(
                    "Could not update the PodScheduled condition of {namespace}/{name}: {}.",
                    controllers::client::message(&e)
                );
            }
        });
    }
}

/// The status patch setting PodScheduled=False with `reason` and `message`, or `None` when the
/// pod already says so (upstream's `UpdatePodCondition` comparison).
pub fn condition_patch(
    pod: &Pod,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Option<serde_json::Value> {
    let old = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
    let transition = match old {
        Some(c)
            if c.status == "False"
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message) =>
        {
            return None;
        }
        Some(c) if c.status == "False" => c.last_transition_time.clone(),
        _ => None,
    }
    .unwrap_or(Time(now));
    Some(json!({
        "status": {
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": reason,
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": transition,
            }]
        }
    }))
}

/// Statuses with their plugin, for tests.
#[cfg(test)]
fn rejected(code: crate::framework::Code, reason: &str, plugin: &'static str) -> Status {
    Status::new(code, [reason]).with_plugin(plugin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::framework::Code;
    use crate::node_info::PodInfo;
    use crate::node_info::testing::*;

    #[test]
    fn adaptive_percentage_of_nodes_to_score() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 100), 100);
        // 50 - 1000/125 = 42%.
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        // 5000 nodes: 50 - 40 = 10%.
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        // Never below 5%.
        assert_eq!(num_feasible_nodes_to_find(0, 10000), 500);
        assert_eq!(num_feasible_nodes_to_find(1, 1000), 100);
        assert_eq!(num_feasible_nodes_to_find(30, 1000), 300);
    }

    #[test]
    fn fit_error_messages_as_upstream() {
        let mut d = Diagnosis::default();
        d.node_to_status.insert(
            "a".into(),
            rejected(
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {key: value}",
                "TaintToleration",
            ),
        );
        for n in ["b", "c"] {
            d.node_to_status.insert(
                n.into(),
                rejected(Code::Unschedulable, "Insufficient cpu", "NodeResourcesFit"),
            );
        }
        assert_eq!(
            fit_error_message(3, &d),
            "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu."
        );
        let pre = Diagnosis {
            pre_filter_msg: "pod affinity terms conflict".into(),
            ..Default::default()
        };
        assert_eq!(
            fit_error_message(2, &pre),
            "0/2 nodes are available: pod affinity terms conflict."
        );
        assert_eq!(
            ScheduleError::NoNodes.status().message(),
            NO_NODES_AVAILABLE
        );
    }

    fn snapshot(nodes: Vec<NodeInfo>) -> Snapshot {
        Snapshot::new(nodes.into_iter().map(Arc::new).collect())
    }

    #[test]
    fn schedules_to_the_only_fitting_node_and_explains_failures() {
        let fw = crate::config::framework_for_tests(&Config::default().profiles[0]);
        let mut alg = Algorithm::default();
        let small = NodeInfo::new(Arc::new(node("small", "1", "1Gi")));
        let tainted = NodeInfo::new(Arc::new(with_taints(
            node("tainted", "8", "8Gi"),
            &[("key", "value", "NoSchedule")],
        )));
        let big = NodeInfo::new(Arc::new(node("big", "4", "4Gi")));
        let snap = snapshot(vec![small.clone(), tainted.clone(), big]);
        let p = pod("p", &[&[("cpu", "2")]]);
        let r = alg
            .schedule_pod(&fw, &mut CycleState::new(), &p, &snap, 0)
            .unwrap();
        assert_eq!(r.node, "big");
        assert_eq!((r.evaluated, r.feasible), (3, 1));

        let mut full = NodeInfo::new(Arc::new(node("full", "4", "4Gi")));
        full.add_pod(PodInfo::new(Arc::new(on_node(
            pod("x", &[&[("cpu", "3")]]),
            "full",
        ))));
        let snap = snapshot(vec![small, tainted, full]);
        let err = alg
            .schedule_pod(&fw, &mut CycleState::new(), &p, &snap, 0)
            .unwrap_err();
        let s = err.status();
        assert_eq!(s.code(), Code::Unschedulable);
        assert_eq!(
            s.message(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu."
        );
        assert_eq!(
            err.rejectors().into_iter().collect::<Vec<_>>(),
            vec!["NodeResourcesFit", "TaintToleration"]
        );
        let none = alg.schedule_pod(&fw, &mut CycleState::new(), &p, &Snapshot::default(), 0);
        assert!(matches!(none, Err(ScheduleError::NoNodes)));
    }

    #[test]
    fn least_allocated_spreads_pods() {
        let fw = crate::config::framework_for_tests(&Config::default().profiles[0]);
        let mut alg = Algorithm::default();
        let mut busy = NodeInfo::new(Arc::new(node("busy", "4", "8Gi")));
        busy.add_pod(PodInfo::new(Arc::new(on_node(
            pod("x", &[&[("cpu", "2"), ("memory", "4Gi")]]),
            "busy",
        ))));
        let idle = NodeInfo::new(Arc::new(node("idle", "4", "8Gi")));
        let snap = snapshot(vec![busy, idle]);
        for _ in 0..5 {
            let r = alg
                .schedule_pod(
                    &fw,
                    &mut CycleState::new(),
                    &pod("p", &[&[("cpu", "500m"), ("memory", "1Gi")]]),
                    &snap,
                    0,
                )
                .unwrap();
            assert_eq!(r.node, "idle");
        }
    }

    #[test]
    fn round_robin_start_index_moves_past_processed_nodes() {
        let fw = crate::config::framework_for_tests(&Config::default().profiles[0]);
        let mut alg = Algorithm::default();
        let nodes: Vec<NodeInfo> = (0..300)
            .map(|i| NodeInfo::new(Arc::new(node(&format!("n{i:03}"), "1", "1Gi"))))
            .collect();
        let snap = snapshot(nodes);
        // 300 nodes: 50 - 2 = 48% -> 144 nodes looked at.
        alg.schedule_pod(&fw, &mut CycleState::new(), &pod("p", &[&[]]), &snap, 0)
            .unwrap();
        assert_eq!(alg.next_start_node_index, 144);
        alg.schedule_pod(&fw, &mut CycleState::new(), &pod("p", &[&[]]), &snap, 0)
            .unwrap();
        assert_eq!(alg.next_start_node_index, 288);
    }

    #[test]
    fn ties_are_broken_among_the_best() {
        let scores = vec![
            NodeScore {
                name: "a",
                score: 5,
            },
            NodeScore {
                name: "b",
                score: 9,
            },
            NodeScore {
                name: "c",
                score: 9,
            },
        ];
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            seen.insert(select_host(&scores));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec!["b", "c"]);
    }

    #[test]
    fn condition_patches_only_when_something_changed() {
        let mut p = pod("p", &[&[]]);
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let patch = condition_patch(&p, "Unschedulable", "0/1 nodes are available.", now).unwrap();
        assert_eq!(patch["status"]["conditions"][0]["reason"], "Unschedulable");
        assert_eq!(
            patch["status"]["conditions"][0]["lastTransitionTime"],
            "2023-11-14T22:13:20Z"
        );
        p.status = Some(k8s_openapi::api::core::v1::PodStatus {
            conditions: Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some("0/1 nodes are available.".into()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert!(condition_patch(&p, "Unschedulable", "0/1 nodes are available.", now).is_none());
        assert!(condition_patch(&p, "Unschedulable", "0/2 nodes are available.", now).is_some());
    }
}
