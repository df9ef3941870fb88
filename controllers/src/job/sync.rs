//! One sync of one Job (upstream `syncJob` and `trackJobStatusAndRemoveFinalizers`); see the
//! module documentation of [`super`] for its steps.

use super::conditions::{self, COMPLETE, FAILED, FAILURE_TARGET, Finish, SUCCESS_CRITERIA_MET};
use super::failure_policy::{self, Verdict};
use super::indexes;
use super::manage;
use super::pods::{self as job_pods, IndexFailures, has_finalizer};
use super::tracking::{self, MAX_UNCOUNTED};
use super::{Context, Error, MANAGED_BY, backoff, success_policy};
use crate::events::EventType;
use crate::ownership;
use crate::pods::ranking::pods_to_delete;
use crate::pods::{self, is_active};
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// What the counting part of a sync knows about the Job.
struct Counts {
    indexed: bool,
    completions: i32,
    /// Succeeded indexes as the status had them, and with this sync's successes.
    prev_succeeded: BTreeSet<i32>,
    succeeded_indexes: BTreeSet<i32>,
    failed_indexes: Option<BTreeSet<i32>>,
}

pub async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(cached) = ctx.jobs.get(&ObjectRef::new(name).within(namespace)) else {
        ctx.expectations.forget(key);
        ctx.backoffs.forget(key);
        return release_orphans(ctx, namespace, name).await;
    };
    let mut job = (*cached).clone();
    let spec = job.spec.clone().unwrap_or_default();
    if spec.managed_by.as_deref().is_some_and(|m| m != MANAGED_BY) {
        return Ok(());
    }
    let satisfied = ctx.expectations.satisfied(key, |pod| {
        ctx.pods.get(&ObjectRef::new(pod).within(namespace))
    });
    let pods = claim(ctx, &job).await?;
    if conditions::is_finished(&job) {
        ctx.backoffs.forget(key);
        let left: Vec<Arc<Pod>> = pods.into_iter().filter(|p| has_finalizer(p)).collect();
        let (_, err) = manage::remove_finalizers(ctx, namespace, name, &left).await;
        return err.map_or(Ok(()), Err);
    }

    let now = Timestamp::now();
    let suspended = spec.suspend == Some(true);
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec
        .completions
        .unwrap_or(if indexed { 0 } else { i32::MAX });
    let status = job.status.get_or_insert_with(Default::default).clone();
    let uncounted = status.uncounted_terminated_pods.clone();

    let active_pods: Vec<Arc<Pod>> = pods.iter().filter(|p| is_active(p)).cloned().collect();
    let mut terminating = pods.iter().filter(|p| job_pods::is_terminating(p)).count() as i32;
    let fresh = |p: &&Arc<Pod>| {
        let uid = p.metadata.uid.as_deref().unwrap_or_default();
        has_finalizer(p)
            && !ctx.removals.pending(uid)
            && !tracking::is_uncounted(uncounted.as_ref(), uid)
            && (!indexed || indexes::of_pod(p, completions).is_some())
    };
    let new_succeeded: Vec<&Arc<Pod>> = pods
        .iter()
        .filter(fresh)
        .filter(|p| job_pods::is_succeeded(p))
        .collect();
    let new_failed: Vec<&Arc<Pod>> = pods
        .iter()
        .filter(fresh)
        .filter(|p| !job_pods::is_succeeded(p) && job_pods::is_failed(&job, p))
        .filter(|p| failure_policy::judge(&job, p) != Verdict::Ignore)
        .collect();
    let (uncounted_succeeded, uncounted_failed) = uncounted.as_ref().map_or((0, 0), |u| {
        let len = |l: &Option<Vec<String>>| l.as_ref().map_or(0, Vec::len) as i32;
        (len(&u.succeeded), len(&u.failed))
    });
    let mut succeeded =
        status.succeeded.unwrap_or(0) + new_succeeded.len() as i32 + uncounted_succeeded;
    let failed = status.failed.unwrap_or(0) + new_failed.len() as i32 + uncounted_failed;
    let mut ready = active_pods.iter().filter(|p| pods::is_ready(p)).count() as i32;

    let status = job.status.get_or_insert_with(Default::default);
    if status.start_time.is_none() && !suspended {
        status.start_time = Some(Time(now));
    }
    let failed_at: Vec<Timestamp> = new_failed
        .iter()
        .map(|p| job_pods::finished_at(p).unwrap_or(now))
        .collect();
    let record = ctx.backoffs.get(key).after(new_succeeded.len(), &failed_at);

    let mut finish = already_decided(status);
    if finish.is_none() {
        finish = pods
            .iter()
            .filter(|p| job_pods::is_failed(&job, p))
            .find_map(|p| match failure_policy::judge(&job, p) {
                Verdict::FailJob(message) => Some(Finish {
                    type_: FAILURE_TARGET,
                    reason: "PodFailurePolicy".to_string(),
                    message,
                }),
                _ => None,
            });
    }
    if finish.is_none() {
        if failed > backoff_limit || restarts_exceed_limit(&job, &active_pods, backoff_limit) {
            finish = Some(failure(
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
        } else if let Some(left) = deadline_left(&job, suspended, now) {
            if left.is_zero() {
                finish = Some(failure(
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                ));
            } else {
                ctx.queue.add_after(key.to_string(), left);
            }
        }
    }
    let mut counts = Counts {
        indexed,
        completions,
        prev_succeeded: BTreeSet::new(),
        succeeded_indexes: BTreeSet::new(),
        failed_indexes: None,
    };
    if indexed {
        let status = job.status.as_ref();
        counts.prev_succeeded = indexes::parse(
            status.and_then(|s| s.completed_indexes.as_deref()),
            completions,
        );
        counts.succeeded_indexes = counts.prev_succeeded.clone();
        counts.succeeded_indexes.extend(
            pods.iter()
                .filter(|p| job_pods::is_succeeded(p) && has_finalizer(p))
                .filter_map(|p| indexes::of_pod(p, completions)),
        );
        succeeded = counts.succeeded_indexes.len() as i32;
        if let Some(limit) = spec.backoff_limit_per_index {
            let failed_indexes = failed_indexes(&job, &pods, &counts, limit);
            let total = failed_indexes.len() as i32;
            if finish.is_none() {
                if spec.max_failed_indexes.is_some_and(|max| total > max) {
                    finish = Some(failure(
                        "MaxFailedIndexesExceeded",
                        "Job has exceeded the specified maximal number of failed indexes",
                    ));
                } else if total > 0 && total + succeeded >= completions {
                    finish = Some(failure("FailedIndexes", "Job has failed indexes"));
                }
            }
            counts.failed_indexes = Some(failed_indexes);
        }
        if finish.is_none()
            && let Some(message) = success_policy::met(&job, completions, &counts.succeeded_indexes)
        {
            finish = Some(Finish {
                type_: SUCCESS_CRITERIA_MET,
                reason: "SuccessPolicy".to_string(),
                message,
            });
        }
    }

    let mut active = active_pods.len() as i32;
    let mut suspend_changed = false;
    let mut sync_error = None;
    if finish.is_some() {
        // These pods count as failed, so they keep the finalizer until counted.
        let (deleted, deleted_ready, err) =
            manage::delete(ctx, &job, key, &active_pods, manage::Counted::AsFailed).await;
        if deleted != active || !satisfied {
            // Pods may still be running or not yet in the cache: not finished yet.
            finish = None;
        }
        active -= deleted;
        ready -= deleted_ready;
        terminating += deleted;
        sync_error = err;
    } else {
        let mut managed = false;
        if satisfied && job.metadata.deletion_timestamp.is_none() {
            let outcome = manage_pods(
                ctx,
                &job,
                key,
                &pods,
                &active_pods,
                &counts,
                succeeded,
                parallelism,
                suspended,
                terminating,
                &record,
            )
            .await;
            active = outcome.active;
            ready -= outcome.deleted_ready;
            terminating += outcome.deleted;
            sync_error = outcome.error;
            managed = true;
        }
        let complete = active == 0
            && match spec.completions {
                None => succeeded > 0,
                Some(c) => succeeded >= c,
            };
        if complete {
            finish = Some(Finish {
                type_: SUCCESS_CRITERIA_MET,
                reason: "CompletionsReached".to_string(),
                message: "Reached expected number of succeeded pods".to_string(),
            });
        } else if managed {
            let status = job.status.get_or_insert_with(Default::default);
            if suspended {
                if conditions::set(
                    status,
                    conditions::SUSPENDED,
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    now,
                ) {
                    suspend_changed = true;
                    ctx.recorder.record(
                        &job,
                        EventType::Normal,
                        "Suspended",
                        "Job suspended".to_string(),
                    );
                }
            } else if conditions::true_condition(Some(status), conditions::SUSPENDED).is_some()
                && conditions::set(
                    status,
                    conditions::SUSPENDED,
                    "False",
                    "JobResumed",
                    "Job resumed",
                    now,
                )
            {
                suspend_changed = true;
                // The active deadline counts from the resumption.
                status.start_time = Some(Time(now));
                ctx.recorder.record(
                    &job,
                    EventType::Normal,
                    "Resumed",
                    "Job resumed".to_string(),
                );
            }
        }
    }

    let status = job.status.get_or_insert_with(Default::default);
    let needs_update = suspend_changed
        || status.active.unwrap_or(0) != active
        || status.ready != Some(ready.max(0))
        || status.terminating != Some(terminating);
    status.active = Some(active);
    status.ready = Some(ready.max(0));
    status.terminating = Some(terminating);
    track_and_flush(
        ctx,
        job,
        &pods,
        &counts,
        finish,
        needs_update,
        terminating,
        now,
    )
    .await?;
    ctx.backoffs.set(key, record);
    sync_error.map_or(Ok(()), Err)
}

/// The finished condition an earlier sync decided on: `Failed` after `FailureTarget`,
/// `Complete` after `SuccessCriteriaMet`.
fn already_decided(status: &JobStatus) -> Option<Finish> {
    let from = |c: &k8s_openapi::api::batch::v1::JobCondition, type_| Finish {
        type_,
        reason: c.reason.clone().unwrap_or_default(),
        message: c.message.clone().unwrap_or_default(),
    };
    if let Some(c) = conditions::true_condition(Some(status), FAILURE_TARGET) {
        return Some(from(c, FAILED));
    }
    conditions::true_condition(Some(status), SUCCESS_CRITERIA_MET).map(|c| from(c, COMPLETE))
}

fn failure(reason: &str, message: &str) -> Finish {
    Finish {
        type_: FAILURE_TARGET,
        reason: reason.to_string(),
        message: message.to_string(),
    }
}

/// With `restartPolicy: OnFailure` failed containers restart in place: the Job fails once the
/// restarts of its running and pending pods reach the backoff limit.
fn restarts_exceed_limit(job: &Job, active: &[Arc<Pod>], limit: i32) -> bool {
    let on_failure = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    if !on_failure {
        return false;
    }
    let restarts: i32 = active
        .iter()
        .filter(|p| matches!(pods::phase(p), "Running" | "Pending"))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum();
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// How long until `activeDeadlineSeconds` passes, when it applies (zero once passed).
fn deadline_left(job: &Job, suspended: bool, now: Timestamp) -> Option<Duration> {
    let seconds = job.spec.as_ref()?.active_deadline_seconds?;
    let start = job.status.as_ref()?.start_time.as_ref()?.0;
    if suspended {
        return None;
    }
    let elapsed = now.duration_since(start);
    let left = SignedDuration::from_secs(seconds) - elapsed;
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

/// The failed indexes of a Job with `backoffLimitPerIndex`: those in the status, and those whose
/// pod failed this time beyond the limit (or by a `FailIndex` rule).
fn failed_indexes(job: &Job, pods: &[Arc<Pod>], counts: &Counts, limit: i32) -> BTreeSet<i32> {
    let status = job.status.as_ref();
    let mut failed = indexes::parse(
        status.and_then(|s| s.failed_indexes.as_deref()),
        counts.completions,
    );
    for pod in pods.iter().filter(|p| has_finalizer(p)) {
        let Some(index) = indexes::of_pod(pod, counts.completions) else {
            continue;
        };
        if counts.succeeded_indexes.contains(&index)
            || job_pods::is_succeeded(pod)
            || !job_pods::is_failed(job, pod)
        {
            continue;
        }
        let beyond = match failure_policy::judge(job, pod) {
            Verdict::FailIndex | Verdict::FailJob(_) => true,
            Verdict::Ignore => false,
            Verdict::Count => {
                indexes::count_annotation(pod, indexes::INDEX_FAILURE_COUNT) + 1 > limit
            }
        };
        if beyond {
            failed.insert(index);
        }
    }
    failed
}

struct Managed {
    active: i32,
    deleted: i32,
    deleted_ready: i32,
    error: Option<Error>,
}

/// Creates or deletes pods so the Job has as many active as it should (upstream `manageJob`).
#[allow(clippy::too_many_arguments)]
async fn manage_pods(
    ctx: &Context,
    job: &Job,
    key: &str,
    pods: &[Arc<Pod>],
    active_pods: &[Arc<Pod>],
    counts: &Counts,
    succeeded: i32,
    parallelism: i32,
    suspended: bool,
    terminating: i32,
    record: &backoff::Record,
) -> Managed {
    let mut active = active_pods.len() as i32;
    if suspended {
        let (deleted, deleted_ready, error) =
            manage::delete(ctx, job, key, active_pods, manage::Counted::Never).await;
        return Managed {
            active: active - deleted,
            deleted,
            deleted_ready,
            error,
        };
    }
    let spec = job.spec.as_ref();
    let want = match spec.and_then(|s| s.completions) {
        None if succeeded > 0 => active,
        None => parallelism,
        Some(c) => (c - succeeded).clamp(0, parallelism),
    };
    let doomed = for_removal(counts, active_pods, (active - want).max(0) as usize);
    if !doomed.is_empty() {
        let (deleted, deleted_ready, error) =
            manage::delete(ctx, job, key, &doomed, manage::Counted::Never).await;
        return Managed {
            active: active - deleted,
            deleted,
            deleted_ready,
            error,
        };
    }
    // Pods still terminating hold their place when only failed pods are replaced.
    let held = if job_pods::replaces_only_failed(job) {
        terminating
    } else {
        0
    };
    if active + held >= want {
        return Managed {
            active,
            deleted: 0,
            deleted_ready: 0,
            error: None,
        };
    }
    let left = record.remaining(Timestamp::now());
    if !left.is_zero() {
        ctx.queue
            .add_after(key.to_string(), left.max(Duration::from_secs(1)));
        return Managed {
            active,
            deleted: 0,
            deleted_ready: 0,
            error: None,
        };
    }
    let missing = (want - active - held) as usize;
    let wanted: Vec<Option<(i32, IndexFailures)>> = if counts.indexed {
        pending_indexes(job, counts, pods, missing)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; missing]
    };
    let (created, error) = manage::create(ctx, job, key, wanted).await;
    active += created as i32;
    Managed {
        active,
        deleted: 0,
        deleted_ready: 0,
        error,
    }
}

/// The active pods to delete: for Indexed Jobs first those without a valid index and all but
/// one per index, then `at_least` more, those upstream's ordering puts first.
fn for_removal(counts: &Counts, active: &[Arc<Pod>], at_least: usize) -> Vec<Arc<Pod>> {
    let now = Timestamp::now();
    let mut doomed = Vec::new();
    let mut left = Vec::new();
    if counts.indexed {
        let mut by_index: BTreeMap<i32, Vec<Arc<Pod>>> = BTreeMap::new();
        for pod in active {
            match indexes::of_pod(pod, counts.completions) {
                Some(i) => by_index.entry(i).or_default().push(pod.clone()),
                None => doomed.push(pod.clone()),
            }
        }
        for group in by_index.into_values() {
            // Keep the one the ordering would delete last.
            let extra = pods_to_delete(group.clone(), &[], group.len() - 1, now);
            let gone: HashSet<_> = extra.iter().map(|p| p.metadata.uid.clone()).collect();
            left.extend(
                group
                    .into_iter()
                    .filter(|p| !gone.contains(&p.metadata.uid)),
            );
            doomed.extend(extra);
        }
    } else {
        left = active.to_vec();
    }
    if at_least > doomed.len() {
        let more = (at_least - doomed.len()).min(left.len());
        doomed.extend(pods_to_delete(left, &[], more, now));
    }
    doomed
}

/// The first `count` indexes that have no active pod and neither succeeded nor failed, with
/// how often each failed before (from its latest finished pod).
fn pending_indexes(
    job: &Job,
    counts: &Counts,
    pods: &[Arc<Pod>],
    count: usize,
) -> Vec<(i32, IndexFailures)> {
    let busy: HashSet<i32> = pods
        .iter()
        .filter(|p| is_active(p))
        .filter_map(|p| indexes::of_pod(p, counts.completions))
        .collect();
    let per_index = job_pods::per_index_limits(job);
    (0..counts.completions)
        .filter(|i| !busy.contains(i) && !counts.succeeded_indexes.contains(i))
        .filter(|i| {
            !counts
                .failed_indexes
                .as_ref()
                .is_some_and(|f| f.contains(i))
        })
        .take(count)
        .map(|i| {
            let failures = if per_index {
                index_failures(job, pods, i, counts.completions)
            } else {
                IndexFailures::default()
            };
            (i, failures)
        })
        .collect()
}

/// How often index `i` failed so far: its latest failed pod's counts, plus that failure.
fn index_failures(job: &Job, pods: &[Arc<Pod>], i: i32, completions: i32) -> IndexFailures {
    let latest = pods
        .iter()
        .filter(|p| indexes::of_pod(p, completions) == Some(i))
        .filter(|p| !is_active(p) && job_pods::is_failed(job, p))
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let Some(pod) = latest else {
        return IndexFailures::default();
    };
    let mut failures = IndexFailures {
        counted: indexes::count_annotation(pod, indexes::INDEX_FAILURE_COUNT),
        ignored: indexes::count_annotation(pod, indexes::INDEX_IGNORED_FAILURE_COUNT),
    };
    if failure_policy::judge(job, pod) == Verdict::Ignore {
        failures.ignored += 1;
    } else {
        failures.counted += 1;
    }
    failures
}

/// Counts finished pods into the status, removes their finalizers, and writes the status as
/// upstream's `trackJobStatusAndRemoveFinalizers`: uids first, finalizers next, counters last,
/// then the finished condition once nothing is left running or uncounted.
#[allow(clippy::too_many_arguments)]
async fn track_and_flush(
    ctx: &Context,
    mut job: Job,
    pods: &[Arc<Pod>],
    counts: &Counts,
    mut finish: Option<Finish>,
    mut needs_flush: bool,
    terminating: i32,
    now: Timestamp,
) -> Result<(), Error> {
    let namespace = job.metadata.namespace.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let mut with_finalizer: HashSet<String> = pods
        .iter()
        .filter(|p| has_finalizer(p))
        .filter_map(|p| p.metadata.uid.clone())
        .filter(|uid| !ctx.removals.pending(uid))
        .collect();
    let status = job.status.get_or_insert_with(Default::default);
    needs_flush |= tracking::move_counted(status, &with_finalizer);
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default);
    let (mut new_succeeded_uids, mut new_failed_uids) = (
        uncounted.succeeded.take().unwrap_or_default(),
        uncounted.failed.take().unwrap_or_default(),
    );
    let mut new_indexes = BTreeSet::new();
    let mut to_remove = Vec::new();
    let mut reached_max = false;
    let job_ending = finish
        .as_ref()
        .is_some_and(|f| f.type_ != SUCCESS_CRITERIA_MET);
    let mut ordered: Vec<&Arc<Pod>> = pods.iter().collect();
    ordered.sort_by_key(|p| indexes::of_pod(p, counts.completions).unwrap_or(i32::MAX));
    for pod in ordered {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if !has_finalizer(pod) || ctx.removals.pending(&uid) {
            continue;
        }
        let failed = job_pods::is_failed(&job, pod);
        let removable = job.metadata.deletion_timestamp.is_some()
            || finish.is_some()
            || job_pods::is_succeeded(pod)
            || failed;
        if !removable {
            continue;
        }
        to_remove.push(pod.clone());
        if job_pods::is_succeeded(pod) && !new_failed_uids.contains(&uid) {
            if counts.indexed {
                if let Some(i) = indexes::of_pod(pod, counts.completions)
                    && !counts.prev_succeeded.contains(&i)
                    && new_indexes.insert(i)
                {
                    needs_flush = true;
                }
            } else if !new_succeeded_uids.contains(&uid) {
                new_succeeded_uids.push(uid);
                needs_flush = true;
            }
        } else if (failed || job_ending)
            && !new_failed_uids.contains(&uid)
            && (!counts.indexed || indexes::of_pod(pod, counts.completions).is_some())
            && failure_policy::judge(&job, pod) != Verdict::Ignore
        {
            new_failed_uids.push(uid);
            needs_flush = true;
        }
        if new_indexes.len() + new_succeeded_uids.len() + new_failed_uids.len() >= MAX_UNCOUNTED {
            reached_max = true;
            break;
        }
    }
    let status = job.status.get_or_insert_with(Default::default);
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default);
    // Empty lists are left out, as upstream's serialization leaves them out.
    uncounted.succeeded = (!new_succeeded_uids.is_empty()).then_some(new_succeeded_uids);
    uncounted.failed = (!new_failed_uids.is_empty()).then_some(new_failed_uids);
    if counts.indexed {
        let mut succeeded = counts.prev_succeeded.clone();
        succeeded.extend(new_indexes);
        let listed = indexes::format(&succeeded);
        if status.completed_indexes.as_deref().unwrap_or_default() != listed {
            needs_flush = true;
        }
        status.succeeded = Some(succeeded.len() as i32);
        // An empty list is left out, as upstream leaves out the empty string.
        status.completed_indexes = (!listed.is_empty()).then_some(listed);
        let failed = counts.failed_indexes.as_ref().map(indexes::format);
        if status.failed_indexes != failed {
            status.failed_indexes = failed;
            needs_flush = true;
        }
    }
    if let Some(f) = finish.as_mut() {
        let interim = f.type_;
        if interim == FAILURE_TARGET || interim == SUCCESS_CRITERIA_MET {
            if conditions::set(status, interim, "True", &f.reason, &f.message, now) {
                needs_flush = true;
            }
            f.type_ = if interim == FAILURE_TARGET {
                FAILED
            } else {
                COMPLETE
            };
        }
    }

    if needs_flush {
        job = write_status(ctx, &job).await?;
        needs_flush = false;
    }
    let (removed, remove_error) =
        manage::remove_finalizers(ctx, &namespace, &name, &to_remove).await;
    for uid in &removed {
        with_finalizer.remove(uid);
    }
    let status = job.status.get_or_insert_with(Default::default);
    needs_flush |= tracking::move_counted(status, &with_finalizer);
    if let Some(err) = remove_error {
        if needs_flush {
            write_status(ctx, &job).await?;
        }
        return Err(err);
    }
    let finished = !reached_max && enact_finished(&mut job, finish.as_ref(), terminating, now);
    if finished || needs_flush {
        job = write_status(ctx, &job).await?;
    }
    if finished && let Some(f) = finish {
        if f.type_ == COMPLETE {
            ctx.recorder.record(
                &job,
                EventType::Normal,
                "Completed",
                "Job completed".to_string(),
            );
            let completions = job.spec.as_ref().and_then(|s| s.completions);
            let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
            if completions.is_some_and(|c| succeeded > c) {
                ctx.recorder.record(
                    &job,
                    EventType::Warning,
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached".to_string(),
                );
            }
        } else {
            ctx.recorder
                .record(&job, EventType::Warning, &f.reason, f.message.clone());
        }
    }
    Ok(())
}

/// Adds the finished condition when nothing is left uncounted or terminating.
fn enact_finished(
    job: &mut Job,
    finish: Option<&Finish>,
    terminating: i32,
    now: Timestamp,
) -> bool {
    let Some(f) = finish else {
        return false;
    };
    let status = job.status.get_or_insert_with(Default::default);
    if tracking::uncounted_len(status.uncounted_terminated_pods.as_ref()) > 0 || terminating > 0 {
        return false;
    }
    conditions::set(status, f.type_, "True", &f.reason, &f.message, now);
    if f.type_ == COMPLETE {
        status.completion_time = Some(Time(now));
    }
    true
}

async fn write_status(ctx: &Context, job: &Job) -> Result<Job, Error> {
    let mut job = job.clone();
    if let Some(status) = job.status.as_mut() {
        // Upstream leaves zero counters out (`ready` and `terminating` are pointers and stay).
        for counter in [
            &mut status.active,
            &mut status.succeeded,
            &mut status.failed,
        ] {
            if *counter == Some(0) {
                *counter = None;
            }
        }
    }
    let job = &job;
    let namespace = job.metadata.namespace.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    api.replace_status(&name, &PostParams::default(), job)
        .await
        .map_err(|source| Error::Status {
            namespace,
            name,
            source,
        })
}

/// The Job's pods (finished ones included), adopting orphans its selector matches (with the
/// tracking finalizer) and releasing pods that stopped matching.
async fn claim(ctx: &Context, job: &Job) -> Result<Vec<Arc<Pod>>, Error> {
    let selector = job.spec.as_ref().and_then(|s| s.selector.as_ref());
    let finalizer = Some(job_pods::TRACKING_FINALIZER);
    ownership::claim_pods(&ctx.client, job, selector, finalizer, &ctx.pods)
        .await
        .map_err(|e| Error::Pod {
            action: e.action,
            namespace: job.metadata.namespace.clone().unwrap_or_default(),
            name: job.metadata.name.clone().unwrap_or_default(),
            pod: e.name,
            source: e.source,
        })
}

/// Removes the tracking finalizer from pods of a Job that is gone, so they can be deleted.
async fn release_orphans(ctx: &Context, namespace: &str, name: &str) -> Result<(), Error> {
    let orphans: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace) && has_finalizer(p))
        .filter(|p| {
            ownership::controller_ref(&p.metadata)
                .is_some_and(|r| r.kind == "Job" && r.api_version == "batch/v1" && r.name == name)
        })
        .collect();
    let (_, err) = manage::remove_finalizers(ctx, namespace, name, &orphans).await;
    err.map_or(Ok(()), Err)
}
