//! The pod template inside workloads (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
//! CronJobs): its defaulting and validation, applied through one seam so the workload
//! strategies do not depend on how pods are defaulted and validated.
//!
//! TODO(core-pods): once the core/v1 pods strategy is merged, delegate the pod spec parts to
//! `crate::registry::resources::core::pods::defaults::default_pod_spec(&mut Value)` and
//! `crate::registry::resources::core::pods::validation::validate_pod_spec(&Value, path)`, and
//! delete the interim subset below (`default_pod_spec_subset`, `validate_pod_spec_subset`).
//! The template-level rules (metadata labels and annotations, the null creationTimestamp)
//! stay here.

use apimachinery::field_errors::{child, index};
use apimachinery::validation::{is_dns1123_label, validate_annotations, validate_labels};
use apimachinery::{FieldError, FieldErrors, meta};
use serde_json::{Value, json};

/// Defaults a `PodTemplateSpec` in place: template metadata as upstream serializes it, and the
/// pod spec defaults.
pub fn default_template(template: &mut Value) {
    if !template.is_object() {
        *template = json!({});
    }
    let metadata = meta::nested_mut(template, &["metadata"]);
    if !metadata.is_object() {
        *metadata = json!({});
    }
    // Upstream's ObjectMeta serializes a zero creationTimestamp as null inside templates.
    if let Some(m) = metadata.as_object_mut() {
        m.entry("creationTimestamp").or_insert(Value::Null);
    }
    default_pod_spec_subset(meta::nested_mut(template, &["spec"]));
}

/// Validates a `PodTemplateSpec` at `path` (e.g. `spec.template`) as upstream's
/// `ValidatePodTemplateSpec` does.
pub fn validate_template(template: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(template) = template.filter(|t| t.is_object()) else {
        errs.push(FieldError::required(child(path, "spec.containers"), ""));
        return errs;
    };
    // Upstream reports template labels at `<path>.labels`, not `<path>.metadata.labels`.
    if let Some(labels) = template.pointer("/metadata/labels") {
        errs.extend(validate_labels(labels, &child(path, "labels")));
    }
    if let Some(annotations) = template.pointer("/metadata/annotations") {
        errs.extend(validate_annotations(
            annotations,
            &child(path, "annotations"),
        ));
    }
    errs.extend(validate_pod_spec_subset(
        template.get("spec").unwrap_or(&Value::Null),
        &child(path, "spec"),
    ));
    errs
}

/// The restart policy of a template after defaulting.
pub fn restart_policy(template: Option<&Value>) -> &str {
    template
        .and_then(|t| t.pointer("/spec/restartPolicy"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Interim subset of upstream's `SetDefaults_PodSpec`/`SetDefaults_Container` (see the TODO).
fn default_pod_spec_subset(spec: &mut Value) {
    if !spec.is_object() {
        *spec = json!({});
    }
    meta::default_at(spec, &["restartPolicy"], json!("Always"));
    meta::default_at(spec, &["terminationGracePeriodSeconds"], json!(30));
    meta::default_at(spec, &["dnsPolicy"], json!("ClusterFirst"));
    meta::default_at(spec, &["securityContext"], json!({}));
    meta::default_at(spec, &["schedulerName"], json!("default-scheduler"));
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            meta::default_at(
                c,
                &["terminationMessagePath"],
                json!("/dev/termination-log"),
            );
            meta::default_at(c, &["terminationMessagePolicy"], json!("File"));
            meta::default_at(c, &["resources"], json!({}));
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            meta::default_at(c, &["imagePullPolicy"], json!(pull_policy(image)));
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    meta::default_at(p, &["protocol"], json!("TCP"));
                }
            }
        }
    }
}

/// `Always` for `:latest` or untagged images (unless pinned by digest), else `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// Interim subset of upstream's `ValidatePodSpec` (see the TODO): containers present, named
/// with unique DNS labels, and with images.
fn validate_pod_spec_subset(spec: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(Vec::is_empty) {
        errs.push(FieldError::required(child(path, "containers"), ""));
    }
    let mut seen = std::collections::HashSet::new();
    for list in ["initContainers", "containers"] {
        let items = spec.get(list).and_then(Value::as_array);
        for (i, c) in items.into_iter().flatten().enumerate() {
            let p = index(&child(path, list), i);
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                errs.push(FieldError::required(child(&p, "name"), ""));
            } else {
                for msg in is_dns1123_label(name) {
                    errs.push(FieldError::invalid(child(&p, "name"), name, msg));
                }
                if !seen.insert(name.to_string()) {
                    errs.push(FieldError::duplicate(child(&p, "name"), name));
                }
            }
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            if list == "containers" && image.trim().is_empty() {
                errs.push(FieldError::required(child(&p, "image"), ""));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_containers() {
        let mut t = json!({"spec": {"containers": [{"name": "c", "image": "nginx"}, {"name": "d", "image": "nginx:1.2", "ports": [{"containerPort": 80}]}]}});
        default_template(&mut t);
        assert!(t["metadata"]["creationTimestamp"].is_null());
        assert!(
            t["metadata"]
                .as_object()
                .is_some_and(|m| m.contains_key("creationTimestamp"))
        );
        assert_eq!(t["spec"]["restartPolicy"], "Always");
        assert_eq!(t["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            t["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(t["spec"]["containers"][1]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            t["spec"]["containers"][0]["terminationMessagePath"],
            "/dev/termination-log"
        );
    }

    #[test]
    fn validates_containers() {
        let errs = validate_template(Some(&json!({"spec": {}})), "spec.template");
        assert_eq!(
            errs[0].to_string(),
            "spec.template.spec.containers: Required value"
        );
        let errs = validate_template(
            Some(
                &json!({"metadata": {"labels": {"a": "-"}}, "spec": {"containers": [{"name": "c"}]}}),
            ),
            "spec.template",
        );
        assert_eq!(errs[0].field, "spec.template.labels");
        assert_eq!(
            errs[1].to_string(),
            "spec.template.spec.containers[0].image: Required value"
        );
    }
}
