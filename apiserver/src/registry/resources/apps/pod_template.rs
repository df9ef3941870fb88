//! The pod template inside workloads (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
//! CronJobs): one seam through which every workload decodes, defaults and validates its
//! template with the core pod functions, so a template is treated as a Pod's spec is.
//! What stays here is what only templates have: the template metadata as upstream serializes
//! it (a `null` creationTimestamp). The workload-level rules (restart policy, no
//! `activeDeadlineSeconds`, selector matching) live with each workload's strategy.

use crate::registry::resources::core::pods::{defaults, validation};
use apimachinery::{FieldErrors, meta};
use serde_json::{Value, json};

/// Canonicalizes the quantities of the pod spec of the template at `template_pointer` (e.g.
/// `/spec/template`), before the typed decode, as the Pods strategy does for its spec: so
/// `cpu: 1000m` is stored as `"1"` and a malformed quantity fails decoding.
pub fn normalize_quantities(body: &mut Value, template_pointer: &str) -> Result<(), String> {
    match body.pointer_mut(&format!("{template_pointer}/spec")) {
        Some(spec) => defaults::normalize_pod_spec_quantities(spec),
        None => Ok(()),
    }
}

/// Defaults a `PodTemplateSpec` in place: template metadata as upstream serializes it, and the
/// pod spec defaults every template gets (`SetDefaults_PodSpec` and friends).
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
    let spec = meta::nested_mut(template, &["spec"]);
    if !spec.is_object() {
        *spec = json!({});
    }
    defaults::default_pod_spec(spec);
}

/// Validates a `PodTemplateSpec` at `path` (e.g. `spec.template`) as upstream's
/// `ValidatePodTemplateSpec` does; an absent template is validated as an empty one, as Go's
/// zero-valued struct is.
pub fn validate_template(template: Option<&Value>, path: &str) -> FieldErrors {
    let empty = json!({});
    let template = template.filter(|t| t.is_object()).unwrap_or(&empty);
    validation::validate_pod_template_spec(template, path)
}

/// The restart policy of a template after defaulting.
pub fn restart_policy(template: Option<&Value>) -> &str {
    template
        .and_then(|t| t.pointer("/spec/restartPolicy"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_as_pods_are_defaulted() {
        let mut t = json!({"spec": {"containers": [
            {"name": "c", "image": "nginx", "readinessProbe": {"httpGet": {"port": 80}}},
            {"name": "d", "image": "nginx:1.2", "ports": [{"containerPort": 80}]}],
            "volumes": [{"name": "v"}]}});
        default_template(&mut t);
        assert!(t["metadata"]["creationTimestamp"].is_null());
        assert!(
            t["metadata"]
                .as_object()
                .is_some_and(|m| m.contains_key("creationTimestamp"))
        );
        let spec = &t["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(spec["containers"][1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(spec["containers"][1]["ports"][0]["protocol"], "TCP");
        // Defaults the interim subset did not apply: probes and volumes.
        assert_eq!(spec["containers"][0]["readinessProbe"]["periodSeconds"], 10);
        assert_eq!(spec["volumes"][0]["emptyDir"], json!({}));
        // Pod-only defaults stay off templates.
        assert!(spec.get("enableServiceLinks").is_none());

        let mut missing = Value::Null;
        default_template(&mut missing);
        assert_eq!(missing["spec"]["dnsPolicy"], "ClusterFirst");
    }

    #[test]
    fn validates_as_pods_are_validated() {
        let errs = validate_template(Some(&json!({"spec": {}})), "spec.template");
        assert!(
            errs.iter()
                .any(|e| e.to_string() == "spec.template.spec.containers: Required value"),
            "{errs:?}"
        );
        let mut t = json!({"metadata": {"labels": {"a": "-"}},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Sometimes"}],
                "securityContext": {"sysctls": [{"name": "foo-", "value": "1"}]}}});
        default_template(&mut t);
        let errs: Vec<String> = validate_template(Some(&t), "spec.template")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            errs.iter().any(|e| e.starts_with("spec.template.labels: ")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.starts_with(
                "spec.template.spec.containers[0].imagePullPolicy: Unsupported value"
            )),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.starts_with(
                "spec.template.spec.securityContext.sysctls[0].name: Invalid value: \"foo-\""
            )),
            "{errs:?}"
        );
        assert!(
            validate_template(None, "spec.template")
                .iter()
                .any(|e| e.field == "spec.template.spec.containers")
        );
    }

    #[test]
    fn quantities_are_canonical_before_decoding() {
        let mut body = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}}}]}}}});
        normalize_quantities(&mut body, "/spec/template").unwrap();
        assert_eq!(
            body.pointer("/spec/template/spec/containers/0/resources/limits"),
            Some(&json!({"cpu": "1", "memory": "1Gi"}))
        );
        let mut bad = json!({"template": {"spec": {"containers": [
            {"resources": {"requests": {"cpu": "lots"}}}]}}});
        assert!(normalize_quantities(&mut bad, "/template").is_err());
        let mut none = json!({"spec": {}});
        assert!(normalize_quantities(&mut none, "/spec/template").is_ok());
    }
}
