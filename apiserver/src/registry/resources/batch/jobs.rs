//! Jobs: pods that run to completion. Unless `manualSelector` is set, the server generates the
//! selector and the `controller-uid`/`job-name` labels (legacy and `batch.kubernetes.io/`) from
//! the Job's uid and name; most of the spec is immutable after creation.

use crate::registry::resources::apps::common::{
    self, IMMUTABLE_MSG, go_label_selector, go_string_map, int_at, invalid_rendered, nonnegative,
};
use crate::registry::resources::apps::pod_template;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index, key};
use apimachinery::labels::Selector;
use apimachinery::validation::{is_dns1123_label, is_qualified_name};
use apimachinery::{FieldError, FieldErrorKind, FieldErrors, meta};
use k8s_openapi::api::batch::v1::Job;
use serde_json::{Value, json};

pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

const MAX_PARALLELISM_FOR_INDEXED: i64 = 100_000;
const MAX_FAILED_INDEXES: i64 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i64 = 100_000;
const PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS: i64 = 10_000;
const MAX_FAILED_INDEXES_FOR_HIGH_COMPLETIONS: i64 = 10_000;
const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
const MAX_EXIT_CODE_VALUES: usize = 255;
const MAX_POD_CONDITION_PATTERNS: usize = 20;
const MAX_MANAGED_BY_LENGTH: usize = 63;
const MAX_SUCCEEDED_INDEXES_LENGTH: usize = 64 * 1024;
const MAX_SUCCESS_POLICY_RULES: usize = 20;

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status("batch", "v1", "Job")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("batch", "v1", "jobs", "Job", "job", true)
            .categories(&["all"])
            .subresources(SUBRESOURCES),
        Jobs,
    )
}

pub struct Jobs;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "Status of the job."),
    Column::new(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
    ),
    Column::new("Duration", "string", "Time required to complete the job."),
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

impl Strategy for Jobs {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        pod_template::normalize_quantities(&mut body, "/spec/template")?;
        typed::round_trip::<Job>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn orphans_by_default(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = meta::nested_mut(obj, &["spec"]);
        if !spec.is_object() {
            *spec = json!({});
        }
        let unset = |s: &Value, f: &str| s.get(f).is_none_or(Value::is_null);
        if unset(spec, "completions") && unset(spec, "parallelism") {
            spec["completions"] = json!(1);
            spec["parallelism"] = json!(1);
        }
        meta::default_at(spec, &["parallelism"], json!(1));
        let backoff = if unset(spec, "backoffLimitPerIndex") {
            6
        } else {
            i64::from(i32::MAX)
        };
        meta::default_at(spec, &["backoffLimit"], json!(backoff));
        meta::default_at(spec, &["completionMode"], json!("NonIndexed"));
        meta::default_at(spec, &["suspend"], json!(false));
        let has_failure_policy = !unset(spec, "podFailurePolicy");
        if let Some(rules) = spec
            .pointer_mut("/podFailurePolicy/rules")
            .and_then(Value::as_array_mut)
        {
            for rule in rules {
                let patterns = rule
                    .get_mut("onPodConditions")
                    .and_then(Value::as_array_mut);
                for p in patterns.into_iter().flatten() {
                    if p.get("status")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        p["status"] = json!("True");
                    }
                }
            }
        }
        let replacement = if has_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        meta::default_at(spec, &["podReplacementPolicy"], json!(replacement));
        meta::default_at(spec, &["manualSelector"], json!(false));
        pod_template::default_template(meta::nested_mut(spec, &["template"]));
        copy_template_labels(obj);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) != Some(true) {
            generate_selector(obj);
        }
        common::reset_status(obj, &[]);
        // Upstream applies this default again whenever it reads the Job back, by which time
        // the generated labels are on the template.
        copy_template_labels(obj);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_job(obj, true)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let has = |l: &str| {
            old.pointer("/spec/template/metadata/labels")
                .and_then(|m| m.get(l))
                .is_some()
        };
        // Jobs created before the prefixed labels existed keep validating without them.
        let mut errs = validate_job(new, has(JOB_NAME_LABEL) && has(CONTROLLER_UID_LABEL));
        errs.extend(validate_spec_update(new, old));
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let s = new.get("status").unwrap_or(&Value::Null);
        let mut errs = Vec::new();
        for f in ["active", "succeeded", "failed", "ready", "terminating"] {
            errs.extend(nonnegative(s, &format!("/{f}"), &format!("status.{f}")));
        }
        if let (Some(ready), active) = (int_at(s, "/ready"), int_at(s, "/active").unwrap_or(0))
            && ready > active
        {
            errs.push(FieldError::invalid(
                "status.ready",
                ready,
                "cannot set more ready pods than active",
            ));
        }
        errs
    }

    fn warnings(&self, obj: &Value) -> Vec<String> {
        common::dns_label_name_warning(obj)
    }

    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![(
            "status.successful",
            int_at(obj, "/status/succeeded").unwrap_or(0).to_string(),
        )]
    }

    fn selectable_field_names(&self) -> &'static [&'static str] {
        &["status.successful"]
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let succeeded = int_at(obj, "/status/succeeded").unwrap_or(0);
        let completions = match int_at(obj, "/spec/completions") {
            Some(c) => format!("{succeeded}/{c}"),
            None => match int_at(obj, "/spec/parallelism").unwrap_or(0) {
                p if p > 1 => format!("{succeeded}/1 of {p}"),
                _ => format!("{succeeded}/1"),
            },
        };
        let (names, images) = common::layout_containers(obj.pointer("/spec/template"));
        vec![
            table::name(obj),
            json!(job_status(obj)),
            json!(completions),
            json!(duration(obj)),
            table::age(obj),
            json!(names),
            json!(images),
            json!(common::format_label_selector(obj.pointer("/spec/selector"))),
        ]
    }
}

/// Job labels default to the template's labels when the Job has none.
fn copy_template_labels(obj: &mut Value) {
    let template_labels = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.is_object())
        .cloned();
    let has_labels = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty());
    if let Some(labels) = template_labels
        && !has_labels
    {
        meta::set(obj, "labels", Some(labels));
    }
}

/// Adds the job-name and controller-uid labels to the template (where the user did not set
/// them; conflicts fail validation) and selects on the controller uid.
fn generate_selector(obj: &mut Value) {
    let name = meta::name(obj).to_string();
    let uid = meta::uid(obj).to_string();
    let labels = meta::nested_mut(obj, &["spec", "template", "metadata", "labels"]);
    if !labels.is_object() {
        *labels = json!({});
    }
    for (k, v) in [
        (LEGACY_JOB_NAME_LABEL, &name),
        (JOB_NAME_LABEL, &name),
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (CONTROLLER_UID_LABEL, &uid),
    ] {
        if labels.get(k).is_none() {
            labels[k] = json!(v);
        }
    }
    let match_labels = meta::nested_mut(obj, &["spec", "selector", "matchLabels"]);
    if !match_labels.is_object() {
        *match_labels = json!({});
    }
    if match_labels.get(CONTROLLER_UID_LABEL).is_none() {
        match_labels[CONTROLLER_UID_LABEL] = json!(uid);
    }
}

/// The STATUS column: the first of Complete, Failed, Terminating, Suspended, FailureTarget,
/// SuccessCriteriaMet that holds, else Running.
fn job_status(obj: &Value) -> &'static str {
    if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if meta::deletion_timestamp(obj).is_some() {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(obj, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// Whether the first condition of `kind` is `True`.
pub fn has_condition(obj: &Value, kind: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        })
        .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

fn duration(obj: &Value) -> String {
    let time = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    let Some(start) = time("/status/startTime") else {
        return String::new();
    };
    let end = time("/status/completionTime").map_or_else(chrono::Utc::now, |t| t.to_utc());
    table::human_duration((end - start.to_utc()).num_seconds())
}

/// `ValidateJob`: metadata-derived checks, the generated selector, and the spec.
fn validate_job(obj: &Value, require_prefixed_labels: bool) -> FieldErrors {
    let mut errs = validate_generated_selector(obj, require_prefixed_labels);
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    errs.extend(validate_job_spec(spec, "spec"));
    let sel = spec.get("selector").filter(|s| !s.is_null());
    match sel {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(s) => errs.extend(common::validate_label_selector(
            Some(s),
            "spec.selector",
            false,
        )),
    }
    let labels = spec.pointer("/template/metadata/labels");
    let matches = match sel {
        None => Some(false),
        Some(s) => Selector::from_label_selector(s)
            .ok()
            .map(|s| s.matches_json(labels)),
    };
    if matches == Some(false) {
        errs.push(common::template_mismatch(
            "spec.template.metadata.labels",
            labels,
        ));
    }
    let completions = int_at(spec, "/completions");
    if spec.get("completionMode").and_then(Value::as_str) == Some("Indexed")
        && let Some(c) = completions.filter(|c| *c > 0)
    {
        let name = meta::name(obj);
        let hostname = format!("{name}-{}", c - 1);
        if !is_dns1123_label(&hostname).is_empty() {
            errs.push(FieldError::invalid(
                "metadata.name",
                name,
                format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
    errs
}

fn validate_generated_selector(obj: &Value, require_prefixed_labels: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return errs;
    }
    let Some(sel) = spec.get("selector").filter(|s| !s.is_null()) else {
        return errs;
    };
    let uid = meta::uid(obj);
    let name = meta::name(obj);
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let labels = spec.pointer("/template/metadata/labels");
    let mut expected = vec![
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (LEGACY_JOB_NAME_LABEL, name),
    ];
    if require_prefixed_labels {
        expected.push((CONTROLLER_UID_LABEL, uid));
        expected.push((JOB_NAME_LABEL, name));
    }
    for (k, want) in &expected {
        let path = key("spec.template.metadata.labels", k);
        match labels.and_then(|l| l.get(*k)).and_then(Value::as_str) {
            None => errs.push(FieldError::required(path, *k)),
            Some(v) if v != *want => errs.push(invalid_rendered(
                path,
                &go_string_map(labels),
                format!("must be '{want}'"),
            )),
            Some(_) => {}
        }
    }
    let expected_labels: serde_json::Map<String, Value> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    if let Ok(s) = Selector::from_label_selector(sel)
        && !s.matches_json(Some(&Value::Object(expected_labels)))
    {
        errs.push(invalid_rendered(
            "spec.selector",
            &go_label_selector(Some(sel)),
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// Upstream's `validateJobSpec` for the spec at `path` (`spec` of a Job,
/// `spec.jobTemplate.spec` of a CronJob).
pub fn validate_job_spec(spec: &Value, path: &str) -> FieldErrors {
    let p = |f: &str| child(path, f);
    let mut errs = Vec::new();
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        errs.extend(nonnegative(spec, &format!("/{f}"), &p(f)));
    }
    let per_index = int_at(spec, "/backoffLimitPerIndex");
    let max_failed = int_at(spec, "/maxFailedIndexes");
    if max_failed.is_some() {
        errs.extend(nonnegative(
            spec,
            "/maxFailedIndexes",
            &p("maxFailedIndexes"),
        ));
        if per_index.is_none() {
            errs.push(FieldError::required(
                p("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if let Some(m) = spec.get("managedBy").and_then(Value::as_str) {
        errs.extend(validate_managed_by(m, &p("managedBy")));
    }
    let mode = spec.get("completionMode").and_then(Value::as_str);
    let completions = int_at(spec, "/completions");
    let parallelism = int_at(spec, "/parallelism");
    if let Some(mode) = mode {
        if !matches!(mode, "NonIndexed" | "Indexed") {
            errs.push(FieldError::not_supported(
                p("completionMode"),
                mode,
                &["NonIndexed", "Indexed"],
            ));
        }
        if mode == "Indexed" {
            if completions.is_none() {
                errs.push(FieldError::required(
                    p("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(par) = parallelism.filter(|v| *v > MAX_PARALLELISM_FOR_INDEXED) {
                errs.push(FieldError::invalid(
                    p("parallelism"),
                    par,
                    format!(
                        "must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED} when completion mode is Indexed"
                    ),
                ));
            }
            if let (Some(c), Some(m)) = (completions, max_failed)
                && m > c
            {
                errs.push(FieldError::invalid(
                    p("maxFailedIndexes"),
                    m,
                    "must be less than or equal to completions",
                ));
            }
            if let Some(m) = max_failed.filter(|m| *m > MAX_FAILED_INDEXES) {
                errs.push(FieldError::invalid(
                    p("maxFailedIndexes"),
                    m,
                    format!("must be less than or equal to {MAX_FAILED_INDEXES}"),
                ));
            }
            if completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT) && per_index.is_some() {
                if max_failed.is_none() {
                    errs.push(FieldError::required(
                        p("maxFailedIndexes"),
                        format!(
                            "must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"
                        ),
                    ));
                }
                if let Some(par) =
                    parallelism.filter(|v| *v > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS)
                {
                    errs.push(FieldError::invalid(
                        p("parallelism"),
                        par,
                        format!("must be less than or equal to {PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"),
                    ));
                }
                if let Some(m) = max_failed.filter(|m| *m > MAX_FAILED_INDEXES_FOR_HIGH_COMPLETIONS)
                {
                    errs.push(FieldError::invalid(
                        p("maxFailedIndexes"),
                        m,
                        format!("must be less than or equal to {MAX_FAILED_INDEXES_FOR_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"),
                    ));
                }
            }
        }
    }
    let indexed = mode == Some("Indexed");
    if !indexed {
        if let Some(v) = per_index {
            errs.push(FieldError::invalid(
                p("backoffLimitPerIndex"),
                v,
                "requires indexed completion mode",
            ));
        }
        if let Some(v) = max_failed {
            errs.push(FieldError::invalid(
                p("maxFailedIndexes"),
                v,
                "requires indexed completion mode",
            ));
        }
    }
    let failure_policy = spec.get("podFailurePolicy").filter(|v| !v.is_null());
    if let Some(fp) = failure_policy {
        errs.extend(validate_pod_failure_policy(
            spec,
            fp,
            &p("podFailurePolicy"),
        ));
    }
    if let Some(sp) = spec.get("successPolicy").filter(|v| !v.is_null()) {
        if indexed {
            errs.extend(validate_success_policy(
                sp,
                completions.unwrap_or(0),
                &p("successPolicy"),
            ));
        } else {
            errs.push(FieldError::invalid(
                p("successPolicy"),
                sp.clone(),
                "requires indexed completion mode",
            ));
        }
    }
    if let Some(rp) = spec.get("podReplacementPolicy").and_then(Value::as_str) {
        if failure_policy.is_some() {
            if rp != "Failed" {
                errs.push(FieldError::not_supported(
                    p("podReplacementPolicy"),
                    rp,
                    &["Failed"],
                ));
            }
        } else if !matches!(rp, "Failed" | "TerminatingOrFailed") {
            errs.push(FieldError::not_supported(
                p("podReplacementPolicy"),
                rp,
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let template = spec.get("template");
    errs.extend(pod_template::validate_template(template, &p("template")));
    let restart_path = child(&p("template"), "spec.restartPolicy");
    match pod_template::restart_policy(template) {
        "" | "Always" => errs.push(FieldError::required(
            restart_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" if failure_policy.is_some() => errs.push(FieldError::invalid(
            restart_path,
            "OnFailure",
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(
            restart_path,
            other,
            &["OnFailure", "Never"],
        )),
    }
    errs
}

/// `IsDomainPrefixedPath` and the length limit for `spec.managedBy`.
fn validate_managed_by(value: &str, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    match value.split_once('/') {
        Some((host, rest)) => {
            for msg in apimachinery::validation::is_dns1123_subdomain(host) {
                errs.push(FieldError::invalid(path, value, msg));
            }
            let segment_ok = rest
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&c));
            if !segment_ok {
                errs.push(FieldError::invalid(
                    path,
                    value,
                    apimachinery::validation::regex_error(
                        "Invalid path",
                        "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+",
                        &[],
                    ),
                ));
            }
        }
        None => errs.push(FieldError::invalid(
            path,
            value,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )),
    }
    if value.len() > MAX_MANAGED_BY_LENGTH {
        errs.push(FieldError::too_long(path, MAX_MANAGED_BY_LENGTH));
    }
    errs
}

fn go_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

fn validate_pod_failure_policy(spec: &Value, policy: &Value, path: &str) -> FieldErrors {
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    let mut errs = Vec::new();
    let rules_path = child(path, "rules");
    let rules = policy
        .get("rules")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if rules.len() > MAX_POD_FAILURE_POLICY_RULES {
        errs.push(FieldError::too_many(
            &rules_path,
            rules.len(),
            MAX_POD_FAILURE_POLICY_RULES,
        ));
    }
    let containers: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| {
            spec.pointer(&format!("/template/spec/{l}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        let rp = index(&rules_path, i);
        let action = rule
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ap = child(&rp, "action");
        if action.is_empty() {
            errs.push(FieldError::required(
                ap,
                format!("valid values: {}", go_list(ACTIONS)),
            ));
        } else if action == "FailIndex" {
            if spec.get("backoffLimitPerIndex").is_none_or(Value::is_null) {
                errs.push(FieldError::invalid(
                    ap,
                    action,
                    "requires the backoffLimitPerIndex to be set",
                ));
            }
        } else if !ACTIONS.contains(&action) {
            errs.push(FieldError::not_supported(ap, action, ACTIONS));
        }
        let exit_codes = rule.get("onExitCodes").filter(|v| !v.is_null());
        let conditions = rule
            .get("onPodConditions")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        if let Some(ec) = exit_codes {
            errs.extend(validate_on_exit_codes(
                ec,
                &child(&rp, "onExitCodes"),
                &containers,
            ));
        }
        if let Some(conds) = conditions {
            let cp = child(&rp, "onPodConditions");
            if conds.len() > MAX_POD_CONDITION_PATTERNS {
                errs.push(FieldError::too_many(
                    &cp,
                    conds.len(),
                    MAX_POD_CONDITION_PATTERNS,
                ));
            }
            for (j, pattern) in conds.iter().enumerate() {
                let pp = index(&cp, j);
                let kind = pattern
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                for msg in is_qualified_name(kind) {
                    errs.push(FieldError::invalid(child(&pp, "type"), kind, msg));
                }
                let status = pattern
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                const STATUSES: &[&str] = &["False", "True", "Unknown"];
                if status.is_empty() {
                    errs.push(FieldError::required(
                        child(&pp, "status"),
                        format!("valid values: {}", go_list(STATUSES)),
                    ));
                } else if !STATUSES.contains(&status) {
                    errs.push(FieldError::not_supported(
                        child(&pp, "status"),
                        status,
                        STATUSES,
                    ));
                }
            }
        }
        match (exit_codes.is_some(), conditions.is_some()) {
            (true, true) => errs.push(FieldError::new(
                FieldErrorKind::Invalid,
                rp,
                "specifying both OnExitCodes and OnPodConditions is not supported",
            )),
            (false, false) => errs.push(FieldError::new(
                FieldErrorKind::Invalid,
                rp,
                "specifying one of OnExitCodes and OnPodConditions is required",
            )),
            _ => {}
        }
    }
    errs
}

fn validate_on_exit_codes(ec: &Value, path: &str, containers: &[&str]) -> FieldErrors {
    const OPERATORS: &[&str] = &["In", "NotIn"];
    let mut errs = Vec::new();
    let op = ec
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let op_path = child(path, "operator");
    if op.is_empty() {
        errs.push(FieldError::required(
            op_path,
            format!("valid values: {}", go_list(OPERATORS)),
        ));
    } else if !OPERATORS.contains(&op) {
        errs.push(FieldError::not_supported(op_path, op, OPERATORS));
    }
    if let Some(name) = ec.get("containerName").and_then(Value::as_str)
        && !containers.contains(&name)
    {
        errs.push(FieldError::invalid(
            child(path, "containerName"),
            name,
            "must be one of the container or initContainer names in the pod template",
        ));
    }
    let vp = child(path, "values");
    let values: Vec<i64> = ec
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let rendered = format!(
        "[]int32{{{}}}",
        values
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if values.is_empty() {
        errs.push(invalid_rendered(
            &vp,
            "[]int32(nil)",
            "at least one value is required",
        ));
    } else if values.len() > MAX_EXIT_CODE_VALUES {
        errs.push(FieldError::too_many(
            &vp,
            values.len(),
            MAX_EXIT_CODE_VALUES,
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (j, v) in values.iter().enumerate() {
        let p = index(&vp, j);
        if op == "In" && *v == 0 {
            errs.push(FieldError::invalid(
                &p,
                *v,
                "must not be 0 for the In operator",
            ));
        }
        if !seen.insert(*v) {
            errs.push(FieldError::duplicate(&p, *v));
        }
    }
    if values.windows(2).any(|w| w[0] > w[1]) {
        errs.push(invalid_rendered(&vp, &rendered, "must be ordered"));
    }
    errs
}

fn validate_success_policy(policy: &Value, completions: i64, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let rules_path = child(path, "rules");
    let rules = policy
        .get("rules")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if rules.is_empty() {
        errs.push(FieldError::required(
            &rules_path,
            "at least one rules must be specified when the successPolicy is specified",
        ));
    }
    if rules.len() > MAX_SUCCESS_POLICY_RULES {
        errs.push(FieldError::too_many(
            &rules_path,
            rules.len(),
            MAX_SUCCESS_POLICY_RULES,
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = index(&rules_path, i);
        let indexes = rule.get("succeededIndexes").and_then(Value::as_str);
        let count = int_at(rule, "/succeededCount");
        if indexes.is_none() && count.is_none() {
            errs.push(FieldError::required(
                &rp,
                "at least one of succeededCount or succeededIndexes must be specified",
            ));
        }
        let mut total = 0;
        if let Some(ix) = indexes {
            let ip = child(&rp, "succeededIndexes");
            if ix.len() > MAX_SUCCEEDED_INDEXES_LENGTH {
                errs.push(FieldError::too_long(&ip, MAX_SUCCEEDED_INDEXES_LENGTH));
            }
            match indexes_total(ix, completions) {
                Ok(t) => total = t,
                Err(e) => errs.push(FieldError::invalid(
                    &ip,
                    ix,
                    format!("error parsing succeededIndexes: {e}"),
                )),
            }
        }
        if let Some(c) = count {
            let cp = child(&rp, "succeededCount");
            errs.extend(nonnegative(rule, "/succeededCount", &cp));
            if c > completions {
                errs.push(FieldError::invalid(
                    &cp,
                    c,
                    format!("must be less than or equal to {completions} (the number of specified completions)"),
                ));
            }
            if indexes.is_some() && c > total {
                errs.push(FieldError::invalid(
                    &cp,
                    c,
                    format!("must be less than or equal to {total} (the number of indexes in the specified succeededIndexes field)"),
                ));
            }
        }
    }
    errs
}

/// Upstream's `validateIndexesFormat`: `1,3-5,7` below `completions`, strictly increasing;
/// returns the number of indexes.
fn indexes_total(s: &str, completions: i64) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    let mut last: Option<i64> = None;
    let mut total = 0;
    for interval in s.split(',') {
        let limits: Vec<&str> = interval.split('-').collect();
        if limits.len() > 2 {
            return Err(format!(
                "the fragment {interval:?} violates the requirement that an index interval can have at most two parts separated by '-'"
            ));
        }
        let parse = |t: &str| -> Result<i64, String> {
            let v: i64 = t
                .parse()
                .map_err(|_| format!("cannot convert string to integer for index: {t:?}"))?;
            if v >= completions {
                return Err(format!("too large index: {t:?}"));
            }
            Ok(v)
        };
        let x = parse(limits[0])?;
        if let Some(l) = last
            && l >= x
        {
            return Err(format!("non-increasing order, previous: {l}, current: {x}"));
        }
        total += 1;
        last = Some(x);
        if let Some(y) = limits.get(1) {
            let y = parse(y)?;
            if x >= y {
                return Err(format!("non-increasing order, previous: {x}, current: {y}"));
            }
            total += y - x;
            last = Some(y);
        }
    }
    Ok(total)
}

/// The immutable parts of a Job spec, checked on update.
fn validate_spec_update(new: &Value, old: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let n = new.get("spec").unwrap_or(&Value::Null);
    let o = old.get("spec").unwrap_or(&Value::Null);
    let get = |s: &Value, f: &str| s.get(f).cloned().unwrap_or(Value::Null);
    let immutable = |errs: &mut FieldErrors, f: &str| {
        if get(n, f) != get(o, f) {
            errs.push(FieldError::invalid(
                format!("spec.{f}"),
                get(n, f),
                IMMUTABLE_MSG,
            ));
        }
    };
    // Elastic Indexed Jobs may change completions together with parallelism.
    if n.get("completionMode").and_then(Value::as_str) == Some("Indexed") {
        if get(n, "completions") != get(o, "completions")
            && let Some(c) = int_at(n, "/completions")
            && Some(c) != int_at(n, "/parallelism")
        {
            errs.push(FieldError::invalid(
                "spec.completions",
                c,
                "can only be modified in tandem with spec.parallelism",
            ));
        }
    } else {
        immutable(&mut errs, "completions");
    }
    errs.extend(common::immutable_selector(new, old, "spec.selector"));
    errs.extend(validate_template_update(n, o, old));
    for f in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        immutable(&mut errs, f);
    }
    errs
}

/// The template is immutable, except that a suspended Job that never started may change its
/// scheduling directives (node affinity, node selector, tolerations, scheduling gates) and
/// the template's labels and annotations.
fn validate_template_update(n: &Value, o: &Value, old: &Value) -> FieldErrors {
    let new_t = n.get("template").cloned().unwrap_or(Value::Null);
    let mut old_t = o.get("template").cloned().unwrap_or(Value::Null);
    let suspended = o.get("suspend").and_then(Value::as_bool) == Some(true);
    let never_started = old.pointer("/status/startTime").is_none_or(Value::is_null);
    if suspended && never_started {
        let copy = |dst: &mut Value, ptr: &str, parent: &[&str], f: &str| {
            let v = new_t.pointer(ptr).cloned();
            let slot = meta::nested_mut(dst, parent);
            if let Some(m) = slot.as_object_mut() {
                match v {
                    Some(v) => {
                        m.insert(f.to_string(), v);
                    }
                    None => {
                        m.remove(f);
                    }
                }
            }
        };
        copy(&mut old_t, "/spec/nodeSelector", &["spec"], "nodeSelector");
        copy(&mut old_t, "/spec/tolerations", &["spec"], "tolerations");
        copy(
            &mut old_t,
            "/spec/schedulingGates",
            &["spec"],
            "schedulingGates",
        );
        copy(&mut old_t, "/metadata/labels", &["metadata"], "labels");
        copy(
            &mut old_t,
            "/metadata/annotations",
            &["metadata"],
            "annotations",
        );
        let new_affinity = new_t.pointer("/spec/affinity").filter(|v| !v.is_null());
        match (
            new_affinity,
            old_t.pointer_mut("/spec/affinity").filter(|v| !v.is_null()),
        ) {
            (None, Some(a)) => {
                if let Some(m) = a.as_object_mut() {
                    m.remove("nodeAffinity");
                }
                if a.as_object().is_some_and(|m| m.is_empty())
                    && let Some(spec) = old_t.get_mut("spec").and_then(Value::as_object_mut)
                {
                    spec.remove("affinity");
                }
            }
            (Some(na), None) => {
                let node = na.get("nodeAffinity").cloned();
                let mut a = json!({});
                if let Some(node) = node {
                    a["nodeAffinity"] = node;
                }
                meta::nested_mut(&mut old_t, &["spec"])["affinity"] = a;
            }
            (Some(na), Some(a)) => match na.get("nodeAffinity") {
                Some(node) => a["nodeAffinity"] = node.clone(),
                None => {
                    if let Some(m) = a.as_object_mut() {
                        m.remove("nodeAffinity");
                    }
                }
            },
            (None, None) => {}
        }
    }
    if new_t != old_t {
        return vec![FieldError::invalid("spec.template", new_t, IMMUTABLE_MSG)];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Value {
        json!({
            "metadata": {"name": "pi", "namespace": "ns", "uid": "u-1"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "pi", "image": "perl"}]}}}
        })
    }

    fn created() -> Value {
        let mut j = job();
        Jobs.default(&mut j);
        Jobs.prepare_for_create(&mut j);
        j
    }

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_like_upstream() {
        let mut j = job();
        Jobs.default(&mut j);
        let s = &j["spec"];
        assert_eq!(s["completions"], 1);
        assert_eq!(s["parallelism"], 1);
        assert_eq!(s["backoffLimit"], 6);
        assert_eq!(s["completionMode"], "NonIndexed");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(s["manualSelector"], false);

        let mut p = job();
        p["spec"]["parallelism"] = json!(3);
        p["spec"]["backoffLimitPerIndex"] = json!(1);
        Jobs.default(&mut p);
        assert!(p["spec"].get("completions").is_none());
        assert_eq!(p["spec"]["backoffLimit"], i32::MAX);
    }

    #[test]
    fn generates_selector_and_labels() {
        let j = created();
        let labels = &j["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels[LEGACY_JOB_NAME_LABEL], "pi");
        assert_eq!(labels[JOB_NAME_LABEL], "pi");
        assert_eq!(labels[LEGACY_CONTROLLER_UID_LABEL], "u-1");
        assert_eq!(labels[CONTROLLER_UID_LABEL], "u-1");
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {CONTROLLER_UID_LABEL: "u-1"}})
        );
        assert_eq!(j["metadata"]["labels"], *labels);
        assert_eq!(j["status"], json!({}));
        assert!(Jobs.validate(&j).is_empty(), "{:?}", Jobs.validate(&j));
    }

    #[test]
    fn validation_messages() {
        let mut j = job();
        j["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        j["spec"]["template"]["metadata"] = json!({"labels": {JOB_NAME_LABEL: "other"}});
        Jobs.default(&mut j);
        Jobs.prepare_for_create(&mut j);
        let msgs = messages(&Jobs.validate(&j));
        assert!(
            msgs.contains(&"spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"".to_string()),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.starts_with(
            "spec.template.metadata.labels[batch.kubernetes.io/job-name]: Invalid value: map[string]string{"
        ) && m.ends_with(": must be 'pi'")), "{msgs:?}");

        let mut j = job();
        j["spec"]["completionMode"] = json!("Indexed");
        j["spec"]["parallelism"] = json!(2);
        j["spec"]["podFailurePolicy"] = json!({"rules": [{"action": "Bogus", "onExitCodes": {"operator": "In", "values": [0, 3, 1]}}]});
        Jobs.default(&mut j);
        Jobs.prepare_for_create(&mut j);
        assert_eq!(
            messages(&Jobs.validate(&j)),
            vec![
                "spec.completions: Required value: when completion mode is Indexed",
                "spec.podFailurePolicy.rules[0].action: Unsupported value: \"Bogus\": supported values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\"",
                "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
                "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []int32{0, 3, 1}: must be ordered",
            ]
        );
    }

    #[test]
    fn immutable_on_update() {
        let old = created();
        let mut new = old.clone();
        new["spec"]["completions"] = json!(2);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
        let msgs = messages(&Jobs.validate_update(&new, &old));
        assert_eq!(
            msgs[0],
            "spec.completions: Invalid value: 2: field is immutable"
        );
        assert!(msgs[1].starts_with("spec.template: Invalid value: "));
        let mut suspended = old.clone();
        suspended["spec"]["suspend"] = json!(true);
        let mut new = suspended.clone();
        new["spec"]["template"]["spec"]["nodeSelector"] = json!({"a": "b"});
        assert!(Jobs.validate_update(&new, &suspended).is_empty());
    }

    #[test]
    fn table_rows() {
        let mut j = created();
        assert_eq!(Jobs.table_row(&j)[1], "Running");
        assert_eq!(Jobs.table_row(&j)[2], "0/1");
        j["status"] = json!({
            "succeeded": 1, "startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T00:00:07Z",
            "conditions": [{"type": "Complete", "status": "True"}]
        });
        let row = Jobs.table_row(&j);
        assert_eq!(row[1], "Complete");
        assert_eq!(row[2], "1/1");
        assert_eq!(row[3], "7s");
        assert_eq!(row[7], "batch.kubernetes.io/controller-uid=u-1");
        let mut p = job();
        p["spec"]["parallelism"] = json!(3);
        assert_eq!(Jobs.table_row(&p)[2], "0/1 of 3");
    }

    #[test]
    fn success_policy_indexes() {
        assert_eq!(indexes_total("0,2-4", 5), Ok(4));
        assert_eq!(
            indexes_total("5", 5),
            Err("too large index: \"5\"".to_string())
        );
        assert_eq!(
            indexes_total("3,1", 5),
            Err("non-increasing order, previous: 3, current: 1".to_string())
        );
    }
}
