//! Ingresses: HTTP routing rules to Services, with a load-balancer status written by the
//! ingress controller through the `status` subresource. Spec changes bump the generation.

use crate::registry::resources::shared::{
    arr, has, invalid_rendered, is_ip, is_valid_ip, is_wildcard_dns1123_subdomain,
    port_name_errors, s,
};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::{is_dns1035_label, is_dns1123_subdomain, is_valid_port_num};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

const GROUP: &str = "networking.k8s.io";
const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
const INVALID_PATH_SEQUENCES: &[&str] = &["//", "/./", "/../", "%2f", "%2F"];
const INVALID_PATH_SUFFIXES: &[&str] = &["/..", "/."];
/// The annotation that named the class before `spec.ingressClassName`.
pub const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(GROUP, "v1", "Ingress")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(GROUP, "v1", "ingresses", "Ingress", "ingress", true)
            .short_names(&["ing"])
            .subresources(SUBRESOURCES)
            // Upstream keeps Ingresses under the singular key prefix.
            .storage_path("ingress"),
        Ingresses,
    )
}

pub struct Ingresses;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    Column::new(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    Column::new(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    Column::new("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

fn subdomain_or_wildcard(host: &str, path: &str) -> FieldErrors {
    let msgs = if host.contains('*') {
        is_wildcard_dns1123_subdomain(host)
    } else {
        is_dns1123_subdomain(host)
    };
    msgs.into_iter()
        .map(|m| FieldError::invalid(path, host, m))
        .collect()
}

/// `validateIngressBackend`.
fn validate_backend(b: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    match (has(b, "/resource"), has(b, "/service")) {
        (true, true) => errs.push(FieldError::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (true, false) => {
            let rp = child(path, "resource");
            if s(b, "/resource/kind").is_empty() {
                errs.push(FieldError::required(child(&rp, "kind"), ""));
            }
            if s(b, "/resource/name").is_empty() {
                errs.push(FieldError::required(child(&rp, "name"), ""));
            }
        }
        (false, true) => {
            let sp = child(path, "service");
            let name = s(b, "/service/name");
            if name.is_empty() {
                errs.push(FieldError::required(child(&sp, "name"), ""));
            } else {
                for msg in is_dns1035_label(name) {
                    errs.push(FieldError::invalid(child(&sp, "name"), name, msg));
                }
            }
            let port_name = s(b, "/service/port/name");
            let port_number = b
                .pointer("/service/port/number")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            match (!port_name.is_empty(), port_number != 0) {
                (true, true) => errs.push(FieldError::invalid(
                    path,
                    "",
                    "cannot set both port name & port number",
                )),
                (true, false) => errs.extend(port_name_errors(port_name, &child(&sp, "port.name"))),
                (false, true) => {
                    for msg in is_valid_port_num(port_number) {
                        errs.push(FieldError::invalid(
                            child(&sp, "port.number"),
                            port_number,
                            msg,
                        ));
                    }
                }
                (false, false) => errs.push(FieldError::required(
                    path,
                    "port name or number is required",
                )),
            }
        }
        (false, false) => errs.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
    }
    errs
}

fn validate_http_path(p: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let value = s(p, "/path");
    match p.get("pathType").and_then(Value::as_str) {
        None => errs.push(FieldError::required(
            child(path, "pathType"),
            "pathType must be specified",
        )),
        Some("Exact" | "Prefix") => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid(
                    child(path, "path"),
                    value,
                    "must be an absolute path",
                ));
            }
            if !value.is_empty() {
                for seq in INVALID_PATH_SEQUENCES {
                    if value.contains(seq) {
                        errs.push(FieldError::invalid(
                            child(path, "path"),
                            value,
                            format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in INVALID_PATH_SUFFIXES {
                    if value.ends_with(suffix) {
                        errs.push(FieldError::invalid(
                            child(path, "path"),
                            value,
                            format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        Some("ImplementationSpecific") => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid(
                    child(path, "path"),
                    value,
                    "must be an absolute path",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            child(path, "pathType"),
            other,
            PATH_TYPES,
        )),
    }
    errs.extend(validate_backend(
        p.get("backend").unwrap_or(&Value::Null),
        &child(path, "backend"),
    ));
    errs
}

fn validate_spec(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let rules = arr(obj, "/spec/rules");
    if rules.is_empty() && !has(obj, "/spec/defaultBackend") {
        // Go prints an empty list the client sent differently from a missing one.
        let rendered = if has(obj, "/spec/rules") {
            "[]networking.IngressRule{}"
        } else {
            "[]networking.IngressRule(nil)"
        };
        errs.push(invalid_rendered(
            "spec",
            rendered,
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = obj.pointer("/spec/defaultBackend").filter(|v| !v.is_null()) {
        errs.extend(validate_backend(b, "spec.defaultBackend"));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = index("spec.rules", i);
        let host = s(rule, "/host");
        if !host.is_empty() {
            if is_ip(host) {
                errs.push(FieldError::invalid(
                    child(&rp, "host"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            errs.extend(subdomain_or_wildcard(host, &child(&rp, "host")));
        }
        if has(rule, "/http") {
            let hp = child(&rp, "http.paths");
            let paths = arr(rule, "/http/paths");
            if paths.is_empty() {
                errs.push(FieldError::required(hp.clone(), ""));
            }
            for (j, p) in paths.iter().enumerate() {
                errs.extend(validate_http_path(p, &index(&hp, j)));
            }
        }
    }
    for (i, tls) in arr(obj, "/spec/tls").iter().enumerate() {
        let tp = index("spec.tls", i);
        for (j, host) in arr(tls, "/hosts").iter().enumerate() {
            let host = host.as_str().unwrap_or_default();
            errs.extend(subdomain_or_wildcard(host, &index(&child(&tp, "hosts"), j)));
        }
        let secret = s(tls, "/secretName");
        if !secret.is_empty() {
            for msg in is_dns1123_subdomain(secret) {
                errs.push(FieldError::invalid(child(&tp, "secretName"), secret, msg));
            }
        }
    }
    if let Some(class) = obj
        .pointer("/spec/ingressClassName")
        .and_then(Value::as_str)
    {
        for msg in is_dns1123_subdomain(class) {
            errs.push(FieldError::invalid("spec.ingressClassName", class, msg));
        }
    }
    errs
}

/// `validateIngressLoadBalancerStatus`.
fn validate_status(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, ing) in arr(obj, "/status/loadBalancer/ingress").iter().enumerate() {
        let p = index("status.loadBalancer.ingress", i);
        let ip = s(ing, "/ip");
        if !ip.is_empty() {
            for msg in is_valid_ip(ip) {
                errs.push(FieldError::invalid(child(&p, "ip"), ip, msg));
            }
        }
        let host = s(ing, "/hostname");
        if !host.is_empty() {
            for msg in is_dns1123_subdomain(host) {
                errs.push(FieldError::invalid(child(&p, "hostname"), host, msg));
            }
            if is_ip(host) {
                errs.push(FieldError::invalid(
                    child(&p, "hostname"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
        }
    }
    errs
}

impl Strategy for Ingresses {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Ingress>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_spec(obj)
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        validate_status(new)
    }

    fn warnings(&self, obj: &Value) -> Vec<String> {
        let annotated = obj
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .is_some_and(|a| a.contains_key(CLASS_ANNOTATION));
        if annotated {
            vec![format!(
                "annotation {CLASS_ANNOTATION:?} is deprecated, please use 'spec.ingressClassName' instead"
            )]
        } else {
            Vec::new()
        }
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let class = obj
            .pointer("/spec/ingressClassName")
            .and_then(Value::as_str)
            .unwrap_or("<none>");
        let rules = arr(obj, "/spec/rules");
        let hosts: Vec<&str> = rules
            .iter()
            .map(|r| s(r, "/host"))
            .filter(|h| !h.is_empty())
            .take(3)
            .collect();
        let hosts = if hosts.is_empty() {
            "*".to_string()
        } else if rules.len() > 3 && hosts.len() == 3 {
            format!("{} + {} more...", hosts.join(","), rules.len() - 3)
        } else {
            hosts.join(",")
        };
        let mut addresses: Vec<&str> = arr(obj, "/status/loadBalancer/ingress")
            .iter()
            .map(|i| {
                let ip = s(i, "/ip");
                if ip.is_empty() { s(i, "/hostname") } else { ip }
            })
            .filter(|a| !a.is_empty())
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        let ports = if arr(obj, "/spec/tls").is_empty() {
            "80"
        } else {
            "80, 443"
        };
        vec![
            table::name(obj),
            json!(class),
            json!(hosts),
            json!(addresses.join(",")),
            json!(ports),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn needs_rules_or_default_backend() {
        assert_eq!(
            messages(&Ingresses.validate(&json!({"spec": {}}))),
            vec![
                "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"
            ]
        );
    }

    #[test]
    fn rules_paths_and_backends() {
        let ing = json!({"spec": {"rules": [
            {"host": "1.2.3.4", "http": {"paths": [
                {"path": "foo", "pathType": "Prefix", "backend": {"service": {"name": "svc", "port": {"number": 80}}}},
                {"path": "/a", "backend": {"service": {"name": "svc"}}},
            ]}},
        ]}});
        assert_eq!(
            messages(&Ingresses.validate(&ing)),
            vec![
                "spec.rules[0].host: Invalid value: \"1.2.3.4\": must be a DNS name, not an IP address",
                "spec.rules[0].http.paths[0].path: Invalid value: \"foo\": must be an absolute path",
                "spec.rules[0].http.paths[1].pathType: Required value: pathType must be specified",
                "spec.rules[0].http.paths[1].backend: Required value: port name or number is required",
            ]
        );
    }

    #[test]
    fn rows_and_warnings() {
        let ing = json!({
            "metadata": {"name": "web", "annotations": {CLASS_ANNOTATION: "nginx"}},
            "spec": {"rules": [{"host": "a.example.com"}, {}], "tls": [{"hosts": ["a.example.com"]}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}, {"hostname": "lb.example.com"}]}},
        });
        let row = Ingresses.table_row(&ing);
        assert_eq!(row[1], "<none>");
        assert_eq!(row[2], "a.example.com");
        assert_eq!(row[3], "10.0.0.2,lb.example.com");
        assert_eq!(row[4], "80, 443");
        assert_eq!(
            Ingresses.warnings(&ing),
            vec![
                "annotation \"kubernetes.io/ingress.class\" is deprecated, please use 'spec.ingressClassName' instead"
            ]
        );
    }
}
