//! ReplicaSets: keep a number of identical pods running. `status.replicas` is a selectable
//! field (the ReplicaSet controller and `kubectl` filter on it).

use super::common::{self, int_at, nonnegative};
use super::deployments::validate_replicated_template;
use super::pod_template;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
};
use apimachinery::{FieldError, FieldErrors, meta};
use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[
    SubresourceInfo::status("apps", "v1", "ReplicaSet"),
    SubresourceInfo::scale(),
];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            "replicaset",
            true,
        )
        .short_names(&["rs"])
        .categories(&["all"])
        .subresources(SUBRESOURCES),
        ReplicaSets,
    )
}

pub struct ReplicaSets;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Desired",
        "integer",
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
    ),
    Column::new(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
    ),
    Column::new(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
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
        "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )
    .wide(),
];

impl Strategy for ReplicaSets {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        pod_template::normalize_quantities(&mut body, "/spec/template")?;
        common::decode_keeping_absent::<ReplicaSet>(body, &["/spec/selector"])
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = meta::nested_mut(obj, &["spec"]);
        meta::default_at(spec, &["replicas"], json!(1));
        pod_template::default_template(meta::nested_mut(spec, &["template"]));
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        common::reset_status(obj, &["replicas"]);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let mut errs = nonnegative(spec, "/replicas", "spec.replicas");
        errs.extend(nonnegative(
            spec,
            "/minReadySeconds",
            "spec.minReadySeconds",
        ));
        // Upstream's message names deployments here too.
        errs.extend(common::validate_selector_and_template(
            spec,
            "deployment",
            "invalid label selector",
        ));
        errs.extend(validate_replicated_template(spec));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(common::immutable_selector(new, old, "spec.selector"));
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let s = new.get("status").unwrap_or(&Value::Null);
        let mut errs = Vec::new();
        for f in [
            "replicas",
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
            "observedGeneration",
        ] {
            errs.extend(nonnegative(s, &format!("/{f}"), &format!("status.{f}")));
        }
        let get = |f: &str| int_at(s, &format!("/{f}")).unwrap_or(0);
        for f in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
            if get(f) > get("replicas") {
                errs.push(FieldError::invalid(
                    format!("status.{f}"),
                    get(f),
                    "cannot be greater than status.replicas",
                ));
            }
        }
        if get("availableReplicas") > get("readyReplicas") {
            errs.push(FieldError::invalid(
                "status.availableReplicas",
                get("availableReplicas"),
                "cannot be greater than readyReplicas",
            ));
        }
        errs
    }

    fn warnings(&self, obj: &Value) -> Vec<String> {
        common::dns_label_name_warning(obj)
    }

    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![(
            "status.replicas",
            int_at(obj, "/status/replicas").unwrap_or(0).to_string(),
        )]
    }

    fn selectable_field_names(&self) -> &'static [&'static str] {
        &["status.replicas"]
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let (names, images) = common::layout_containers(obj.pointer("/spec/template"));
        vec![
            table::name(obj),
            json!(int_at(obj, "/spec/replicas").unwrap_or(0)),
            json!(int_at(obj, "/status/replicas").unwrap_or(0)),
            json!(int_at(obj, "/status/readyReplicas").unwrap_or(0)),
            table::age(obj),
            json!(names),
            json!(images),
            json!(common::format_label_selector(obj.pointer("/spec/selector"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs() -> Value {
        json!({
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {
                "selector": {"matchLabels": {"app": "r"}},
                "template": {"metadata": {"labels": {"app": "r"}},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
            }
        })
    }

    #[test]
    fn defaults_and_validates() {
        let mut r = rs();
        ReplicaSets.default(&mut r);
        assert_eq!(r["spec"]["replicas"], 1);
        assert!(ReplicaSets.validate(&r).is_empty());
        r["spec"]["selector"] = json!({});
        let errs: Vec<String> = ReplicaSets
            .validate(&r)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ]
        );
        r["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        let errs = ReplicaSets.validate(&r);
        assert_eq!(
            errs[1].to_string(),
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
        );
    }

    #[test]
    fn status_and_fields() {
        let mut r = rs();
        ReplicaSets.prepare_for_create(&mut r);
        assert_eq!(r["status"], json!({"replicas": 0}));
        r["status"] = json!({"replicas": 1, "readyReplicas": 2});
        assert_eq!(
            ReplicaSets.validate_status_update(&r, &r)[0].to_string(),
            "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"
        );
        assert_eq!(
            ReplicaSets.selectable_fields(&r),
            vec![("status.replicas", "1".to_string())]
        );
        let row = ReplicaSets.table_row(&r);
        assert_eq!(row[1..4], [json!(0), json!(1), json!(2)]);
        assert_eq!(row[7], "app=r");
    }

    #[test]
    fn warns_about_non_label_names() {
        let mut r = rs();
        meta::set(&mut r, "name", Some(json!("a.b")));
        assert_eq!(ReplicaSets.warnings(&r).len(), 1);
    }
}
