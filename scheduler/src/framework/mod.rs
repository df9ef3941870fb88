//! The scheduling framework, as upstream's `framework` package: one trait per extension point,
//! a [`Plugin`] that says which of them it implements, and [`Framework`], one profile's plugins
//! in the order its configuration gives, which runs each extension point.
//!
//! Extension points and what their statuses do (see [`Code`]):
//! - PreEnqueue: may the pod enter the active queue at all (not: it waits, gated);
//! - QueueSort: the order of the active queue;
//! - PreFilter: per-pod precomputation, may restrict the nodes (PreFilterResult) or reject the
//!   pod outright; Skip skips the plugin's Filter;
//! - Filter: may the pod run on this node;
//! - PostFilter: run when no node fits (preemption: DefaultPreemption nominates a node and
//!   evicts lower-priority pods there);
//! - PreScore / Score / NormalizeScore: rank the feasible nodes, 0..=100 per plugin, times the
//!   plugin's weight;
//! - Reserve / Unreserve: claim the chosen node's resources, undone if a later step fails;
//! - Permit: allow, deny or hold the binding;
//! - PreBind / Bind / PostBind: in the binding cycle, concurrently with the next pod's
//!   scheduling cycle.

pub mod cluster_event;
pub mod cycle_state;
pub mod status;

pub use cluster_event::{Change, ClusterEvent, EventWithHint, QueueingHint};
pub use cycle_state::CycleState;
pub use status::{Code, Status};

use crate::cache::Snapshot;
use crate::events::Recorder;
use crate::node_info::{NodeInfo, PodInfo};
use crate::nominator::NominatedPods;
use crate::plugins::priority_sort::priority;
use crate::queue::QueuedPodInfo;
use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The highest score a Score plugin may give after normalizing.
pub const MAX_NODE_SCORE: i64 = 100;

/// A plugin: a name, the extension points it implements, and the events that may undo its
/// rejections.
pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn as_pre_enqueue(&self) -> Option<&dyn PreEnqueuePlugin> {
        None
    }
    fn as_queue_sort(&self) -> Option<&dyn QueueSortPlugin> {
        None
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        None
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        None
    }
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        None
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        None
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        None
    }
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        None
    }
    fn as_permit(&self) -> Option<&dyn PermitPlugin> {
        None
    }
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        None
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        None
    }
    fn as_post_bind(&self) -> Option<&dyn PostBindPlugin> {
        None
    }
    /// The cluster events that may make a pod this plugin rejected schedulable (upstream's
    /// `EnqueueExtensions`). Plugins that never reject register nothing.
    fn events_to_register(&self) -> Vec<EventWithHint> {
        Vec::new()
    }
}

pub trait PreEnqueuePlugin {
    /// Success lets the pod into the active queue; anything else keeps it out until the pod
    /// changes.
    fn pre_enqueue(&self, pod: &Pod) -> Status;
}

pub trait QueueSortPlugin {
    /// Whether `a` should be scheduled before `b`.
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool;
}

/// Nodes a PreFilter plugin narrowed the search to (upstream's `PreFilterResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    pub node_names: BTreeSet<String>,
    /// The plugins that narrowed the nodes (set by the framework).
    pub plugins: BTreeSet<&'static str>,
}

pub trait PreFilterPlugin {
    /// Computes what Filter needs; a rejection rejects the pod on every node. `Ok(Some(_))`
    /// restricts the nodes Filter looks at.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status);
    /// Upstream's `PreFilterExtensions.AddPod`: `added` is now counted on `node` (a nominated
    /// pod, or a victim preemption reprieves); adjusts what PreFilter wrote in `state`, which
    /// may be a clone (write a new value, never change a shared one). Plugins whose Filter
    /// reads only the NodeInfo need nothing here.
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod: &Pod,
        _added: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }
    /// Upstream's `PreFilterExtensions.RemovePod`: `removed` no longer counts on `node` (a
    /// preemption victim).
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &Pod,
        _removed: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }
}

pub trait FilterPlugin {
    /// Whether `pod` may run on `node`. Rejections name the reason a person reads.
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status;
}

/// What a PostFilter plugin sees besides the pod: why each node failed (upstream's
/// `NodeToStatusReader`) and what upstream reaches through the framework handle.
pub struct PostFilterInput<'a> {
    /// The profile, to run its Filter plugins on changed NodeInfos.
    pub framework: &'a Framework,
    /// The cycle's nodes.
    pub snapshot: &'a Snapshot,
    /// The Filter verdict per node looked at.
    pub node_to_status: &'a BTreeMap<String, Status>,
    /// The verdict for nodes not in `node_to_status` (none: UnschedulableAndUnresolvable).
    pub absent_status: Option<&'a Status>,
    /// Pods nominated to nodes when the cycle started.
    pub nominated: &'a NominatedPods,
    /// The profile's event recorder (none in unit tests).
    pub recorder: Option<&'a Recorder>,
}

impl PostFilterInput<'_> {
    /// The nodes whose verdict has `code` (upstream's `NodesForStatusCode`), in snapshot
    /// order.
    pub fn nodes_for_status_code(&self, code: Code) -> Vec<Arc<NodeInfo>> {
        let absent_code = self
            .absent_status
            .map_or(Code::UnschedulableAndUnresolvable, Status::code);
        self.snapshot
            .nodes
            .iter()
            .filter(|n| match self.node_to_status.get(n.name()) {
                Some(s) => s.code() == code,
                None => absent_code == code,
            })
            .cloned()
            .collect()
    }
}

/// What a PostFilter plugin asks of the pod's `status.nominatedNodeName` (upstream's
/// `PostFilterResult` with `NominatingMode` Override; no result leaves it as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostFilterResult {
    /// The node to nominate; empty clears the nomination.
    pub nominated_node_name: String,
}

pub trait PostFilterPlugin {
    /// Tries to make the pod schedulable later (preemption) when no node fits. Success with
    /// a nominated node is the happy path; Unschedulable says why it could not help.
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        input: &PostFilterInput<'_>,
    ) -> (Option<PostFilterResult>, Status);
}

pub trait PreScorePlugin {
    /// Computes what Score needs; Skip skips this plugin's Score for this pod.
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status;
}

/// A node's score from one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScore<'a> {
    pub name: &'a str,
    pub score: i64,
}

pub trait ScorePlugin {
    /// The raw score of `node` for `pod`.
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status>;
    /// Brings every raw score into 0..=[`MAX_NODE_SCORE`] (upstream's `ScoreExtensions`).
    fn normalize(&self, _state: &CycleState, _pod: &Pod, _scores: &mut [NodeScore]) -> Status {
        Status::success()
    }
}

pub trait ReservePlugin {
    /// Claims what the pod needs on `node`; a failure unreserves every plugin.
    fn reserve(&self, state: &mut CycleState, pod: &Pod, node: &str) -> Status;
    /// Undoes `reserve`; must be idempotent and may run without a matching `reserve`.
    fn unreserve(&self, state: &mut CycleState, pod: &Pod, node: &str);
}

pub trait PermitPlugin {
    /// Allows (Success), denies, or holds (Wait) the binding.
    fn permit(&self, state: &mut CycleState, pod: &Pod, node: &str) -> Status;
}

#[async_trait::async_trait]
pub trait PreBindPlugin: Send + Sync {
    async fn pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

#[async_trait::async_trait]
pub trait BindPlugin: Send + Sync {
    /// Binds the pod; Skip leaves it to the next bind plugin.
    async fn bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

#[async_trait::async_trait]
pub trait PostBindPlugin: Send + Sync {
    /// Told that the pod was bound; cannot fail.
    async fn post_bind(&self, state: &CycleState, pod: &Pod, node: &str);
}

/// One profile's plugins per extension point, in configuration order.
pub struct Framework {
    /// The `schedulerName` pods pick this profile by.
    pub profile_name: String,
    pub percentage_of_nodes_to_score: Option<i32>,
    pub(crate) queue_sort: Option<Arc<dyn Plugin>>,
    pub(crate) pre_enqueue: Vec<Arc<dyn Plugin>>,
    pub(crate) pre_filter: Vec<Arc<dyn Plugin>>,
    pub(crate) filter: Vec<Arc<dyn Plugin>>,
    pub(crate) post_filter: Vec<Arc<dyn Plugin>>,
    pub(crate) pre_score: Vec<Arc<dyn Plugin>>,
    /// Score plugins with their weights.
    pub(crate) score: Vec<(Arc<dyn Plugin>, i64)>,
    pub(crate) reserve: Vec<Arc<dyn Plugin>>,
    pub(crate) permit: Vec<Arc<dyn Plugin>>,
    pub(crate) pre_bind: Vec<Arc<dyn Plugin>>,
    pub(crate) bind: Vec<Arc<dyn Plugin>>,
    pub(crate) post_bind: Vec<Arc<dyn Plugin>>,
    /// Every enabled plugin's registrations, by plugin name.
    pub(crate) events: Vec<(&'static str, EventWithHint)>,
}

impl std::fmt::Debug for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |ps: &[Arc<dyn Plugin>]| ps.iter().map(|p| p.name()).collect::<Vec<_>>();
        f.debug_struct("Framework")
            .field("profile", &self.profile_name)
            .field("filter", &names(&self.filter))
            .field(
                "score",
                &self
                    .score
                    .iter()
                    .map(|(p, w)| (p.name(), *w))
                    .collect::<Vec<_>>(),
            )
            .field("bind", &names(&self.bind))
            .finish()
    }
}

impl Framework {
    pub fn has_filter_plugins(&self) -> bool {
        !self.filter.is_empty()
    }

    pub fn has_post_filter_plugins(&self) -> bool {
        !self.post_filter.is_empty()
    }

    pub fn has_score_plugins(&self) -> bool {
        !self.score.is_empty()
    }

    /// Names of every Filter and PreFilter plugin.
    pub fn filter_names(&self) -> Vec<&'static str> {
        self.filter.iter().map(|p| p.name()).collect()
    }

    /// PreEnqueue: the first plugin that does not let the pod in.
    pub fn run_pre_enqueue(&self, pod: &Pod) -> Status {
        for p in &self.pre_enqueue {
            if let Some(pe) = p.as_pre_enqueue() {
                let s = pe.pre_enqueue(pod);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// QueueSort; upstream's default (priority, then age) when the profile has none.
    pub fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        match self.queue_sort.as_ref().and_then(|p| p.as_queue_sort()) {
            Some(qs) => qs.less(a, b),
            None => crate::plugins::priority_sort::less(a, b),
        }
    }

    /// PreFilter: the intersection of every plugin's node restriction, or the first rejection.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        state.set_snapshot(snapshot.clone());
        let nodes = &snapshot.nodes;
        let mut result: Option<PreFilterResult> = None;
        for p in &self.pre_filter {
            let Some(pf) = p.as_pre_filter() else {
                continue;
            };
            let (r, s) = pf.pre_filter(state, pod, nodes);
            if s.is_skip() {
                state.skip_filter.insert(p.name());
                continue;
            }
            if !s.is_success() {
                return (None, s.with_plugin(p.name()));
            }
            if let Some(mut r) = r {
                r.plugins.insert(p.name());
                result = Some(match result {
                    None => r,
                    Some(prev) => PreFilterResult {
                        node_names: prev
                            .node_names
                            .intersection(&r.node_names)
                            .cloned()
                            .collect(),
                        plugins: prev.plugins.union(&r.plugins).copied().collect(),
                    },
                });
            }
        }
        state.active_filters = Some(
            (0..self.filter.len())
                .filter(|i| !state.skip_filter.contains(self.filter[*i].name()))
                .collect(),
        );
        (result, Status::success())
    }

    /// Filter on one node: the first plugin that rejects it.
    pub fn run_filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let filter = |p: &Arc<dyn Plugin>| match p.as_filter() {
            Some(f) => f.filter(state, pod, node).with_plugin(p.name()),
            None => Status::success(),
        };
        let rejection = match &state.active_filters {
            Some(active) => active
                .iter()
                .map(|i| filter(&self.filter[*i]))
                .find(|s| !s.is_success()),
            None => self
                .filter
                .iter()
                .filter(|p| !state.skip_filter.contains(p.name()))
                .map(filter)
                .find(|s| !s.is_success()),
        };
        rejection.unwrap_or_else(Status::success)
    }

    /// PreFilter extensions: `added` now counts on `node`.
    pub fn run_pre_filter_extension_add_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        added: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        self.run_pre_filter_extension(state, |pf, state| pf.add_pod(state, pod, added, node))
    }

    /// PreFilter extensions: `removed` no longer counts on `node`.
    pub fn run_pre_filter_extension_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        removed: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        self.run_pre_filter_extension(state, |pf, state| pf.remove_pod(state, pod, removed, node))
    }

    /// `call` on every PreFilter plugin that did not skip, until one fails.
    fn run_pre_filter_extension(
        &self,
        state: &mut CycleState,
        call: impl Fn(&dyn PreFilterPlugin, &mut CycleState) -> Status,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skip_filter.contains(p.name()) {
                continue;
            }
            if let Some(pf) = p.as_pre_filter() {
                let s = call(pf, state);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Filter with the pods nominated to `node` (upstream's
    /// `RunFilterPluginsWithNominatedPods`): first with the nominated pods of equal or higher
    /// priority counted as running there (the pod must not take room freed for them), then,
    /// if that passed and some were added, without them (affinity to them must not be assumed).
    pub fn run_filter_with_nominated_pods(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        nominated: &NominatedPods,
    ) -> Status {
        let uid = crate::node_info::pod_uid(pod);
        let others: Vec<&PodInfo> = nominated
            .for_node(node.name())
            .iter()
            .filter(|p| priority(&p.pod) >= priority(pod) && p.uid() != uid)
            .collect();
        if others.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let mut with = node.clone();
        let mut with_state = state.clone();
        for p in others {
            with.add_pod(p.clone());
            let s = self.run_pre_filter_extension_add_pod(&mut with_state, pod, p, &with);
            if !s.is_success() {
                return Status::error(s.message());
            }
        }
        let status = self.run_filter(&with_state, pod, &with);
        if !status.is_success() {
            return status;
        }
        self.run_filter(state, pod, node)
    }

    /// PostFilter (upstream's `RunPostFilterPlugins`): the first plugin that succeeds or finds
    /// the pod unresolvable decides; otherwise the rejections are joined, keeping the last
    /// nomination a plugin asked for.
    pub fn run_post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        input: &PostFilterInput<'_>,
    ) -> (Option<PostFilterResult>, Status) {
        let mut result = None;
        let mut reasons: Vec<String> = Vec::new();
        let mut rejector = None;
        for p in &self.post_filter {
            let Some(pf) = p.as_post_filter() else {
                continue;
            };
            let (r, s) = pf.post_filter(state, pod, input);
            if s.is_success() {
                return (r, s);
            }
            if s.code() == Code::UnschedulableAndUnresolvable {
                return (r, s.with_plugin(p.name()));
            }
            if !s.is_rejected() {
                return (None, Status::error(s.message()).with_plugin(p.name()));
            }
            if r.is_some() {
                result = r;
            }
            reasons.extend(s.reasons().iter().cloned());
            rejector.get_or_insert(p.name());
        }
        let status = Status::new(Code::Unschedulable, reasons);
        (
            result,
            match rejector {
                Some(name) => status.with_plugin(name),
                None => status,
            },
        )
    }

    /// PreScore: the first failure.
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> Status {
        for p in &self.pre_score {
            let Some(ps) = p.as_pre_score() else {
                continue;
            };
            let s = ps.pre_score(state, pod, nodes);
            if s.is_skip() {
                state.skip_score.insert(p.name());
            } else if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Score + NormalizeScore, weighted and summed per node (same order as `nodes`).
    pub fn run_score<'n>(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &'n [Arc<NodeInfo>],
    ) -> Result<Vec<NodeScore<'n>>, Status> {
        let mut totals: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name(),
                score: 0,
            })
            .collect();
        for (p, weight) in &self.score {
            if state.skip_score.contains(p.name()) {
                continue;
            }
            let Some(sp) = p.as_score() else {
                continue;
            };
            let mut scores = Vec::with_capacity(nodes.len());
            for n in nodes {
                let score = sp
                    .score(state, pod, n)
                    .map_err(|s| s.with_plugin(p.name()))?;
                scores.push(NodeScore {
                    name: n.name(),
                    score,
                });
            }
            let s = sp.normalize(state, pod, &mut scores);
            if !s.is_success() {
                return Err(s.with_plugin(p.name()));
            }
            for (total, s) in totals.iter_mut().zip(&scores) {
                if !(0..=MAX_NODE_SCORE).contains(&s.score) {
                    return Err(Status::error(format!(
                        "plugin {:?} returns an invalid score {}, it should in the range of [0, {MAX_NODE_SCORE}] after normalizing",
                        p.name(),
                        s.score
                    )));
                }
                total.score += s.score * weight;
            }
        }
        Ok(totals)
    }

    /// Reserve: every plugin in order; on a failure the caller unreserves.
    pub fn run_reserve(&self, state: &mut CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.reserve {
            if let Some(r) = p.as_reserve() {
                let s = r.reserve(state, pod, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Unreserve: every plugin, in reverse order.
    pub fn run_unreserve(&self, state: &mut CycleState, pod: &Pod, node: &str) {
        for p in self.reserve.iter().rev() {
            if let Some(r) = p.as_reserve() {
                r.unreserve(state, pod, node);
            }
        }
    }

    /// Permit: the first plugin that does not allow. Waiting is not supported yet by any
    /// in-tree plugin; a Wait is treated as a rejection.
    pub fn run_permit(&self, state: &mut CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.permit {
            if let Some(pm) = p.as_permit() {
                let s = pm.permit(state, pod, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    pub async fn run_pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.pre_bind {
            if let Some(pb) = p.as_pre_bind() {
                let s = pb.pre_bind(state, pod, node).await;
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Bind: the first plugin that does not skip binds.
    pub async fn run_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.bind {
            if let Some(b) = p.as_bind() {
                let s = b.bind(state, pod, node).await;
                if !s.is_skip() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::error("no bind plugin bound the pod")
    }

    pub async fn run_post_bind(&self, state: &CycleState, pod: &Pod, node: &str) {
        for p in &self.post_bind {
            if let Some(pb) = p.as_post_bind() {
                pb.post_bind(state, pod, node).await;
            }
        }
    }

    /// Whether `plugin` registered an event that covers `change` (its hint aside).
    pub fn registers(&self, plugin: &str, change: &Change) -> bool {
        self.events
            .iter()
            .any(|(p, reg)| *p == plugin && reg.event.covers(&change.event))
    }

    /// Whether `change` may help `pod`, which the plugins `rejectors` turned down. A pod no
    /// plugin rejected (it failed with an error) always moves.
    pub fn requeues(&self, pod: &Pod, rejectors: &BTreeSet<&'static str>, change: &Change) -> bool {
        if rejectors.is_empty() {
            return true;
        }
        self.events
            .iter()
            .filter(|(plugin, _)| rejectors.contains(plugin))
            .any(|(_, reg)| reg.requeues(pod, change))
    }
}
