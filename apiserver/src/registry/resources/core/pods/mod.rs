//! Pods. A new pod starts `Pending` with its QoS class computed; the scheduler binds it through
//! the `binding` subresource; the kubelet writes `status`; deletion is graceful once the pod is
//! on a node (the kubelet finishes it). Printing follows upstream's `printPod`, including its
//! STATUS, READY and RESTARTS computation.

pub mod defaults;
pub mod security_context;
pub mod validation;

use super::common::{array_at, bool_at, int_at, str_at};
use super::docs;
use super::quantity::Quantity;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const SUBRESOURCES: &[SubresourceInfo] = &[
    SubresourceInfo {
        name: "binding",
        group: "",
        version: "v1",
        kind: "Binding",
        verbs: &["create"],
    },
    SubresourceInfo {
        name: "eviction",
        group: "policy",
        version: "v1",
        kind: "Eviction",
        verbs: &["create"],
    },
    SubresourceInfo::status("", "v1", "Pod"),
];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "pods", "Pod", "pod", true)
            .short_names(&["po"])
            .categories(&["all"])
            .subresources(SUBRESOURCES),
        Pods,
    )
}

pub struct Pods;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    Column::new(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    Column::new(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    Column::new("IP", "string", docs::POD_IP).wide(),
    Column::new("Node", "string", docs::POD_NODE_NAME).wide(),
    Column::new("Nominated Node", "string", docs::POD_NOMINATED_NODE_NAME).wide(),
    Column::new("Readiness Gates", "string", docs::POD_READINESS_GATES).wide(),
];

const FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];

/// The fields a pod update may change, as upstream lists them in its refusal.
const UPDATABLE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Upstream's `GetPodQOS`: BestEffort without cpu/memory requests or limits, Guaranteed when
/// every container limits both and requests equal limits, Burstable otherwise.
pub fn qos_class(spec: &Value) -> &'static str {
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let containers = array_at(spec, "/containers")
        .iter()
        .chain(array_at(spec, "/initContainers"));
    for c in containers {
        let mut found = Vec::new();
        for (field, acc) in [("requests", &mut requests), ("limits", &mut limits)] {
            let list = c
                .pointer(&format!("/resources/{field}"))
                .and_then(Value::as_object);
            for (name, v) in list.into_iter().flatten() {
                let name = match name.as_str() {
                    "cpu" => "cpu",
                    "memory" => "memory",
                    _ => continue,
                };
                let Ok(q) = Quantity::from_json(v) else {
                    continue;
                };
                if q > Quantity::ZERO {
                    if field == "limits" {
                        found.push(name);
                    }
                    let sum = acc.get(name).map_or(q, |prev| prev.add(&q));
                    acc.insert(name, sum);
                }
            }
        }
        if !(found.contains(&"cpu") && found.contains(&"memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests
            .iter()
            .all(|(k, r)| limits.get(k).is_some_and(|l| l.nanos() == r.nanos()))
        && requests.len() == limits.len()
    {
        return "Guaranteed";
    }
    "Burstable"
}

fn is_restartable_init(c: Option<&Value>) -> bool {
    c.and_then(|c| c.get("restartPolicy"))
        .and_then(Value::as_str)
        == Some("Always")
}

fn condition_true(pod: &Value, kind: &str) -> bool {
    array_at(pod, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some(kind)
            && c.get("status").and_then(Value::as_str) == Some("True")
    })
}

/// The latest `lastState.terminated.finishedAt` of a status, as RFC 3339.
fn finished_at(status: &Value) -> Option<&str> {
    status
        .pointer("/lastState/terminated/finishedAt")
        .and_then(Value::as_str)
}

fn later<'a>(a: Option<&'a str>, b: Option<&'a str>) -> Option<&'a str> {
    match (a, b) {
        (Some(x), Some(y)) => {
            let px = chrono::DateTime::parse_from_rfc3339(x).ok();
            let py = chrono::DateTime::parse_from_rfc3339(y).ok();
            if py > px { Some(y) } else { Some(x) }
        }
        (x, None) => x,
        (None, y) => y,
    }
}

/// The cells of upstream's `printPod`: name, ready, status, restarts, age, IP, node, nominated
/// node, readiness gates.
pub fn pod_row(pod: &Value) -> Vec<Value> {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let phase = str_at(pod, "/status/phase");
    let mut reason = phase.to_string();
    let status_reason = str_at(pod, "/status/reason");
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for c in array_at(pod, "/status/conditions") {
        if str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }
    let init_specs = array_at(spec, "/initContainers");
    let init_by_name = |name: &str| init_specs.iter().find(|c| str_at(c, "/name") == name);
    let total = array_at(spec, "/containers").len()
        + init_specs
            .iter()
            .filter(|c| is_restartable_init(Some(c)))
            .count();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<&str> = None;
    let mut last_sidecar_restart: Option<&str> = None;
    let mut initializing = false;
    let init_statuses = array_at(pod, "/status/initContainerStatuses");
    for (i, cs) in init_statuses.iter().enumerate() {
        let count = int_at(cs, "/restartCount").unwrap_or(0);
        restarts += count;
        last_restart = later(last_restart, finished_at(cs));
        let restartable = is_restartable_init(init_by_name(str_at(cs, "/name")));
        if restartable {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished_at(cs));
        }
        let terminated = cs.pointer("/state/terminated").filter(|t| t.is_object());
        let waiting_reason = str_at(cs, "/state/waiting/reason");
        if terminated.is_some_and(|t| int_at(t, "/exitCode") == Some(0)) {
            continue;
        }
        if restartable && bool_at(cs, "/started") {
            if bool_at(cs, "/ready") {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            let r = str_at(t, "/reason");
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if int_at(t, "/signal").unwrap_or(0) != 0 {
                format!("Init:Signal:{}", int_at(t, "/signal").unwrap_or(0))
            } else {
                format!("Init:ExitCode:{}", int_at(t, "/exitCode").unwrap_or(0))
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in array_at(pod, "/status/containerStatuses").iter().rev() {
            restarts += int_at(cs, "/restartCount").unwrap_or(0);
            last_restart = later(last_restart, finished_at(cs));
            let waiting = str_at(cs, "/state/waiting/reason");
            let terminated = cs.pointer("/state/terminated").filter(|t| t.is_object());
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                let r = str_at(t, "/reason");
                reason = if !r.is_empty() {
                    r.to_string()
                } else if int_at(t, "/signal").unwrap_or(0) != 0 {
                    format!("Signal:{}", int_at(t, "/signal").unwrap_or(0))
                } else {
                    format!("ExitCode:{}", int_at(t, "/exitCode").unwrap_or(0))
                };
            } else if bool_at(cs, "/ready")
                && cs.pointer("/state/running").is_some_and(Value::is_object)
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }
    let deleting = apimachinery::meta::deletion_timestamp(pod).is_some();
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", table::age_of(t)),
        _ => restarts.to_string(),
    };
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let ip = array_at(pod, "/status/podIPs")
        .first()
        .map(|p| str_at(p, "/ip"))
        .unwrap_or_default();
    let gates = array_at(spec, "/readinessGates");
    let gates_cell = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = array_at(pod, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = str_at(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| str_at(c, "/type") == t)
                    .is_some_and(|c| str_at(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        table::name(pod),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        table::age(pod),
        json!(or_none(ip)),
        json!(or_none(str_at(spec, "/nodeName"))),
        json!(or_none(str_at(pod, "/status/nominatedNodeName"))),
        json!(gates_cell),
    ]
}

/// A rough rendering of what changed between two specs, in place of upstream's `cmp.Diff`.
fn spec_diff(new: &Value, old: &Value) -> String {
    let mut out = String::from("  core.PodSpec{\n");
    let (Some(n), Some(o)) = (new.as_object(), old.as_object()) else {
        return out + "  }\n";
    };
    let mut keys: Vec<&String> = n.keys().chain(o.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (nv, ov) = (n.get(k), o.get(k));
        if nv != ov {
            if let Some(ov) = ov {
                out.push_str(&format!("- \t{k}: {ov},\n"));
            }
            if let Some(nv) = nv {
                out.push_str(&format!("+ \t{k}: {nv},\n"));
            }
        }
    }
    out + "  }\n"
}

/// Upstream's `ValidatePodUpdate` spec rules: only images, activeDeadlineSeconds, added
/// tolerations, a negative grace period becoming 1, and removed scheduling gates may change.
fn validate_spec_update(new: &Value, old: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let (ns, os) = (
        new.get("spec").unwrap_or(&Value::Null),
        old.get("spec").unwrap_or(&Value::Null),
    );
    if let Some(old_ads) = int_at(os, "/activeDeadlineSeconds") {
        match int_at(ns, "/activeDeadlineSeconds") {
            None => errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                Value::Null,
                "must not update from a positive integer to nil value",
            )),
            Some(n) if n > old_ads => errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                n,
                "must be less than or equal to previous value",
            )),
            _ => {}
        }
    }
    let mut mutated = ns.clone();
    // The binding subresource sets nodeName together with the PodScheduled condition; a plain
    // update cannot change status, so a status change marks a binding.
    if str_at(os, "/nodeName").is_empty()
        && new.get("status") != old.get("status")
        && let Some(m) = mutated.as_object_mut()
    {
        m.remove("nodeName");
        if let Some(n) = os.get("nodeName") {
            m.insert("nodeName".into(), n.clone());
        }
    }
    for list in ["containers", "initContainers"] {
        let old_list = array_at(os, &format!("/{list}"));
        if let Some(items) = mutated.get_mut(list).and_then(Value::as_array_mut)
            && items.len() == old_list.len()
        {
            for (c, oc) in items.iter_mut().zip(old_list) {
                if let Some(img) = oc.get("image") {
                    c["image"] = img.clone();
                }
            }
        }
    }
    for (field, keep_old) in [
        ("activeDeadlineSeconds", true),
        (
            "schedulingGates",
            array_at(ns, "/schedulingGates").len() <= array_at(os, "/schedulingGates").len(),
        ),
        (
            "tolerations",
            array_at(os, "/tolerations")
                .iter()
                .all(|t| array_at(ns, "/tolerations").contains(t)),
        ),
        (
            "terminationGracePeriodSeconds",
            int_at(os, "/terminationGracePeriodSeconds").is_some_and(|g| g < 0)
                && int_at(ns, "/terminationGracePeriodSeconds") == Some(1),
        ),
    ] {
        if keep_old && let Some(m) = mutated.as_object_mut() {
            match os.get(field) {
                Some(v) => m.insert(field.to_string(), v.clone()),
                None => m.remove(field),
            };
        }
    }
    if mutated != *os {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {UPDATABLE_FIELDS}\n{}",
                spec_diff(&mutated, os)
            ),
        ));
    }
    errs
}

impl Strategy for Pods {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        if let Some(spec) = body.get_mut("spec") {
            defaults::normalize_pod_spec_quantities(spec)?;
        }
        typed::round_trip::<Pod>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        defaults::default_pod(obj);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
        let mut status = json!({"phase": "Pending", "qosClass": qos});
        if !array_at(obj, "/spec/schedulingGates").is_empty() {
            status["conditions"] = json!([{
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": null,
                "lastTransitionTime": null,
                "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
            }]);
        }
        obj["status"] = status;
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        // Old kubelets corrupt owner references through status writes; upstream ignores them.
        let owners = old.pointer("/metadata/ownerReferences").cloned();
        apimachinery::meta::set(new, "ownerReferences", owners);
        if str_at(new, "/status/qosClass").is_empty()
            && let Some(q) = old.pointer("/status/qosClass").cloned()
        {
            apimachinery::meta::nested_mut(new, &["status"])["qosClass"] = q;
        }
    }

    fn writes_directly(&self, subresource: &str) -> bool {
        // Upstream's binding sets nodeName and the PodScheduled condition in storage.
        subresource == "binding"
    }

    fn prepare_for_subresource_update(&self, subresource: &str, new: &mut Value, old: &Value) {
        // The binding handler builds the bound pod from the stored one; take it as it is.
        if subresource != "binding" {
            *new = old.clone();
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs =
            validation::validate_pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec");
        if !array_at(obj, "/spec/ephemeralContainers").is_empty() {
            errs.push(FieldError::forbidden(
                "spec.ephemeralContainers",
                "cannot be set on create",
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs =
            validation::validate_pod_spec(new.get("spec").unwrap_or(&Value::Null), "spec");
        errs.extend(validate_spec_update(new, old));
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let nominated = str_at(new, "/status/nominatedNodeName");
        if !nominated.is_empty() {
            errs.extend(super::common::dns_subdomain(
                nominated,
                "status.nominatedNodeName",
            ));
        }
        let (nq, oq) = (
            str_at(new, "/status/qosClass"),
            str_at(old, "/status/qosClass"),
        );
        if !oq.is_empty() && nq != oq {
            errs.push(FieldError::invalid(
                "status.qosClass",
                nq,
                super::common::IMMUTABLE,
            ));
        }
        for (list, field) in [("podIPs", "status.podIPs"), ("hostIPs", "status.hostIPs")] {
            for (i, ip) in array_at(new, &format!("/status/{list}")).iter().enumerate() {
                let v = str_at(ip, "/ip");
                if v.parse::<std::net::IpAddr>().is_err() {
                    errs.push(FieldError::invalid(
                        format!("{field}[{i}].ip"),
                        v,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                }
            }
        }
        errs
    }

    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        let ip = array_at(obj, "/status/podIPs")
            .first()
            .map(|p| str_at(p, "/ip").to_string())
            .unwrap_or_default();
        vec![
            ("spec.nodeName", str_at(obj, "/spec/nodeName").to_string()),
            (
                "spec.restartPolicy",
                str_at(obj, "/spec/restartPolicy").to_string(),
            ),
            (
                "spec.schedulerName",
                str_at(obj, "/spec/schedulerName").to_string(),
            ),
            (
                "spec.serviceAccountName",
                str_at(obj, "/spec/serviceAccountName").to_string(),
            ),
            (
                "spec.hostNetwork",
                bool_at(obj, "/spec/hostNetwork").to_string(),
            ),
            ("status.phase", str_at(obj, "/status/phase").to_string()),
            ("status.podIP", ip),
            // Accepted as a field label, but upstream never fills it in.
            ("status.podIPs", String::new()),
            (
                "status.nominatedNodeName",
                str_at(obj, "/status/nominatedNodeName").to_string(),
            ),
        ]
    }

    fn selectable_field_names(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        pod_row(obj)
    }

    fn graceful_delete_period(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        let mut period = requested
            .or_else(|| int_at(obj, "/spec/terminationGracePeriodSeconds"))
            .unwrap_or(0);
        if str_at(obj, "/spec/nodeName").is_empty() {
            period = 0;
        }
        if matches!(str_at(obj, "/status/phase"), "Failed" | "Succeeded") {
            period = 0;
        }
        if period < 0 {
            period = 1;
        }
        Some(period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"}, "spec": spec, "status": status})
    }

    #[test]
    fn qos_classes() {
        let c = |r: Value| json!({"containers": [{"name": "c", "resources": r}]});
        assert_eq!(qos_class(&c(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&c(json!({"requests": {"cpu": "1"}}))),
            "Burstable"
        );
        assert_eq!(
            qos_class(&c(
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}})
            )),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&c(
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}})
            )),
            "Burstable"
        );
    }

    #[test]
    fn create_resets_status() {
        let mut p = pod(
            json!({"containers": [{"name": "c", "image": "i"}], "schedulingGates": [{"name": "g"}]}),
            json!({"phase": "Running"}),
        );
        Pods.prepare_for_create(&mut p);
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["qosClass"], "BestEffort");
        assert_eq!(p["status"]["conditions"][0]["reason"], "SchedulingGated");
    }

    #[test]
    fn rows_like_kubectl() {
        let p = pod(
            json!({"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"}),
            json!({"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            ]}),
        );
        let row = pod_row(&p);
        assert_eq!(row[1], "1/2");
        assert_eq!(row[2], "CrashLoopBackOff");
        assert_eq!(row[3], "2");
        assert_eq!(row[5], "10.0.0.5");
        assert_eq!(row[6], "n1");
        assert_eq!(row[7], "<none>");
        assert_eq!(row[8], "<none>");

        let pending = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Pending"}),
        );
        let row = pod_row(&pending);
        assert_eq!(row[1], "0/1");
        assert_eq!(row[2], "Pending");
        assert_eq!(row[5], "<none>");

        let init = pod(
            json!({"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}),
            json!({"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"running": {}}}]}),
        );
        assert_eq!(pod_row(&init)[2], "Init:0/1");

        let mut done = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Succeeded", "containerStatuses": [{"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}),
        );
        assert_eq!(pod_row(&done)[2], "Completed");
        done["metadata"]["deletionTimestamp"] = json!("2020-01-01T00:00:00Z");
        assert_eq!(pod_row(&done)[2], "Completed");
        let mut running = pending.clone();
        running["metadata"]["deletionTimestamp"] = json!("2020-01-01T00:00:00Z");
        assert_eq!(pod_row(&running)[2], "Terminating");
    }

    #[test]
    fn restarts_show_when() {
        let p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Running", "containerStatuses": [{"name": "a", "restartCount": 3, "ready": true,
                "state": {"running": {}}, "lastState": {"terminated": {"finishedAt": "2020-01-01T00:00:00Z", "exitCode": 1}}}]}),
        );
        let cell = pod_row(&p)[3].as_str().unwrap().to_string();
        assert!(cell.starts_with("3 (") && cell.ends_with(" ago)"), "{cell}");
    }

    #[test]
    fn grace_periods() {
        let mut p = pod(
            json!({"terminationGracePeriodSeconds": 30, "nodeName": "n"}),
            json!({"phase": "Running"}),
        );
        assert_eq!(Pods.graceful_delete_period(&p, None), Some(30));
        assert_eq!(Pods.graceful_delete_period(&p, Some(5)), Some(5));
        assert_eq!(Pods.graceful_delete_period(&p, Some(-3)), Some(1));
        p["status"]["phase"] = json!("Succeeded");
        assert_eq!(Pods.graceful_delete_period(&p, None), Some(0));
        let unscheduled = pod(json!({"terminationGracePeriodSeconds": 30}), json!({}));
        assert_eq!(Pods.graceful_delete_period(&unscheduled, None), Some(0));
    }

    #[test]
    fn updates_only_touch_mutable_fields() {
        let old = pod(
            json!({"containers": [{"name": "a", "image": "x:1"}], "restartPolicy": "Always"}),
            json!({}),
        );
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("x:2");
        assert!(validate_spec_update(&new, &old).is_empty());
        new["spec"]["restartPolicy"] = json!("Never");
        let errs = validate_spec_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().starts_with(
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
        ));
    }

    #[test]
    fn binding_takes_the_bound_pod() {
        let old = pod(json!({}), json!({}));
        let mut new = old.clone();
        new["spec"]["nodeName"] = json!("n1");
        Pods.prepare_for_subresource_update("binding", &mut new, &old);
        assert_eq!(new["spec"]["nodeName"], "n1");
        let mut other = new.clone();
        Pods.prepare_for_subresource_update("resize", &mut other, &old);
        assert_eq!(other, old);
    }

    #[test]
    fn field_selectors() {
        let p = pod(
            json!({"nodeName": "n1", "restartPolicy": "Always"}),
            json!({"phase": "Running", "podIPs": [{"ip": "10.1.1.1"}]}),
        );
        let f = Pods.selectable_fields(&p);
        assert!(f.contains(&("spec.nodeName", "n1".into())));
        assert!(f.contains(&("status.podIP", "10.1.1.1".into())));
        assert!(f.contains(&("spec.hostNetwork", "false".into())));
    }
}
