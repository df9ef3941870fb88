//! Upstream's defaulting of pod specs (`pkg/apis/core/v1/defaults.go`). `default_pod_spec`
//! is what every pod template gets (Deployments, Jobs, ReplicationControllers, PodTemplates);
//! `default_pod` adds what only Pods get (requests copied from limits, `enableServiceLinks`,
//! host-network ports).

use crate::registry::resources::core::common::{default_field, default_str, each_mut};
use crate::registry::resources::core::quantity;
use serde_json::{Value, json};

/// The grace period a pod gets when its spec does not say.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// The scheduler a pod goes to when its spec does not say.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// Where a container's termination message is read from by default.
pub const TERMINATION_MESSAGE_PATH_DEFAULT: &str = "/dev/termination-log";
/// The mode files of secret, configMap, downwardAPI and projected volumes get (0644).
pub const DEFAULT_VOLUME_MODE: i64 = 0o644;

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// Defaults a `PodSpec` as every pod template gets it.
pub fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_field(spec, "securityContext", json!({}));
    default_field(
        spec,
        "terminationGracePeriodSeconds",
        json!(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS),
    );
    default_str(spec, "schedulerName", DEFAULT_SCHEDULER_NAME);
    for list in CONTAINER_LISTS {
        each_mut(spec, list, default_container);
    }
    each_mut(spec, "volumes", default_volume);
}

/// Defaults a Pod: the spec defaults plus what only Pods (not templates) get.
pub fn default_pod(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    default_pod_spec(spec);
    for list in ["containers", "initContainers"] {
        each_mut(spec, list, requests_from_limits);
    }
    default_field(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for list in ["containers", "initContainers"] {
            each_mut(spec, list, |c| {
                each_mut(c, "ports", |p| {
                    if p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0
                        && let Some(cp) = p.get("containerPort").cloned()
                    {
                        p["hostPort"] = cp;
                    }
                });
            });
        }
    }
}

/// Limits set without requests become the requests too (Pods only).
fn requests_from_limits(c: &mut Value) {
    let Some(limits) = c
        .pointer("/resources/limits")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let resources = &mut c["resources"];
    if !resources.get("requests").is_some_and(|r| r.is_object()) {
        resources["requests"] = json!({});
    }
    if let Some(req) = resources["requests"].as_object_mut() {
        for (k, v) in limits {
            req.entry(k).or_insert(v);
        }
    }
}

/// The pull policy upstream derives from an image reference: `Always` for `:latest` or no tag,
/// `IfNotPresent` otherwise (including digests).
pub fn pull_policy_for(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    // A colon after the last slash separates the tag; before it, it is a registry port.
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_container(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    default_str(c, "imagePullPolicy", pull_policy_for(&image));
    default_str(
        c,
        "terminationMessagePath",
        TERMINATION_MESSAGE_PATH_DEFAULT,
    );
    default_str(c, "terminationMessagePolicy", "File");
    each_mut(c, "ports", |p| default_str(p, "protocol", "TCP"));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            default_probe(p);
        }
    }
    if let Some(lc) = c.get_mut("lifecycle").filter(|l| l.is_object()) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(hook).filter(|h| h.is_object()) {
                default_handler(h);
            }
        }
    }
    each_mut(c, "env", |e| {
        if let Some(f) = e
            .pointer_mut("/valueFrom/fieldRef")
            .filter(|f| f.is_object())
        {
            default_str(f, "apiVersion", "v1");
        }
    });
}

fn default_probe(p: &mut Value) {
    default_field(p, "timeoutSeconds", json!(1));
    default_field(p, "periodSeconds", json!(10));
    default_field(p, "successThreshold", json!(1));
    default_field(p, "failureThreshold", json!(3));
    default_handler(p);
}

/// Defaults of the actions a probe or lifecycle hook runs.
fn default_handler(h: &mut Value) {
    if let Some(g) = h.get_mut("httpGet").filter(|g| g.is_object()) {
        default_str(g, "path", "/");
        default_str(g, "scheme", "HTTP");
    }
    if let Some(g) = h.get_mut("grpc").filter(|g| g.is_object()) {
        default_field(g, "service", json!(""));
    }
}

/// The volume sources a `Volume` may carry, in upstream's field order (which decides which
/// of several is reported); none set means an emptyDir.
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// The sources set on a volume, in declaration order.
pub fn volume_sources(v: &Value) -> Vec<&'static str> {
    VOLUME_SOURCES
        .iter()
        .copied()
        .filter(|s| v.get(*s).is_some_and(|x| !x.is_null()))
        .collect()
}

fn default_volume(v: &mut Value) {
    if !v.is_object() {
        return;
    }
    if volume_sources(v).is_empty() {
        v["emptyDir"] = json!({});
    }
    for src in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(src).filter(|s| s.is_object()) {
            default_field(s, "defaultMode", json!(DEFAULT_VOLUME_MODE));
            each_mut(s, "items", |i| {
                if let Some(f) = i.get_mut("fieldRef").filter(|f| f.is_object()) {
                    default_str(f, "apiVersion", "v1");
                }
            });
            each_mut(s, "sources", |p| {
                if let Some(d) = p.get_mut("downwardAPI") {
                    each_mut(d, "items", |i| {
                        if let Some(f) = i.get_mut("fieldRef").filter(|f| f.is_object()) {
                            default_str(f, "apiVersion", "v1");
                        }
                    });
                }
                if let Some(t) = p.get_mut("serviceAccountToken").filter(|t| t.is_object()) {
                    default_field(t, "expirationSeconds", json!(3600));
                }
            });
        }
    }
    if let Some(h) = v.get_mut("hostPath").filter(|h| h.is_object()) {
        default_field(h, "type", json!(""));
    }
    if let Some(i) = v.get_mut("iscsi").filter(|i| i.is_object()) {
        default_str(i, "iscsiInterface", "default");
    }
}

/// Canonicalizes every quantity of a pod spec (container resources, overhead, pod-level
/// resources, emptyDir size limits), accepting JSON numbers. Run before decoding, so a
/// malformed quantity fails as upstream's decoder fails.
pub fn normalize_pod_spec_quantities(spec: &mut Value) -> Result<(), String> {
    if !spec.is_object() {
        return Ok(());
    }
    for list in CONTAINER_LISTS {
        if let Some(items) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in items {
                quantity::canonicalize_at(c, &["/resources/limits", "/resources/requests"])?;
            }
        }
    }
    quantity::canonicalize_at(
        spec,
        &["/overhead", "/resources/limits", "/resources/requests"],
    )?;
    if let Some(items) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in items {
            quantity::canonicalize_at(v, &["/emptyDir/sizeLimit"])?;
            quantity::canonicalize_at(
                v,
                &[
                    "/ephemeral/volumeClaimTemplate/spec/resources/requests",
                    "/ephemeral/volumeClaimTemplate/spec/resources/limits",
                ],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy_for("nginx"), "Always");
        assert_eq!(pull_policy_for("nginx:latest"), "Always");
        assert_eq!(pull_policy_for("nginx:1.25"), "IfNotPresent");
        assert_eq!(pull_policy_for("localhost:5000/nginx"), "Always");
        assert_eq!(pull_policy_for("localhost:5000/nginx:1"), "IfNotPresent");
        assert_eq!(pull_policy_for("nginx@sha256:abcd"), "IfNotPresent");
    }

    #[test]
    fn pod_spec_defaults() {
        let mut pod = json!({"spec": {
            "containers": [{
                "name": "c", "image": "busybox",
                "ports": [{"containerPort": 80}],
                "resources": {"limits": {"cpu": "1"}},
                "readinessProbe": {"httpGet": {"port": 80}},
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            }],
            "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}],
        }});
        default_pod(&mut pod);
        let s = &pod["spec"];
        assert_eq!(s["restartPolicy"], "Always");
        assert_eq!(s["dnsPolicy"], "ClusterFirst");
        assert_eq!(s["schedulerName"], "default-scheduler");
        assert_eq!(s["terminationGracePeriodSeconds"], 30);
        assert_eq!(s["securityContext"], json!({}));
        assert_eq!(s["enableServiceLinks"], true);
        let c = &s["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["resources"]["requests"]["cpu"], "1");
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(s["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(s["volumes"][1]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn templates_do_not_get_pod_only_defaults() {
        let mut spec = json!({"containers": [{"name": "c", "image": "i:1", "resources": {"limits": {"cpu": "1"}}}]});
        default_pod_spec(&mut spec);
        assert!(spec.get("enableServiceLinks").is_none());
        assert!(spec["containers"][0]["resources"].get("requests").is_none());
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
    }

    #[test]
    fn host_network_ports() {
        let mut pod = json!({"spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 8080}]}]}});
        default_pod(&mut pod);
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
    }

    #[test]
    fn quantities_are_canonical() {
        let mut spec =
            json!({"containers": [{"resources": {"limits": {"cpu": 2, "memory": "1024Mi"}}}]});
        normalize_pod_spec_quantities(&mut spec).unwrap();
        assert_eq!(
            spec["containers"][0]["resources"]["limits"],
            json!({"cpu": "2", "memory": "1Gi"})
        );
        let mut bad = json!({"containers": [{"resources": {"requests": {"cpu": "lots"}}}]});
        assert!(normalize_pod_spec_quantities(&mut bad).is_err());
    }
}
