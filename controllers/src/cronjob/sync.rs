//! One sync of one CronJob (upstream `sync`, `cleanupFinishedJobs` and `syncCronJob`); see the
//! module documentation of [`super`] for its steps.

use super::jobs::{self, finished, reference};
use super::schedule::{self, Due};
use super::{Context, Error};
use crate::client;
use crate::events::EventType;
use crate::ownership;
use apimachinery::cron::{Schedule, parse_standard};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;
use std::time::Duration;

pub async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(cached) = ctx.cronjobs.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let mut cj = (*cached).clone();
    let children: Vec<Arc<Job>> = ctx
        .jobs
        .state()
        .into_iter()
        .filter(|j| j.metadata.namespace.as_deref() == Some(namespace))
        .filter(|j| {
            ownership::controller_ref(&j.metadata)
                .is_some_and(|r| r.kind == "CronJob" && r.name == name)
        })
        .collect();
    let mut changed = clean_up_finished(ctx, &mut cj, &children).await;
    let (requeue, synced_change, result) = sync_cronjob(ctx, &mut cj, &children).await;
    changed |= synced_change;
    if changed {
        let api: Api<CronJob> = Api::namespaced(ctx.client.clone(), namespace);
        api.replace_status(name, &PostParams::default(), &cj)
            .await
            .map_err(|source| Error::CronJob {
                action: "updating the status of",
                namespace: namespace.to_string(),
                name: name.to_string(),
                source,
            })?;
    }
    if let Some(after) = requeue {
        ctx.queue.add_after(key.to_string(), after);
    }
    result
}

fn status(cj: &mut CronJob) -> &mut CronJobStatus {
    cj.status.get_or_insert_with(Default::default)
}

fn in_active(cj: &CronJob, uid: Option<&str>) -> bool {
    cj.status
        .as_ref()
        .and_then(|s| s.active.as_ref())
        .is_some_and(|a| a.iter().any(|r| r.uid.as_deref() == uid))
}

fn remove_from_active(cj: &mut CronJob, uid: Option<&str>) {
    if let Some(active) = status(cj).active.as_mut() {
        active.retain(|r| r.uid.as_deref() != uid);
        if active.is_empty() {
            status(cj).active = None;
        }
    }
}

/// Deletes finished Jobs beyond the history limits, oldest first.
async fn clean_up_finished(ctx: &Context, cj: &mut CronJob, children: &[Arc<Job>]) -> bool {
    let spec = cj.spec.clone().unwrap_or_default();
    let mut changed = false;
    for (outcome, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else {
            continue;
        };
        let mut done: Vec<&Arc<Job>> = children
            .iter()
            .filter(|j| finished(j) == Some(outcome))
            .collect();
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        if excess == 0 {
            continue;
        }
        // By start time, Jobs that never started last, then by name.
        done.sort_by(|a, b| {
            let start = |j: &Job| j.status.as_ref().and_then(|s| s.start_time.clone());
            match (start(a), start(b)) {
                (Some(x), Some(y)) => x.0.cmp(&y.0),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        for job in done.into_iter().take(excess) {
            changed |= delete_job(ctx, cj, job).await;
        }
    }
    changed
}

/// Deletes a Job with its pods in the background; on success it leaves `status.active`.
async fn delete_job(ctx: &Context, cj: &mut CronJob, job: &Job) -> bool {
    let namespace = job.metadata.namespace.as_deref().unwrap_or_default();
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {}
        Err(e) if client::is_not_found(&e) => {}
        Err(e) => {
            ctx.recorder.record(
                &*cj,
                EventType::Warning,
                "FailedDelete",
                format!("Deleted job: {}", client::message(&e)),
            );
            return false;
        }
    }
    remove_from_active(cj, job.metadata.uid.as_deref());
    ctx.recorder.record(
        &*cj,
        EventType::Normal,
        "SuccessfulDelete",
        format!("Deleted job {name}"),
    );
    true
}

/// The zone a CronJob's schedule is read in: its `timeZone`, else the controller's own.
fn zone_of(cj: &CronJob) -> Result<TimeZone, String> {
    match cj.spec.as_ref().and_then(|s| s.time_zone.as_deref()) {
        Some(name) => TimeZone::get(name).map_err(|e| e.to_string()),
        None => Ok(TimeZone::system()),
    }
}

/// The schedule as upstream reads it: a `timeZone` becomes a `TZ=` prefix; a schedule that
/// carries its own `TZ=` (allowed on old objects) earns a warning and is used as it is.
fn schedule_of(ctx: &Context, cj: &CronJob) -> Result<Schedule, String> {
    let spec = cj
        .spec
        .as_ref()
        .map(|s| s.schedule.as_str())
        .unwrap_or_default();
    if spec.contains("TZ") {
        ctx.recorder.record(
            cj,
            EventType::Warning,
            "UnsupportedSchedule",
            format!(
                "CRON_TZ or TZ used in schedule {spec:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"
            ),
        );
    }
    parse_standard(spec)
}

/// The search start: the last schedule time, else the CronJob's creation.
fn earliest(cj: &CronJob) -> Timestamp {
    cj.status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .or(cj.metadata.creation_timestamp.as_ref())
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

/// Reconciles `status.active` and creates the Job due, if any. Returns when to look again,
/// whether the status changed, and the sync's outcome.
async fn sync_cronjob(
    ctx: &Context,
    cj: &mut CronJob,
    children: &[Arc<Job>],
) -> (Option<Duration>, bool, Result<(), Error>) {
    let namespace = cj.metadata.namespace.clone().unwrap_or_default();
    let name = cj.metadata.name.clone().unwrap_or_default();
    let cj_api: Api<CronJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let job_api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let job_error = |action, job, source| Error::Job {
        action,
        namespace: namespace.clone(),
        name: name.clone(),
        job,
        source,
    };
    let mut changed = false;
    let now = Timestamp::now();

    for job in children {
        let uid = job.metadata.uid.as_deref();
        let outcome = finished(job);
        let listed = in_active(cj, uid);
        let job_name = job.metadata.name.clone().unwrap_or_default();
        if !listed && outcome.is_none() {
            // Our status may be older than the Job: look at the stored CronJob before warning.
            match cj_api.get_opt(&name).await {
                Ok(Some(fresh)) if in_active(&fresh, uid) => {
                    *cj = fresh;
                    continue;
                }
                Ok(_) => {}
                Err(source) => {
                    let e = Error::CronJob {
                        action: "reading",
                        namespace,
                        name,
                        source,
                    };
                    return (None, changed, Err(e));
                }
            }
            ctx.recorder.record(
                &*cj,
                EventType::Warning,
                "UnexpectedJob",
                format!("Saw a job that the controller did not create or forgot: {job_name}"),
            );
        } else if listed && let Some(outcome) = outcome {
            remove_from_active(cj, uid);
            ctx.recorder.record(
                &*cj,
                EventType::Normal,
                "SawCompletedJob",
                format!("Saw completed job: {job_name}, condition: {outcome}"),
            );
            changed = true;
        }
        if outcome == Some("Complete")
            && let Some(done) = job.status.as_ref().and_then(|s| s.completion_time.clone())
        {
            let last = &mut status(cj).last_successful_time;
            if last.as_ref().is_none_or(|t| done.0 > t.0) {
                *last = Some(done);
                changed = true;
            }
        }
    }

    // Jobs in `status.active` that the cache does not show: gone, unless the apiserver has them.
    let listed: Vec<_> = cj
        .status
        .as_ref()
        .and_then(|s| s.active.clone())
        .unwrap_or_default();
    for r in listed {
        if children.iter().any(|j| j.metadata.uid == r.uid) {
            continue;
        }
        let job_name = r.name.clone().unwrap_or_default();
        match job_api.get_opt(&job_name).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                ctx.recorder.record(
                    &*cj,
                    EventType::Normal,
                    "MissingJob",
                    format!("Active job went missing: {job_name}"),
                );
                remove_from_active(cj, r.uid.as_deref());
                changed = true;
            }
            Err(source) => {
                return (None, changed, Err(job_error("reading", job_name, source)));
            }
        }
    }

    if cj.metadata.deletion_timestamp.is_some() {
        return (None, changed, Ok(()));
    }
    let zone = match zone_of(cj) {
        Ok(zone) => zone,
        Err(e) => {
            let tz = cj
                .spec
                .as_ref()
                .and_then(|s| s.time_zone.clone())
                .unwrap_or_default();
            ctx.recorder.record(
                &*cj,
                EventType::Warning,
                "UnknownTimeZone",
                format!("invalid timeZone: {tz:?}: {e}"),
            );
            return (None, changed, Ok(()));
        }
    };
    let spec = cj.spec.clone().unwrap_or_default();
    if spec.suspend == Some(true) {
        return (None, changed, Ok(()));
    }
    let schedule = match schedule_of(ctx, cj) {
        Ok(s) => s,
        Err(e) => {
            ctx.recorder.record(
                &*cj,
                EventType::Warning,
                "UnparseableSchedule",
                format!("unparseable schedule: {:?} : {e}", spec.schedule),
            );
            return (None, changed, Ok(()));
        }
    };
    let wait = |cj: &CronJob| Some(schedule::wait(&schedule, &zone, earliest(cj), now));
    let due = match schedule::most_recent(
        &schedule,
        &zone,
        earliest(cj),
        spec.starting_deadline_seconds,
        now,
    ) {
        Ok(due) => due,
        Err(e) => {
            ctx.recorder.record(
                &*cj,
                EventType::Warning,
                "InvalidSchedule",
                format!("invalid schedule: {} : {e}", spec.schedule),
            );
            return (None, changed, Ok(()));
        }
    };
    let Due {
        most_recent: Some(scheduled),
        many_missed,
        ..
    } = due
    else {
        return (wait(cj), changed, Ok(()));
    };
    if many_missed {
        ctx.recorder.record(
            &*cj,
            EventType::Warning,
            "TooManyMissedTimes",
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".to_string(),
        );
    }
    if let Some(deadline) = spec.starting_deadline_seconds
        && scheduled.as_second() + deadline < now.as_second()
    {
        ctx.recorder.record(
            &*cj,
            EventType::Warning,
            "MissSchedule",
            format!(
                "Missed scheduled time to start a job: {}",
                scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000")
            ),
        );
        return (wait(cj), changed, Ok(()));
    }
    let job_name = jobs::name_for(&name, scheduled);
    let active = cj
        .status
        .as_ref()
        .and_then(|s| s.active.clone())
        .unwrap_or_default();
    let last = cj
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.clone());
    if active
        .iter()
        .any(|r| r.name.as_deref() == Some(job_name.as_str()))
        || last.is_some_and(|t| t.0 == scheduled)
    {
        return (wait(cj), changed, Ok(()));
    }
    let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
    if policy == "Forbid" && !active.is_empty() {
        ctx.recorder.record(
            &*cj,
            EventType::Normal,
            "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid"
                .to_string(),
        );
        return (wait(cj), changed, Ok(()));
    }
    if policy == "Replace" {
        for r in &active {
            let old_name = r.name.clone().unwrap_or_default();
            let old = match job_api.get(&old_name).await {
                Ok(job) => job,
                Err(source) => {
                    ctx.recorder.record(
                        &*cj,
                        EventType::Warning,
                        "FailedGet",
                        format!("Get job: {}", client::message(&source)),
                    );
                    return (None, changed, Err(job_error("reading", old_name, source)));
                }
            };
            if !delete_job(ctx, cj, &old).await {
                let e = Error::Replace {
                    namespace,
                    job: old_name,
                };
                return (None, changed, Err(e));
            }
            changed = true;
        }
    }
    let annotation_zone = match spec.time_zone.as_deref() {
        Some(_) => zone.clone(),
        None => TimeZone::UTC,
    };
    let wanted = jobs::for_schedule(cj, scheduled, &annotation_zone);
    let created = match job_api.create(&PostParams::default(), &wanted).await {
        Ok(job) => {
            ctx.recorder.record(
                &*cj,
                EventType::Normal,
                "SuccessfulCreate",
                format!(
                    "Created job {}",
                    job.metadata.name.as_deref().unwrap_or_default()
                ),
            );
            job
        }
        Err(e) if client::is_already_exists(&e) => {
            // Created before by this controller (or someone else): take it if it is ours.
            let existing = match job_api.get(&job_name).await {
                Ok(job) => job,
                Err(source) => {
                    return (None, changed, Err(job_error("reading", job_name, source)));
                }
            };
            let ours = ownership::controller_ref(&existing.metadata)
                .is_some_and(|r| Some(&r.uid) == cj.metadata.uid.as_ref());
            if !ours || in_active(cj, existing.metadata.uid.as_deref()) {
                return (None, changed, Ok(()));
            }
            existing
        }
        Err(source) => {
            if !client::has_cause(&source, client::NAMESPACE_TERMINATING_CAUSE) {
                ctx.recorder.record(
                    &*cj,
                    EventType::Warning,
                    "FailedCreate",
                    format!("Error creating job: {}", client::message(&source)),
                );
            }
            return (None, changed, Err(job_error("creating", job_name, source)));
        }
    };
    let status = status(cj);
    status
        .active
        .get_or_insert_with(Vec::new)
        .push(reference(&created));
    status.last_schedule_time = Some(Time(scheduled));
    (wait(cj), true, Ok(()))
}
