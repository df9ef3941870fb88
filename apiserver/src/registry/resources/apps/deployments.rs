//! Deployments: declarative rollouts of ReplicaSets. Generation follows spec and annotation
//! changes (annotations are copied onto ReplicaSets); the status subresource may also write
//! annotations (the controller's revision) but not labels.

use super::common::{
    self, go_int_or_string, int_at, int_or_percent_value, invalid_rendered, nonnegative,
};
use super::pod_template;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
};
use apimachinery::{FieldError, FieldErrors, meta};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[
    SubresourceInfo::status("apps", "v1", "Deployment"),
    SubresourceInfo::scale(),
];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            "deployment",
            true,
        )
        .short_names(&["deploy"])
        .categories(&["all"])
        .subresources(SUBRESOURCES),
        Deployments,
    )
}

pub struct Deployments;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::new(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    Column::new(
        "Available",
        "string",
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
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
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
    )
    .wide(),
];

/// The default `maxSurge`/`maxUnavailable` of a rolling update.
const DEFAULT_ROLLING_PERCENT: &str = "25%";

impl Strategy for Deployments {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        pod_template::normalize_quantities(&mut body, "/spec/template")?;
        common::decode_keeping_absent::<Deployment>(body, &["/spec/selector"])
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = meta::nested_mut(obj, &["spec"]);
        meta::default_at(spec, &["replicas"], json!(1));
        let strategy = meta::nested_mut(spec, &["strategy"]);
        meta::default_at(strategy, &["type"], json!("RollingUpdate"));
        if strategy["type"] == "RollingUpdate" {
            let ru = meta::nested_mut(strategy, &["rollingUpdate"]);
            meta::default_at(ru, &["maxUnavailable"], json!(DEFAULT_ROLLING_PERCENT));
            meta::default_at(ru, &["maxSurge"], json!(DEFAULT_ROLLING_PERCENT));
        }
        meta::default_at(spec, &["revisionHistoryLimit"], json!(10));
        meta::default_at(spec, &["progressDeadlineSeconds"], json!(600));
        pod_template::default_template(meta::nested_mut(spec, &["template"]));
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        common::reset_status(obj, &[]);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // Annotations are copied onto ReplicaSets, so changing them is a new generation too.
        let annotations = |o: &Value| o.pointer("/metadata/annotations").cloned();
        if annotations(new) != annotations(old) {
            let g = int_at(old, "/metadata/generation").unwrap_or(0);
            meta::set(new, "generation", Some(json!(g + 1)));
        }
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        meta::set(new, "labels", old.pointer("/metadata/labels").cloned());
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
        let mut errs = validate_status(new);
        errs.extend(collision_count_not_decremented(new, old));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let status = |f: &str| int_at(obj, &format!("/status/{f}")).unwrap_or(0);
        let desired = int_at(obj, "/spec/replicas").unwrap_or(0);
        let template = obj.pointer("/spec/template");
        let (names, images) = common::layout_containers(template);
        vec![
            table::name(obj),
            json!(format!("{}/{desired}", status("readyReplicas"))),
            json!(status("updatedReplicas")),
            json!(status("availableReplicas")),
            table::age(obj),
            json!(names),
            json!(images),
            json!(selector_string(obj.pointer("/spec/selector"))),
        ]
    }
}

/// The selector as upstream's Deployment printer shows it (`labels.Selector.String()`).
fn selector_string(sel: Option<&Value>) -> String {
    sel.filter(|s| s.is_object())
        .and_then(|s| apimachinery::labels::Selector::from_label_selector(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Upstream's `ValidatePodTemplateSpecForReplicaSet` after the selector check: the template,
/// restart policy `Always`, and no `activeDeadlineSeconds`. Shared with ReplicaSets.
pub fn validate_replicated_template(spec: &Value) -> FieldErrors {
    let template = spec.get("template");
    let mut errs = pod_template::validate_template(template, "spec.template");
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
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    errs
}

fn validate_spec(spec: &Value) -> FieldErrors {
    let mut errs = nonnegative(spec, "/replicas", "spec.replicas");
    errs.extend(common::validate_selector_and_template(
        spec,
        "deployment",
        "invalid label selector",
    ));
    errs.extend(validate_replicated_template(spec));
    errs.extend(validate_strategy(
        spec.get("strategy").unwrap_or(&Value::Null),
    ));
    errs.extend(nonnegative(
        spec,
        "/minReadySeconds",
        "spec.minReadySeconds",
    ));
    errs.extend(nonnegative(
        spec,
        "/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
    ));
    if let Some(deadline) = int_at(spec, "/progressDeadlineSeconds") {
        errs.extend(nonnegative(
            spec,
            "/progressDeadlineSeconds",
            "spec.progressDeadlineSeconds",
        ));
        if deadline <= int_at(spec, "/minReadySeconds").unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

fn validate_strategy(strategy: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let ru = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    let kind = strategy
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "Recreate" => {
            if ru.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => errs.push(FieldError::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let zero = json!(0);
                let unavailable = ru.get("maxUnavailable").unwrap_or(&zero);
                let surge = ru.get("maxSurge").unwrap_or(&zero);
                let pu = "spec.strategy.rollingUpdate.maxUnavailable";
                errs.extend(common::validate_positive_int_or_percent(unavailable, pu));
                errs.extend(common::validate_positive_int_or_percent(
                    surge,
                    "spec.strategy.rollingUpdate.maxSurge",
                ));
                if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
                    errs.push(invalid_rendered(
                        pu,
                        &go_int_or_string(unavailable),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(common::not_more_than_100_percent(unavailable, pu));
            }
        },
        _ => {
            let rendered = format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}",
                serde_json::to_string(kind).unwrap_or_default()
            );
            errs.push(FieldError {
                kind: apimachinery::FieldErrorKind::NotSupported,
                field: "spec.strategy".into(),
                value: None,
                detail: format!("{rendered}: supported values: \"Recreate\", \"RollingUpdate\""),
            });
        }
    }
    errs
}

fn validate_status(obj: &Value) -> FieldErrors {
    let s = obj.get("status").unwrap_or(&Value::Null);
    let mut errs = Vec::new();
    for f in [
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
        "collisionCount",
    ] {
        errs.extend(nonnegative(s, &format!("/{f}"), &format!("status.{f}")));
    }
    let get = |f: &str| int_at(s, &format!("/{f}")).unwrap_or(0);
    let replicas = get("replicas");
    for f in ["updatedReplicas", "readyReplicas", "availableReplicas"] {
        if get(f) > replicas {
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

/// `status.collisionCount` may only grow (Deployments, StatefulSets, DaemonSets).
pub fn collision_count_not_decremented(new: &Value, old: &Value) -> FieldErrors {
    let (n, o) = (
        int_at(new, "/status/collisionCount"),
        int_at(old, "/status/collisionCount"),
    );
    match (n, o) {
        (n, Some(o)) if n.is_none_or(|n| n < o) => vec![FieldError::invalid(
            "status.collisionCount",
            n.unwrap_or(0),
            "cannot be decremented",
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "d", "namespace": "ns", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}
            }
        })
    }

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_like_upstream() {
        let mut d = deployment();
        Deployments.default(&mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(
            d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            "25%"
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(
            Deployments.validate(&d).is_empty(),
            "{:?}",
            Deployments.validate(&d)
        );

        let mut r = deployment();
        r["spec"]["strategy"] = json!({"type": "Recreate"});
        Deployments.default(&mut r);
        assert!(r["spec"]["strategy"].get("rollingUpdate").is_none());
    }

    #[test]
    fn validation_messages() {
        let mut d = deployment();
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "x"});
        d["spec"]["replicas"] = json!(-1);
        Deployments.default(&mut d);
        assert_eq!(
            messages(&Deployments.validate(&d)),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`",
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}});
        Deployments.default(&mut d);
        assert_eq!(
            messages(&Deployments.validate(&d)),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"0%\"}: may not be 0 when `maxSurge` is 0"
            ]
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "Bogus"});
        d["spec"]["progressDeadlineSeconds"] = json!(5);
        d["spec"]["minReadySeconds"] = json!(10);
        Deployments.default(&mut d);
        assert_eq!(
            messages(&Deployments.validate(&d)),
            vec![
                "spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:\"Bogus\", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", \"RollingUpdate\"",
                "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds",
            ]
        );
    }

    #[test]
    fn missing_selector_also_mismatches() {
        let mut d = deployment();
        d["spec"].as_object_mut().map(|s| s.remove("selector"));
        Deployments.default(&mut d);
        assert_eq!(
            messages(&Deployments.validate(&d)),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"d\"}: `selector` does not match template `labels`",
            ]
        );
    }

    #[test]
    fn selector_is_immutable() {
        let mut old = deployment();
        Deployments.default(&mut old);
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "d", "x": "y"}});
        new["spec"]["template"]["metadata"]["labels"]["x"] = json!("y");
        assert_eq!(
            messages(&Deployments.validate_update(&new, &old)),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"d\", \"x\":\"y\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
            ]
        );
    }

    #[test]
    fn annotation_changes_bump_generation() {
        let mut old = deployment();
        meta::set(&mut old, "generation", Some(json!(3)));
        let mut new = old.clone();
        meta::set(&mut new, "annotations", Some(json!({"a": "b"})));
        Deployments.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 4);
        let mut status = old.clone();
        meta::set(&mut status, "labels", Some(json!({"x": "y"})));
        Deployments.prepare_for_status_update(&mut status, &old);
        assert!(status["metadata"].get("labels").is_none());
    }

    #[test]
    fn table_row() {
        let mut d = deployment();
        Deployments.default(&mut d);
        d["status"] = json!({"readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1});
        let row = Deployments.table_row(&d);
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(row[0], "d");
        assert_eq!(row[1], "1/1");
        assert_eq!(row[2], 1);
        assert_eq!(row[5], "nginx");
        assert_eq!(row[6], "nginx");
        assert_eq!(row[7], "app=d");
    }

    #[test]
    fn template_quantities_are_stored_canonical() {
        let mut body = deployment();
        body["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": "1000m", "memory": 1024}});
        let decoded = Deployments.decode(body).unwrap();
        assert_eq!(
            decoded.value["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu": "1", "memory": "1024"})
        );
        let mut bad = deployment();
        bad["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"cpu": "lots"}});
        assert!(Deployments.decode(bad).is_err());
    }
}
