//! HorizontalPodAutoscalers, stored as autoscaling/v2 and also served as autoscaling/v1
//! through [`HpaV1`](super::conversion::HpaV1). The v2 strategy owns storage-side rules
//! (defaults, validation, status); the v1 strategy only decodes, defaults and prints the v1
//! shape.

use super::conversion::{self, HpaV1};
use crate::registry::resources::apps::common::{int_at, nonnegative};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Conversion, Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::{is_dns1123_label, is_path_segment_name};
use apimachinery::{FieldError, FieldErrors, meta};
use k8s_openapi::api::autoscaling::{v1, v2};
use serde_json::{Value, json};

/// Upper bound of a scaling rule's stabilization window.
const MAX_STABILIZATION_WINDOW_SECONDS: i64 = 3600;
/// Upper bound of a scaling policy's period.
const MAX_PERIOD_SECONDS: i64 = 1800;

const SUBRESOURCES_V2: &[SubresourceInfo] = &[SubresourceInfo::status(
    "autoscaling",
    "v2",
    "HorizontalPodAutoscaler",
)];
const SUBRESOURCES_V1: &[SubresourceInfo] = &[SubresourceInfo::status(
    "autoscaling",
    "v1",
    "HorizontalPodAutoscaler",
)];

fn info(version: &'static str, subresources: &'static [SubresourceInfo]) -> ResourceInfo {
    ResourceInfo::new(
        "autoscaling",
        version,
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscaler",
        true,
    )
    .short_names(&["hpa"])
    .categories(&["all"])
    .subresources(subresources)
}

/// The storage version, autoscaling/v2.
pub fn resource_v2() -> Resource {
    Resource::new(info("v2", SUBRESOURCES_V2), HorizontalPodAutoscalers)
}

/// autoscaling/v1, converted to and from the stored v2 objects.
pub fn resource_v1() -> Resource {
    Resource::new(info("v1", SUBRESOURCES_V1), HorizontalPodAutoscalersV1).with_conversion(HpaV1)
}

pub struct HorizontalPodAutoscalers;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Reference",
        "string",
        "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.",
    ),
    Column::new(
        "Targets",
        "string",
        "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond. If not set, the default metric will be set to 80% average CPU utilization.",
    ),
    Column::new(
        "MinPods",
        "string",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.",
    ),
    Column::new(
        "MaxPods",
        "string",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.",
    ),
    Column::new(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
    ),
    AGE,
];

fn cpu_utilization_metric(pct: i64) -> Value {
    json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": pct}},
    })
}

/// The scale-up and scale-down rules every behavior is completed with.
fn default_rules(direction: &str) -> Value {
    if direction == "scaleUp" {
        json!({
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}
            ]
        })
    } else {
        // No scale-down window: the controller's --horizontal-pod-autoscaler-downscale-
        // stabilization flag applies.
        json!({
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]
        })
    }
}

impl Strategy for HorizontalPodAutoscalers {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<v2::HorizontalPodAutoscaler>(body)
    }

    fn default(&self, obj: &mut Value) {
        let spec = meta::nested_mut(obj, &["spec"]);
        meta::default_at(spec, &["minReplicas"], json!(1));
        if spec
            .get("metrics")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            spec["metrics"] = json!([cpu_utilization_metric(conversion::DEFAULT_CPU_UTILIZATION)]);
        }
        if let Some(behavior) = spec.get_mut("behavior").filter(|b| b.is_object()) {
            for direction in ["scaleUp", "scaleDown"] {
                let mut rules = default_rules(direction);
                if let Some(given) = behavior.get(direction).and_then(Value::as_object) {
                    for (k, v) in given.iter().filter(|(_, v)| !v.is_null()) {
                        rules[k.as_str()] = v.clone();
                    }
                }
                behavior[direction] = rules;
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"desiredReplicas": 0});
        drop_tolerance(obj, None);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        drop_tolerance(new, Some(old));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_spec(obj.get("spec").unwrap_or(&Value::Null), 1)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        // An HPA that already scales to zero may keep doing so.
        let lower = if int_at(old, "/spec/minReplicas") == Some(0) {
            0
        } else {
            1
        };
        validate_spec(new.get("spec").unwrap_or(&Value::Null), lower)
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let s = new.get("status").unwrap_or(&Value::Null);
        let mut errs = nonnegative(s, "/currentReplicas", "status.currentReplicas");
        // Upstream reports this field under a misspelled path.
        errs.extend(nonnegative(
            s,
            "/desiredReplicas",
            "status.desiredReplicasa",
        ));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let r = |k: &str| {
            spec.pointer(&format!("/scaleTargetRef/{k}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let min =
            int_at(spec, "/minReplicas").map_or_else(|| "<unset>".to_string(), |m| m.to_string());
        vec![
            table::name(obj),
            json!(format!("{}/{}", r("kind"), r("name"))),
            json!(format_metrics(obj)),
            json!(min),
            json!(int_at(spec, "/maxReplicas").unwrap_or(0)),
            json!(int_at(obj, "/status/currentReplicas").unwrap_or(0)),
            table::age(obj),
        ]
    }
}

/// `spec.behavior.*.tolerance` belongs to the alpha HPAConfigurableTolerance feature: dropped
/// unless the stored object already uses it.
fn drop_tolerance(obj: &mut Value, old: Option<&Value>) {
    let in_use = old.is_some_and(|o| {
        ["scaleUp", "scaleDown"].iter().any(|d| {
            o.pointer(&format!("/spec/behavior/{d}/tolerance"))
                .is_some_and(|v| !v.is_null())
        })
    });
    if in_use {
        return;
    }
    for d in ["scaleUp", "scaleDown"] {
        if let Some(m) = obj
            .pointer_mut(&format!("/spec/behavior/{d}"))
            .and_then(Value::as_object_mut)
        {
            m.remove("tolerance");
        }
    }
}

/// The TARGETS column (`formatHPAMetrics`): up to two metrics as `current/target`.
fn format_metrics(obj: &Value) -> String {
    let specs = obj
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let statuses = obj
        .pointer("/status/currentMetrics")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("0").to_string();
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = |source: &str| {
            statuses
                .get(i)
                .and_then(|s| s.get(source))
                .filter(|v| !v.is_null())
        };
        let kind = spec.get("type").and_then(Value::as_str).unwrap_or_default();
        let item = match kind {
            "External" | "Object" => {
                let source = if kind == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = spec.pointer(&format!("/{source}/target"));
                match target
                    .and_then(|t| t.get("averageValue"))
                    .filter(|v| !v.is_null())
                {
                    Some(avg) => {
                        let current = status(source)
                            .and_then(|s| s.pointer("/current/averageValue"))
                            .map_or_else(|| "<unknown>".to_string(), |v| text(Some(v)));
                        format!("{current}/{} (avg)", text(Some(avg)))
                    }
                    None => {
                        let current = status(source).map_or_else(
                            || "<unknown>".to_string(),
                            |s| text(s.pointer("/current/value")),
                        );
                        format!("{current}/{}", text(target.and_then(|t| t.get("value"))))
                    }
                }
            }
            "Pods" => {
                let current = status("pods").map_or_else(
                    || "<unknown>".to_string(),
                    |s| text(s.pointer("/current/averageValue")),
                );
                format!(
                    "{current}/{}",
                    text(spec.pointer("/pods/target/averageValue"))
                )
            }
            "Resource" | "ContainerResource" => {
                let source = if kind == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let name = spec
                    .pointer(&format!("/{source}/name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let target = spec.pointer(&format!("/{source}/target"));
                match target
                    .and_then(|t| t.get("averageValue"))
                    .filter(|v| !v.is_null())
                {
                    Some(avg) => {
                        let current = status(source).map_or_else(
                            || "<unknown>".to_string(),
                            |s| text(s.pointer("/current/averageValue")),
                        );
                        format!("{name}: {current}/{}", text(Some(avg)))
                    }
                    None => {
                        let current = status(source)
                            .and_then(|s| s.pointer("/current/averageUtilization"))
                            .and_then(Value::as_i64)
                            .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
                        let target = target
                            .and_then(|t| t.get("averageUtilization"))
                            .and_then(Value::as_i64)
                            .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                        format!("{name}: {current}/{target}")
                    }
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(item);
    }
    const MAX: usize = 2;
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

fn validate_spec(spec: &Value, min_lower_bound: i64) -> FieldErrors {
    let mut errs = Vec::new();
    let min = int_at(spec, "/minReplicas");
    let max = int_at(spec, "/maxReplicas").unwrap_or(0);
    if let Some(m) = min.filter(|m| *m < min_lower_bound) {
        errs.push(FieldError::invalid(
            "spec.minReplicas",
            m,
            format!("must be greater than or equal to {min_lower_bound}"),
        ));
    }
    if max < 1 {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than 0",
        ));
    }
    if let Some(m) = min
        && max < m
    {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    errs.extend(validate_reference(
        spec.get("scaleTargetRef"),
        "spec.scaleTargetRef",
    ));
    let metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut object_or_external = false;
    for (i, m) in metrics.iter().enumerate() {
        errs.extend(validate_metric_spec(m, &index("spec.metrics", i)));
        object_or_external |= matches!(
            m.get("type").and_then(Value::as_str),
            Some("Object" | "External")
        );
    }
    if min == Some(0) && !object_or_external {
        errs.push(FieldError::forbidden(
            "spec.metrics",
            "must specify at least one Object or External metric to support scaling to zero replicas",
        ));
    }
    if let Some(b) = spec.get("behavior").filter(|b| b.is_object()) {
        for d in ["scaleUp", "scaleDown"] {
            if let Some(rules) = b.get(d).filter(|r| r.is_object()) {
                errs.extend(validate_scaling_rules(rules, &format!("spec.behavior.{d}")));
            }
        }
    }
    errs
}

fn validate_reference(r: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    for f in ["kind", "name"] {
        let v = r
            .and_then(|r| r.get(f))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if v.is_empty() {
            errs.push(FieldError::required(child(path, f), ""));
        } else {
            for msg in is_path_segment_name(v) {
                errs.push(FieldError::invalid(child(path, f), v, msg));
            }
        }
    }
    errs
}

const METRIC_SOURCE_TYPES: &[&str] = &[
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];

fn validate_metric_spec(m: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind.is_empty() {
        errs.push(FieldError::required(
            child(path, "type"),
            "must specify a metric source type",
        ));
    }
    if !METRIC_SOURCE_TYPES.contains(&kind) {
        errs.push(FieldError::not_supported(
            child(path, "type"),
            kind,
            METRIC_SOURCE_TYPES,
        ));
    }
    // Upstream validates only the first source present, in this order.
    let sources = [
        "object",
        "external",
        "pods",
        "resource",
        "containerResource",
    ];
    let present: Vec<&str> = sources
        .iter()
        .copied()
        .filter(|s| m.get(*s).is_some_and(|v| !v.is_null()))
        .collect();
    if let Some(first) = present.first() {
        let src = &m[*first];
        let p = child(path, first);
        errs.extend(match *first {
            "object" => validate_object_source(src, &p),
            "external" => validate_external_source(src, &p),
            "pods" => validate_pods_source(src, &p),
            "resource" => validate_resource_source(src, &p, false),
            _ => validate_resource_source(src, &p, true),
        });
    }
    let expected = match kind {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "External" => "external",
        "ContainerResource" => "containerResource",
        _ => {
            errs.push(FieldError::not_supported(
                child(path, "type"),
                kind,
                METRIC_SOURCE_TYPES,
            ));
            ""
        }
    };
    if !expected.is_empty() && !present.contains(&expected) {
        errs.push(FieldError::required(
            child(path, expected),
            "must populate information for the given metric source",
        ));
    }
    if present.len() != 1 {
        for other in present.iter().filter(|s| **s != expected) {
            errs.push(FieldError::forbidden(
                child(path, other),
                "must populate the given metric source only",
            ));
        }
    }
    errs
}

fn validate_identifier(src: &Value, path: &str) -> FieldErrors {
    let name = src
        .pointer("/metric/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let p = child(path, "metric.name");
    if name.is_empty() {
        return vec![FieldError::required(p, "must specify a metric name")];
    }
    is_path_segment_name(name)
        .into_iter()
        .map(|msg| FieldError::invalid(p.clone(), name, msg))
        .collect()
}

fn has(src: &Value, ptr: &str) -> bool {
    src.pointer(ptr).is_some_and(|v| !v.is_null())
}

fn validate_object_source(src: &Value, path: &str) -> FieldErrors {
    let mut errs = validate_reference(src.get("describedObject"), &child(path, "describedObject"));
    errs.extend(validate_identifier(src, path));
    errs.extend(validate_target(src.get("target"), &child(path, "target")));
    if !has(src, "/target/value") && !has(src, "/target/averageValue") {
        errs.push(FieldError::required(
            child(path, "target.averageValue"),
            "must set either a target value or averageValue",
        ));
    }
    errs
}

fn validate_external_source(src: &Value, path: &str) -> FieldErrors {
    let mut errs = validate_identifier(src, path);
    errs.extend(validate_target(src.get("target"), &child(path, "target")));
    let (value, avg) = (has(src, "/target/value"), has(src, "/target/averageValue"));
    if !value && !avg {
        errs.push(FieldError::required(
            child(path, "target.averageValue"),
            "must set either a target value for metric or a per-pod target",
        ));
    }
    if value && avg {
        errs.push(FieldError::forbidden(
            child(path, "target.value"),
            "may not set both a target value for metric and a per-pod target",
        ));
    }
    errs
}

fn validate_pods_source(src: &Value, path: &str) -> FieldErrors {
    let mut errs = validate_identifier(src, path);
    errs.extend(validate_target(src.get("target"), &child(path, "target")));
    if !has(src, "/target/averageValue") {
        errs.push(FieldError::required(
            child(path, "target.averageValue"),
            "must specify a positive target averageValue",
        ));
    }
    errs
}

fn validate_resource_source(src: &Value, path: &str, container: bool) -> FieldErrors {
    let mut errs = Vec::new();
    if src
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errs.push(FieldError::required(
            child(path, "name"),
            "must specify a resource name",
        ));
    }
    if container {
        match src
            .get("container")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "" => errs.push(FieldError::required(
                child(path, "container"),
                "must specify a container",
            )),
            c => errs.extend(
                is_dns1123_label(c)
                    .into_iter()
                    .map(|msg| FieldError::invalid(child(path, "container"), c, msg)),
            ),
        }
    }
    errs.extend(validate_target(src.get("target"), &child(path, "target")));
    let (util, avg) = (
        has(src, "/target/averageUtilization"),
        has(src, "/target/averageValue"),
    );
    if !util && !avg {
        errs.push(FieldError::required(
            child(path, "target.averageUtilization"),
            "must set either a target raw value or a target utilization",
        ));
    }
    if util && avg {
        errs.push(FieldError::forbidden(
            child(path, "target.averageValue"),
            "may not set both a target raw value and a target utilization",
        ));
    }
    errs
}

/// Whether a quantity string is greater than zero.
fn quantity_positive(q: &str) -> bool {
    let q = q.trim();
    if q.starts_with('-') {
        return false;
    }
    q.bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b'+')
        .any(|c| (b'1'..=b'9').contains(&c))
}

fn validate_target(target: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let empty = json!({});
    let t = target.unwrap_or(&empty);
    let kind = t.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind.is_empty() {
        errs.push(FieldError::required(
            child(path, "type"),
            "must specify a metric target type",
        ));
    }
    if !matches!(kind, "Utilization" | "Value" | "AverageValue") {
        errs.push(FieldError::invalid(
            child(path, "type"),
            kind,
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for f in ["value", "averageValue"] {
        if let Some(q) = t.get(f).and_then(Value::as_str)
            && !quantity_positive(q)
        {
            errs.push(FieldError::invalid(child(path, f), q, "must be positive"));
        }
    }
    if let Some(u) = int_at(t, "/averageUtilization").filter(|u| *u < 1) {
        errs.push(FieldError::invalid(
            child(path, "averageUtilization"),
            u,
            "must be greater than 0",
        ));
    }
    errs
}

fn validate_scaling_rules(rules: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    if let Some(w) = int_at(rules, "/stabilizationWindowSeconds") {
        let p = child(path, "stabilizationWindowSeconds");
        if w < 0 {
            errs.push(FieldError::invalid(
                &p,
                w,
                "must be greater than or equal to zero",
            ));
        }
        if w > MAX_STABILIZATION_WINDOW_SECONDS {
            errs.push(FieldError::invalid(
                &p,
                w,
                format!("must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    if let Some(sp) = rules.get("selectPolicy").and_then(Value::as_str)
        && !matches!(sp, "Disabled" | "Max" | "Min")
    {
        errs.push(FieldError::not_supported(
            child(path, "selectPolicy"),
            sp,
            &["Disabled", "Max", "Min"],
        ));
    }
    let pp = child(path, "policies");
    let policies = rules
        .get("policies")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if policies.is_empty() {
        errs.push(FieldError::required(
            &pp,
            "must specify at least one Policy",
        ));
    }
    for (i, p) in policies.iter().enumerate() {
        let ip = index(&pp, i);
        let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "Pods" | "Percent") {
            errs.push(FieldError::not_supported(
                child(&ip, "type"),
                kind,
                &["Percent", "Pods"],
            ));
        }
        let value = int_at(p, "/value").unwrap_or(0);
        if value <= 0 {
            errs.push(FieldError::invalid(
                child(&ip, "value"),
                value,
                "must be greater than zero",
            ));
        }
        let period = int_at(p, "/periodSeconds").unwrap_or(0);
        if period <= 0 {
            errs.push(FieldError::invalid(
                child(&ip, "periodSeconds"),
                period,
                "must be greater than zero",
            ));
        }
        if period > MAX_PERIOD_SECONDS {
            errs.push(FieldError::invalid(
                child(&ip, "periodSeconds"),
                period,
                format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
            ));
        }
    }
    errs
}

/// The autoscaling/v1 view: decoding, v1 defaults and printing. Storage-side hooks run on the
/// converted v2 object with [`HorizontalPodAutoscalers`].
pub struct HorizontalPodAutoscalersV1;

impl Strategy for HorizontalPodAutoscalersV1 {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<v1::HorizontalPodAutoscaler>(body)
    }

    fn default(&self, obj: &mut Value) {
        meta::default_at(obj, &["spec", "minReplicas"], json!(1));
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        // Upstream prints the internal object, which holds everything v2 has.
        match HpaV1.to_storage(obj.clone()) {
            Ok(v2) => HorizontalPodAutoscalers.table_row(&v2),
            Err(_) => HorizontalPodAutoscalers.table_row(obj),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa() -> Value {
        json!({
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}, "maxReplicas": 5}
        })
    }

    #[test]
    fn defaults_like_upstream() {
        let mut h = hpa();
        HorizontalPodAutoscalers.default(&mut h);
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(h["spec"]["metrics"], json!([cpu_utilization_metric(80)]));
        assert!(h["spec"].get("behavior").is_none());
        assert!(HorizontalPodAutoscalers.validate(&h).is_empty());

        let mut b = hpa();
        b["spec"]["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 60}});
        HorizontalPodAutoscalers.default(&mut b);
        assert_eq!(b["spec"]["behavior"]["scaleUp"], default_rules("scaleUp"));
        assert_eq!(
            b["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            60
        );
        assert_eq!(b["spec"]["behavior"]["scaleDown"]["selectPolicy"], "Max");
        HorizontalPodAutoscalers.prepare_for_create(&mut b);
        assert_eq!(b["status"], json!({"desiredReplicas": 0}));
    }

    #[test]
    fn validation_messages() {
        let mut h = hpa();
        h["spec"]["minReplicas"] = json!(3);
        h["spec"]["maxReplicas"] = json!(2);
        h["spec"]["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}]);
        let errs: Vec<String> = HorizontalPodAutoscalers
            .validate(&h)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
            ]
        );
        let mut h = hpa();
        h["spec"]["minReplicas"] = json!(0);
        h["spec"]["metrics"] = json!([{"type": "Pods", "resource": {"name": "cpu"}}]);
        let errs: Vec<String> = HorizontalPodAutoscalers
            .validate(&h)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs[0],
            "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"
        );
        assert!(errs.contains(&"spec.metrics[0].pods: Required value: must populate information for the given metric source".to_string()));
        // With a single source present, upstream does not also call it forbidden.
        assert!(!errs.iter().any(|e| e.contains("Forbidden: must populate")));
    }

    #[test]
    fn table_rows() {
        let mut h = hpa();
        HorizontalPodAutoscalers.default(&mut h);
        HorizontalPodAutoscalers.prepare_for_create(&mut h);
        let row = HorizontalPodAutoscalers.table_row(&h);
        assert_eq!(row[1], "Deployment/d");
        assert_eq!(row[2], "cpu: <unknown>/80%");
        assert_eq!(row[3], "1");
        assert_eq!(row[4], 5);
        assert_eq!(row[5], 0);
        h["spec"]["metrics"] = json!([
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "x"}, "target": {"type": "AverageValue", "averageValue": "5"}}},
            {"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "3"}}}
        ]);
        h["status"]["currentMetrics"] = json!([{"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "512Mi"}}}]);
        assert_eq!(
            HorizontalPodAutoscalers.table_row(&h)[2],
            "memory: 512Mi/1Gi, <unknown>/5 + 1 more..."
        );
        let v1 = conversion::v2_to_v1(&h);
        assert_eq!(
            HorizontalPodAutoscalersV1.table_row(&v1)[2],
            HorizontalPodAutoscalers.table_row(&h)[2]
        );
    }
}
