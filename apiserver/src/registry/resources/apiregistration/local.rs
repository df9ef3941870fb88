//! The *local* APIServices: one per group-version this apiserver serves itself, as upstream's
//! kube-apiserver registers them on start (its autoregister controller). Their priorities come
//! from upstream's table (`apiVersionPriorities` in `cmd/kube-apiserver/app/aggregator.go`,
//! merged over `DefaultGenericAPIServicePriorities` in `pkg/controlplane/apiserver`); a
//! group-version missing from the table gets no APIService, as upstream skips it too.
//!
//! `apiregistration.k8s.io` itself is served by the aggregator layer upstream, not by the
//! apiserver it delegates to, so upstream has no `v1.apiregistration.k8s.io` APIService and
//! neither do we.

use serde_json::{Value, json};

/// The label marking an APIService the apiserver manages.
pub const AUTOMANAGED_LABEL: &str = "kube-aggregator.kubernetes.io/automanaged";
/// The label value of APIServices synced once at start (built-in group-versions).
pub const ON_START: &str = "onstart";
/// The label value of APIServices synced continuously (CRD group-versions upstream).
pub const CONTINUOUSLY: &str = "true";

/// `(group, version, groupPriorityMinimum, versionPriority)` for upstream v1.33.
const PRIORITIES: &[(&str, &str, i32, i32)] = &[
    ("", "v1", 18000, 1),
    ("apps", "v1", 17800, 15),
    ("events.k8s.io", "v1", 17750, 15),
    ("events.k8s.io", "v1beta1", 17750, 5),
    ("authentication.k8s.io", "v1", 17700, 15),
    ("authentication.k8s.io", "v1beta1", 17700, 9),
    ("authentication.k8s.io", "v1alpha1", 17700, 1),
    ("authorization.k8s.io", "v1", 17600, 15),
    ("autoscaling", "v2", 17500, 30),
    ("autoscaling", "v1", 17500, 15),
    ("autoscaling", "v2beta1", 17500, 9),
    ("autoscaling", "v2beta2", 17500, 1),
    ("batch", "v1", 17400, 15),
    ("batch", "v1beta1", 17400, 9),
    ("batch", "v2alpha1", 17400, 9),
    ("certificates.k8s.io", "v1", 17300, 15),
    ("certificates.k8s.io", "v1beta1", 17300, 9),
    ("certificates.k8s.io", "v1alpha1", 17300, 1),
    ("networking.k8s.io", "v1", 17200, 15),
    ("networking.k8s.io", "v1beta1", 17200, 9),
    ("policy", "v1", 17100, 15),
    ("policy", "v1beta1", 17100, 9),
    ("rbac.authorization.k8s.io", "v1", 17000, 15),
    ("storage.k8s.io", "v1", 16800, 15),
    ("storage.k8s.io", "v1beta1", 16800, 9),
    ("storage.k8s.io", "v1alpha1", 16800, 1),
    ("apiextensions.k8s.io", "v1", 16700, 15),
    ("admissionregistration.k8s.io", "v1", 16700, 15),
    ("admissionregistration.k8s.io", "v1beta1", 16700, 12),
    ("admissionregistration.k8s.io", "v1alpha1", 16700, 9),
    ("scheduling.k8s.io", "v1", 16600, 15),
    ("coordination.k8s.io", "v1", 16500, 15),
    ("coordination.k8s.io", "v1beta1", 16500, 13),
    ("coordination.k8s.io", "v1alpha2", 16500, 12),
    ("node.k8s.io", "v1", 16300, 15),
    ("node.k8s.io", "v1beta1", 16300, 9),
    ("node.k8s.io", "v1alpha1", 16300, 1),
    ("discovery.k8s.io", "v1", 16200, 15),
    ("discovery.k8s.io", "v1beta1", 16200, 12),
    ("resource.k8s.io", "v1beta2", 16200, 15),
    ("resource.k8s.io", "v1beta1", 16200, 9),
    ("resource.k8s.io", "v1alpha3", 16200, 1),
    ("flowcontrol.apiserver.k8s.io", "v1", 16100, 21),
    ("flowcontrol.apiserver.k8s.io", "v1beta3", 16100, 18),
    ("flowcontrol.apiserver.k8s.io", "v1beta2", 16100, 15),
    ("flowcontrol.apiserver.k8s.io", "v1beta1", 16100, 12),
    ("flowcontrol.apiserver.k8s.io", "v1alpha1", 16100, 9),
    ("internal.apiserver.k8s.io", "v1alpha1", 16000, 9),
];

/// Upstream's `(groupPriorityMinimum, versionPriority)` of a built-in group-version.
pub fn priority(group: &str, version: &str) -> Option<(i32, i32)> {
    PRIORITIES
        .iter()
        .find(|(g, v, _, _)| *g == group && *v == version)
        .map(|(_, _, gp, vp)| (*gp, *vp))
}

/// The APIService name of a group-version: `<version>.<group>` (`v1.` for the core group).
pub fn name(group: &str, version: &str) -> String {
    format!("{version}.{group}")
}

/// The spec upstream gives the local APIService of a built-in group-version.
pub fn spec(group: &str, version: &str) -> Option<Value> {
    let (group_priority, version_priority) = priority(group, version)?;
    let mut spec = json!({
        "service": null,
        "version": version,
        "groupPriorityMinimum": group_priority,
        "versionPriority": version_priority,
    });
    // Go's `omitempty` leaves the core group's empty `group` out.
    if !group.is_empty() {
        spec["group"] = json!(group);
    }
    Some(spec)
}

/// The local APIService the apiserver registers on start for a built-in group-version, or
/// `None` when upstream's table has no priority for it.
pub fn apiservice(group: &str, version: &str) -> Option<Value> {
    Some(json!({
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {
            "name": name(group, version),
            "labels": {AUTOMANAGED_LABEL: ON_START},
        },
        "spec": spec(group, version)?,
    }))
}

/// Whether the apiserver manages this APIService (its automanaged label says so); others are
/// left alone even when their name is a built-in group-version.
pub fn is_automanaged(obj: &Value) -> bool {
    matches!(
        obj.pointer("/metadata/labels")
            .and_then(|l| l.get(AUTOMANAGED_LABEL))
            .and_then(Value::as_str),
        Some(ON_START | CONTINUOUSLY)
    )
}

/// Whether the APIService is managed only at start (so a stale one is deleted then).
pub fn is_automanaged_on_start(obj: &Value) -> bool {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(AUTOMANAGED_LABEL))
        .and_then(Value::as_str)
        == Some(ON_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_upstreams_local_apiservices() {
        let core = apiservice("", "v1").unwrap();
        assert_eq!(core["metadata"]["name"], "v1.");
        assert_eq!(core["metadata"]["labels"][AUTOMANAGED_LABEL], "onstart");
        assert_eq!(
            core["spec"],
            json!({"service": null, "version": "v1", "groupPriorityMinimum": 18000, "versionPriority": 1})
        );
        let hpa = apiservice("autoscaling", "v2").unwrap();
        assert_eq!(hpa["metadata"]["name"], "v2.autoscaling");
        assert_eq!(hpa["spec"]["group"], "autoscaling");
        assert_eq!(hpa["spec"]["groupPriorityMinimum"], 17500);
        assert_eq!(hpa["spec"]["versionPriority"], 30);
        assert_eq!(
            priority("flowcontrol.apiserver.k8s.io", "v1"),
            Some((16100, 21))
        );
        assert!(apiservice("apiregistration.k8s.io", "v1").is_none());
        assert!(apiservice("stable.example.com", "v1").is_none());
        assert!(is_automanaged(&core) && is_automanaged_on_start(&core));
        assert!(!is_automanaged(&json!({"metadata": {"name": "v1."}})));
    }
}
