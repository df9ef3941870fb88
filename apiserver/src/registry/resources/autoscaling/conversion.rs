//! autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscalers, as upstream converts them
//! (`pkg/apis/autoscaling/v1/conversion.go`). v1 knows only a CPU utilization target; what it
//! cannot express travels in annotations so a v1 client that reads and writes back an HPA
//! loses nothing:
//! - `autoscaling.alpha.kubernetes.io/metrics`: the metrics other than CPU utilization, as
//!   v1-style (v2beta1-shaped) `MetricSpec`s;
//! - `autoscaling.alpha.kubernetes.io/current-metrics`: every current metric status;
//! - `autoscaling.alpha.kubernetes.io/behavior`: the behavior, as Go marshals the *internal*
//!   type (no json tags, so Go field names, nil as `null`);
//! - `autoscaling.alpha.kubernetes.io/conditions`: the conditions.
//!
//! JSON objects are built in Go's struct field order so the annotation strings match
//! upstream's byte for byte.

use crate::registry::{Conversion, typed};
use k8s_openapi::api::autoscaling::{v1, v2};
use serde_json::{Map, Value, json};

pub const METRIC_SPECS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
pub const METRIC_STATUSES_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";
/// The CPU utilization v1 always implied when no metric is given.
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

const ROUND_TRIP_ANNOTATIONS: &[&str] = &[
    METRIC_SPECS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
    METRIC_STATUSES_ANNOTATION,
    CONDITIONS_ANNOTATION,
];

/// The [`Conversion`] of the autoscaling/v1 endpoint (storage is autoscaling/v2).
pub struct HpaV1;

impl Conversion for HpaV1 {
    fn to_storage(&self, obj: Value) -> Result<Value, String> {
        let v2 = v1_to_v2(&obj);
        typed::round_trip::<v2::HorizontalPodAutoscaler>(v2).map(|d| d.value)
    }

    fn to_served(&self, obj: Value) -> Result<Value, String> {
        let v1 = v2_to_v1(&obj);
        typed::round_trip::<v1::HorizontalPodAutoscaler>(v1).map(|d| d.value)
    }
}

/// The value at `key` unless absent or null.
fn present<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn copy_present(out: &mut Map<String, Value>, out_key: &str, src: &Value, key: &str) {
    if let Some(v) = present(src, key) {
        out.insert(out_key.to_string(), v.clone());
    }
}

/// A Go non-pointer `resource.Quantity`: the zero quantity marshals as `"0"`.
fn quantity(src: &Value, key: &str) -> Value {
    present(src, key).cloned().unwrap_or_else(|| json!("0"))
}

fn str_or_empty(src: &Value, key: &str) -> Value {
    present(src, key).cloned().unwrap_or_else(|| json!(""))
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// Removes the round-trip annotations, and the annotations map if that empties it.
fn drop_round_trip_annotations(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) else {
        return;
    };
    for k in ROUND_TRIP_ANNOTATIONS {
        annotations.remove(*k);
    }
    if annotations.is_empty() {
        meta.remove("annotations");
    }
}

fn set_annotation(obj: &mut Value, key: &str, value: &Value) {
    let annotations = apimachinery::meta::nested_mut(obj, &["metadata", "annotations"]);
    if !annotations.is_object() {
        *annotations = json!({});
    }
    if let Some(m) = annotations.as_object_mut() {
        m.insert(key.to_string(), json!(value.to_string()));
        // Go marshals maps with sorted keys.
        m.sort_keys();
    }
}

fn cross_version_ref(r: Option<&Value>) -> Value {
    let empty = json!({});
    let r = r.unwrap_or(&empty);
    let mut out = Map::new();
    out.insert("kind".into(), str_or_empty(r, "kind"));
    out.insert("name".into(), str_or_empty(r, "name"));
    if let Some(v) = present(r, "apiVersion").filter(|v| v.as_str() != Some("")) {
        out.insert("apiVersion".into(), v.clone());
    }
    Value::Object(out)
}

fn is_cpu_resource(m: &Value) -> bool {
    m.get("type").and_then(Value::as_str) == Some("Resource")
        && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
}

fn is_cpu_utilization(m: &Value) -> bool {
    is_cpu_resource(m)
        && m.pointer("/resource/target/averageUtilization")
            .is_some_and(|v| !v.is_null())
}

/// The `{name, selector}` of a v2 metric identifier, as v1 keys.
fn identifier(src: &Value) -> (Value, Option<Value>) {
    let metric = src.get("metric").cloned().unwrap_or(json!({}));
    (
        str_or_empty(&metric, "name"),
        present(&metric, "selector").cloned(),
    )
}

/// A v2 `MetricSpec` as the v1 annotation holds it.
fn metric_spec_to_v1(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), str_or_empty(m, "type"));
    if let Some(o) = present(m, "object") {
        let target = o.get("target").cloned().unwrap_or(json!({}));
        let (name, selector) = identifier(o);
        let mut v = Map::new();
        v.insert("target".into(), cross_version_ref(o.get("describedObject")));
        v.insert("metricName".into(), name);
        v.insert("targetValue".into(), quantity(&target, "value"));
        if let Some(s) = selector {
            v.insert("selector".into(), s);
        }
        copy_present(&mut v, "averageValue", &target, "averageValue");
        out.insert("object".into(), Value::Object(v));
    }
    if let Some(p) = present(m, "pods") {
        let target = p.get("target").cloned().unwrap_or(json!({}));
        let (name, selector) = identifier(p);
        let mut v = Map::new();
        v.insert("metricName".into(), name);
        v.insert(
            "targetAverageValue".into(),
            quantity(&target, "averageValue"),
        );
        if let Some(s) = selector {
            v.insert("selector".into(), s);
        }
        out.insert("pods".into(), Value::Object(v));
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = present(m, key) {
            let target = r.get("target").cloned().unwrap_or(json!({}));
            let mut v = Map::new();
            v.insert("name".into(), str_or_empty(r, "name"));
            copy_present(
                &mut v,
                "targetAverageUtilization",
                &target,
                "averageUtilization",
            );
            copy_present(&mut v, "targetAverageValue", &target, "averageValue");
            if container {
                v.insert("container".into(), str_or_empty(r, "container"));
            }
            out.insert(key.into(), Value::Object(v));
        }
    }
    if let Some(e) = present(m, "external") {
        let target = e.get("target").cloned().unwrap_or(json!({}));
        let (name, selector) = identifier(e);
        let mut v = Map::new();
        v.insert("metricName".into(), name);
        if let Some(s) = selector {
            v.insert("metricSelector".into(), s);
        }
        copy_present(&mut v, "targetValue", &target, "value");
        copy_present(&mut v, "targetAverageValue", &target, "averageValue");
        out.insert("external".into(), Value::Object(v));
    }
    Value::Object(out)
}

/// A v2 `MetricStatus` as the v1 annotation holds it.
fn metric_status_to_v1(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), str_or_empty(m, "type"));
    if let Some(o) = present(m, "object") {
        let current = o.get("current").cloned().unwrap_or(json!({}));
        let (name, selector) = identifier(o);
        let mut v = Map::new();
        v.insert("target".into(), cross_version_ref(o.get("describedObject")));
        v.insert("metricName".into(), name);
        v.insert("currentValue".into(), quantity(&current, "value"));
        if let Some(s) = selector {
            v.insert("selector".into(), s);
        }
        copy_present(&mut v, "averageValue", &current, "averageValue");
        out.insert("object".into(), Value::Object(v));
    }
    if let Some(p) = present(m, "pods") {
        let current = p.get("current").cloned().unwrap_or(json!({}));
        let (name, selector) = identifier(p);
        let mut v = Map::new();
        v.insert("metricName".into(), name);
        v.insert(
            "currentAverageValue".into(),
            quantity(&current, "averageValue"),
        );
        if let Some(s) = selector {
            v.insert("selector".into(), s);
        }
        out.insert("pods".into(), Value::Object(v));
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = present(m, key) {
            let current = r.get("current").cloned().unwrap_or(json!({}));
            let mut v = Map::new();
            v.insert("name".into(), str_or_empty(r, "name"));
            copy_present(
                &mut v,
                "currentAverageUtilization",
                &current,
                "averageUtilization",
            );
            v.insert(
                "currentAverageValue".into(),
                quantity(&current, "averageValue"),
            );
            if container {
                v.insert("container".into(), str_or_empty(r, "container"));
            }
            out.insert(key.into(), Value::Object(v));
        }
    }
    if let Some(e) = present(m, "external") {
        let current = e.get("current").cloned().unwrap_or(json!({}));
        let (name, selector) = identifier(e);
        let mut v = Map::new();
        v.insert("metricName".into(), name);
        if let Some(s) = selector {
            v.insert("metricSelector".into(), s);
        }
        v.insert("currentValue".into(), quantity(&current, "value"));
        copy_present(&mut v, "currentAverageValue", &current, "averageValue");
        out.insert("external".into(), Value::Object(v));
    }
    Value::Object(out)
}

/// A v2 condition as v1's `HorizontalPodAutoscalerCondition` marshals (a zero time is null).
fn condition_to_v1(c: &Value) -> Value {
    let mut v = Map::new();
    v.insert("type".into(), str_or_empty(c, "type"));
    v.insert("status".into(), str_or_empty(c, "status"));
    v.insert(
        "lastTransitionTime".into(),
        present(c, "lastTransitionTime")
            .cloned()
            .unwrap_or(Value::Null),
    );
    for k in ["reason", "message"] {
        if let Some(s) = present(c, k).filter(|s| s.as_str() != Some("")) {
            v.insert(k.into(), s.clone());
        }
    }
    Value::Object(v)
}

/// The behavior as Go marshals the internal `HorizontalPodAutoscalerBehavior`.
fn behavior_to_go(b: &Value) -> Value {
    let rules = |r: Option<&Value>| match r.filter(|r| r.is_object()) {
        None => Value::Null,
        Some(r) => {
            let policies = match r.get("policies").and_then(Value::as_array) {
                None => Value::Null,
                Some(ps) => Value::Array(
                    ps.iter()
                        .map(|p| {
                            json!({
                                "Type": str_or_empty(p, "type"),
                                "Value": p.get("value").cloned().unwrap_or(json!(0)),
                                "PeriodSeconds": p.get("periodSeconds").cloned().unwrap_or(json!(0)),
                            })
                        })
                        .collect(),
                ),
            };
            json!({
                "StabilizationWindowSeconds": present(r, "stabilizationWindowSeconds").cloned().unwrap_or(Value::Null),
                "SelectPolicy": present(r, "selectPolicy").cloned().unwrap_or(Value::Null),
                "Policies": policies,
                "Tolerance": present(r, "tolerance").cloned().unwrap_or(Value::Null),
            })
        }
    };
    json!({"ScaleUp": rules(b.get("scaleUp")), "ScaleDown": rules(b.get("scaleDown"))})
}

/// A key of a Go-marshalled object, matched case-insensitively as `encoding/json` does.
fn go_field<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    let m = obj.as_object()?;
    m.get(name)
        .or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// The behavior annotation back as a v2 behavior; `None` for the zero behavior.
fn behavior_from_go(raw: &str) -> Option<Value> {
    let b: Value = serde_json::from_str(raw).ok()?;
    let rules = |r: Option<&Value>| -> Option<Value> {
        let r = r.filter(|r| r.is_object())?;
        let mut out = Map::new();
        for (go, key) in [
            ("StabilizationWindowSeconds", "stabilizationWindowSeconds"),
            ("SelectPolicy", "selectPolicy"),
        ] {
            if let Some(v) = go_field(r, go) {
                out.insert(key.into(), v.clone());
            }
        }
        if let Some(ps) = go_field(r, "Policies").and_then(Value::as_array) {
            let policies = ps
                .iter()
                .map(|p| {
                    json!({
                        "type": go_field(p, "Type").cloned().unwrap_or(json!("")),
                        "value": go_field(p, "Value").cloned().unwrap_or(json!(0)),
                        "periodSeconds": go_field(p, "PeriodSeconds").cloned().unwrap_or(json!(0)),
                    })
                })
                .collect();
            out.insert("policies".into(), Value::Array(policies));
        }
        if let Some(v) = go_field(r, "Tolerance") {
            out.insert("tolerance".into(), v.clone());
        }
        Some(Value::Object(out))
    };
    let mut out = Map::new();
    if let Some(r) = rules(go_field(&b, "ScaleUp")) {
        out.insert("scaleUp".into(), r);
    }
    if let Some(r) = rules(go_field(&b, "ScaleDown")) {
        out.insert("scaleDown".into(), r);
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// A stored (v2) HPA as autoscaling/v1 serves it.
pub fn v2_to_v1(v2: &Value) -> Value {
    let mut out = v2.clone();
    out["apiVersion"] = json!("autoscaling/v1");
    drop_round_trip_annotations(&mut out);
    let empty = json!({});
    let spec = v2.get("spec").unwrap_or(&empty);
    let status = v2.get("status").unwrap_or(&empty);
    let metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);

    let mut s = Map::new();
    s.insert(
        "scaleTargetRef".into(),
        cross_version_ref(spec.get("scaleTargetRef")),
    );
    copy_present(&mut s, "minReplicas", spec, "minReplicas");
    s.insert(
        "maxReplicas".into(),
        spec.get("maxReplicas").cloned().unwrap_or(json!(0)),
    );
    // The first CPU resource metric decides, whether or not it has a utilization.
    if let Some(u) = metrics
        .iter()
        .find(|m| is_cpu_resource(m))
        .and_then(|m| m.pointer("/resource/target/averageUtilization"))
        .filter(|v| !v.is_null())
    {
        s.insert("targetCPUUtilizationPercentage".into(), u.clone());
    }
    out["spec"] = Value::Object(s);

    let current = status
        .get("currentMetrics")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut st = Map::new();
    copy_present(&mut st, "observedGeneration", status, "observedGeneration");
    copy_present(&mut st, "lastScaleTime", status, "lastScaleTime");
    st.insert(
        "currentReplicas".into(),
        status.get("currentReplicas").cloned().unwrap_or(json!(0)),
    );
    st.insert(
        "desiredReplicas".into(),
        status.get("desiredReplicas").cloned().unwrap_or(json!(0)),
    );
    // No early exit upstream: the last CPU status with a utilization wins.
    for m in current.iter().filter(|m| is_cpu_resource(m)) {
        if let Some(u) = m
            .pointer("/resource/current/averageUtilization")
            .filter(|v| !v.is_null())
        {
            st.insert("currentCPUUtilizationPercentage".into(), u.clone());
        }
    }
    out["status"] = Value::Object(st);

    let others: Vec<Value> = metrics
        .iter()
        .filter(|m| !is_cpu_utilization(m))
        .map(metric_spec_to_v1)
        .collect();
    if !others.is_empty() {
        set_annotation(&mut out, METRIC_SPECS_ANNOTATION, &Value::Array(others));
    }
    if !current.is_empty() {
        let statuses = current.iter().map(metric_status_to_v1).collect();
        set_annotation(
            &mut out,
            METRIC_STATUSES_ANNOTATION,
            &Value::Array(statuses),
        );
    }
    if let Some(b) = present(spec, "behavior") {
        set_annotation(&mut out, BEHAVIOR_ANNOTATION, &behavior_to_go(b));
    }
    if let Some(conds) = status
        .get("conditions")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    {
        let conds = conds.iter().map(condition_to_v1).collect();
        set_annotation(&mut out, CONDITIONS_ANNOTATION, &Value::Array(conds));
    }
    out
}

fn identifier_from_v1(src: &Value, selector_key: &str) -> Value {
    let mut id = Map::new();
    id.insert("name".into(), str_or_empty(src, "metricName"));
    copy_present(&mut id, "selector", src, selector_key);
    Value::Object(id)
}

/// A v1 annotation `MetricSpec` as a v2 `MetricSpec`.
fn metric_spec_from_v1(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), str_or_empty(m, "type"));
    if let Some(o) = present(m, "object") {
        let kind = if present(o, "averageValue").is_none() {
            "Value"
        } else {
            "AverageValue"
        };
        let mut target = Map::new();
        target.insert("type".into(), json!(kind));
        target.insert("value".into(), quantity(o, "targetValue"));
        copy_present(&mut target, "averageValue", o, "averageValue");
        out.insert(
            "object".into(),
            json!({
                "describedObject": cross_version_ref(o.get("target")),
                "target": target,
                "metric": identifier_from_v1(o, "selector"),
            }),
        );
    }
    if let Some(p) = present(m, "pods") {
        out.insert(
            "pods".into(),
            json!({
                "metric": identifier_from_v1(p, "selector"),
                "target": {"type": "AverageValue", "averageValue": quantity(p, "targetAverageValue")},
            }),
        );
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = present(m, key) {
            let kind = if present(r, "targetAverageUtilization").is_none() {
                "AverageValue"
            } else {
                "Utilization"
            };
            let mut target = Map::new();
            target.insert("type".into(), json!(kind));
            copy_present(&mut target, "averageValue", r, "targetAverageValue");
            copy_present(
                &mut target,
                "averageUtilization",
                r,
                "targetAverageUtilization",
            );
            let mut v = Map::new();
            v.insert("name".into(), str_or_empty(r, "name"));
            v.insert("target".into(), Value::Object(target));
            if container {
                v.insert("container".into(), str_or_empty(r, "container"));
            }
            out.insert(key.into(), Value::Object(v));
        }
    }
    if let Some(e) = present(m, "external") {
        let kind = if present(e, "targetValue").is_none() {
            "AverageValue"
        } else {
            "Value"
        };
        let mut target = Map::new();
        target.insert("type".into(), json!(kind));
        copy_present(&mut target, "value", e, "targetValue");
        copy_present(&mut target, "averageValue", e, "targetAverageValue");
        out.insert(
            "external".into(),
            json!({"metric": identifier_from_v1(e, "metricSelector"), "target": target}),
        );
    }
    Value::Object(out)
}

/// A v1 annotation `MetricStatus` as a v2 `MetricStatus`.
fn metric_status_from_v1(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), str_or_empty(m, "type"));
    if let Some(o) = present(m, "object") {
        let mut current = Map::new();
        current.insert("value".into(), quantity(o, "currentValue"));
        copy_present(&mut current, "averageValue", o, "averageValue");
        out.insert(
            "object".into(),
            json!({
                "metric": identifier_from_v1(o, "selector"),
                "current": current,
                "describedObject": cross_version_ref(o.get("target")),
            }),
        );
    }
    if let Some(p) = present(m, "pods") {
        out.insert(
            "pods".into(),
            json!({
                "metric": identifier_from_v1(p, "selector"),
                "current": {"averageValue": quantity(p, "currentAverageValue")},
            }),
        );
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = present(m, key) {
            let mut current = Map::new();
            current.insert("averageValue".into(), quantity(r, "currentAverageValue"));
            copy_present(
                &mut current,
                "averageUtilization",
                r,
                "currentAverageUtilization",
            );
            let mut v = Map::new();
            v.insert("name".into(), str_or_empty(r, "name"));
            if container {
                v.insert("container".into(), str_or_empty(r, "container"));
            }
            v.insert("current".into(), Value::Object(current));
            out.insert(key.into(), Value::Object(v));
        }
    }
    if let Some(e) = present(m, "external") {
        let mut current = Map::new();
        current.insert("value".into(), quantity(e, "currentValue"));
        copy_present(&mut current, "averageValue", e, "currentAverageValue");
        out.insert(
            "external".into(),
            json!({"metric": identifier_from_v1(e, "metricSelector"), "current": current}),
        );
    }
    Value::Object(out)
}

fn cpu_metric(utilization: &Value) -> Value {
    json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}},
    })
}

fn parse_array(raw: Option<&str>) -> Option<Vec<Value>> {
    match serde_json::from_str(raw?) {
        Ok(Value::Array(a)) => Some(a),
        _ => None,
    }
}

/// An autoscaling/v1 HPA (defaulted) as the v2 object it stands for.
pub fn v1_to_v2(v1: &Value) -> Value {
    let mut out = v1.clone();
    out["apiVersion"] = json!("autoscaling/v2");
    let empty = json!({});
    let spec = v1.get("spec").unwrap_or(&empty);

    let mut metrics = Vec::new();
    if let Some(pct) = present(spec, "targetCPUUtilizationPercentage") {
        metrics.push(cpu_metric(pct));
    }
    // Malformed annotations are ignored, as upstream ignores them.
    if let Some(others) = parse_array(annotation(v1, METRIC_SPECS_ANNOTATION)) {
        let mut all: Vec<Value> = others.iter().map(metric_spec_from_v1).collect();
        // The CPU target of the spec comes after the annotation's metrics.
        all.append(&mut metrics);
        metrics = all;
    }
    if metrics.is_empty() {
        metrics.push(cpu_metric(&json!(DEFAULT_CPU_UTILIZATION)));
    }
    let mut s = Map::new();
    s.insert(
        "scaleTargetRef".into(),
        cross_version_ref(spec.get("scaleTargetRef")),
    );
    copy_present(&mut s, "minReplicas", spec, "minReplicas");
    s.insert(
        "maxReplicas".into(),
        spec.get("maxReplicas").cloned().unwrap_or(json!(0)),
    );
    s.insert("metrics".into(), Value::Array(metrics));
    if let Some(b) = annotation(v1, BEHAVIOR_ANNOTATION).and_then(behavior_from_go) {
        s.insert("behavior".into(), b);
    }
    out["spec"] = Value::Object(s);

    if let Some(status) = v1.get("status").filter(|s| s.is_object()) {
        let mut st = Map::new();
        copy_present(&mut st, "observedGeneration", status, "observedGeneration");
        copy_present(&mut st, "lastScaleTime", status, "lastScaleTime");
        if let Some(c) = present(status, "currentReplicas").filter(|c| c.as_i64() != Some(0)) {
            st.insert("currentReplicas".into(), c.clone());
        }
        st.insert(
            "desiredReplicas".into(),
            status.get("desiredReplicas").cloned().unwrap_or(json!(0)),
        );
        if let Some(pct) = present(status, "currentCPUUtilizationPercentage") {
            st.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": pct}}}]),
            );
        }
        // The annotation has more information than the v1 status fields.
        if let Some(current) = parse_array(annotation(v1, METRIC_STATUSES_ANNOTATION)) {
            let current = current.iter().map(metric_status_from_v1).collect();
            st.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(conds) = parse_array(annotation(v1, CONDITIONS_ANNOTATION)) {
            st.insert("conditions".into(), Value::Array(conds));
        }
        out["status"] = Value::Object(st);
    }
    drop_round_trip_annotations(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_hpa() -> Value {
        json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "d", "namespace": "ns", "annotations": {"keep": "me"}},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                "minReplicas": 1, "maxReplicas": 5,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}
                ],
                "behavior": {"scaleDown": {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
            },
            "status": {
                "currentReplicas": 2, "desiredReplicas": 3,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40, "averageValue": "200m"}}}],
                "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": "ReadyForNewScale"}]
            }
        })
    }

    #[test]
    fn v2_to_v1_like_upstream() {
        let v1 = v2_to_v1(&v2_hpa());
        assert_eq!(v1["apiVersion"], "autoscaling/v1");
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
        assert!(v1["spec"].get("metrics").is_none());
        assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 40);
        assert_eq!(v1["status"]["currentReplicas"], 2);
        let a = &v1["metadata"]["annotations"];
        assert_eq!(a["keep"], "me");
        assert_eq!(
            a[METRIC_SPECS_ANNOTATION],
            r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}},{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]"#
        );
        assert_eq!(
            a[METRIC_STATUSES_ANNOTATION],
            r#"[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,"currentAverageValue":"200m"}}]"#
        );
        assert_eq!(
            a[BEHAVIOR_ANNOTATION],
            r#"{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":null,"SelectPolicy":"Max","Policies":[{"Type":"Percent","Value":100,"PeriodSeconds":15}],"Tolerance":null}}"#
        );
        assert_eq!(
            a[CONDITIONS_ANNOTATION],
            r#"[{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z","reason":"ReadyForNewScale"}]"#
        );
    }

    #[test]
    fn round_trips_through_v1() {
        let original = v2_hpa();
        let back = v1_to_v2(&v2_to_v1(&original));
        // The CPU metric moves after the annotation's metrics, as upstream orders them.
        let m = back["spec"]["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], original["spec"]["metrics"][0]);
        assert_eq!(m[1], original["spec"]["metrics"][2]);
        assert_eq!(m[2], original["spec"]["metrics"][1]);
        assert_eq!(back["spec"]["behavior"], original["spec"]["behavior"]);
        assert_eq!(
            back["status"]["conditions"],
            original["status"]["conditions"]
        );
        assert_eq!(
            back["status"]["currentMetrics"],
            original["status"]["currentMetrics"]
        );
        assert_eq!(back["metadata"]["annotations"], json!({"keep": "me"}));
    }

    #[test]
    fn v1_to_v2_like_upstream() {
        let v1 = json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "d"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 70},
            "status": {"currentReplicas": 0, "desiredReplicas": 0, "currentCPUUtilizationPercentage": 10}
        });
        let v2 = v1_to_v2(&v1);
        assert_eq!(v2["spec"]["metrics"], json!([cpu_metric(&json!(70))]));
        assert_eq!(
            v2["status"],
            json!({"desiredReplicas": 0, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 10}}}]})
        );
        let mut bare = v1.clone();
        bare["spec"]
            .as_object_mut()
            .map(|s| s.remove("targetCPUUtilizationPercentage"));
        assert_eq!(
            v1_to_v2(&bare)["spec"]["metrics"],
            json!([cpu_metric(&json!(DEFAULT_CPU_UTILIZATION))])
        );
        let served = HpaV1.to_served(HpaV1.to_storage(v1.clone()).unwrap_or_default());
        assert_eq!(served.unwrap_or_default()["spec"], v1["spec"]);
    }
}
