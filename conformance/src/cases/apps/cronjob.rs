//! `[sig-apps] CronJob` cases (upstream `test/e2e/apps/cronjob.go`): the API operations, and
//! the concurrency policies and suspension, which need the CronJob and Job controllers but no
//! running pods (a Job whose pods stay Pending is active, which is all these cases look at).

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::batch::v1::{
    CronJob, CronJobSpec, CronJobStatus, Job, JobSpec, JobTemplateSpec,
};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("cronjob").with_pod_security(PodSecurityLevel::Baseline);

/// Upstream's `imageutils.GetE2EImage(imageutils.BusyBox)`; nothing runs it here.
const BUSYBOX_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1";

/// How long the cases wait for the controller (upstream `cronJobTimeout`).
const TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How often they look (upstream `framework.Poll`).
const POLL: Duration = Duration::from_secs(2);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-apps] CronJob should support CronJob API operations [Conformance]",
            case_fn!(api_operations),
        ),
        D.case(
            "[sig-apps] CronJob should schedule multiple jobs concurrently [Conformance]",
            case_fn!(concurrent),
        ),
        D.case(
            "[sig-apps] CronJob should not schedule jobs when suspended [Slow] [Conformance]",
            case_fn!(suspended),
        ),
        D.case(
            "[sig-apps] CronJob should not schedule new jobs when ForbidConcurrent [Slow] [Conformance]",
            case_fn!(forbid),
        ),
        D.case(
            "[sig-apps] CronJob should replace jobs when ReplaceConcurrent [Conformance]",
            case_fn!(replace),
        ),
    ]
}

/// Upstream's `sleepCommand`.
fn sleep_command() -> Vec<String> {
    vec!["sleep".into(), "300".into()]
}

/// Upstream's `jobutil.IsJobFinished`.
fn job_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

fn active_count(cj: &CronJob) -> usize {
    cj.status
        .as_ref()
        .and_then(|s| s.active.as_ref())
        .map_or(0, Vec::len)
}

/// Upstream's `waitForActiveJobs`: until the CronJob lists at least `want` active Jobs.
async fn wait_for_active(f: &Framework, name: &str, want: usize) -> Result<()> {
    let cjs = f.api::<CronJob>();
    poll(POLL, TIMEOUT, async || {
        Ok(active_count(&cjs.get(name).await?) >= want)
    })
    .await
}

/// Upstream's `deleteCronJob`: in the background, so its Jobs and pods go too.
async fn delete_cronjob(f: &Framework, name: &str) -> Result<()> {
    let params = DeleteParams {
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        ..Default::default()
    };
    f.api::<CronJob>()
        .delete(name, &params)
        .await
        .with_context(|| format!("deleting CronJob {name}"))?;
    Ok(())
}

/// The Jobs of the namespace that have not finished.
async fn unfinished_jobs(f: &Framework) -> Result<Vec<Job>> {
    let jobs = f.api::<Job>().list(&ListParams::default()).await?;
    Ok(jobs
        .items
        .into_iter()
        .filter(|j| !job_finished(j))
        .collect())
}

async fn create(f: &Framework, cj: &CronJob) -> Result<CronJob> {
    f.api::<CronJob>()
        .create(&PostParams::default(), cj)
        .await
        .with_context(|| format!("Failed to create CronJob in namespace {}", f.ns()))
}

async fn concurrent(f: &Framework) -> Result<()> {
    f.step("Creating a cronjob");
    let cj = test_cron_job(
        "concurrent",
        "*/1 * * * ?",
        "Allow",
        sleep_command(),
        None,
        None,
    );
    let cj = create(f, &cj).await?;
    let name = cj.metadata.name.clone().unwrap_or_default();

    f.step("Ensuring more than one job is running at a time");
    wait_for_active(f, &name, 2)
        .await
        .context("Failed to wait for active jobs")?;

    f.step("Ensuring at least two running jobs exists by listing jobs explicitly");
    let active = unfinished_jobs(f).await?;
    ensure!(
        active.len() >= 2,
        "expected at least 2 active jobs, got {}",
        active.len()
    );

    f.step("Removing cronjob");
    delete_cronjob(f, &name).await
}

async fn suspended(f: &Framework) -> Result<()> {
    f.step("Creating a suspended cronjob");
    let mut cj = test_cron_job(
        "suspended",
        "*/1 * * * ?",
        "Allow",
        sleep_command(),
        None,
        None,
    );
    if let Some(spec) = cj.spec.as_mut() {
        spec.suspend = Some(true);
    }
    let cj = create(f, &cj).await?;
    let name = cj.metadata.name.clone().unwrap_or_default();

    f.step("Ensuring no jobs are scheduled");
    let cjs = f.api::<CronJob>();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while std::time::Instant::now() < deadline {
        let current = cjs.get(&name).await?;
        ensure!(
            active_count(&current) == 0,
            "expected no active jobs, got {}",
            active_count(&current)
        );
        tokio::time::sleep(POLL).await;
    }

    f.step("Ensuring no job exists by listing jobs explicitly");
    let jobs = f.api::<Job>().list(&ListParams::default()).await?;
    ensure!(
        jobs.items.is_empty(),
        "expected no jobs, got {}",
        jobs.items.len()
    );

    f.step("Removing cronjob");
    delete_cronjob(f, &name).await
}

/// Creates a CronJob with `policy` and waits until it runs exactly one Job; returns its name.
async fn one_scheduled(f: &Framework, base: &str, policy: &str) -> Result<String> {
    f.step(format!("Creating a {policy}Concurrent cronjob"));
    let cj = test_cron_job(base, "*/1 * * * ?", policy, sleep_command(), None, None);
    let cj = create(f, &cj).await?;
    let name = cj.metadata.name.clone().unwrap_or_default();

    f.step("Ensuring a job is scheduled");
    wait_for_active(f, &name, 1)
        .await
        .with_context(|| format!("Failed to schedule CronJob {name}"))?;

    f.step("Ensuring exactly one is scheduled");
    let current = f.api::<CronJob>().get(&name).await?;
    ensure!(
        active_count(&current) == 1,
        "expected 1 active job, got {}",
        active_count(&current)
    );
    Ok(name)
}

async fn forbid(f: &Framework) -> Result<()> {
    let name = one_scheduled(f, "forbid", "Forbid").await?;

    f.step("Ensuring exactly one running job exists by listing jobs explicitly");
    let active = unfinished_jobs(f).await?;
    ensure!(
        active.len() == 1,
        "expected 1 active job, got {}",
        active.len()
    );

    f.step("Ensuring no more jobs are scheduled");
    let cjs = f.api::<CronJob>();
    poll(POLL, TIMEOUT, async || {
        let current = cjs.get(&name).await?;
        let n = active_count(&current);
        if n >= 2 {
            f.log(format!("unexpected active job number: {n}"));
        }
        Ok(n < 2)
    })
    .await?;

    f.step("Removing cronjob");
    delete_cronjob(f, &name).await
}

async fn replace(f: &Framework) -> Result<()> {
    let name = one_scheduled(f, "replace", "Replace").await?;

    f.step("Ensuring exactly one running job exists by listing jobs explicitly");
    let jobs = f.api::<Job>().list(&ListParams::default()).await?;
    let active: Vec<&Job> = jobs.items.iter().filter(|j| !job_finished(j)).collect();
    ensure!(
        active.len() == 1,
        "expected 1 active job, got {}",
        active.len()
    );
    let previous = jobs.items[0].metadata.name.clone().unwrap_or_default();

    f.step("Ensuring the job is replaced with a new one");
    let job_api = f.api::<Job>();
    poll(POLL, TIMEOUT, async || {
        let jobs = job_api.list(&ListParams::default()).await?;
        // Jobs being deleted are ignored: deletion is asynchronous.
        let alive: Vec<&Job> = jobs
            .items
            .iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .collect();
        if alive.len() > 1 {
            bail!("more than one job is running: {}", alive.len());
        }
        Ok(alive
            .first()
            .is_some_and(|j| j.metadata.name.as_deref() != Some(previous.as_str())))
    })
    .await
    .with_context(|| format!("Failed to replace CronJob {previous}"))?;

    f.step("Removing cronjob");
    delete_cronjob(f, &name).await
}

/// Upstream's `newTestCronJob`.
fn test_cron_job(
    name: &str,
    schedule: &str,
    concurrency: &str,
    command: Vec<String>,
    successful_limit: Option<i32>,
    failed_limit: Option<i32>,
) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(CronJobSpec {
            schedule: schedule.into(),
            concurrency_policy: Some(concurrency.into()),
            successful_jobs_history_limit: successful_limit,
            failed_jobs_history_limit: failed_limit,
            job_template: JobTemplateSpec {
                spec: Some(JobSpec {
                    parallelism: Some(1),
                    completions: Some(1),
                    backoff_limit: Some(1),
                    template: PodTemplateSpec {
                        spec: Some(PodSpec {
                            restart_policy: Some("OnFailure".into()),
                            volumes: Some(vec![Volume {
                                name: "data".into(),
                                empty_dir: Some(EmptyDirVolumeSource::default()),
                                ..Default::default()
                            }]),
                            containers: vec![Container {
                                name: "c".into(),
                                image: Some(BUSYBOX_IMAGE.into()),
                                command: Some(command),
                                volume_mounts: Some(vec![VolumeMount {
                                    mount_path: "/data".into(),
                                    name: "data".into(),
                                    ..Default::default()
                                }]),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

/// `metav1.Now().Rfc3339Copy()`: now, to the second, since the wire format drops the rest.
fn now_to_the_second() -> Result<Time> {
    Ok(Time(
        Timestamp::from_second(Timestamp::now().as_second()).context("building a timestamp")?,
    ))
}

/// A deleted CronJob that is still readable must be held by finalizers.
fn expect_finalizer(cj: &CronJob, step: &str) -> Result<()> {
    ensure!(
        cj.metadata.deletion_timestamp.is_some(),
        "expected deletionTimestamp, got nil on step: {step:?}"
    );
    ensure!(
        cj.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty()),
        "expected finalizers on cronjob, got none on step: {step:?}"
    );
    Ok(())
}

async fn api_operations(f: &Framework) -> Result<()> {
    let unique = f.ns();
    let cjs = f.api::<CronJob>();
    let selector = format!("special-label={unique}");
    let pp = PostParams::default();

    f.step("Creating a cronjob");
    let mut template = test_cron_job(
        "test-api",
        "* */1 * * ?",
        "Allow",
        vec!["/bin/true".into()],
        Some(1),
        Some(0),
    );
    template.metadata.labels = Some(BTreeMap::from([(
        "special-label".into(),
        unique.to_string(),
    )]));

    f.step("creating");
    let created = cjs
        .create(&pp, &template)
        .await
        .context("creating the CronJob")?;
    let name = created.metadata.name.clone().unwrap_or_default();

    f.step("getting");
    let got = cjs.get(&name).await.context("getting the CronJob")?;
    ensure!(
        got.metadata.uid == created.metadata.uid,
        "got a different uid"
    );

    f.step("listing");
    let list = cjs.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() == 1,
        "filtered list should have 1 item, got {}",
        list.items.len()
    );
    let list_rv = list.metadata.resource_version.clone().unwrap_or_default();

    f.step("watching");
    let mut w = Watch::start(&cjs, &list_rv, Some(&selector), None).await?;

    let all = f.api_all::<CronJob>();
    f.step("cluster-wide listing");
    let cluster = all.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        cluster.items.len() == 1,
        "filtered list should have 1 item, got {}",
        cluster.items.len()
    );
    f.step("cluster-wide watching");
    let _cluster_watch = Watch::start(&all, &list_rv, Some(&selector), None).await?;

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = cjs
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching the CronJob")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut cj = cjs.get(&name).await?;
        cj.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        Ok(cjs.replace(&name, &pp, &cj).await?)
    })
    .await
    .context("updating the CronJob")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.log("waiting for watch events with expected annotations");
    w.until(Duration::from_secs(30), |e| {
        ensure!(
            e.kind == EventType::Modified,
            "expected a MODIFIED event, got {:?}",
            e.kind
        );
        Ok(e.object
            .as_ref()
            .is_some_and(|o| annotation(&o.metadata, "patched").as_deref() == Some("true")))
    })
    .await
    .context("timed out waiting for watch event")?;
    drop(w);

    f.step("patching /status");
    let now1 = now_to_the_second()?;
    let status = CronJobStatus {
        last_schedule_time: Some(now1.clone()),
        ..Default::default()
    };
    let patch = serde_json::json!({
        "metadata": {"annotations": {"patchedstatus": "true"}},
        "status": status,
    });
    let patched = cjs
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching /status")?;
    let got_time = patched
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.clone());
    if got_time.as_ref() != Some(&now1) {
        bail!(
            "patched object should have the applied lastScheduleTime {now1:?}, got {got_time:?} instead"
        );
    }
    ensure!(
        annotation(&patched.metadata, "patchedstatus").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating /status");
    let now2 = now_to_the_second()?;
    let updated = retry_on_conflict(async || {
        let mut cj = cjs.get(&name).await?;
        cj.status
            .get_or_insert_with(Default::default)
            .last_schedule_time = Some(now2.clone());
        Ok(cjs.replace_status(&name, &pp, &cj).await?)
    })
    .await
    .context("updating /status")?;
    let got_time = updated
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.clone());
    if got_time.as_ref() != Some(&now2) {
        bail!(
            "updated object status expected to have updated lastScheduleTime {now2:?}, got {got_time:?}"
        );
    }

    f.step("get /status");
    let status = cjs.get_status(&name).await.context("getting /status")?;
    ensure!(
        status.metadata.uid == created.metadata.uid,
        "createdCronJob.UID: {:?} expected to match statusUID: {:?}",
        created.metadata.uid,
        status.metadata.uid
    );

    f.step("deleting");
    template.metadata.name = Some("for-removal".into());
    let for_removal = cjs
        .create(&pp, &template)
        .await
        .context("creating for-removal")?;
    let removal_name = for_removal.metadata.name.clone().unwrap_or_default();
    cjs.delete(&removal_name, &DeleteParams::default())
        .await
        .context("deleting for-removal")?;
    match cjs.get(&removal_name).await {
        Ok(cj) => expect_finalizer(&cj, "deleting cronjob")?,
        Err(e) if api::is_not_found(&e) => {}
        Err(e) => bail!("expected 404, got {}", api::describe(&e)),
    }

    f.step("deleting a collection");
    cjs.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .context("deleting the collection")?;
    let list = cjs.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() <= 2,
        "filtered list length should be <= 2, got {}",
        list.items.len()
    );
    for cj in &list.items {
        expect_finalizer(cj, "deleting cronjob collection")?;
    }
    Ok(())
}
