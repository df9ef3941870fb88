//! One sync of one StatefulSet (upstream `defaultStatefulSetControl.updateStatefulSet`); see
//! the module documentation of [`super`] for its steps.

use super::identity::{self, ordinal_of, revision_of};
use super::retention::{self, Owner, Policy};
use super::{Context, Error};
use crate::events::EventType;
use crate::{client, ownership, pods, revisions};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;
use std::time::Duration;

/// Seconds before a sync waiting for stale claims to be collected looks again.
const STALE_CLAIM_RECHECK: u64 = 2;

fn api_error(set: &StatefulSet, action: String, source: kube::Error) -> Error {
    Error::Api {
        action,
        namespace: set.metadata.namespace.clone().unwrap_or_default(),
        name: set.metadata.name.clone().unwrap_or_default(),
        source,
    }
}

/// The pod template a revision holds.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision
        .data
        .as_ref()?
        .0
        .get("spec")?
        .get("template")?
        .clone();
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

fn running_and_ready(pod: &Pod) -> bool {
    pods::phase(pod) == "Running" && pods::is_ready(pod)
}

fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// How an existing pod and its claims are brought back in line with the set (upstream
/// `UpdateStatefulPod` and `UpdatePodClaimForRetentionPolicy`).
struct Repair {
    pod: Arc<Pod>,
    /// Claims with their owner references made to agree with the retention policy.
    claims: Vec<PersistentVolumeClaim>,
    /// The pod lost its identity labels.
    relabel: bool,
    /// A pod in range (upstream announces its update with an event), not a condemned one.
    replica: bool,
}

/// What the sync decided to do next (at most one blocking step for an ordered set).
enum Step {
    Create(i32),
    Delete(Arc<Pod>, &'static str),
    Repair(Repair),
    Wait,
    Done,
}

/// What planning looks at besides the pods.
struct Planner<'a> {
    set: &'a StatefulSet,
    /// The claim of that name in the cache.
    claim: &'a dyn Fn(&str) -> Option<Arc<PersistentVolumeClaim>>,
    start: i32,
    ordered: bool,
    min_ready: i32,
    now: Timestamp,
    /// Set when a pod waits for the garbage collector to delete its stale claims (claim
    /// deletions do not trigger syncs, so the sync looks again later).
    waits_for_collector: std::cell::Cell<bool>,
}

impl Planner<'_> {
    /// Whether a claim of the pod to create still points at an earlier pod of its name, which
    /// the garbage collector is about to delete with its claims (upstream `PodClaimIsStale`).
    fn stale_claims(&self, ordinal: i32) -> bool {
        if !Policy::of(self.set).delete_on_scale_down {
            return false;
        }
        let name = identity::pod_name(self.set, ordinal);
        let not_yet = Owner {
            api_version: "v1",
            kind: "Pod",
            name: &name,
            uid: "",
        };
        let stale = identity::claims(self.set, ordinal).iter().any(|c| {
            (self.claim)(c.metadata.name.as_deref().unwrap_or_default())
                .is_some_and(|found| retention::has_stale_ref(&found, &not_yet))
        });
        if stale {
            self.waits_for_collector.set(true);
        }
        stale
    }

    /// What an existing pod needs: its identity labels back (for a pod in range) and its
    /// claims' owners set by the retention policy (upstream `processReplica` and
    /// `fixPodClaim`).
    fn repair(&self, pod: &Arc<Pod>, replica: bool) -> Option<Repair> {
        let ordinal = ordinal_of(self.set, pod)?;
        let policy = Policy::of(self.set);
        let (set, owner) = (Owner::set(self.set), Owner::pod(pod));
        let scaled_down = !replica;
        let claims: Vec<PersistentVolumeClaim> = identity::claims(self.set, ordinal)
            .iter()
            .filter_map(|c| (self.claim)(c.metadata.name.as_deref().unwrap_or_default()))
            .filter(|c| !retention::up_to_date(c, policy, &set, &owner, scaled_down))
            .map(|c| {
                let mut fixed = (*c).clone();
                fixed.metadata.owner_references = Some(retention::updated_refs(
                    &c,
                    policy,
                    &set,
                    &owner,
                    scaled_down,
                ))
                .filter(|r| !r.is_empty());
                fixed
            })
            .collect();
        let relabel = replica && !identity::identity_matches(self.set, pod);
        (relabel || !claims.is_empty()).then(|| Repair {
            pod: pod.clone(),
            claims,
            relabel,
            replica,
        })
    }
}

pub async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(set) = ctx.sets.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let mut set = (*set).clone();
    let selector = set.spec.as_ref().map(|s| &s.selector);
    let claimed = ownership::claim_pods(&ctx.client, &set, selector, None, &ctx.pods)
        .await
        .map_err(|e| api_error(&set, format!("{} pod {}", e.action, e.name), e.source))?;
    let (update, others) = revisions::current(&ctx.client, &ctx.revisions, &mut set)
        .await
        .map_err(|source| Error::Revision {
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        })?;
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let current = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.clone())
        .and_then(|n| {
            others
                .iter()
                .find(|r| r.metadata.name.as_ref() == Some(&n))
                .cloned()
        })
        .map(|r| (*r).clone())
        .unwrap_or_else(|| update.clone());
    let current_name = current.metadata.name.clone().unwrap_or_default();

    let spec = set.spec.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1).max(0);
    let start = spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    let ordered = spec.pod_management_policy.as_deref() != Some("Parallel");
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    let partition = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = Timestamp::now();

    // Pods by slot; the rest are condemned, highest ordinal first.
    let mut slots: Vec<Option<Arc<Pod>>> = vec![None; replicas as usize];
    let mut condemned: Vec<(i32, Arc<Pod>)> = Vec::new();
    for pod in &claimed {
        match ordinal_of(&set, pod) {
            Some(o) if o >= start && o < start + replicas => {
                slots[(o - start) as usize] = Some(pod.clone())
            }
            Some(o) => condemned.push((o, pod.clone())),
            None => {}
        }
    }
    condemned.sort_by_key(|c| std::cmp::Reverse(c.0));

    let mut steps = Vec::new();
    if set.metadata.deletion_timestamp.is_none() {
        let claim = |name: &str| ctx.claims.get(&ObjectRef::new(name).within(namespace));
        let planner = Planner {
            set: &set,
            claim: &claim,
            start,
            ordered,
            min_ready,
            now,
            waits_for_collector: std::cell::Cell::new(false),
        };
        plan(&planner, &mut steps, &slots, &condemned);
        if planner.waits_for_collector.get() {
            ctx.queue
                .add_after(key.to_string(), Duration::from_secs(STALE_CLAIM_RECHECK));
        }
        if rolling && !steps.iter().any(|s| matches!(s, Step::Wait)) {
            roll(&mut steps, &slots, start, partition, &update_name, ordered);
        }
    }
    for step in steps {
        match step {
            Step::Create(ordinal) => {
                let (template, revision) = if ordinal < partition && current_name != update_name {
                    (
                        template_of(&current).unwrap_or_default(),
                        current_name.clone(),
                    )
                } else {
                    (
                        set.spec
                            .as_ref()
                            .map(|s| s.template.clone())
                            .unwrap_or_default(),
                        update_name.clone(),
                    )
                };
                create(ctx, &set, ordinal, &template, &revision).await?;
            }
            Step::Delete(pod, why) => delete(ctx, &set, &pod, why).await?,
            Step::Repair(repair) => fix(ctx, &set, repair).await?,
            Step::Wait | Step::Done => {}
        }
    }

    write_status(
        ctx,
        &set,
        &claimed,
        replicas,
        &current_name,
        &update_name,
        rolling,
        min_ready,
        now,
    )
    .await?;
    if min_ready > 0
        && claimed
            .iter()
            .any(|p| pods::is_ready(p) && !pods::is_available(p, min_ready, now))
    {
        ctx.queue.add_after(
            key.to_string(),
            Duration::from_secs(u64::try_from(min_ready).unwrap_or(0)),
        );
    }
    clean_up_history(ctx, &set, &update_name, &current_name, &others, &claimed).await;
    Ok(())
}

/// Creates missing pods, replaces failed ones, repairs pods that lost their identity or whose
/// claims' owners disagree with the retention policy, and removes condemned ones (after
/// pointing their claims at them); an ordered set stops at the first blocking step and waits
/// for pods to become running and ready.
fn plan(
    p: &Planner,
    steps: &mut Vec<Step>,
    slots: &[Option<Arc<Pod>>],
    condemned: &[(i32, Arc<Pod>)],
) {
    let ordered = p.ordered;
    for (i, slot) in slots.iter().enumerate() {
        let ordinal = p.start + i as i32;
        let step = match slot {
            None if p.stale_claims(ordinal) => Step::Wait,
            None => Step::Create(ordinal),
            Some(pod) if pods::phase(pod) == "Failed" && !terminating(pod) => {
                Step::Delete(pod.clone(), "failed")
            }
            Some(pod) if terminating(pod) => Step::Wait,
            Some(pod)
                if !running_and_ready(pod) || !pods::is_available(pod, p.min_ready, p.now) =>
            {
                // A parallel set does not wait for the pod before repairing it.
                if let Some(repair) = p.repair(pod, true).filter(|_| !ordered) {
                    steps.push(Step::Repair(repair));
                }
                Step::Wait
            }
            Some(pod) => p.repair(pod, true).map_or(Step::Done, Step::Repair),
        };
        let blocking = !matches!(step, Step::Done | Step::Repair(_));
        steps.push(step);
        if ordered && blocking {
            return;
        }
    }
    // Claims of condemned pods get their owners before any of the pods goes, so the garbage
    // collector takes them along (`whenScaled: Delete`).
    for (_, pod) in condemned {
        if let Some(repair) = p.repair(pod, false) {
            steps.push(Step::Repair(repair));
        }
    }
    for (_, pod) in condemned {
        if terminating(pod) {
            if ordered {
                steps.push(Step::Wait);
                return;
            }
            continue;
        }
        steps.push(Step::Delete(pod.clone(), "condemned"));
        if ordered {
            return;
        }
    }
}

/// Deletes the highest-ordinal pod at or above the partition that is not of the update
/// revision, waiting for an unhealthy updated pod first (upstream's rolling update).
fn roll(
    steps: &mut Vec<Step>,
    slots: &[Option<Arc<Pod>>],
    start: i32,
    partition: i32,
    update: &str,
    ordered: bool,
) {
    if ordered
        && steps
            .iter()
            .any(|s| !matches!(s, Step::Done | Step::Repair(_)))
    {
        return;
    }
    for (i, slot) in slots.iter().enumerate().rev() {
        if start + (i as i32) < partition {
            break;
        }
        let Some(pod) = slot else {
            return;
        };
        if revision_of(pod) != Some(update) && !terminating(pod) {
            steps.push(Step::Delete(pod.clone(), "updated"));
            return;
        }
        if !running_and_ready(pod) {
            return;
        }
    }
}

async fn create(
    ctx: &Context,
    set: &StatefulSet,
    ordinal: i32,
    template: &PodTemplateSpec,
    revision: &str,
) -> Result<(), Error> {
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let pod_name = identity::pod_name(set, ordinal);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    for claim in identity::claims(set, ordinal) {
        let claim_name = claim.metadata.name.clone().unwrap_or_default();
        if ctx
            .claims
            .get(&ObjectRef::new(&claim_name).within(&namespace))
            .is_some()
        {
            continue;
        }
        match claims.create(&PostParams::default(), &claim).await {
            Ok(_) => ctx.recorder.record(
                set,
                EventType::Normal,
                "SuccessfulCreate",
                format!(
                    "create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"
                ),
            ),
            Err(e) if client::is_already_exists(&e) => {}
            Err(e) => {
                ctx.recorder.record(
                    set,
                    EventType::Warning,
                    "FailedCreate",
                    format!(
                        "create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {}",
                        client::message(&e)
                    ),
                );
                return Err(api_error(set, format!("creating claim {claim_name}"), e));
            }
        }
    }
    let pod = identity::pod(set, ordinal, template, revision);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    match api.create(&PostParams::default(), &pod).await {
        Ok(_) => {
            ctx.recorder.record(
                set,
                EventType::Normal,
                "SuccessfulCreate",
                format!("create Pod {pod_name} in StatefulSet {set_name} successful"),
            );
            Ok(())
        }
        // Still there while it terminates: created again on a later sync.
        Err(e) if client::is_already_exists(&e) => Ok(()),
        Err(e) => {
            if !client::has_cause(&e, client::NAMESPACE_TERMINATING_CAUSE) {
                ctx.recorder.record(
                    set,
                    EventType::Warning,
                    "FailedCreate",
                    format!(
                        "create Pod {pod_name} in StatefulSet {set_name} failed error: {}",
                        client::message(&e)
                    ),
                );
            }
            Err(api_error(set, format!("creating pod {pod_name}"), e))
        }
    }
}

/// Applies a [`Repair`]: the claims' owner references first, then the pod's identity labels
/// (a merge patch), with upstream's events.
async fn fix(ctx: &Context, set: &StatefulSet, repair: Repair) -> Result<(), Error> {
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let pod_name = repair.pod.metadata.name.clone().unwrap_or_default();
    let failed = |message: String| {
        if repair.replica {
            ctx.recorder.record(
                set,
                EventType::Warning,
                "FailedUpdate",
                format!("update Pod {pod_name} in StatefulSet {set_name} failed error: {message}"),
            );
        }
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    let (policy, owner, pod_owner) = (Policy::of(set), Owner::set(set), Owner::pod(&repair.pod));
    for claim in &repair.claims {
        let claim_name = claim.metadata.name.clone().unwrap_or_default();
        // Upstream's text, spelling included.
        if retention::conflicts(claim, policy, &owner, &pod_owner) {
            ctx.recorder.record(
                set,
                EventType::Warning,
                "ConflictingController",
                format!(
                    "PersistentVolumeClaim {claim_name} has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim"
                ),
            );
        }
        match claims
            .replace(&claim_name, &PostParams::default(), claim)
            .await
        {
            Ok(_) => {}
            // Gone meanwhile: nothing left to own.
            Err(e) if client::is_not_found(&e) => {}
            Err(e) => {
                failed(format!(
                    "could not update claim {claim_name} for delete policy ownerRefs: {}",
                    client::message(&e)
                ));
                return Err(api_error(
                    set,
                    format!("updating the owners of claim {claim_name}"),
                    e,
                ));
            }
        }
    }
    if repair.relabel
        && let Some(ordinal) = ordinal_of(set, &repair.pod)
    {
        let labels: serde_json::Map<String, serde_json::Value> =
            identity::identity_labels(set, ordinal)
                .into_iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                .collect();
        let patch = serde_json::json!({ "metadata": { "labels": labels } });
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
        if let Err(e) = pods
            .patch(&pod_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            failed(client::message(&e));
            return Err(api_error(set, format!("updating pod {pod_name}"), e));
        }
    }
    if repair.replica {
        ctx.recorder.record(
            set,
            EventType::Normal,
            "SuccessfulUpdate",
            format!("update Pod {pod_name} in StatefulSet {set_name} successful"),
        );
    }
    Ok(())
}

async fn delete(ctx: &Context, set: &StatefulSet, pod: &Pod, why: &str) -> Result<(), Error> {
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    if why == "failed" {
        ctx.recorder.record(
            set,
            EventType::Warning,
            "RecreatingFailedPod",
            format!("StatefulSet {namespace}/{set_name} is recreating failed Pod {pod_name}"),
        );
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&pod_name, &params).await {
        Ok(_) => {
            ctx.recorder.record(
                set,
                EventType::Normal,
                "SuccessfulDelete",
                format!("delete Pod {pod_name} in StatefulSet {set_name} successful"),
            );
            Ok(())
        }
        Err(e) if client::is_not_found(&e) => Ok(()),
        Err(e) => {
            ctx.recorder.record(
                set,
                EventType::Warning,
                "FailedDelete",
                format!(
                    "delete Pod {pod_name} in StatefulSet {set_name} failed error: {}",
                    client::message(&e)
                ),
            );
            Err(api_error(set, format!("deleting pod {pod_name}"), e))
        }
    }
}

/// Writes the status counts when they changed; a finished rolling update makes the update
/// revision current.
#[allow(clippy::too_many_arguments)]
async fn write_status(
    ctx: &Context,
    set: &StatefulSet,
    claimed: &[Arc<Pod>],
    replicas: i32,
    current: &str,
    update: &str,
    rolling: bool,
    min_ready: i32,
    now: Timestamp,
) -> Result<(), Error> {
    let live: Vec<&Arc<Pod>> = claimed
        .iter()
        .filter(|p| ordinal_of(set, p).is_some())
        .collect();
    let count = |f: &dyn Fn(&Pod) -> bool| live.iter().filter(|p| f(p)).count() as i32;
    let ready = count(&|p| running_and_ready(p));
    let available = count(&|p| running_and_ready(p) && pods::is_available(p, min_ready, now));
    let mut current_replicas = count(&|p| revision_of(p) == Some(current));
    let updated = count(&|p| revision_of(p) == Some(update));
    let total = live.len() as i32;
    let mut current_revision = current.to_string();
    if rolling && updated == replicas && ready == replicas && total == replicas {
        current_revision = update.to_string();
        current_replicas = updated;
    }
    let old = set.status.clone().unwrap_or_default();
    let next = StatefulSetStatus {
        replicas: total,
        ready_replicas: (ready > 0).then_some(ready),
        available_replicas: Some(available),
        current_replicas: (current_replicas > 0).then_some(current_replicas),
        updated_replicas: (updated > 0).then_some(updated),
        current_revision: Some(current_revision),
        update_revision: Some(update.to_string()),
        observed_generation: set.metadata.generation,
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
    };
    if Some(&next) == set.status.as_ref() {
        return Ok(());
    }
    let mut copy = set.clone();
    copy.status = Some(next);
    let api: Api<StatefulSet> = Api::namespaced(
        ctx.client.clone(),
        set.metadata.namespace.as_deref().unwrap_or_default(),
    );
    api.replace_status(
        set.metadata.name.as_deref().unwrap_or_default(),
        &PostParams::default(),
        &copy,
    )
    .await
    .map(|_| ())
    .map_err(|e| api_error(set, "updating the status".to_string(), e))
}

/// Deletes old revisions beyond `revisionHistoryLimit` that no pod runs (the current and the
/// update revision are kept).
async fn clean_up_history(
    ctx: &Context,
    set: &StatefulSet,
    update: &str,
    current: &str,
    others: &[Arc<ControllerRevision>],
    claimed: &[Arc<Pod>],
) {
    let limit = set
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(revisions::DEFAULT_HISTORY_LIMIT);
    let mut live: Vec<String> = claimed
        .iter()
        .filter_map(|p| {
            let revision = revision_of(p)?;
            others
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(revision))
                .and_then(|r| {
                    r.metadata
                        .labels
                        .as_ref()?
                        .get(revisions::HASH_LABEL)
                        .cloned()
                })
        })
        .collect();
    if let Some(hash) = others
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current))
        .and_then(|r| {
            r.metadata
                .labels
                .as_ref()?
                .get(revisions::HASH_LABEL)
                .cloned()
        })
    {
        live.push(hash);
    }
    let namespace = set.metadata.namespace.as_deref().unwrap_or_default();
    let doomed = revisions::to_clean_up(others, update, &live, limit);
    revisions::delete(&ctx.client, namespace, doomed, super::NAME).await;
}
