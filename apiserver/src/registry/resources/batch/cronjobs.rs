//! CronJobs: Jobs created on a schedule. The schedule is checked as upstream's cron library
//! parses it; time zones go in `spec.timeZone`, not in the schedule (`TZ=` is kept only on
//! objects that already had it).

use super::jobs::validate_job_spec;
use crate::registry::resources::apps::common::{self, go_label_selector, int_at, invalid_rendered};
use crate::registry::resources::apps::pod_template;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::cron as cron_schedule;
use apimachinery::{FieldError, FieldErrors, meta};
use k8s_openapi::api::batch::v1::CronJob;
use serde_json::{Value, json};

/// The CronJob controller appends `-<11 characters>` to the name of each Job it creates.
const MAX_NAME_LENGTH: usize = 63 - 11;

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status("batch", "v1", "CronJob")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("batch", "v1", "cronjobs", "CronJob", "cronjob", true)
            .short_names(&["cj"])
            .categories(&["all"])
            .subresources(SUBRESOURCES),
        CronJobs,
    )
}

pub struct CronJobs;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Schedule",
        "string",
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
    ),
    Column::new(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
    ),
    Column::new(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
    ),
    Column::new(
        "Active",
        "integer",
        "A list of pointers to currently running jobs.",
    ),
    Column::new(
        "Last Schedule",
        "string",
        "Information when was the last time the job was successfully scheduled.",
    ),
    AGE,
    Column::new("Containers", "string", "Names of each container in the template.").wide(),
    Column::new(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    )
    .wide(),
    Column::new(
        "Selector",
        "string",
        "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )
    .wide(),
];

impl Strategy for CronJobs {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        pod_template::normalize_quantities(&mut body, "/spec/jobTemplate/spec/template")?;
        typed::round_trip::<CronJob>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = meta::nested_mut(obj, &["spec"]);
        if spec
            .get("concurrencyPolicy")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            spec["concurrencyPolicy"] = json!("Allow");
        }
        meta::default_at(spec, &["suspend"], json!(false));
        meta::default_at(spec, &["successfulJobsHistoryLimit"], json!(3));
        meta::default_at(spec, &["failedJobsHistoryLimit"], json!(1));
        // The job template's ObjectMeta serializes its zero creationTimestamp as null.
        let job_meta = meta::nested_mut(spec, &["jobTemplate", "metadata"]);
        if !job_meta.is_object() {
            *job_meta = json!({});
        }
        if let Some(m) = job_meta.as_object_mut() {
            m.entry("creationTimestamp").or_insert(Value::Null);
        }
        pod_template::default_template(meta::nested_mut(
            spec,
            &["jobTemplate", "spec", "template"],
        ));
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        common::reset_status(obj, &[]);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = validate_spec(obj.get("spec").unwrap_or(&Value::Null), None);
        let name = meta::name(obj);
        if name.len() > MAX_NAME_LENGTH {
            errs.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be no more than 52 characters",
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        // The name limit is not checked again, so older CronJobs stay updatable.
        validate_spec(
            new.get("spec").unwrap_or(&Value::Null),
            Some(old.get("spec").unwrap_or(&Value::Null)),
        )
    }

    fn warnings(&self, obj: &Value) -> Vec<String> {
        common::dns_label_name_warning(obj)
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let last = obj
            .pointer("/status/lastScheduleTime")
            .and_then(Value::as_str)
            .map_or_else(|| "<none>".to_string(), table::age_of);
        let suspend = match spec.get("suspend").and_then(Value::as_bool) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let active = obj
            .pointer("/status/active")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let template = spec.pointer("/jobTemplate/spec/template");
        let (names, images) = common::layout_containers(template);
        vec![
            table::name(obj),
            json!(
                spec.get("schedule")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
            json!(
                spec.get("timeZone")
                    .and_then(Value::as_str)
                    .unwrap_or("<none>")
            ),
            json!(suspend),
            json!(active),
            json!(last),
            table::age(obj),
            json!(names),
            json!(images),
            json!(common::format_label_selector(
                spec.pointer("/jobTemplate/spec/selector")
            )),
        ]
    }
}

fn validate_spec(spec: &Value, old: Option<&Value>) -> FieldErrors {
    let mut errs = Vec::new();
    let schedule = spec
        .get("schedule")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let time_zone = spec.get("timeZone").and_then(Value::as_str);
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        let allow_tz = old
            .and_then(|o| o.get("schedule"))
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains("TZ"));
        if let Err(e) = cron_schedule::parse_standard(schedule) {
            errs.push(FieldError::invalid("spec.schedule", schedule, e));
        }
        if schedule.contains("TZ") {
            if !allow_tz {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ));
            } else if time_zone.is_some() {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use both timeZone field and TZ or CRON_TZ in schedule",
                ));
            }
        }
    }
    errs.extend(common::nonnegative(
        spec,
        "/startingDeadlineSeconds",
        "spec.startingDeadlineSeconds",
    ));
    let old_tz = old.and_then(|o| o.get("timeZone")).and_then(Value::as_str);
    if old.is_none() || old_tz != time_zone {
        errs.extend(validate_time_zone(time_zone));
    }
    match spec
        .get("concurrencyPolicy")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let job_spec = spec.pointer("/jobTemplate/spec").unwrap_or(&Value::Null);
    errs.extend(validate_job_spec(job_spec, "spec.jobTemplate.spec"));
    if let Some(sel) = job_spec.get("selector").filter(|s| !s.is_null()) {
        errs.push(invalid_rendered(
            "spec.jobTemplate.spec.selector",
            &go_label_selector(Some(sel)),
            "`selector` will be auto-generated",
        ));
    }
    if job_spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::not_supported(
            "spec.jobTemplate.spec.manualSelector",
            true,
            &["nil", "false"],
        ));
    }
    for f in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        if int_at(spec, &format!("/{f}")).is_some() {
            errs.extend(common::nonnegative(
                spec,
                &format!("/{f}"),
                &format!("spec.{f}"),
            ));
        }
    }
    errs
}

/// IANA naming rules for each `/`-separated part (digits and `+` tolerated for legacy names):
/// upstream's `^[A-Za-z\.\-_0-9+]{1,14}$`.
fn time_zone_part_chars_ok(p: &str) -> bool {
    (1..=14).contains(&p.len())
        && p.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+'))
}

fn validate_time_zone(tz: Option<&str>) -> FieldErrors {
    const PATH: &str = "spec.timeZone";
    let Some(tz) = tz else {
        return Vec::new();
    };
    if tz.is_empty() {
        return vec![FieldError::invalid(
            PATH,
            tz,
            "timeZone must be nil or non-empty string",
        )];
    }
    let part_ok =
        |p: &str| p != "." && p != ".." && !p.starts_with('-') && time_zone_part_chars_ok(p);
    if !tz.split('/').all(part_ok) {
        return vec![FieldError::invalid(
            PATH,
            tz,
            format!("unknown time zone {tz}"),
        )];
    }
    let mut errs = Vec::new();
    if tz.eq_ignore_ascii_case("Local") {
        errs.push(FieldError::invalid(
            PATH,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    if let Err(e) = cron_schedule::load_location(tz) {
        errs.push(FieldError::invalid(PATH, tz, e));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cronjob() -> Value {
        json!({
            "metadata": {"name": "cj", "namespace": "ns"},
            "spec": {
                "schedule": "*/1 * * * *",
                "jobTemplate": {"metadata": {"name": "cj"}, "spec": {"template": {"spec": {
                    "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}
            }
        })
    }

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_like_upstream() {
        let mut c = cronjob();
        CronJobs.default(&mut c);
        let s = &c["spec"];
        assert_eq!(s["concurrencyPolicy"], "Allow");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["successfulJobsHistoryLimit"], 3);
        assert_eq!(s["failedJobsHistoryLimit"], 1);
        assert!(s["jobTemplate"]["spec"].get("backoffLimit").is_none());
        assert!(
            CronJobs.validate(&c).is_empty(),
            "{:?}",
            CronJobs.validate(&c)
        );
    }

    #[test]
    fn schedule_and_time_zone_messages() {
        let mut c = cronjob();
        c["spec"]["schedule"] = json!("61 * * * *");
        c["spec"]["timeZone"] = json!("Local");
        c["spec"]["concurrencyPolicy"] = json!("Sometimes");
        CronJobs.default(&mut c);
        assert_eq!(
            messages(&CronJobs.validate(&c)),
            vec![
                "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61",
                "spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            ]
        );
        let mut c = cronjob();
        c["spec"]["schedule"] = json!("TZ=UTC 0 * * * *");
        c["spec"]["timeZone"] = json!("../etc");
        CronJobs.default(&mut c);
        assert_eq!(
            messages(&CronJobs.validate(&c)),
            vec![
                "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                "spec.timeZone: Invalid value: \"../etc\": unknown time zone ../etc",
            ]
        );
        let mut c = cronjob();
        CronJobs.default(&mut c);
        c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        meta::set(&mut c, "name", Some(json!("x".repeat(53))));
        assert_eq!(
            messages(&CronJobs.validate(&c)),
            vec![
                "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"".to_string(),
                format!("metadata.name: Invalid value: \"{}\": must be no more than 52 characters", "x".repeat(53)),
            ]
        );
    }

    #[test]
    fn table_row() {
        let mut c = cronjob();
        CronJobs.default(&mut c);
        c["spec"]["timeZone"] = json!("Etc/UTC");
        let row = CronJobs.table_row(&c);
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(row[1], "*/1 * * * *");
        assert_eq!(row[2], "Etc/UTC");
        assert_eq!(row[3], "False");
        assert_eq!(row[4], 0);
        assert_eq!(row[5], "<none>");
        assert_eq!(row[7], "c");
        assert_eq!(row[9], "<none>");
    }

    #[test]
    fn job_template_quantities_are_stored_canonical() {
        let mut body = cronjob();
        body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"memory": "2048Mi"}});
        let decoded = CronJobs.decode(body).unwrap();
        assert_eq!(
            decoded.value["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["resources"]
                ["limits"]["memory"],
            "2Gi"
        );
    }
}
