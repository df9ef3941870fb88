//! StatefulSets: pods with stable identities. Only replicas, ordinals, template, update
//! strategy, PVC retention policy and minReadySeconds may change after creation.

use super::common::{self, int_at, invalid_rendered, nonnegative};
use super::deployments::collision_count_not_decremented;
use super::pod_template;
use crate::registry::resources::core::quantity;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
};
use apimachinery::field_errors::child;
use apimachinery::validation::{
    NameValidator, name_is_dns_label, validate_annotations, validate_labels,
};
use apimachinery::{FieldError, FieldErrors, meta};
use k8s_openapi::api::apps::v1::StatefulSet;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[
    SubresourceInfo::status("apps", "v1", "StatefulSet"),
    SubresourceInfo::scale(),
];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            "statefulset",
            true,
        )
        .short_names(&["sts"])
        .categories(&["all"])
        .subresources(SUBRESOURCES),
        StatefulSets,
    )
}

pub struct StatefulSets;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
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
];

/// The spec fields an update may change; everything else is fixed at creation.
const MUTABLE_SPEC_FIELDS: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

impl Strategy for StatefulSets {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        pod_template::normalize_quantities(&mut body, "/spec/template")?;
        // The claim templates' requests and limits are quantities too, as on PVCs.
        if let Some(claims) = body
            .pointer_mut("/spec/volumeClaimTemplates")
            .and_then(Value::as_array_mut)
        {
            for claim in claims {
                quantity::canonicalize_at(
                    claim,
                    &["/spec/resources/requests", "/spec/resources/limits"],
                )?;
            }
        }
        common::decode_keeping_absent::<StatefulSet>(body, &["/spec/selector"])
    }

    fn name_validator(&self) -> NameValidator {
        name_is_dns_label
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = meta::nested_mut(obj, &["spec"]);
        meta::default_at(spec, &["podManagementPolicy"], json!("OrderedReady"));
        let strategy = meta::nested_mut(spec, &["updateStrategy"]);
        if strategy.get("type").is_none_or(Value::is_null) {
            strategy["type"] = json!("RollingUpdate");
            meta::default_at(strategy, &["rollingUpdate"], json!({}));
        }
        if strategy["type"] == "RollingUpdate"
            && let Some(ru) = strategy.get_mut("rollingUpdate").filter(|r| r.is_object())
        {
            meta::default_at(ru, &["partition"], json!(0));
        }
        let retention = meta::nested_mut(spec, &["persistentVolumeClaimRetentionPolicy"]);
        meta::default_at(retention, &["whenDeleted"], json!("Retain"));
        meta::default_at(retention, &["whenScaled"], json!("Retain"));
        meta::default_at(spec, &["replicas"], json!(1));
        meta::default_at(spec, &["revisionHistoryLimit"], json!(10));
        pod_template::default_template(meta::nested_mut(spec, &["template"]));
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        common::reset_status(obj, &["availableReplicas", "replicas"]);
        drop_max_unavailable(obj, None);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        drop_max_unavailable(new, Some(old));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_spec(obj.get("spec").unwrap_or(&Value::Null))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        let fixed = |o: &Value| {
            let mut spec = o.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = spec.as_object_mut() {
                for f in MUTABLE_SPEC_FIELDS {
                    m.remove(*f);
                }
            }
            spec
        };
        if fixed(new) != fixed(old) {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let s = new.get("status").unwrap_or(&Value::Null);
        let mut errs = Vec::new();
        for f in [
            "replicas",
            "readyReplicas",
            "currentReplicas",
            "updatedReplicas",
            "availableReplicas",
            "observedGeneration",
            "collisionCount",
        ] {
            errs.extend(nonnegative(s, &format!("/{f}"), &format!("status.{f}")));
        }
        let get = |f: &str| int_at(s, &format!("/{f}")).unwrap_or(0);
        for f in [
            "readyReplicas",
            "currentReplicas",
            "updatedReplicas",
            "availableReplicas",
        ] {
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
                "cannot be greater than status.readyReplicas",
            ));
        }
        errs.extend(collision_count_not_decremented(new, old));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let (names, images) = common::layout_containers(obj.pointer("/spec/template"));
        vec![
            table::name(obj),
            json!(format!(
                "{}/{}",
                int_at(obj, "/status/readyReplicas").unwrap_or(0),
                int_at(obj, "/spec/replicas").unwrap_or(0)
            )),
            table::age(obj),
            json!(names),
            json!(images),
        ]
    }
}

/// `rollingUpdate.maxUnavailable` belongs to the alpha MaxUnavailableStatefulSet feature: it is
/// dropped unless the stored object already uses it.
fn drop_max_unavailable(obj: &mut Value, old: Option<&Value>) {
    let in_use = old.is_some_and(|o| {
        o.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable")
            .is_some_and(|v| !v.is_null())
    });
    if in_use {
        return;
    }
    if let Some(ru) = obj
        .pointer_mut("/spec/updateStrategy/rollingUpdate")
        .and_then(Value::as_object_mut)
    {
        ru.remove("maxUnavailable");
    }
}

fn validate_spec(spec: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    match spec.get("podManagementPolicy").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        Some("OrderedReady" | "Parallel") => {}
        Some(other) => errs.push(FieldError::invalid(
            "spec.podManagementPolicy",
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy = spec.get("updateStrategy").unwrap_or(&Value::Null);
    let ru = strategy.get("rollingUpdate").filter(|v| v.is_object());
    match strategy
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        "OnDelete" => {
            if let Some(ru) = ru {
                errs.push(invalid_rendered(
                    "spec.updateStrategy.rollingUpdate",
                    &go_rolling_update(ru),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                let p = "spec.updateStrategy.rollingUpdate";
                errs.extend(nonnegative(ru, "/partition", &child(p, "partition")));
                if let Some(mu) = ru.get("maxUnavailable").filter(|v| !v.is_null()) {
                    let pm = child(p, "maxUnavailable");
                    errs.extend(common::validate_positive_int_or_percent(mu, &pm));
                    if common::int_or_percent_value(mu) == 0 {
                        errs.push(invalid_rendered(
                            pm.clone(),
                            &common::go_int_or_string(mu),
                            "cannot be 0",
                        ));
                    }
                    errs.extend(common::not_more_than_100_percent(mu, &pm));
                }
            }
        }
        other => errs.push(invalid_rendered(
            "spec.updateStrategy",
            &format!(
                "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                serde_json::to_string(other).unwrap_or_default(),
                if ru.is_some() {
                    "(*apps.RollingUpdateStatefulSetStrategy)(0xc000000000)"
                } else {
                    "(*apps.RollingUpdateStatefulSetStrategy)(nil)"
                }
            ),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = spec
        .get("persistentVolumeClaimRetentionPolicy")
        .filter(|v| v.is_object())
    {
        for f in ["whenDeleted", "whenScaled"] {
            let v = policy.get(f).and_then(Value::as_str).unwrap_or_default();
            if !matches!(v, "Retain" | "Delete") {
                errs.push(FieldError::not_supported(
                    format!("spec.persistentVolumeClaimRetentionPolicy.{f}"),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(nonnegative(spec, "/replicas", "spec.replicas"));
    errs.extend(nonnegative(
        spec,
        "/minReadySeconds",
        "spec.minReadySeconds",
    ));
    errs.extend(nonnegative(spec, "/ordinals/start", "spec.ordinals.start"));
    errs.extend(common::validate_selector_and_template(
        spec,
        "statefulset",
        "",
    ));
    // Upstream checks only the template's metadata here, not its pod spec.
    let template = spec.get("template");
    if let Some(labels) = template.and_then(|t| t.pointer("/metadata/labels")) {
        errs.extend(validate_labels(labels, "spec.template.labels"));
    }
    if let Some(a) = template.and_then(|t| t.pointer("/metadata/annotations")) {
        errs.extend(validate_annotations(a, "spec.template.annotations"));
    }
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
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    errs
}

fn go_rolling_update(ru: &Value) -> String {
    format!(
        "apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:(*intstr.IntOrString)(nil)}}",
        int_at(ru, "/partition").unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts() -> Value {
        json!({
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {
                "serviceName": "s",
                "selector": {"matchLabels": {"app": "s"}},
                "template": {"metadata": {"labels": {"app": "s"}},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
            }
        })
    }

    #[test]
    fn defaults_like_upstream() {
        let mut s = sts();
        StatefulSets.default(&mut s);
        let spec = &s["spec"];
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            spec["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert!(StatefulSets.validate(&s).is_empty());

        let mut explicit = sts();
        explicit["spec"]["updateStrategy"] = json!({"type": "RollingUpdate"});
        StatefulSets.default(&mut explicit);
        assert!(
            explicit["spec"]["updateStrategy"]
                .get("rollingUpdate")
                .is_none()
        );
    }

    #[test]
    fn validation_messages() {
        let mut s = sts();
        s["spec"]["podManagementPolicy"] = json!("Random");
        s["spec"]["updateStrategy"] =
            json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}});
        StatefulSets.default(&mut s);
        let errs: Vec<String> = StatefulSets
            .validate(&s)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
                "spec.updateStrategy.rollingUpdate: Invalid value: apps.RollingUpdateStatefulSetStrategy{Partition:1, MaxUnavailable:(*intstr.IntOrString)(nil)}: only allowed for updateStrategy 'RollingUpdate'",
            ]
        );
    }

    #[test]
    fn only_some_fields_change() {
        let mut old = sts();
        StatefulSets.default(&mut old);
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        assert!(StatefulSets.validate_update(&new, &old).is_empty());
        new["spec"]["serviceName"] = json!("other");
        assert_eq!(
            StatefulSets.validate_update(&new, &old)[0].to_string(),
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        );
    }

    #[test]
    fn status_and_row() {
        let mut s = sts();
        StatefulSets.default(&mut s);
        s["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] = json!(2);
        StatefulSets.prepare_for_create(&mut s);
        assert_eq!(s["status"], json!({"availableReplicas": 0, "replicas": 0}));
        assert!(
            s["spec"]["updateStrategy"]["rollingUpdate"]
                .get("maxUnavailable")
                .is_none()
        );
        s["status"]["readyReplicas"] = json!(1);
        let row = StatefulSets.table_row(&s);
        assert_eq!(row[1], "1/1");
        assert_eq!(row.len(), COLUMNS.len());
    }

    #[test]
    fn template_and_claim_quantities_are_stored_canonical() {
        let mut body = sts();
        body["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"cpu": "0.5"}});
        body["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"},
            "spec": {"resources": {"requests": {"storage": "1024Mi"}}}}]);
        let decoded = StatefulSets.decode(body).unwrap();
        let spec = &decoded.value["spec"];
        assert_eq!(
            spec["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "500m"
        );
        assert_eq!(
            spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "1Gi"
        );
    }
}
