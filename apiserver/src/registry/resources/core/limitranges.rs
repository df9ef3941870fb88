//! LimitRanges: per-namespace bounds and defaults for container, pod and claim resources.
//! Upstream has no printer for them, so tables use the default columns.

use super::common::{array_at, one_of, str_at};
use super::quantity::{self, Quantity};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{FieldError, FieldErrors, index, key};
use k8s_openapi::api::core::v1::LimitRange;
use serde_json::{Map, Value};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "limitranges", "LimitRange", "limitrange", true)
            .short_names(&["limits"]),
        LimitRanges,
    )
}

pub struct LimitRanges;

const FIELDS: &[&str] = &[
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
];

fn map_of(item: &Value, field: &str) -> Map<String, Value> {
    item.get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Upstream's `SetDefaults_LimitRangeItem`: container limits default to max, requests to the
/// default limit, then to min.
fn default_item(item: &mut Value) {
    if str_at(item, "/type") != "Container" {
        return;
    }
    let max = map_of(item, "max");
    let min = map_of(item, "min");
    let mut default = map_of(item, "default");
    let mut request = map_of(item, "defaultRequest");
    for (k, v) in max {
        default.entry(k).or_insert(v);
    }
    for (k, v) in &default {
        request.entry(k.clone()).or_insert(v.clone());
    }
    for (k, v) in min {
        request.entry(k).or_insert(v);
    }
    if !default.is_empty() {
        item["default"] = Value::Object(default);
    }
    if !request.is_empty() {
        item["defaultRequest"] = Value::Object(request);
    }
}

fn validate_limit_range(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, item) in array_at(obj, "/spec/limits").iter().enumerate() {
        let p = index("spec.limits", i);
        let ty = str_at(item, "/type");
        errs.extend(one_of(
            Some(ty),
            &format!("{p}.type"),
            &["Container", "Pod", "PersistentVolumeClaim"],
            true,
        ));
        let q = |field: &str, name: &str| {
            item.get(field)
                .and_then(|m| m.get(name))
                .and_then(|v| Quantity::from_json(v).ok())
        };
        let mut names: Vec<String> = FIELDS
            .iter()
            .flat_map(|f| map_of(item, f).keys().cloned().collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        for field in FIELDS {
            for name in map_of(item, field).keys() {
                errs.extend(super::common::qualified_name(
                    name,
                    &key(&format!("{p}.{field}"), name),
                ));
            }
        }
        if ty == "Pod" {
            for field in ["default", "defaultRequest"] {
                for name in map_of(item, field).keys() {
                    errs.push(FieldError::forbidden(
                        key(&format!("{p}.{field}"), name),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
        }
        for name in &names {
            let (min, max) = (q("min", name), q("max", name));
            let (def, req) = (q("default", name), q("defaultRequest", name));
            if let (Some(mn), Some(mx)) = (min, max)
                && mn > mx
            {
                errs.push(FieldError::invalid(
                    key(&format!("{p}.min"), name),
                    mn.canonical(),
                    format!(
                        "min value {} is greater than max value {}",
                        mn.canonical(),
                        mx.canonical()
                    ),
                ));
            }
            if let (Some(r), Some(mn)) = (req, min)
                && mn > r
            {
                errs.push(FieldError::invalid(
                    key(&format!("{p}.defaultRequest"), name),
                    r.canonical(),
                    format!(
                        "min value {} is greater than default request value {}",
                        mn.canonical(),
                        r.canonical()
                    ),
                ));
            }
            if let (Some(r), Some(mx)) = (req, max)
                && r > mx
            {
                errs.push(FieldError::invalid(
                    key(&format!("{p}.defaultRequest"), name),
                    r.canonical(),
                    format!(
                        "default request value {} is greater than max value {}",
                        r.canonical(),
                        mx.canonical()
                    ),
                ));
            }
            if let (Some(r), Some(d)) = (req, def)
                && r > d
            {
                errs.push(FieldError::invalid(
                    key(&format!("{p}.defaultRequest"), name),
                    r.canonical(),
                    format!(
                        "default request value {} is greater than default limit value {}",
                        r.canonical(),
                        d.canonical()
                    ),
                ));
            }
            if let (Some(d), Some(mn)) = (def, min)
                && mn > d
            {
                errs.push(FieldError::invalid(
                    key(&format!("{p}.default"), name),
                    d.canonical(),
                    format!(
                        "min value {} is greater than default value {}",
                        mn.canonical(),
                        d.canonical()
                    ),
                ));
            }
            if let (Some(d), Some(mx)) = (def, max)
                && d > mx
            {
                errs.push(FieldError::invalid(
                    key(&format!("{p}.default"), name),
                    d.canonical(),
                    format!(
                        "default value {} is greater than max value {}",
                        d.canonical(),
                        mx.canonical()
                    ),
                ));
            }
            if let Some(ratio) = q("maxLimitRequestRatio", name)
                && ratio < Quantity::parse("1").unwrap_or(Quantity::ZERO)
            {
                errs.push(FieldError::invalid(
                    key(&format!("{p}.maxLimitRequestRatio"), name),
                    ratio.canonical(),
                    format!("ratio {} is less than 1", ratio.canonical()),
                ));
            }
        }
    }
    errs
}

impl Strategy for LimitRanges {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        if let Some(items) = body
            .pointer_mut("/spec/limits")
            .and_then(Value::as_array_mut)
        {
            for item in items {
                let ptrs: Vec<String> = FIELDS.iter().map(|f| format!("/{f}")).collect();
                let refs: Vec<&str> = ptrs.iter().map(String::as_str).collect();
                quantity::canonicalize_at(item, &refs)?;
            }
        }
        typed::round_trip::<LimitRange>(body)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(items) = obj
            .pointer_mut("/spec/limits")
            .and_then(Value::as_array_mut)
        {
            items.iter_mut().for_each(default_item);
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_limit_range(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_defaults() {
        let mut lr = json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}}]}});
        LimitRanges.default(&mut lr);
        let item = &lr["spec"]["limits"][0];
        assert_eq!(item["default"], json!({"cpu": "2"}));
        assert_eq!(item["defaultRequest"], json!({"cpu": "2", "memory": "1Mi"}));
        assert!(validate_limit_range(&lr).is_empty());
    }

    #[test]
    fn bounds() {
        let lr = json!({"spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}});
        let e: Vec<String> = validate_limit_range(&lr)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(e.contains(&"spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1".to_string()), "{e:?}");
        let bad = json!({"spec": {"limits": [{"type": "Thing"}]}});
        assert!(
            validate_limit_range(&bad)[0]
                .to_string()
                .starts_with("spec.limits[0].type: Unsupported value: \"Thing\"")
        );
    }
}
