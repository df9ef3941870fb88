//! DefaultPreemption (PostFilter, PreEnqueue): when no node fits a pod, finds a node where
//! evicting lower-priority pods makes it fit, nominates the pod there and evicts them, as
//! upstream's `defaultpreemption` plugin with the `preemption` package's Evaluator (and, as
//! upstream v1.33 with `SchedulerAsyncPreemption`, the API calls run in the background).
//!
//! Timeline of one preemption: the pod fails Filter everywhere -> PostFilter: is the pod
//! eligible (not `preemptionPolicy: Never`, no victim of an earlier preemption still
//! terminating on its nominated node) -> dry run on a share of the nodes whose failure
//! preemption may resolve (Unschedulable, not UnschedulableAndUnresolvable), from a random
//! offset: remove every lower-priority pod, run Filter (with the nominated pods), then reprieve
//! the victims one by one, most important first, PDB-violating ones before the others ->
//! pick the node ([`pick_one_node_for_preemption`]) -> the pod is nominated there (its
//! `status.nominatedNodeName`, set with its PodScheduled condition) and waits; in the
//! background lower-priority pods nominated to that node lose their nomination, and each
//! victim gets the `DisruptionTarget` condition, is deleted, and gets a `Preempted` event.
//! While that runs, PreEnqueue keeps the pod out of the active queue. The victims' deletion
//! moves the pod back (NodeResourcesFit's hint), and it is tried on its nominated node first.

use crate::framework::cluster_event::{EventResource, EventWithHint, QueueingHint, action};
use crate::framework::{
    Code, CycleState, Framework, Plugin, PostFilterInput, PostFilterPlugin, PostFilterResult,
    PreEnqueuePlugin, Status,
};
use crate::node_info::{NodeInfo, PodInfo, pod_uid};
use crate::nominator::{NominatedPods, nominated_node_name};
use crate::plugins::priority_sort::priority;
use crate::schedule_one::{Diagnosis, fit_error_message};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::Store;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

pub const NAME: &str = "DefaultPreemption";

/// The reason of a node where no pod may be evicted.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// The reason of the nodes preemption was not tried on.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// The condition victims get, and its reason.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
pub const PREEMPTION_BY_SCHEDULER: &str = "PreemptionByScheduler";

/// `DefaultPreemptionArgs` (kubescheduler.config.k8s.io/v1).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    /// The share of the nodes to dry-run preemption on, at least...
    #[serde(default = "default_percentage")]
    pub min_candidate_nodes_percentage: i32,
    /// ...this many nodes (when there are that many).
    #[serde(default = "default_absolute")]
    pub min_candidate_nodes_absolute: i32,
}

fn default_percentage() -> i32 {
    10
}

fn default_absolute() -> i32 {
    100
}

impl Default for Args {
    fn default() -> Self {
        Self {
            min_candidate_nodes_percentage: default_percentage(),
            min_candidate_nodes_absolute: default_absolute(),
        }
    }
}

impl Args {
    /// Upstream's `ValidateDefaultPreemptionArgs`.
    pub fn validate(&self) -> Result<(), String> {
        let (pct, abs) = (
            self.min_candidate_nodes_percentage,
            self.min_candidate_nodes_absolute,
        );
        if !(0..=100).contains(&pct) {
            return Err(format!(
                "minCandidateNodesPercentage: Invalid value: {pct}: not in valid range [0, 100]"
            ));
        }
        if abs < 0 {
            return Err(format!(
                "minCandidateNodesAbsolute: Invalid value: {abs}: not in valid range [0, inf)"
            ));
        }
        if pct == 0 && abs == 0 {
            return Err("minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute".to_string());
        }
        Ok(())
    }

    /// How many candidates the dry run looks for among `num_nodes` (upstream's
    /// `calculateNumCandidates`).
    pub fn num_candidates(&self, num_nodes: usize) -> usize {
        let n = num_nodes as i64;
        let want = (n * i64::from(self.min_candidate_nodes_percentage) / 100)
            .max(i64::from(self.min_candidate_nodes_absolute));
        want.min(n).max(0) as usize
    }
}

/// Builds the plugin from its `pluginConfig` args. Without a client (unit tests) preemption
/// decides but does not evict; without a PDB informer no budget counts as violated.
pub fn new(
    args: Option<&serde_json::Value>,
    client: Option<kube::Client>,
    pdbs: Option<Store<PodDisruptionBudget>>,
) -> Result<Arc<dyn Plugin>, String> {
    let args: Args = match args {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string())?,
        None => Args::default(),
    };
    args.validate()?;
    Ok(Arc::new(DefaultPreemption {
        args,
        client,
        pdbs,
        preempting: Arc::new(Mutex::new(HashSet::new())),
    }))
}

pub struct DefaultPreemption {
    args: Args,
    client: Option<kube::Client>,
    pdbs: Option<Store<PodDisruptionBudget>>,
    /// Preemptors whose evictions are still being sent, by UID.
    preempting: Arc<Mutex<HashSet<String>>>,
}

/// A node where preemption helps, and the pods to evict there (most important first).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<Pod>>,
    pub num_pdb_violations: usize,
}

fn lock(set: &Mutex<HashSet<String>>) -> MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(|p| p.into_inner())
}

/// A pod's start time in nanoseconds; a pod not started yet counts as starting now
/// (upstream's `GetPodStartTime`).
fn start_time(pod: &Pod, now: i128) -> i128 {
    pod.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or(now, |t| t.0.as_nanosecond())
}

/// Upstream's `MoreImportantPod`: higher priority, then started earlier.
pub fn more_important(a: &Pod, b: &Pod, now: i128) -> bool {
    let (pa, pb) = (priority(a), priority(b));
    if pa != pb {
        return pa > pb;
    }
    start_time(a, now) < start_time(b, now)
}

/// Whether `pod` is being deleted because the scheduler preempted it.
fn terminating_by_preemption(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_none() {
        return false;
    }
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == DISRUPTION_TARGET))
        .is_some_and(|c| c.status == "True" && c.reason.as_deref() == Some(PREEMPTION_BY_SCHEDULER))
}

/// Splits `pods` (keeping their order) into those whose eviction would exceed a
/// PodDisruptionBudget's allowed disruptions and the others (upstream's
/// `filterPodsWithPDBViolation`).
pub fn filter_pods_with_pdb_violation(
    pods: Vec<PodInfo>,
    pdbs: &[Arc<PodDisruptionBudget>],
) -> (Vec<PodInfo>, Vec<PodInfo>) {
    let mut allowed: Vec<i32> = pdbs
        .iter()
        .map(|p| p.status.as_ref().map_or(0, |s| s.disruptions_allowed))
        .collect();
    let (mut violating, mut non_violating) = (Vec::new(), Vec::new());
    for info in pods {
        let pod = &info.pod;
        let mut violated = false;
        if pod.metadata.labels.as_ref().is_some_and(|l| !l.is_empty()) {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.metadata.namespace != pod.metadata.namespace {
                    continue;
                }
                let selector = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
                // A nil or empty selector matches nothing here.
                if selector.is_none_or(controllers::selector::is_empty)
                    || !controllers::selector::matches(selector, pod.metadata.labels.as_ref())
                {
                    continue;
                }
                // Already counted by the eviction API: not a violation.
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                if pdb
                    .status
                    .as_ref()
                    .and_then(|s| s.disrupted_pods.as_ref())
                    .is_some_and(|d| d.contains_key(name))
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(info);
        } else {
            non_violating.push(info);
        }
    }
    (violating, non_violating)
}

/// The fewest pods to evict from `node` so that `pod` fits (upstream's
/// `SelectVictimsOnNode`): the victims (most important first) and how many of them violate a
/// PDB, or why the node does not help.
pub fn select_victims_on_node(
    fw: &Framework,
    state: &mut CycleState,
    pod: &Pod,
    node: &mut NodeInfo,
    pdbs: &[Arc<PodDisruptionBudget>],
    nominated: &NominatedPods,
) -> Result<(Vec<Arc<Pod>>, usize), Status> {
    let now = k8s_openapi::jiff::Timestamp::now().as_nanosecond();
    let mut potential: Vec<PodInfo> = node
        .pods
        .iter()
        .filter(|p| priority(&p.pod) < priority(pod))
        .cloned()
        .collect();
    for p in &potential {
        node.remove_pod(p.uid());
        let s = fw.run_pre_filter_extension_remove_pod(state, pod, p, node);
        if !s.is_success() {
            return Err(Status::error(s.message()));
        }
    }
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    // If the pod does not fit with every lower-priority pod gone, this node cannot help.
    let status = fw.run_filter_with_nominated_pods(state, pod, node, nominated);
    if !status.is_success() {
        return Err(status);
    }
    potential.sort_by(|a, b| {
        if more_important(&a.pod, &b.pod, now) {
            std::cmp::Ordering::Less
        } else if more_important(&b.pod, &a.pod, now) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let (violating, non_violating) = filter_pods_with_pdb_violation(potential, pdbs);
    let (had_violating, had_non_violating) = (!violating.is_empty(), !non_violating.is_empty());
    let mut victims: Vec<Arc<Pod>> = Vec::new();
    let mut num_violating = 0;
    let mut reprieve = |p: PodInfo, node: &mut NodeInfo, state: &mut CycleState| {
        node.add_pod(p.clone());
        let s = fw.run_pre_filter_extension_add_pod(state, pod, &p, node);
        if !s.is_success() {
            return Err(Status::error(s.message()));
        }
        let fits = fw
            .run_filter_with_nominated_pods(state, pod, node, nominated)
            .is_success();
        if !fits {
            node.remove_pod(p.uid());
            let s = fw.run_pre_filter_extension_remove_pod(state, pod, &p, node);
            if !s.is_success() {
                return Err(Status::error(s.message()));
            }
            victims.push(p.pod.clone());
        }
        Ok(fits)
    };
    for p in violating {
        if !reprieve(p, node, state)? {
            num_violating += 1;
        }
    }
    for p in non_violating {
        reprieve(p, node, state)?;
    }
    if had_violating && had_non_violating {
        victims.sort_by(|a, b| {
            if more_important(a, b, now) {
                std::cmp::Ordering::Less
            } else if more_important(b, a, now) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
    }
    Ok((victims, num_violating))
}

/// The node to preempt on (upstream's `pickOneNodeForPreemption`), each rule breaking the
/// previous one's ties: the fewest PDB violations; the lowest highest-victim priority; the
/// smallest sum of victim priorities; the fewest victims; the latest start time among the
/// highest-priority victims; then the first candidate. Victims are most important first.
pub fn pick_one_node_for_preemption(candidates: &[Candidate], now: i128) -> Option<&Candidate> {
    if candidates.is_empty() {
        return None;
    }
    let highest = |c: &Candidate| c.victims.first().map_or(0, |p| priority(p));
    let earliest_of_highest = |c: &Candidate| {
        let top = highest(c);
        c.victims
            .iter()
            .filter(|p| priority(p) == top)
            .map(|p| start_time(p, now))
            .min()
            .unwrap_or(i128::MIN)
    };
    let scores: [&dyn Fn(&Candidate) -> i128; 5] = [
        &|c| -(c.num_pdb_violations as i128),
        &|c| -i128::from(highest(c)),
        // Priorities shifted to be non-negative, so many negative-priority victims do not win.
        &|c| {
            -c.victims
                .iter()
                .map(|p| i128::from(priority(p)) + i128::from(i32::MAX) + 1)
                .sum::<i128>()
        },
        &|c| -(c.victims.len() as i128),
        &|c| earliest_of_highest(c),
    ];
    let mut left: Vec<&Candidate> = candidates.iter().collect();
    for score in scores {
        let best = left.iter().map(|c| score(c)).max().unwrap_or(i128::MIN);
        left.retain(|c| score(c) == best);
        if left.len() == 1 {
            break;
        }
    }
    left.first().copied()
}

/// The outcome of a dry run over the potential nodes.
#[derive(Debug, Default)]
pub struct DryRun {
    /// Candidates that violate no PDB first, then the others.
    pub candidates: Vec<Candidate>,
    /// Why the other nodes tried did not help.
    pub node_to_status: BTreeMap<String, Status>,
}

impl DefaultPreemption {
    /// Upstream's `PodEligibleToPreemptOthers`: `Err` says why not.
    fn eligible(&self, pod: &Pod, input: &PostFilterInput<'_>) -> Result<(), &'static str> {
        let policy = pod
            .spec
            .as_ref()
            .and_then(|s| s.preemption_policy.as_deref());
        if policy == Some(crate::priority::PREEMPT_NEVER) {
            return Err("not eligible due to preemptionPolicy=Never.");
        }
        let nominated = nominated_node_name(pod);
        if nominated.is_empty() {
            return Ok(());
        }
        // Filters found the nominated node hopeless: try elsewhere.
        let status_code = match input.node_to_status.get(nominated) {
            Some(s) => s.code(),
            None => input
                .absent_status
                .map_or(Code::UnschedulableAndUnresolvable, Status::code),
        };
        if status_code == Code::UnschedulableAndUnresolvable {
            return Ok(());
        }
        if let Some(node) = input.snapshot.get(nominated)
            && node
                .pods
                .iter()
                .any(|p| priority(&p.pod) < priority(pod) && terminating_by_preemption(&p.pod))
        {
            return Err("not eligible due to a terminating pod on the nominated node.");
        }
        Ok(())
    }

    /// Upstream's `DryRunPreemption`, over `potential` from `offset` (of `window`), stopping
    /// once `num_candidates` are found with at least one that violates no PDB.
    pub fn dry_run(
        &self,
        state: &CycleState,
        pod: &Pod,
        potential: &[Arc<NodeInfo>],
        pdbs: &[Arc<PodDisruptionBudget>],
        window: (usize, usize),
        input: &PostFilterInput<'_>,
    ) -> DryRun {
        let (offset, num_candidates) = window;
        let mut non_violating = Vec::new();
        let mut violating = Vec::new();
        let mut out = DryRun::default();
        for i in 0..potential.len() {
            let mut node = (*potential[(offset + i) % potential.len()]).clone();
            let name = node.name().to_string();
            let mut state = state.clone();
            match select_victims_on_node(
                input.framework,
                &mut state,
                pod,
                &mut node,
                pdbs,
                input.nominated,
            ) {
                Ok((victims, _)) if victims.is_empty() => {
                    out.node_to_status.insert(
                        name.clone(),
                        Status::error(format!("expected at least one victim pod on node {name:?}")),
                    );
                }
                Ok((victims, violations)) => {
                    let c = Candidate {
                        node: name,
                        victims,
                        num_pdb_violations: violations,
                    };
                    let list = if violations == 0 {
                        &mut non_violating
                    } else {
                        &mut violating
                    };
                    if list.len() < num_candidates {
                        list.push(c);
                    }
                    if !non_violating.is_empty()
                        && non_violating.len() + violating.len() >= num_candidates
                    {
                        break;
                    }
                }
                Err(status) => {
                    out.node_to_status.insert(name, status);
                }
            }
        }
        out.candidates = non_violating.into_iter().chain(violating).collect();
        out
    }

    fn pdbs(&self) -> Vec<Arc<PodDisruptionBudget>> {
        self.pdbs.as_ref().map(Store::state).unwrap_or_default()
    }

    /// Upstream's `Evaluator.Preempt` (without the "preemption: " prefix).
    fn preempt(
        &self,
        state: &CycleState,
        pod: &Pod,
        input: &PostFilterInput<'_>,
    ) -> (Option<PostFilterResult>, Status) {
        if let Err(why) = self.eligible(pod, input) {
            return (None, Status::unschedulable(why));
        }
        let all = input.snapshot.nodes.len();
        if all == 0 {
            return (None, Status::error("no nodes available"));
        }
        let potential = input.nodes_for_status_code(Code::Unschedulable);
        let run = if potential.is_empty() {
            DryRun::default()
        } else {
            let offset = rand::rng().random_range(0..potential.len());
            let num = self.args.num_candidates(potential.len());
            self.dry_run(state, pod, &potential, &self.pdbs(), (offset, num), input)
        };
        if run.candidates.is_empty() {
            let errors: Vec<String> = run
                .node_to_status
                .values()
                .filter(|s| s.code() == Code::Error)
                .map(Status::message)
                .collect();
            if !errors.is_empty() {
                return (None, Status::error(errors.join(", ")));
            }
            let diagnosis = Diagnosis {
                node_to_status: run.node_to_status,
                absent_status: Some(Status::unresolvable(NOT_HELPFUL)),
                ..Default::default()
            };
            return (
                Some(PostFilterResult {
                    nominated_node_name: String::new(),
                }),
                Status::unschedulable(fit_error_message(all, &diagnosis)),
            );
        }
        let now = k8s_openapi::jiff::Timestamp::now().as_nanosecond();
        let Some(best) = pick_one_node_for_preemption(&run.candidates, now) else {
            return (
                None,
                Status::unschedulable("no candidate node for preemption"),
            );
        };
        tracing::info!(
            "Preempting {} pod(s) on {} for {}/{}.",
            best.victims.len(),
            best.node,
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        self.prepare_candidate_async(best.clone(), pod, input);
        (
            Some(PostFilterResult {
                nominated_node_name: best.node.clone(),
            }),
            Status::success(),
        )
    }

    /// Upstream's `prepareCandidateAsync`: clears lower-priority nominations on the node and
    /// evicts the victims in the background, keeping the preemptor out of the active queue
    /// meanwhile.
    fn prepare_candidate_async(&self, c: Candidate, pod: &Pod, input: &PostFilterInput<'_>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let victims: Vec<Arc<Pod>> = c
            .victims
            .iter()
            .filter(|v| v.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        let lower_nominated: Vec<Arc<Pod>> = input
            .nominated
            .for_node(&c.node)
            .iter()
            .filter(|p| priority(&p.pod) < priority(pod))
            .map(|p| p.pod.clone())
            .collect();
        let uid = pod_uid(pod).to_string();
        lock(&self.preempting).insert(uid.clone());
        let preempting = self.preempting.clone();
        let recorder = input.recorder.cloned();
        let preemptor = pod.clone();
        tokio::spawn(async move {
            for p in &lower_nominated {
                if let Err(e) = clear_nominated_node_name(&client, p).await {
                    tracing::warn!(
                        "Cannot clear the nominatedNodeName of {}/{}: {e}.",
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.name.as_deref().unwrap_or_default()
                    );
                }
            }
            for victim in &victims {
                match preempt_pod(&client, &preemptor, victim, &c.node).await {
                    Ok(()) => {
                        if let Some(r) = &recorder {
                            r.record_related(
                                victim,
                                Some(&preemptor),
                                "Normal",
                                "Preempted",
                                "Preempting",
                                format!(
                                    "Preempted by pod {} on node {}",
                                    preemptor.metadata.uid.as_deref().unwrap_or_default(),
                                    c.node
                                ),
                            );
                        }
                    }
                    Err(e) => {
                        tracing::error!(
                            "Could not preempt {}/{} for {}/{}: {e}.",
                            victim.metadata.namespace.as_deref().unwrap_or_default(),
                            victim.metadata.name.as_deref().unwrap_or_default(),
                            preemptor.metadata.namespace.as_deref().unwrap_or_default(),
                            preemptor.metadata.name.as_deref().unwrap_or_default()
                        );
                        break;
                    }
                }
            }
            lock(&preempting).remove(&uid);
        });
    }
}

/// Why preempting one victim failed.
#[derive(Debug, thiserror::Error)]
pub enum PreemptError {
    #[error("adding the DisruptionTarget condition: {}", controllers::client::message(.0))]
    Condition(#[source] kube::Error),
    #[error("deleting the pod: {}", controllers::client::message(.0))]
    Delete(#[source] kube::Error),
}

/// The DisruptionTarget condition a victim gets, or `None` when it already has it.
pub fn disruption_target_patch(victim: &Pod, preemptor: &Pod) -> Option<serde_json::Value> {
    let scheduler = preemptor
        .spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME);
    let message = format!("{scheduler}: preempting to accommodate a higher priority pod");
    let has = victim
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == DISRUPTION_TARGET))
        .is_some_and(|c| {
            c.status == "True"
                && c.reason.as_deref() == Some(PREEMPTION_BY_SCHEDULER)
                && c.message.as_deref() == Some(message.as_str())
        });
    (!has).then(|| {
        json!({
            "status": {
                "conditions": [{
                    "type": DISRUPTION_TARGET,
                    "status": "True",
                    "reason": PREEMPTION_BY_SCHEDULER,
                    "message": message,
                    "lastProbeTime": null,
                    "lastTransitionTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        k8s_openapi::jiff::Timestamp::now()
                    ),
                }]
            }
        })
    })
}

/// Evicts one victim as upstream's `PreemptPod`: the DisruptionTarget condition through the
/// status subresource, then a (graceful) delete. A victim already gone is not an error.
async fn preempt_pod(
    client: &kube::Client,
    preemptor: &Pod,
    victim: &Pod,
    node: &str,
) -> Result<(), PreemptError> {
    let namespace = victim.metadata.namespace.as_deref().unwrap_or("default");
    let name = victim.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    if let Some(patch) = disruption_target_patch(victim, preemptor) {
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if controllers::client::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(PreemptError::Condition(e)),
        }
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if controllers::client::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(PreemptError::Delete(e)),
    }
    tracing::info!(
        "Preempted {namespace}/{name} on {node} for {}/{}.",
        preemptor.metadata.namespace.as_deref().unwrap_or_default(),
        preemptor.metadata.name.as_deref().unwrap_or_default()
    );
    Ok(())
}

/// Clears a pod's `status.nominatedNodeName`.
async fn clear_nominated_node_name(client: &kube::Client, pod: &Pod) -> Result<(), String> {
    if nominated_node_name(pod).is_empty() {
        return Ok(());
    }
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"status": {"nominatedNodeName": null}});
    api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map(|_| ())
        .map_err(|e| controllers::client::message(&e))
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_enqueue(&self) -> Option<&dyn PreEnqueuePlugin> {
        Some(self)
    }
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        Some(self)
    }
    /// As upstream: a pod this plugin holds back is looked at again when an assigned pod is
    /// deleted, and the plugins that rejected it decide (the hint itself says Skip).
    fn events_to_register(&self) -> Vec<EventWithHint> {
        vec![
            EventWithHint::new(
                EventResource::AssignedPod,
                action::DELETE,
                "AssignedPodDelete",
            )
            .with_hint(|_, _| QueueingHint::Skip),
        ]
    }
}

impl PreEnqueuePlugin for DefaultPreemption {
    fn pre_enqueue(&self, pod: &Pod) -> Status {
        if lock(&self.preempting).contains(pod_uid(pod)) {
            return Status::unresolvable("waiting for the preemption for this pod to be finished");
        }
        Status::success()
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        input: &PostFilterInput<'_>,
    ) -> (Option<PostFilterResult>, Status) {
        let (result, status) = self.preempt(state, pod, input);
        let msg = status.message();
        if msg.is_empty() {
            return (result, status);
        }
        (
            result,
            Status::new(status.code(), [format!("preemption: {msg}")]),
        )
    }
}

#[cfg(test)]
mod tests;
