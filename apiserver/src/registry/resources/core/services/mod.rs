//! Services. Defaulting and validation follow upstream; ClusterIPs and NodePorts are allocated
//! by the [`allocator`] write hooks the apiserver installs on the store (after this strategy
//! validated the request, as in upstream's `BeginCreate`). Updates carry allocated values over
//! (`patchAllocatedValues`) and drop what the new type no longer uses.

pub mod allocator;

use super::common::{
    array_at, dns_label, dns_subdomain, format_labels, go_string_slice, int_at, invalid_raw,
    one_of, qualified_name, str_at, strings_at,
};
use super::docs;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{FieldError, FieldErrors, child, index};
use apimachinery::validation::{
    NameValidator, is_valid_port_name, is_valid_port_num, name_is_dns1035_label, validate_labels,
};
use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};
use std::collections::HashSet;

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status("", "v1", "Service")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "services", "Service", "service", true)
            .short_names(&["svc"])
            .categories(&["all"])
            .subresources(SUBRESOURCES)
            .storage_path("services/specs"),
        Services,
    )
}

pub struct Services;

pub const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
/// Session affinity timeout when `ClientIP` affinity does not say (3 hours).
pub const DEFAULT_CLIENT_IP_TIMEOUT: i64 = 10800;
const MAX_CLIENT_IP_TIMEOUT: i64 = 86400;
const VALID_IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Type", "string", docs::SERVICE_TYPE),
    Column::new("Cluster-IP", "string", docs::SERVICE_CLUSTER_IP),
    Column::new("External-IP", "string", docs::SERVICE_EXTERNAL_IPS),
    Column::new("Port(s)", "string", docs::SERVICE_PORTS),
    AGE,
    Column::new("Selector", "string", docs::SERVICE_SELECTOR).wide(),
];

fn svc_type(obj: &Value) -> &str {
    match str_at(obj, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    }
}

/// Whether traffic from outside the cluster reaches the service (upstream's
/// `ExternallyAccessible`).
pub fn externally_accessible(obj: &Value) -> bool {
    match svc_type(obj) {
        "LoadBalancer" | "NodePort" => true,
        "ClusterIP" => !array_at(obj, "/spec/externalIPs").is_empty(),
        _ => false,
    }
}

/// Whether the service gets ClusterIPs at all.
pub fn needs_cluster_ip(obj: &Value) -> bool {
    svc_type(obj) != "ExternalName"
}

/// Whether the service's ports get NodePorts.
pub fn needs_node_ports(obj: &Value) -> bool {
    matches!(svc_type(obj), "NodePort" | "LoadBalancer")
}

/// Whether the service gets a health-check NodePort (LoadBalancer with Local traffic policy).
pub fn needs_health_check(obj: &Value) -> bool {
    svc_type(obj) == "LoadBalancer" && str_at(obj, "/spec/externalTrafficPolicy") == "Local"
}

pub fn is_headless(obj: &Value) -> bool {
    str_at(obj, "/spec/clusterIP") == "None"
}

/// Upstream's `SetDefaults_Service`, plus keeping `clusterIP` and `clusterIPs[0]` in step.
pub fn default_service(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if str_at(spec, "/sessionAffinity").is_empty() {
        spec["sessionAffinity"] = json!("None");
    }
    match str_at(spec, "/sessionAffinity") {
        "None" => {
            if let Some(m) = spec.as_object_mut() {
                m.remove("sessionAffinityConfig");
            }
        }
        "ClientIP"
            if spec
                .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
                .is_none_or(Value::is_null) =>
        {
            spec["sessionAffinityConfig"] =
                json!({"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_TIMEOUT}});
        }
        _ => {}
    }
    if str_at(spec, "/type").is_empty() {
        spec["type"] = json!("ClusterIP");
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            if str_at(p, "/protocol").is_empty() {
                p["protocol"] = json!("TCP");
            }
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if unset && let Some(port) = p.get("port").cloned() {
                p["targetPort"] = port;
            }
        }
    }
    let cluster_ip = str_at(spec, "/clusterIP").to_string();
    let ips = strings_at(spec, "/clusterIPs");
    if ips.is_empty() && !cluster_ip.is_empty() {
        spec["clusterIPs"] = json!([cluster_ip]);
    } else if cluster_ip.is_empty()
        && let Some(first) = ips.first()
    {
        spec["clusterIP"] = json!(first);
    }
    let wrapped = json!({"spec": spec.clone()});
    if externally_accessible(&wrapped) && str_at(spec, "/externalTrafficPolicy").is_empty() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    if spec.get("internalTrafficPolicy").is_none_or(Value::is_null)
        && matches!(
            svc_type(&wrapped),
            "ClusterIP" | "NodePort" | "LoadBalancer"
        )
    {
        spec["internalTrafficPolicy"] = json!("Cluster");
    }
    if svc_type(&wrapped) == "LoadBalancer" && spec.get("allocateLoadBalancerNodePorts").is_none() {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
}

/// `core.ServicePort{...}` as upstream's duplicate-port error prints the key it compares.
fn go_service_port_key(port: i64, protocol: &str) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:\"{protocol}\", AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}"
    )
}

/// Upstream's `ValidateService` rules that users meet.
pub fn validate_service(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let ty = str_at(spec, "/type");
    errs.extend(one_of(Some(ty), "spec.type", TYPES, true));
    let ports = array_at(spec, "/ports");
    if ports.is_empty() && !is_headless(obj) && ty != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        if !str_at(spec, "/clusterIP").is_empty() {
            errs.push(FieldError::forbidden(
                "spec.clusterIP",
                "may not be set for ExternalName services",
            ));
        }
        if !array_at(spec, "/clusterIPs").is_empty() {
            errs.push(FieldError::forbidden(
                "spec.clusterIPs",
                "may not be set for ExternalName services",
            ));
        }
        if !array_at(spec, "/ipFamilies").is_empty() {
            errs.push(FieldError::forbidden(
                "spec.ipFamilies",
                "may not be set for ExternalName services",
            ));
        }
        if spec.get("ipFamilyPolicy").is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(
                "spec.ipFamilyPolicy",
                "may not be set for ExternalName services",
            ));
        }
        let name = str_at(spec, "/externalName");
        if name.is_empty() {
            errs.push(FieldError::required("spec.externalName", ""));
        } else {
            errs.extend(dns_subdomain(
                name.strip_suffix('.').unwrap_or(name),
                "spec.externalName",
            ));
        }
    }
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    let mut node_ports: Vec<(i64, i64, String)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = index("spec.ports", i);
        let name = str_at(p, "/name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(child(&pp, "name"), ""));
        } else if !name.is_empty() {
            errs.extend(dns_label(name, &child(&pp, "name")));
            if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(child(&pp, "name"), name));
            }
        }
        let port = int_at(p, "/port").unwrap_or(0);
        for m in is_valid_port_num(port) {
            errs.push(FieldError::invalid(child(&pp, "port"), port, m));
        }
        let protocol = str_at(p, "/protocol");
        errs.extend(one_of(
            Some(protocol),
            &child(&pp, "protocol"),
            &["SCTP", "TCP", "UDP"],
            true,
        ));
        match p.get("targetPort") {
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(0);
                for m in is_valid_port_num(n) {
                    errs.push(FieldError::invalid(child(&pp, "targetPort"), n, m));
                }
            }
            Some(Value::String(s)) => {
                for m in is_valid_port_name(s) {
                    errs.push(FieldError::invalid(child(&pp, "targetPort"), s.as_str(), m));
                }
            }
            _ => {}
        }
        let app = str_at(p, "/appProtocol");
        if !app.is_empty() {
            errs.extend(qualified_name(app, &child(&pp, "appProtocol")));
        }
        if !keys.insert((port, protocol.to_string())) {
            errs.push(FieldError::duplicate(
                pp.clone(),
                go_service_port_key(port, protocol),
            ));
        }
        let np = int_at(p, "/nodePort").unwrap_or(0);
        if np != 0 {
            if ty == "ClusterIP" {
                errs.push(FieldError::forbidden(
                    child(&pp, "nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
            for m in is_valid_port_num(np) {
                errs.push(FieldError::invalid(child(&pp, "nodePort"), np, m));
            }
            // The same NodePort may serve the same port number over different protocols.
            if node_ports
                .iter()
                .any(|(n, svc_port, proto)| *n == np && (*svc_port != port || proto == protocol))
            {
                errs.push(FieldError::duplicate(child(&pp, "nodePort"), np));
            }
            node_ports.push((np, port, protocol.to_string()));
        }
    }
    let affinity = str_at(spec, "/sessionAffinity");
    errs.extend(one_of(
        Some(affinity),
        "spec.sessionAffinity",
        &["ClientIP", "None"],
        true,
    ));
    if affinity == "ClientIP" {
        let t = int_at(spec, "/sessionAffinityConfig/clientIP/timeoutSeconds").unwrap_or(0);
        if !(1..=MAX_CLIENT_IP_TIMEOUT).contains(&t) {
            errs.push(FieldError::invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                t,
                "must be greater than 0 and less than 86400",
            ));
        }
    } else if spec
        .get("sessionAffinityConfig")
        .is_some_and(|v| !v.is_null())
    {
        errs.push(FieldError::forbidden(
            "spec.sessionAffinityConfig",
            format!("must not be set when session affinity is {affinity}"),
        ));
    }
    if let Some(sel) = spec.get("selector") {
        errs.extend(validate_labels(sel, "spec.selector"));
    }
    for (i, ip) in strings_at(spec, "/externalIPs").iter().enumerate() {
        if ip.parse::<std::net::IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                index("spec.externalIPs", i),
                ip.as_str(),
                VALID_IP_MSG,
            ));
        }
    }
    if ty != "ExternalName" {
        let ips = strings_at(spec, "/clusterIPs");
        for (i, ip) in ips.iter().enumerate() {
            if ip == "None" && i == 0 {
                if ips.len() > 1 {
                    errs.push(invalid_raw(
                        "spec.clusterIPs",
                        &go_string_slice(&ips),
                        "'None' must be the first and only value",
                    ));
                }
            } else if ip.parse::<std::net::IpAddr>().is_err() {
                errs.push(FieldError::invalid(
                    index("spec.clusterIPs", i),
                    ip.as_str(),
                    VALID_IP_MSG,
                ));
            }
        }
        let cluster_ip = str_at(spec, "/clusterIP");
        if !cluster_ip.is_empty() {
            match ips.first() {
                None => errs.push(FieldError::required("spec.clusterIPs", "")),
                Some(first) if first != cluster_ip => errs.push(invalid_raw(
                    "spec.clusterIPs",
                    &go_string_slice(&ips),
                    "first value must match `clusterIP`",
                )),
                _ => {}
            }
        } else if !ips.is_empty() {
            errs.push(invalid_raw(
                "spec.clusterIPs",
                &go_string_slice(&ips),
                "must be empty when `clusterIP` is not specified",
            ));
        }
        if ips.len() > 2 {
            errs.push(invalid_raw(
                "spec.clusterIPs",
                &go_string_slice(&ips),
                "may only hold up to 2 values",
            ));
        }
        if ty != "ClusterIP" && is_headless(obj) {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                "None",
                format!("may not be set to 'None' for {ty} services"),
            ));
        }
        if let Some(p) = spec.get("ipFamilyPolicy").and_then(Value::as_str) {
            errs.extend(one_of(
                Some(p),
                "spec.ipFamilyPolicy",
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
                true,
            ));
        }
        let mut fams = HashSet::new();
        for (i, f) in strings_at(spec, "/ipFamilies").iter().enumerate() {
            let fp = index("spec.ipFamilies", i);
            errs.extend(one_of(Some(f), &fp, &["IPv4", "IPv6"], true));
            if !fams.insert(f.clone()) {
                errs.push(FieldError::duplicate(fp, f.as_str()));
            }
        }
    }
    let etp = str_at(spec, "/externalTrafficPolicy");
    if !etp.is_empty() {
        if !externally_accessible(obj) {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            ));
        } else {
            errs.extend(one_of(
                Some(etp),
                "spec.externalTrafficPolicy",
                &["Cluster", "Local"],
                true,
            ));
        }
    } else if externally_accessible(obj) {
        errs.push(FieldError::required("spec.externalTrafficPolicy", ""));
    }
    match spec.get("internalTrafficPolicy").and_then(Value::as_str) {
        Some(p) => errs.extend(one_of(
            Some(p),
            "spec.internalTrafficPolicy",
            &["Cluster", "Local"],
            true,
        )),
        None if ty != "ExternalName" && TYPES.contains(&ty) => {
            errs.push(FieldError::required("spec.internalTrafficPolicy", ""));
        }
        None => {}
    }
    if int_at(spec, "/healthCheckNodePort").unwrap_or(0) != 0 && !needs_health_check(obj) {
        errs.push(FieldError::invalid(
            "spec.healthCheckNodePort",
            int_at(spec, "/healthCheckNodePort").unwrap_or(0),
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    errs
}

/// Upstream's `patchAllocatedValues`: an update that leaves allocated fields out keeps them.
fn patch_allocated_values(new: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(new) {
        let spec = &mut new["spec"];
        if str_at(spec, "/clusterIP").is_empty()
            && let Some(ip) = old.pointer("/spec/clusterIP").cloned()
        {
            spec["clusterIP"] = ip;
        }
        if array_at(spec, "/clusterIPs").is_empty()
            && str_at(spec, "/clusterIP") == str_at(old, "/spec/clusterIP")
            && let Some(ips) = old.pointer("/spec/clusterIPs").cloned()
        {
            spec["clusterIPs"] = ips;
        }
        for f in ["ipFamilies", "ipFamilyPolicy"] {
            if spec
                .get(f)
                .is_none_or(|v| v.is_null() || v.as_array().is_some_and(Vec::is_empty))
                && let Some(v) = old.pointer(&format!("/spec/{f}")).cloned()
            {
                spec[f] = v;
            }
        }
    }
    if needs_node_ports(old) && needs_node_ports(new) {
        let used_old: HashSet<i64> = array_at(old, "/spec/ports")
            .iter()
            .filter_map(|p| int_at(p, "/nodePort"))
            .collect();
        let used_new: HashSet<i64> = array_at(new, "/spec/ports")
            .iter()
            .filter_map(|p| int_at(p, "/nodePort"))
            .collect();
        let used: HashSet<i64> = used_old.intersection(&used_new).copied().collect();
        let by_name: Vec<(String, i64)> = array_at(old, "/spec/ports")
            .iter()
            .map(|p| {
                (
                    str_at(p, "/name").to_string(),
                    int_at(p, "/nodePort").unwrap_or(0),
                )
            })
            .collect();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports {
                if int_at(p, "/nodePort").unwrap_or(0) == 0
                    && let Some((_, np)) = by_name.iter().find(|(n, _)| n == str_at(p, "/name"))
                    && *np != 0
                    && !used.contains(np)
                {
                    p["nodePort"] = json!(np);
                }
            }
        }
    }
    if needs_health_check(old)
        && needs_health_check(new)
        && int_at(new, "/spec/healthCheckNodePort").unwrap_or(0) == 0
        && let Some(h) = old.pointer("/spec/healthCheckNodePort").cloned()
    {
        new["spec"]["healthCheckNodePort"] = h;
    }
}

/// Upstream's `dropTypeDependentFields`: fields the new type does not use go, unless the
/// user changed them in this very update.
fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let same = |new: &Value, f: &str| new.pointer(f) == old.pointer(f);
    let remove = |new: &mut Value, f: &str| {
        if let Some(m) = new.get_mut("spec").and_then(Value::as_object_mut) {
            m.remove(f);
        }
    };
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        if same(new, "/spec/clusterIP") && same(new, "/spec/clusterIPs") {
            remove(new, "clusterIP");
            remove(new, "clusterIPs");
        }
        if same(new, "/spec/ipFamilies") {
            remove(new, "ipFamilies");
        }
        if same(new, "/spec/ipFamilyPolicy") {
            remove(new, "ipFamilyPolicy");
        }
    }
    if needs_node_ports(old) && !needs_node_ports(new) {
        let old_ports = array_at(old, "/spec/ports").to_vec();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for (i, p) in ports.iter_mut().enumerate() {
                let unchanged =
                    old_ports.get(i).and_then(|o| o.get("nodePort")) == p.get("nodePort");
                if unchanged && let Some(m) = p.as_object_mut() {
                    m.remove("nodePort");
                }
            }
        }
    }
    if needs_health_check(old) && !needs_health_check(new) && same(new, "/spec/healthCheckNodePort")
    {
        remove(new, "healthCheckNodePort");
    }
    if svc_type(new) != "LoadBalancer" {
        if same(new, "/spec/allocateLoadBalancerNodePorts") {
            remove(new, "allocateLoadBalancerNodePorts");
        }
        if same(new, "/spec/loadBalancerClass") {
            remove(new, "loadBalancerClass");
        }
    }
    if !externally_accessible(new) && same(new, "/spec/externalTrafficPolicy") {
        remove(new, "externalTrafficPolicy");
    }
    if svc_type(new) == "ExternalName" && same(new, "/spec/internalTrafficPolicy") {
        remove(new, "internalTrafficPolicy");
    }
}

fn external_ip_cell(obj: &Value) -> String {
    let external = strings_at(obj, "/spec/externalIPs");
    match svc_type(obj) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb: Vec<String> = array_at(obj, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| {
                    let ip = str_at(i, "/ip");
                    let host = str_at(i, "/hostname");
                    if !ip.is_empty() {
                        Some(ip.to_string())
                    } else if !host.is_empty() {
                        Some(host.to_string())
                    } else {
                        None
                    }
                })
                .collect();
            lb.sort();
            lb.dedup();
            // Server-side tables are generated wide, so the list is not clipped.
            let mut all = lb;
            all.extend(external);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_at(obj, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn ports_cell(obj: &Value) -> String {
    let parts: Vec<String> = array_at(obj, "/spec/ports")
        .iter()
        .map(|p| {
            let port = int_at(p, "/port").unwrap_or(0);
            let proto = str_at(p, "/protocol");
            match int_at(p, "/nodePort").unwrap_or(0) {
                0 => format!("{port}/{proto}"),
                np => format!("{port}:{np}/{proto}"),
            }
        })
        .collect();
    if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.join(",")
    }
}

impl Strategy for Services {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Service>(body)
    }

    fn name_validator(&self) -> NameValidator {
        name_is_dns1035_label
    }

    fn default(&self, obj: &mut Value) {
        default_service(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        patch_allocated_values(new, old);
        drop_type_dependent_fields(new, old);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_service(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = validate_service(new);
        if needs_cluster_ip(old) && needs_cluster_ip(new) {
            let (n, o) = (
                strings_at(new, "/spec/clusterIPs"),
                strings_at(old, "/spec/clusterIPs"),
            );
            if let (Some(n0), Some(o0)) = (n.first(), o.first())
                && n0 != o0
            {
                errs.push(invalid_raw(
                    "spec.clusterIPs[0]",
                    &go_string_slice(&n),
                    "may not change once set",
                ));
            }
            let (nf, of) = (
                strings_at(new, "/spec/ipFamilies"),
                strings_at(old, "/spec/ipFamilies"),
            );
            if let (Some(n0), Some(o0)) = (nf.first(), of.first())
                && n0 != o0
            {
                errs.push(invalid_raw(
                    "spec.ipFamilies[0]",
                    &go_string_slice(&nf).replacen("[]string", "[]core.IPFamily", 1),
                    "may not change once set",
                ));
            }
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        for (i, ing) in array_at(new, "/status/loadBalancer/ingress")
            .iter()
            .enumerate()
        {
            let ip = str_at(ing, "/ip");
            if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
                errs.push(FieldError::invalid(
                    format!("status.loadBalancer.ingress[{i}].ip"),
                    ip,
                    VALID_IP_MSG,
                ));
            }
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let cluster_ip = strings_at(obj, "/spec/clusterIPs")
            .first()
            .cloned()
            .unwrap_or_else(|| "<none>".to_string());
        vec![
            table::name(obj),
            json!(svc_type(obj)),
            json!(cluster_ip),
            json!(external_ip_cell(obj)),
            json!(ports_cell(obj)),
            table::age(obj),
            json!(format_labels(obj.pointer("/spec/selector"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(spec: Value) -> Value {
        let mut s = json!({"metadata": {"name": "s", "namespace": "default"}, "spec": spec});
        default_service(&mut s);
        s
    }

    fn errors(spec: Value) -> Vec<String> {
        validate_service(&svc(spec))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn defaults() {
        let s = svc(json!({"ports": [{"port": 80}], "type": "NodePort"}));
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(s["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
        let c = svc(
            json!({"ports": [{"port": 80, "targetPort": "http"}], "sessionAffinity": "ClientIP"}),
        );
        assert_eq!(c["spec"]["type"], "ClusterIP");
        assert_eq!(c["spec"]["ports"][0]["targetPort"], "http");
        assert!(c["spec"].get("externalTrafficPolicy").is_none());
        assert_eq!(
            c["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            10800
        );
        let lb = svc(json!({"type": "LoadBalancer", "ports": [{"port": 80}]}));
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        let e = svc(json!({"type": "ExternalName", "externalName": "example.com"}));
        assert!(e["spec"].get("internalTrafficPolicy").is_none());
        let ip = svc(json!({"clusterIP": "10.0.0.5", "ports": [{"port": 1}]}));
        assert_eq!(ip["spec"]["clusterIPs"], json!(["10.0.0.5"]));
    }

    #[test]
    fn validation_messages() {
        assert!(errors(json!({"ports": [{"port": 80}]})).is_empty());
        assert_eq!(errors(json!({})), vec!["spec.ports: Required value"]);
        assert!(errors(json!({"clusterIP": "None"})).is_empty());
        let e = errors(json!({"type": "Fancy", "ports": [{"port": 0}]}));
        assert!(e.contains(&"spec.type: Unsupported value: \"Fancy\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".to_string()), "{e:?}");
        assert!(
            e.contains(
                &"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
                    .to_string()
            ),
            "{e:?}"
        );
        let e = errors(json!({"ports": [{"port": 80}, {"port": 80, "name": "b"}]}));
        assert!(
            e.contains(&"spec.ports[0].name: Required value".to_string()),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("spec.ports[1]: Duplicate value: \"core.ServicePort{")),
            "{e:?}"
        );
        let e = errors(json!({"ports": [{"port": 80, "nodePort": 30000}]}));
        assert_eq!(
            e,
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        let e = errors(json!({"type": "ExternalName"}));
        assert_eq!(e, vec!["spec.externalName: Required value"]);
        let e = errors(json!({"clusterIP": "1.2.3", "ports": [{"port": 1}]}));
        assert!(e.contains(&"spec.clusterIPs[0]: Invalid value: \"1.2.3\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()), "{e:?}");
    }

    #[test]
    fn rows_like_kubectl() {
        let mut s = svc(
            json!({"type": "NodePort", "clusterIPs": ["10.0.0.7"], "selector": {"b": "2", "a": "1"},
            "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}),
        );
        s["metadata"]["creationTimestamp"] = json!("2020-01-01T00:00:00Z");
        let row = Services.table_row(&s);
        assert_eq!(row[1], "NodePort");
        assert_eq!(row[2], "10.0.0.7");
        assert_eq!(row[3], "<none>");
        assert_eq!(row[4], "80:30080/TCP,53/UDP");
        assert_eq!(row[6], "a=1,b=2");
        let lb = svc(json!({"type": "LoadBalancer", "ports": [{"port": 80}]}));
        assert_eq!(Services.table_row(&lb)[3], "<pending>");
        assert_eq!(Services.table_row(&lb)[2], "<none>");
        let en = svc(json!({"type": "ExternalName", "externalName": "x.example"}));
        assert_eq!(Services.table_row(&en)[3], "x.example");
        assert_eq!(Services.table_row(&en)[4], "<none>");
    }

    #[test]
    fn updates_keep_allocations() {
        let old = svc(
            json!({"type": "NodePort", "clusterIP": "10.0.0.9", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "port": 80, "nodePort": 30001}]}),
        );
        let mut new = svc(json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}));
        Services.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.0.0.9");
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.0.0.9"]));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30001);
        let mut to_cluster_ip = old.clone();
        to_cluster_ip["spec"]["type"] = json!("ClusterIP");
        Services.prepare_for_update(&mut to_cluster_ip, &old);
        assert!(to_cluster_ip["spec"]["ports"][0].get("nodePort").is_none());
        assert!(to_cluster_ip["spec"].get("externalTrafficPolicy").is_none());
        let mut changed = old.clone();
        changed["spec"]["clusterIP"] = json!("10.0.0.10");
        changed["spec"]["clusterIPs"] = json!(["10.0.0.10"]);
        let e: Vec<String> = Services
            .validate_update(&changed, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(e.contains(&"spec.clusterIPs[0]: Invalid value: []string{\"10.0.0.10\"}: may not change once set".to_string()), "{e:?}");
    }
}
