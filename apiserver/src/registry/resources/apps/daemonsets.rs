//! DaemonSets: one pod per eligible node. apps/v1 has no `spec.templateGeneration`; upstream
//! keeps it in the `deprecated.daemonset.template.generation` annotation, which the server owns:
//! 1 on create, and one more each time the template changes.

use super::common::{self, go_int_or_string, int_at, int_or_percent_value, invalid_rendered};
use super::deployments::collision_count_not_decremented;
use super::pod_template;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
};
use apimachinery::{FieldError, FieldErrorKind, FieldErrors, meta};
use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::{Value, json};

/// The annotation holding the template generation in apps/v1.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status("apps", "v1", "DaemonSet")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("apps", "v1", "daemonsets", "DaemonSet", "daemonset", true)
            .short_names(&["ds"])
            .categories(&["all"])
            .subresources(SUBRESOURCES),
        DaemonSets,
    )
}

pub struct DaemonSets;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    Column::new(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    Column::new(
        "Ready",
        "integer",
        "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
    ),
    Column::new(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    Column::new(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    Column::new(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
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
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )
    .wide(),
];

fn template_generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_template_generation(obj: &mut Value, g: i64) {
    let annotations = meta::nested_mut(obj, &["metadata", "annotations"]);
    if !annotations.is_object() {
        *annotations = json!({});
    }
    annotations[TEMPLATE_GENERATION_ANNOTATION] = json!(g.to_string());
}

impl Strategy for DaemonSets {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        pod_template::normalize_quantities(&mut body, "/spec/template")?;
        common::decode_keeping_absent::<DaemonSet>(body, &["/spec/selector"])
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = meta::nested_mut(obj, &["spec"]);
        let strategy = meta::nested_mut(spec, &["updateStrategy"]);
        meta::default_at(strategy, &["type"], json!("RollingUpdate"));
        if strategy["type"] == "RollingUpdate" {
            let ru = meta::nested_mut(strategy, &["rollingUpdate"]);
            meta::default_at(ru, &["maxUnavailable"], json!(1));
            meta::default_at(ru, &["maxSurge"], json!(0));
        }
        meta::default_at(spec, &["revisionHistoryLimit"], json!(10));
        pod_template::default_template(meta::nested_mut(spec, &["template"]));
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        common::reset_status(
            obj,
            &[
                "currentNumberScheduled",
                "desiredNumberScheduled",
                "numberMisscheduled",
                "numberReady",
            ],
        );
        let g = template_generation(obj).max(1);
        set_template_generation(obj, g);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let mut g = template_generation(old);
        if new.pointer("/spec/template") != old.pointer("/spec/template") {
            g += 1;
        }
        set_template_generation(new, g);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_spec(obj.get("spec").unwrap_or(&Value::Null))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(common::immutable_selector(new, old, "spec.selector"));
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let s = new.get("status").unwrap_or(&Value::Null);
        let mut errs = Vec::new();
        for f in [
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
            "observedGeneration",
            "updatedNumberScheduled",
            "numberAvailable",
            "numberUnavailable",
            "collisionCount",
        ] {
            errs.extend(common::nonnegative(
                s,
                &format!("/{f}"),
                &format!("status.{f}"),
            ));
        }
        errs.extend(collision_count_not_decremented(new, old));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let status = |f: &str| json!(int_at(obj, &format!("/status/{f}")).unwrap_or(0));
        let template = obj.pointer("/spec/template");
        let (names, images) = common::layout_containers(template);
        vec![
            table::name(obj),
            status("desiredNumberScheduled"),
            status("currentNumberScheduled"),
            status("numberReady"),
            status("updatedNumberScheduled"),
            status("numberAvailable"),
            json!(common::format_labels(
                template.and_then(|t| t.pointer("/spec/nodeSelector"))
            )),
            table::age(obj),
            json!(names),
            json!(images),
            json!(common::format_label_selector(obj.pointer("/spec/selector"))),
        ]
    }
}

fn validate_spec(spec: &Value) -> FieldErrors {
    let sel = spec.get("selector").filter(|s| !s.is_null());
    let mut errs = common::validate_label_selector(sel, "spec.selector", false);
    let labels = spec.pointer("/template/metadata/labels");
    let matches = match sel {
        // A missing selector selects nothing.
        None => Some(false),
        Some(s) => apimachinery::labels::Selector::from_label_selector(s)
            .ok()
            .map(|s| s.matches_json(labels)),
    };
    if matches == Some(false) {
        errs.push(common::template_mismatch(
            "spec.template.metadata.labels",
            labels,
        ));
    }
    if let Some(s) = sel.filter(|s| common::selector_is_empty(s)) {
        errs.push(invalid_rendered(
            "spec.selector",
            &common::go_label_selector(Some(s)),
            "empty selector is invalid for daemonset",
        ));
    }
    let template = spec.get("template");
    errs.extend(pod_template::validate_template(template, "spec.template"));
    let policy = pod_template::restart_policy(template);
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            policy,
            &["Always"],
        ));
    }
    if template
        .and_then(|t| t.pointer("/spec/activeDeadlineSeconds"))
        .is_some_and(|v| !v.is_null())
    {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    errs.extend(common::nonnegative(
        spec,
        "/minReadySeconds",
        "spec.minReadySeconds",
    ));
    errs.extend(validate_update_strategy(
        spec.get("updateStrategy").unwrap_or(&Value::Null),
    ));
    errs.extend(common::nonnegative(
        spec,
        "/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
    ));
    errs
}

fn validate_update_strategy(strategy: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let ru = strategy.get("rollingUpdate").filter(|v| v.is_object());
    let kind = strategy
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "OnDelete" => {}
        "RollingUpdate" => {
            let Some(ru) = ru else {
                errs.push(FieldError::required(
                    "spec.updateStrategy.rollingUpdate",
                    "",
                ));
                return errs;
            };
            let zero = json!(0);
            let unavailable = ru.get("maxUnavailable").unwrap_or(&zero);
            let surge = ru.get("maxSurge").unwrap_or(&zero);
            let pu = "spec.updateStrategy.rollingUpdate.maxUnavailable";
            let ps = "spec.updateStrategy.rollingUpdate.maxSurge";
            errs.extend(common::validate_positive_int_or_percent(unavailable, pu));
            errs.extend(common::validate_positive_int_or_percent(surge, ps));
            errs.extend(common::not_more_than_100_percent(unavailable, pu));
            errs.extend(common::not_more_than_100_percent(surge, ps));
            let has_unavailable = int_or_percent_value(unavailable) != 0;
            let has_surge = int_or_percent_value(surge) != 0;
            if has_unavailable && has_surge {
                errs.push(invalid_rendered(
                    ps,
                    &go_int_or_string(surge),
                    "may not be set when maxUnavailable is non-zero",
                ));
            } else if !has_unavailable && !has_surge {
                errs.push(FieldError::required(pu, "cannot be 0 when maxSurge is 0"));
            }
        }
        _ => errs.push(FieldError {
            kind: FieldErrorKind::NotSupported,
            field: "spec.updateStrategy".into(),
            value: None,
            detail: format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}}: supported values: \"RollingUpdate\", \"OnDelete\"",
                serde_json::to_string(kind).unwrap_or_default()
            ),
        }),
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> Value {
        json!({
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}},
                             "spec": {"nodeSelector": {"b": "2", "a": "1"},
                                      "containers": [{"name": "c", "image": "busybox"}]}}
            }
        })
    }

    #[test]
    fn defaults_and_generation_annotation() {
        let mut d = ds();
        DaemonSets.default(&mut d);
        assert_eq!(
            d["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert!(DaemonSets.validate(&d).is_empty());
        DaemonSets.prepare_for_create(&mut d);
        assert_eq!(
            d["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION],
            "1"
        );
        assert_eq!(d["status"]["numberReady"], 0);

        let mut same = d.clone();
        meta::set(&mut same, "annotations", None);
        DaemonSets.prepare_for_update(&mut same, &d);
        assert_eq!(
            same["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION],
            "1"
        );
        let mut changed = d.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx");
        DaemonSets.prepare_for_update(&mut changed, &d);
        assert_eq!(
            changed["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION],
            "2"
        );
    }

    #[test]
    fn validation_messages() {
        let mut d = ds();
        d["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
        DaemonSets.default(&mut d);
        assert_eq!(
            DaemonSets.validate(&d)[0].to_string(),
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
        );
        let mut d = ds();
        d["spec"].as_object_mut().map(|s| s.remove("selector"));
        DaemonSets.default(&mut d);
        assert_eq!(
            DaemonSets.validate(&d)[0].to_string(),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"d\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn table_row() {
        let mut d = ds();
        DaemonSets.default(&mut d);
        DaemonSets.prepare_for_create(&mut d);
        let row = DaemonSets.table_row(&d);
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(row[6], "a=1,b=2");
        assert_eq!(row[10], "app=d");
    }
}
