//! ReplicationControllers (stored under `controllers`): a replica count, a map selector and
//! a pod template, with the `scale` subresource and generation tracking.

use super::common::{
    array_at, container_cells, format_labels, int_at, invalid_raw, map_selector_matches,
    nonnegative, str_at, validate_map_selector,
};
use super::docs;
use super::pods::validation;
use crate::registry::resources::apps::pod_template;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::core::v1::ReplicationController;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[
    SubresourceInfo::scale(),
    SubresourceInfo::status("", "v1", "ReplicationController"),
];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "",
            "v1",
            "replicationcontrollers",
            "ReplicationController",
            "replicationcontroller",
            true,
        )
        .short_names(&["rc"])
        .categories(&["all"])
        .subresources(SUBRESOURCES)
        .storage_path("controllers"),
        ReplicationControllers,
    )
}

pub struct ReplicationControllers;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Desired", "integer", docs::RC_SPEC_REPLICAS),
    Column::new("Current", "integer", docs::RC_STATUS_REPLICAS),
    Column::new("Ready", "integer", docs::RC_READY_REPLICAS),
    AGE,
    Column::new(
        "Containers",
        "string",
        "Names of each container in the template.",
    )
    .wide(),
    Column::new(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    )
    .wide(),
    Column::new("Selector", "string", docs::RC_SELECTOR).wide(),
];

/// A label map as Go's `%#v` prints it, for the selector mismatch error.
fn go_map(m: Option<&Value>) -> String {
    let mut pairs: Vec<String> = m
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

fn validate_rc(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    errs.extend(nonnegative(int_at(spec, "/replicas"), "spec.replicas"));
    errs.extend(nonnegative(
        int_at(spec, "/minReadySeconds"),
        "spec.minReadySeconds",
    ));
    let selector = spec
        .get("selector")
        .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()));
    match selector {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => errs.extend(validate_map_selector(Some(sel), "spec.selector")),
    }
    match spec.get("template").filter(|t| t.is_object()) {
        None => errs.push(FieldError::required("spec.template", "")),
        Some(t) => {
            if let Some(sel) = selector
                && !map_selector_matches(sel, t.pointer("/metadata/labels"))
            {
                errs.push(invalid_raw(
                    "spec.template.metadata.labels",
                    &go_map(t.pointer("/metadata/labels")),
                    "`selector` does not match template `labels`",
                ));
            }
            errs.extend(validation::validate_pod_template_spec(t, "spec.template"));
            let rp = str_at(t, "/spec/restartPolicy");
            if rp != "Always" {
                errs.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    rp,
                    &["Always"],
                ));
            }
            if t.pointer("/spec/activeDeadlineSeconds")
                .is_some_and(|v| !v.is_null())
            {
                errs.push(FieldError::forbidden(
                    "spec.template.spec.activeDeadlineSeconds",
                    "activeDeadlineSeconds in ReplicationController is not Supported",
                ));
            }
        }
    }
    errs
}

impl Strategy for ReplicationControllers {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        pod_template::normalize_quantities(&mut body, "/spec/template")?;
        typed::round_trip::<ReplicationController>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let labels = obj.pointer("/spec/template/metadata/labels").cloned();
        if let Some(labels) = labels.filter(|l| l.as_object().is_some_and(|m| !m.is_empty())) {
            let spec = &mut obj["spec"];
            if spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
            {
                spec["selector"] = labels.clone();
            }
            if apimachinery::meta::labels(obj)
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
            {
                apimachinery::meta::set(obj, "labels", Some(labels));
            }
        }
        if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
            super::common::default_field(spec, "replicas", json!(1));
        }
        // The template is optional here (a pointer upstream): defaulted only when present.
        if let Some(t) = obj.pointer_mut("/spec/template").filter(|t| t.is_object()) {
            pod_template::default_template(t);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"replicas": 0});
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_rc(obj)
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        for f in [
            "replicas",
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
            "observedGeneration",
        ] {
            errs.extend(nonnegative(
                int_at(new, &format!("/status/{f}")),
                &format!("status.{f}"),
            ));
        }
        errs
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
        let (names, images) = container_cells(array_at(obj, "/spec/template/spec/containers"));
        vec![
            table::name(obj),
            json!(int_at(obj, "/spec/replicas").unwrap_or(0)),
            json!(int_at(obj, "/status/replicas").unwrap_or(0)),
            json!(int_at(obj, "/status/readyReplicas").unwrap_or(0)),
            table::age(obj),
            json!(names),
            json!(images),
            json!(format_labels(obj.pointer("/spec/selector"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(labels: Value) -> Value {
        let mut r = json!({"metadata": {"name": "r"}, "spec": {"template": {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}, {"name": "d", "image": "busybox:1"}]}}}});
        ReplicationControllers.default(&mut r);
        r
    }

    #[test]
    fn defaults_from_the_template() {
        let r = rc(json!({"app": "x"}));
        assert_eq!(r["spec"]["selector"], json!({"app": "x"}));
        assert_eq!(r["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(r["spec"]["replicas"], 1);
        assert_eq!(r["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(r["spec"]["template"]["metadata"]["creationTimestamp"].is_null());
        assert!(
            r["spec"]["template"]["spec"]
                .get("enableServiceLinks")
                .is_none()
        );
        assert!(validate_rc(&r).is_empty(), "{:?}", validate_rc(&r));
    }

    #[test]
    fn selector_must_match() {
        let mut r = rc(json!({"app": "x"}));
        r["spec"]["selector"] = json!({"app": "y"});
        r["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        let e: Vec<String> = validate_rc(&r).iter().map(ToString::to_string).collect();
        assert!(e.contains(&"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`".to_string()), "{e:?}");
        assert!(e.contains(&"spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"".to_string()), "{e:?}");
        let mut r = rc(json!({"app": "x"}));
        r["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(10);
        let e: Vec<String> = validate_rc(&r).iter().map(ToString::to_string).collect();
        assert_eq!(
            e,
            vec![
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is not Supported"
            ]
        );
        let empty = json!({"spec": {}});
        let e: Vec<String> = validate_rc(&empty)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                "spec.selector: Required value",
                "spec.template: Required value"
            ]
        );
    }

    #[test]
    fn rows() {
        let mut r = rc(json!({"app": "x"}));
        r["status"] = json!({"replicas": 1, "readyReplicas": 1});
        let row = ReplicationControllers.table_row(&r);
        assert_eq!(row[1], 1);
        assert_eq!(row[2], 1);
        assert_eq!(row[3], 1);
        assert_eq!(row[5], "c,d");
        assert_eq!(row[6], "nginx,busybox:1");
        assert_eq!(row[7], "app=x");
    }
}
