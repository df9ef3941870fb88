//! The Jobs of a CronJob: the one to create for a scheduled time (named after the time, so
//! a restart between creating it and recording it cannot create it twice), whether a Job has
//! finished and how, and references to Jobs in `status.active`.

use crate::pods::template::controller_reference;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The annotation carrying the time a Job was scheduled for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The name of the Job for `scheduled`: the CronJob's name and the minutes since the epoch.
pub fn name_for(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// `scheduled` as RFC 3339 in `zone` (`Z` for UTC), as the annotation holds it.
pub fn rfc3339(scheduled: Timestamp, zone: &TimeZone) -> String {
    let zoned = scheduled.to_zoned(zone.clone());
    let offset = zoned.offset().seconds();
    let base = zoned.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if offset == 0 {
        return format!("{base}Z");
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    format!("{base}{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}

/// The Job to create for `cj` at `scheduled`; the annotation's time is in `zone`, the CronJob's
/// `timeZone` (UTC without one).
pub fn for_schedule(cj: &CronJob, scheduled: Timestamp, zone: &TimeZone) -> Job {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.to_string(), rfc3339(scheduled, zone));
    Job {
        metadata: ObjectMeta {
            name: Some(name_for(
                cj.metadata.name.as_deref().unwrap_or_default(),
                scheduled,
            )),
            namespace: cj.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_reference(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// How a Job finished: `Complete` or `Failed`, if it did.
pub fn finished(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    ["Complete", "Failed"].into_iter().find(|t| {
        conditions
            .iter()
            .any(|c| c.type_ == *t && c.status == "True")
    })
}

/// The reference `status.active` holds for a Job.
pub fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_string()),
        kind: Some("Job".to_string()),
        namespace: job.metadata.namespace.clone(),
        name: job.metadata.name.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{CronJobSpec, JobSpec, JobTemplateSpec};
    use std::collections::BTreeMap;

    #[test]
    fn jobs_are_named_after_their_minute_and_annotated_with_it() {
        let cj = CronJob {
            metadata: ObjectMeta {
                name: Some("hello".to_string()),
                namespace: Some("ns".to_string()),
                uid: Some("u".to_string()),
                ..Default::default()
            },
            spec: Some(CronJobSpec {
                job_template: JobTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(BTreeMap::from([("a".to_string(), "b".to_string())])),
                        ..Default::default()
                    }),
                    spec: Some(JobSpec::default()),
                },
                ..Default::default()
            }),
            status: None,
        };
        let at: Timestamp = "2026-11-28T07:21:00Z".parse().unwrap();
        let job = for_schedule(&cj, at, &TimeZone::UTC);
        assert_eq!(
            job.metadata.name.as_deref(),
            Some(format!("hello-{}", at.as_second() / 60).as_str())
        );
        assert_eq!(
            job.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP],
            "2026-11-28T07:21:00Z"
        );
        assert_eq!(
            job.metadata.labels,
            cj.spec.unwrap().job_template.metadata.unwrap().labels
        );
        let owner = &job.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("CronJob", Some(true))
        );
    }

    #[test]
    fn offsets_are_written_as_rfc3339() {
        let at: Timestamp = "2026-07-01T10:00:00Z".parse().unwrap();
        if let Ok(berlin) = TimeZone::get("Europe/Berlin") {
            assert_eq!(rfc3339(at, &berlin), "2026-07-01T12:00:00+02:00");
        }
        assert_eq!(
            rfc3339(at, &TimeZone::fixed(jiff::tz::offset(-5))),
            "2026-07-01T05:00:00-05:00"
        );
    }
}
