//! Upstream's pod spec validation (`ValidatePodSpec` and friends in
//! `pkg/apis/core/validation`), with its field paths and messages, for the rules users meet:
//! containers (names, images, ports, env, mounts, resources, probes, pull and termination
//! policies), volumes, restart and DNS policies, tolerations, security contexts (see
//! [`security_context`]), and the scalar fields. Workload kinds call
//! [`validate_pod_template_spec`] for their templates.

use super::defaults::volume_sources;
use super::security_context;
use crate::registry::resources::core::common::{
    array_at, dns_label, dns_subdomain, int_at, nonnegative, one_of, qualified_name, str_at,
};
use crate::registry::resources::core::quantity::Quantity;
use apimachinery::field_errors::{FieldError, FieldErrors, child, index, key};
use apimachinery::validation::{
    inclusive_range_error, is_label_value, is_valid_port_name, is_valid_port_num,
    validate_annotations, validate_labels,
};
use serde_json::Value;
use std::collections::HashSet;

pub const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
pub const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
pub const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
pub const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
const PROBES: &[&str] = &["livenessProbe", "readinessProbe", "startupProbe"];

/// Validates a pod template (`metadata` labels and annotations, then the spec) at `path`,
/// e.g. `spec.template`.
pub fn validate_pod_template_spec(template: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    // Upstream reports template labels at `<path>.labels`, not `<path>.metadata.labels`.
    if let Some(l) = template.pointer("/metadata/labels") {
        errs.extend(validate_labels(l, &child(path, "labels")));
    }
    if let Some(a) = template.pointer("/metadata/annotations") {
        errs.extend(validate_annotations(a, &child(path, "annotations")));
    }
    let spec = template.get("spec").unwrap_or(&Value::Null);
    let spec_path = child(path, "spec");
    errs.extend(validate_pod_spec(spec, &spec_path));
    if !array_at(spec, "/ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            child(&spec_path, "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// Validates a `PodSpec` at `path` (`spec` for Pods, `spec.template.spec` for templates).
pub fn validate_pod_spec(spec: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let volumes = validate_volumes(
        array_at(spec, "/volumes"),
        &child(path, "volumes"),
        &mut errs,
    );
    let containers = array_at(spec, "/containers");
    let init = array_at(spec, "/initContainers");
    let host_users = security_context::host_users(spec);
    let mut names = HashSet::new();
    let cpath = child(path, "containers");
    if containers.is_empty() {
        errs.push(FieldError::required(&cpath, ""));
    }
    for (i, c) in containers.iter().enumerate() {
        let p = index(&cpath, i);
        errs.extend(validate_container(c, &volumes, &p, host_users));
        let name = str_at(c, "/name");
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
        if c.get("restartPolicy").is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(
                child(&p, "restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
        for probe in ["livenessProbe", "startupProbe"] {
            if let Some(st) = int_at(c, &format!("/{probe}/successThreshold"))
                && st != 1
            {
                errs.push(FieldError::invalid(
                    format!("{p}.{probe}.successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        }
    }
    let ipath = child(path, "initContainers");
    for (i, c) in init.iter().enumerate() {
        let p = index(&ipath, i);
        errs.extend(validate_container(c, &volumes, &p, host_users));
        let name = str_at(c, "/name");
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
        let restartable = match c.get("restartPolicy").and_then(Value::as_str) {
            None => false,
            Some("Always") => true,
            Some(other) => {
                errs.push(FieldError::not_supported(
                    child(&p, "restartPolicy"),
                    other,
                    &["Always"],
                ));
                false
            }
        };
        if !restartable {
            for f in std::iter::once("lifecycle").chain(PROBES.iter().copied()) {
                if c.get(f).is_some_and(|v| !v.is_null()) {
                    errs.push(FieldError::forbidden(
                        child(&p, f),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    let epath = child(path, "ephemeralContainers");
    for (i, c) in array_at(spec, "/ephemeralContainers").iter().enumerate() {
        let p = index(&epath, i);
        errs.extend(validate_container(c, &volumes, &p, host_users));
        let name = str_at(c, "/name");
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
    }
    errs.extend(host_port_conflicts(containers, &cpath));
    errs.extend(one_of(
        spec.get("restartPolicy").and_then(Value::as_str),
        &child(path, "restartPolicy"),
        RESTART_POLICIES,
        true,
    ));
    let dns = spec.get("dnsPolicy").and_then(Value::as_str);
    errs.extend(one_of(dns, &child(path, "dnsPolicy"), DNS_POLICIES, true));
    if dns == Some("None") && spec.get("dnsConfig").is_none_or(Value::is_null) {
        errs.push(FieldError::required(
            child(path, "dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    if let Some(ns) = spec.get("nodeSelector") {
        errs.extend(validate_labels(ns, &child(path, "nodeSelector")));
    }
    errs.extend(security_context::validate_pod_security_context(
        spec,
        &child(path, "securityContext"),
    ));
    for (i, s) in array_at(spec, "/imagePullSecrets").iter().enumerate() {
        if str_at(s, "/name").is_empty() {
            errs.push(FieldError::required(
                child(&index(&child(path, "imagePullSecrets"), i), "name"),
                "",
            ));
        }
    }
    for (i, g) in array_at(spec, "/readinessGates").iter().enumerate() {
        let ct = str_at(g, "/conditionType");
        errs.extend(qualified_name(
            ct,
            &child(&index(&child(path, "readinessGates"), i), "conditionType"),
        ));
    }
    let sa = str_at(spec, "/serviceAccountName");
    if !sa.is_empty() {
        errs.extend(dns_subdomain(sa, &child(path, "serviceAccountName")));
    }
    let node = str_at(spec, "/nodeName");
    if !node.is_empty() {
        errs.extend(dns_subdomain(node, &child(path, "nodeName")));
    }
    if let Some(ads) = int_at(spec, "/activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            child(path, "activeDeadlineSeconds"),
            ads,
            inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for f in ["hostname", "subdomain"] {
        let v = str_at(spec, &format!("/{f}"));
        if !v.is_empty() {
            errs.extend(dns_label(v, &child(path, f)));
        }
    }
    errs.extend(validate_tolerations(
        array_at(spec, "/tolerations"),
        &child(path, "tolerations"),
    ));
    let pc = str_at(spec, "/priorityClassName");
    if !pc.is_empty() {
        errs.extend(dns_subdomain(pc, &child(path, "priorityClassName")));
    }
    if let Some(pp) = spec.get("preemptionPolicy").and_then(Value::as_str) {
        errs.extend(one_of(
            Some(pp),
            &child(path, "preemptionPolicy"),
            &["Never", "PreemptLowerPriority"],
            false,
        ));
    }
    if let Some(os) = spec.pointer("/os/name").and_then(Value::as_str) {
        errs.extend(one_of(
            Some(os),
            &format!("{path}.os.name"),
            &["linux", "windows"],
            true,
        ));
    }
    errs
}

/// Validates one container at `path`; `volumes` are the pod's volume names, `host_users`
/// whether the pod runs in the host's user namespace.
fn validate_container(
    c: &Value,
    volumes: &HashSet<String>,
    path: &str,
    host_users: bool,
) -> FieldErrors {
    let mut errs = Vec::new();
    let name = str_at(c, "/name");
    if name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    } else {
        errs.extend(dns_label(name, &child(path, "name")));
    }
    if str_at(c, "/image").is_empty() {
        errs.push(FieldError::required(child(path, "image"), ""));
    }
    errs.extend(one_of(
        c.get("terminationMessagePolicy").and_then(Value::as_str),
        &child(path, "terminationMessagePolicy"),
        TERMINATION_MESSAGE_POLICIES,
        true,
    ));
    errs.extend(validate_container_ports(
        array_at(c, "/ports"),
        &child(path, "ports"),
    ));
    errs.extend(validate_env(array_at(c, "/env"), &child(path, "env")));
    errs.extend(validate_volume_mounts(
        array_at(c, "/volumeMounts"),
        volumes,
        &child(path, "volumeMounts"),
    ));
    errs.extend(one_of(
        c.get("imagePullPolicy").and_then(Value::as_str),
        &child(path, "imagePullPolicy"),
        PULL_POLICIES,
        true,
    ));
    errs.extend(validate_resource_requirements(
        c.get("resources"),
        &child(path, "resources"),
    ));
    for probe in PROBES {
        if let Some(p) = c.get(*probe).filter(|p| !p.is_null()) {
            errs.extend(validate_probe(p, &child(path, probe)));
        }
    }
    errs.extend(security_context::validate_container_security_context(
        c.get("securityContext"),
        &child(path, "securityContext"),
        host_users,
    ));
    if let Some(lc) = c.get("lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get(hook).filter(|h| !h.is_null()) {
                errs.extend(validate_handler(
                    h,
                    &format!("{path}.lifecycle.{hook}"),
                    true,
                ));
            }
        }
    }
    errs
}

fn validate_container_ports(ports: &[Value], path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = index(path, i);
        let name = str_at(p, "/name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(child(&ip, "name"), name, m));
                }
            } else if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(child(&ip, "name"), name));
            }
        }
        match int_at(p, "/containerPort").unwrap_or(0) {
            0 => errs.push(FieldError::required(child(&ip, "containerPort"), "")),
            n => {
                for m in is_valid_port_num(n) {
                    errs.push(FieldError::invalid(child(&ip, "containerPort"), n, m));
                }
            }
        }
        let hp = int_at(p, "/hostPort").unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(FieldError::invalid(child(&ip, "hostPort"), hp, m));
            }
        }
        errs.extend(one_of(
            p.get("protocol").and_then(Value::as_str),
            &child(&ip, "protocol"),
            PROTOCOLS,
            true,
        ));
    }
    errs
}

/// Upstream's relaxed environment variable name check (on by default in 1.33).
fn env_name_errors(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if !name.bytes().all(|b| (32..=126).contains(&b) && b != b'=') {
        errs.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        );
    }
    match name {
        "." => errs.push("must not be '.'".to_string()),
        ".." => errs.push("must not be '..'".to_string()),
        n if n.starts_with("..") => errs.push("must not start with '..'".to_string()),
        _ => {}
    }
    errs
}

fn validate_env(env: &[Value], path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, e) in env.iter().enumerate() {
        let ip = index(path, i);
        let name = str_at(e, "/name");
        if name.is_empty() {
            errs.push(FieldError::required(child(&ip, "name"), ""));
        } else {
            for m in env_name_errors(name) {
                errs.push(FieldError::invalid(child(&ip, "name"), name, m));
            }
        }
        if let Some(vf) = e.get("valueFrom").and_then(Value::as_object) {
            let vpath = child(&ip, "valueFrom");
            let n = vf.values().filter(|v| !v.is_null()).count();
            if n == 0 {
                errs.push(FieldError::invalid(
                    &vpath,
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                ));
            } else if n > 1 {
                errs.push(FieldError::invalid(
                    &vpath,
                    "",
                    "may not have more than one field specified at a time",
                ));
            } else if !str_at(e, "/value").is_empty() {
                errs.push(FieldError::invalid(
                    &vpath,
                    "",
                    "may not be specified when `value` is not empty",
                ));
            }
            for (src, field) in [("configMapKeyRef", "key"), ("secretKeyRef", "key")] {
                if let Some(r) = vf.get(src).filter(|r| r.is_object()) {
                    if str_at(r, "/key").is_empty() {
                        errs.push(FieldError::required(format!("{vpath}.{src}.{field}"), ""));
                    }
                    if str_at(r, "/name").is_empty() {
                        errs.push(FieldError::required(format!("{vpath}.{src}.name"), ""));
                    }
                }
            }
            if let Some(r) = vf.get("fieldRef").filter(|r| r.is_object())
                && str_at(r, "/fieldPath").is_empty()
            {
                errs.push(FieldError::required(
                    format!("{vpath}.fieldRef.fieldPath"),
                    "",
                ));
            }
        }
    }
    errs
}

fn validate_volume_mounts(mounts: &[Value], volumes: &HashSet<String>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let mut points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let ip = index(path, i);
        let name = str_at(m, "/name");
        if name.is_empty() {
            errs.push(FieldError::required(child(&ip, "name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(FieldError::not_found(child(&ip, "name"), name));
        }
        let mp = str_at(m, "/mountPath");
        if mp.is_empty() {
            errs.push(FieldError::required(child(&ip, "mountPath"), ""));
        }
        if !points.insert(mp.to_string()) {
            errs.push(FieldError::invalid(
                child(&ip, "mountPath"),
                mp,
                "must be unique",
            ));
        }
        let sub = str_at(m, "/subPath");
        if !sub.is_empty() {
            errs.extend(local_descending_path(sub, &child(&ip, "subPath")));
        }
    }
    errs
}

/// Upstream's `validateLocalDescendingPath`.
pub(super) fn local_descending_path(p: &str, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    if p.split(['/', '\\']).any(|s| s == "..") {
        errs.push(FieldError::invalid(path, p, "must not contain '..'"));
    }
    errs
}

/// Whether a resource may be requested below its limit (native, non-hugepage resources).
fn overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    native && !name.starts_with("hugepages-")
}

fn container_resource_name_errors(name: &str, path: &str) -> FieldErrors {
    let mut errs = qualified_name(name, path);
    if !name.contains('/') {
        let standard = matches!(name, "cpu" | "memory" | "ephemeral-storage")
            || name.starts_with("hugepages-");
        if !standard {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !name.contains("kubernetes.io/") && name.starts_with("requests.") {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

fn quantity_value_errors(name: &str, q: &Quantity, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(
            path,
            q.canonical(),
            "must be greater than or equal to 0",
        ));
    }
    let integer_resource = name.contains('/') && !name.contains("kubernetes.io/");
    if integer_resource && q.nanos() % 1_000_000_000 != 0 {
        errs.push(FieldError::invalid(
            path,
            q.canonical(),
            "must be an integer",
        ));
    }
    errs
}

/// Upstream's `ValidateResourceRequirements` for a container's `resources`.
pub fn validate_resource_requirements(res: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(res) = res else {
        return errs;
    };
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let sorted = |v: Option<&Value>| {
        let mut items: Vec<(String, Value)> = v
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
    };
    let limits = sorted(res.get("limits"));
    for (name, v) in &limits {
        let p = key(&lim_path, name);
        errs.extend(container_resource_name_errors(name, &p));
        if let Ok(q) = Quantity::from_json(v) {
            errs.extend(quantity_value_errors(name, &q, &p));
        }
    }
    for (name, v) in sorted(res.get("requests")) {
        let p = key(&req_path, &name);
        errs.extend(container_resource_name_errors(&name, &p));
        let Ok(q) = Quantity::from_json(&v) else {
            continue;
        };
        errs.extend(quantity_value_errors(&name, &q, &p));
        match limits.iter().find(|(n, _)| *n == name) {
            Some((_, lv)) => {
                let Ok(l) = Quantity::from_json(lv) else {
                    continue;
                };
                if q != l && !overcommit_allowed(&name) {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.canonical(),
                        format!("must be equal to {name} limit of {}", l.canonical()),
                    ));
                } else if q > l {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.canonical(),
                        format!(
                            "must be less than or equal to {name} limit of {}",
                            l.canonical()
                        ),
                    ));
                }
            }
            None if !overcommit_allowed(&name) => errs.push(FieldError::required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
    }
    errs
}

/// Upstream's `ValidatePortNumOrName` for an `IntOrString` port.
fn port_num_or_name(port: Option<&Value>, path: &str) -> FieldErrors {
    match port {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            is_valid_port_num(n)
                .into_iter()
                .map(|m| FieldError::invalid(path, n, m))
                .collect()
        }
        Some(Value::String(s)) => is_valid_port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, s.as_str(), m))
            .collect(),
        _ => vec![FieldError::required(path, "")],
    }
}

/// Validates the action of a probe or lifecycle hook.
fn validate_handler(h: &Value, path: &str, lifecycle: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    let set: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| h.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    match set.len() {
        0 => errs.push(FieldError::required(path, "must specify a handler type")),
        1 => {}
        _ => errs.push(FieldError::forbidden(
            child(path, set[1]),
            "may not specify more than 1 handler type",
        )),
    }
    if let Some(g) = h.get("httpGet").filter(|g| g.is_object()) {
        let gp = child(path, "httpGet");
        if str_at(g, "/path").is_empty() {
            errs.push(FieldError::required(child(&gp, "path"), ""));
        }
        errs.extend(port_num_or_name(g.get("port"), &child(&gp, "port")));
        errs.extend(one_of(
            g.get("scheme").and_then(Value::as_str),
            &child(&gp, "scheme"),
            &["HTTP", "HTTPS"],
            false,
        ));
    }
    if let Some(t) = h.get("tcpSocket").filter(|t| t.is_object()) {
        errs.extend(port_num_or_name(
            t.get("port"),
            &format!("{path}.tcpSocket.port"),
        ));
    }
    if let Some(e) = h.get("exec").filter(|e| e.is_object())
        && array_at(e, "/command").is_empty()
    {
        errs.push(FieldError::required(format!("{path}.exec.command"), ""));
    }
    if let Some(g) = h.get("grpc").filter(|g| g.is_object()) {
        let port = int_at(g, "/port").unwrap_or(0);
        for m in is_valid_port_num(port) {
            errs.push(FieldError::invalid(format!("{path}.grpc.port"), port, m));
        }
    }
    errs
}

fn validate_probe(p: &Value, path: &str) -> FieldErrors {
    let mut errs = validate_handler(p, path, false);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        errs.extend(nonnegative(int_at(p, &format!("/{f}")), &child(path, f)));
    }
    if let Some(t) = int_at(p, "/terminationGracePeriodSeconds")
        && t <= 0
    {
        errs.push(FieldError::invalid(
            child(path, "terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    errs
}

/// Validates volumes and returns their names.
fn validate_volumes(volumes: &[Value], path: &str, errs: &mut FieldErrors) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let ip = index(path, i);
        errs.extend(validate_volume_source(v, &ip));
        let name = str_at(v, "/name");
        let np = child(&ip, "name");
        if name.is_empty() {
            errs.push(FieldError::required(&np, ""));
        } else {
            errs.extend(dns_label(name, &np));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(&np, name));
        }
    }
    names
}

/// The octal permission range upstream allows for file modes.
fn file_mode(mode: Option<i64>, path: &str) -> FieldErrors {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(
            path,
            m,
            "must be a number between 0 and 0777 (octal), both inclusive",
        )],
        _ => Vec::new(),
    }
}

fn validate_volume_source(v: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let sources = volume_sources(v);
    match sources.len() {
        0 => errs.push(FieldError::required(path, "must specify a volume type")),
        1 => {}
        _ => errs.push(FieldError::forbidden(
            child(path, sources[1]),
            "may not specify more than 1 volume type",
        )),
    }
    let required = |errs: &mut FieldErrors, src: &str, field: &str| {
        if let Some(s) = v.get(src).filter(|s| s.is_object())
            && str_at(s, &format!("/{field}")).is_empty()
        {
            errs.push(FieldError::required(format!("{path}.{src}.{field}"), ""));
        }
    };
    required(&mut errs, "hostPath", "path");
    required(&mut errs, "secret", "secretName");
    required(&mut errs, "persistentVolumeClaim", "claimName");
    required(&mut errs, "nfs", "server");
    required(&mut errs, "nfs", "path");
    required(&mut errs, "csi", "driver");
    if let Some(h) = v.get("hostPath").filter(|h| h.is_object()) {
        errs.extend(one_of(
            h.get("type").and_then(Value::as_str),
            &format!("{path}.hostPath.type"),
            &[
                "",
                "DirectoryOrCreate",
                "Directory",
                "FileOrCreate",
                "File",
                "Socket",
                "CharDevice",
                "BlockDevice",
            ],
            false,
        ));
    }
    if let Some(n) = v.get("nfs").filter(|n| n.is_object()) {
        let p = str_at(n, "/path");
        if !p.is_empty() && !p.starts_with('/') {
            errs.push(FieldError::invalid(
                format!("{path}.nfs.path"),
                p,
                "must be an absolute path",
            ));
        }
    }
    for src in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = v.get(src).filter(|s| s.is_object()) {
            errs.extend(file_mode(
                int_at(s, "/defaultMode"),
                &format!("{path}.{src}.defaultMode"),
            ));
            for (i, item) in array_at(s, "/items").iter().enumerate() {
                let ip = format!("{path}.{src}.items[{i}]");
                if src != "downwardAPI" && str_at(item, "/key").is_empty() {
                    errs.push(FieldError::required(child(&ip, "key"), ""));
                }
                let p = str_at(item, "/path");
                if p.is_empty() {
                    errs.push(FieldError::required(child(&ip, "path"), ""));
                } else {
                    errs.extend(local_descending_path(p, &child(&ip, "path")));
                }
                errs.extend(file_mode(int_at(item, "/mode"), &child(&ip, "mode")));
            }
        }
    }
    if let Some(e) = v.get("emptyDir").filter(|e| e.is_object()) {
        errs.extend(one_of(
            e.get("medium").and_then(Value::as_str),
            &format!("{path}.emptyDir.medium"),
            &["", "Memory", "HugePages"],
            false,
        ));
        if let Some(Ok(q)) = e.get("sizeLimit").map(Quantity::from_json)
            && q.is_negative()
        {
            errs.push(FieldError::invalid(
                format!("{path}.emptyDir.sizeLimit"),
                q.canonical(),
                "must be greater than or equal to 0",
            ));
        }
    }
    errs
}

fn validate_tolerations(tolerations: &[Value], path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let ip = index(path, i);
        let key_ = str_at(t, "/key");
        let op = str_at(t, "/operator");
        let effect = str_at(t, "/effect");
        let value = str_at(t, "/value");
        if !key_.is_empty() {
            errs.extend(qualified_name(key_, &child(&ip, "key")));
        }
        if key_.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                child(&ip, "operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.get("tolerationSeconds").is_some_and(|v| !v.is_null()) && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                child(&ip, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "" | "Equal" => {
                let msgs = is_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&ip, "operator"),
                        value,
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&ip, "operator"),
                        t.to_string(),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                child(&ip, "operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() {
            errs.extend(one_of(
                Some(effect),
                &child(&ip, "effect"),
                TAINT_EFFECTS,
                false,
            ));
        }
    }
    errs
}

/// Two containers may not claim the same host IP, protocol and port.
fn host_port_conflicts(containers: &[Value], path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, p) in array_at(c, "/ports").iter().enumerate() {
            let hp = int_at(p, "/hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let id = format!("{}/{}/{hp}", str_at(p, "/hostIP"), str_at(p, "/protocol"));
            if !seen.insert(id.clone()) {
                errs.push(FieldError::duplicate(
                    format!("{path}[{ci}].ports[{pi}].hostPort"),
                    id,
                ));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::resources::core::pods::defaults::default_pod;
    use serde_json::json;

    fn errors(spec: Value) -> Vec<String> {
        let mut pod = json!({"spec": spec});
        default_pod(&mut pod);
        validate_pod_spec(&pod["spec"], "spec")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_pod_has_no_errors() {
        assert!(errors(json!({"containers": [{"name": "c", "image": "busybox"}]})).is_empty());
    }

    #[test]
    fn container_rules() {
        assert_eq!(
            errors(json!({"containers": []})),
            vec!["spec.containers: Required value"]
        );
        let e = errors(json!({"containers": [
            {"name": "Bad_Name", "image": ""},
            {"name": "b", "image": "i", "ports": [{"containerPort": 70000, "protocol": "XTP"}]},
            {"name": "b", "image": "i", "imagePullPolicy": "Sometimes"},
        ]}));
        assert!(
            e.contains(&"spec.containers[0].image: Required value".to_string()),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with(
                "spec.containers[0].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"
            )),
            "{e:?}"
        );
        assert!(e.contains(&"spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".to_string()), "{e:?}");
        assert!(e.contains(&"spec.containers[1].ports[0].protocol: Unsupported value: \"XTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".to_string()), "{e:?}");
        assert!(
            e.contains(&"spec.containers[2].name: Duplicate value: \"b\"".to_string()),
            "{e:?}"
        );
        assert!(e.contains(&"spec.containers[2].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"".to_string()), "{e:?}");
    }

    #[test]
    fn resources_and_mounts() {
        let e = errors(json!({"containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": "2", "foo": "1"}, "limits": {"cpu": "1"}},
            "volumeMounts": [{"name": "missing", "mountPath": "/x"}]}]}));
        assert!(e.contains(&"spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1".to_string()), "{e:?}");
        assert!(e.contains(&"spec.containers[0].resources.requests[foo]: Invalid value: \"foo\": must be a standard resource for containers".to_string()), "{e:?}");
        assert!(
            e.contains(
                &"spec.containers[0].volumeMounts[0].name: Not found: \"missing\"".to_string()
            ),
            "{e:?}"
        );
    }

    #[test]
    fn policies() {
        let e = errors(json!({"restartPolicy": "Sometimes", "dnsPolicy": "Weird",
            "containers": [{"name": "c", "image": "i"}], "activeDeadlineSeconds": 0}));
        assert!(e.contains(&"spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".to_string()), "{e:?}");
        assert!(e.contains(&"spec.dnsPolicy: Unsupported value: \"Weird\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"".to_string()), "{e:?}");
        assert!(e.contains(&"spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive".to_string()), "{e:?}");
    }

    #[test]
    fn volumes_and_probes() {
        let e = errors(json!({"containers": [{"name": "c", "image": "i",
            "livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}},
            "readinessProbe": {}}],
            "volumes": [{"name": "a", "hostPath": {"path": "/x"}, "emptyDir": {}}, {"name": "a"}]}));
        assert!(
            e.contains(
                &"spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type"
                    .to_string()
            ),
            "{e:?}"
        );
        assert!(
            e.contains(&"spec.volumes[1].name: Duplicate value: \"a\"".to_string()),
            "{e:?}"
        );
        assert!(
            e.contains(
                &"spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"
                    .to_string()
            ),
            "{e:?}"
        );
        assert!(
            e.contains(
                &"spec.containers[0].readinessProbe: Required value: must specify a handler type"
                    .to_string()
            ),
            "{e:?}"
        );
    }

    #[test]
    fn tolerations() {
        let e = errors(json!({"containers": [{"name": "c", "image": "i"}],
            "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Maybe"}]}));
        assert!(
            e.iter().any(|m| m.starts_with(
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists"
            )),
            "{e:?}"
        );
        assert!(e.contains(&"spec.tolerations[1].operator: Unsupported value: \"Maybe\": supported values: \"Equal\", \"Exists\"".to_string()), "{e:?}");
    }
}
