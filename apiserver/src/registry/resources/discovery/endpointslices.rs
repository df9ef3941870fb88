//! EndpointSlices: a Service's endpoints in slices of one address type. The address type is
//! fixed at creation; every change other than metadata bumps the generation.

use crate::registry::resources::shared::{arr, is_valid_ipv4, is_valid_ipv6, list_with_more, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_label_value, is_qualified_name,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;
const MAX_HINTS_ZONES: usize = 8;
const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            "endpointslice",
            true,
        ),
        EndpointSlices,
    )
}

pub struct EndpointSlices;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.",
    ),
    Column::new(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.",
    ),
    Column::new(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.",
    ),
    AGE,
];

/// `IsFullyQualifiedDomainName`: a subdomain with at least two labels.
fn fqdn_errors(v: &str, path: &str) -> FieldErrors {
    let name = v.strip_suffix('.').unwrap_or(v);
    let mut errs: FieldErrors = is_dns1123_subdomain(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, v, m))
        .collect();
    if errs.is_empty() && name.split('.').count() < 2 {
        errs.push(FieldError::invalid(
            path,
            v,
            "should be a domain with at least two segments separated by dots",
        ));
    }
    errs
}

fn validate_endpoints(obj: &Value, address_type: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let endpoints = arr(obj, "/endpoints");
    if endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many(
            "endpoints",
            endpoints.len(),
            MAX_ENDPOINTS,
        ));
    }
    for (i, ep) in endpoints.iter().enumerate() {
        let p = index("endpoints", i);
        let ap = child(&p, "addresses");
        let addresses = arr(ep, "/addresses");
        if addresses.is_empty() {
            errs.push(FieldError::required(
                ap.clone(),
                "must contain at least 1 address",
            ));
        } else if addresses.len() > MAX_ADDRESSES {
            errs.push(FieldError::too_many(
                ap.clone(),
                addresses.len(),
                MAX_ADDRESSES,
            ));
        }
        for (j, a) in addresses.iter().enumerate() {
            let a = a.as_str().unwrap_or_default();
            let apj = index(&ap, j);
            let msgs = match address_type {
                "IPv4" => is_valid_ipv4(a),
                "IPv6" => is_valid_ipv6(a),
                "FQDN" => {
                    errs.extend(fqdn_errors(a, &apj));
                    Vec::new()
                }
                _ => Vec::new(),
            };
            errs.extend(
                msgs.into_iter()
                    .map(|m| FieldError::invalid(apj.clone(), a, m)),
            );
        }
        if let Some(topology) = ep.get("deprecatedTopology").and_then(Value::as_object) {
            let tp = child(&p, "deprecatedTopology");
            for (k, v) in topology {
                for msg in is_qualified_name(k) {
                    errs.push(FieldError::invalid(tp.clone(), k.as_str(), msg));
                }
                let v = v.as_str().unwrap_or_default();
                for msg in is_label_value(v) {
                    errs.push(FieldError::invalid(tp.clone(), v, msg));
                }
            }
        }
        if let Some(node) = ep.get("nodeName").and_then(Value::as_str) {
            for msg in is_dns1123_subdomain(node) {
                errs.push(FieldError::invalid(child(&p, "nodeName"), node, msg));
            }
        }
        if let Some(host) = ep.get("hostname").and_then(Value::as_str) {
            for msg in is_dns1123_label(host) {
                errs.push(FieldError::invalid(child(&p, "hostname"), host, msg));
            }
        }
        let zones = arr(ep, "/hints/forZones");
        if zones.len() > MAX_HINTS_ZONES {
            errs.push(FieldError::too_many(
                child(&p, "hints.forZones"),
                zones.len(),
                MAX_HINTS_ZONES,
            ));
        }
    }
    errs
}

fn validate_ports(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let ports = arr(obj, "/ports");
    if ports.len() > MAX_PORTS {
        errs.push(FieldError::too_many("ports", ports.len(), MAX_PORTS));
    }
    let mut names = std::collections::HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = index("ports", i);
        let name = port.get("name").and_then(Value::as_str).unwrap_or_default();
        if !name.is_empty() {
            for msg in is_dns1123_label(name) {
                errs.push(FieldError::invalid(child(&p, "name"), name, msg));
            }
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
        match port.get("protocol").and_then(Value::as_str) {
            None => errs.push(FieldError::required(child(&p, "protocol"), "")),
            Some(proto) if !PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(
                child(&p, "protocol"),
                proto,
                PROTOCOLS,
            )),
            Some(_) => {}
        }
        if let Some(ap) = port.get("appProtocol").and_then(Value::as_str) {
            for msg in is_qualified_name(ap) {
                errs.push(FieldError::invalid(child(&p, "appProtocol"), ap, msg));
            }
        }
    }
    errs
}

impl Strategy for EndpointSlices {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<EndpointSlice>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        if let Some(ports) = obj.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.entry("name").or_insert(json!(""));
                port.entry("protocol").or_insert(json!("TCP"));
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let address_type = s(obj, "/addressType");
        if address_type.is_empty() {
            errs.push(FieldError::required("addressType", ""));
        } else if !ADDRESS_TYPES.contains(&address_type) {
            errs.push(FieldError::not_supported(
                "addressType",
                address_type,
                ADDRESS_TYPES,
            ));
        }
        errs.extend(validate_endpoints(obj, address_type));
        errs.extend(validate_ports(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        if new.get("addressType") != old.get("addressType") {
            errs.push(FieldError::invalid(
                "addressType",
                new.get("addressType").cloned().unwrap_or(Value::Null),
                "field is immutable",
            ));
        }
        errs.extend(self.validate(new));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let ports: Vec<String> = arr(obj, "/ports")
            .iter()
            .map(
                |p| match (p.get("port").and_then(Value::as_i64), s(p, "/name")) {
                    (Some(n), _) => n.to_string(),
                    (None, name) if p.get("name").is_some() && !name.is_empty() => name.to_string(),
                    _ => "*".to_string(),
                },
            )
            .collect();
        let addresses: Vec<String> = arr(obj, "/endpoints")
            .iter()
            .flat_map(|e| arr(e, "/addresses").iter())
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        vec![
            table::name(obj),
            json!(s(obj, "/addressType")),
            json!(list_with_more(&ports, 3)),
            json!(list_with_more(&addresses, 3)),
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
    fn defaults_ports_and_validates() {
        let mut eps = json!({
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1", "nope"]}, {"addresses": []}],
            "ports": [{"port": 80}, {"port": 81}],
        });
        EndpointSlices.default(&mut eps);
        assert_eq!(
            eps["ports"][0],
            json!({"port": 80, "name": "", "protocol": "TCP"})
        );
        assert_eq!(
            messages(&EndpointSlices.validate(&eps)),
            vec![
                "endpoints[0].addresses[1]: Invalid value: \"nope\": must be a valid IPv4 address",
                "endpoints[1].addresses: Required value: must contain at least 1 address",
                "ports[1].name: Duplicate value: \"\"",
            ]
        );
        let bad = json!({"addressType": "IP"});
        assert_eq!(
            messages(&EndpointSlices.validate(&bad)),
            vec![
                "addressType: Unsupported value: \"IP\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""
            ]
        );
        let old = json!({"addressType": "IPv6"});
        assert_eq!(
            messages(&EndpointSlices.validate_update(&json!({"addressType": "IPv4"}), &old)),
            vec!["addressType: Invalid value: \"IPv4\": field is immutable"]
        );
    }

    #[test]
    fn rows_like_kubectl() {
        let eps = json!({
            "metadata": {"name": "web-abc"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        });
        let row = EndpointSlices.table_row(&eps);
        assert_eq!(row[2], "80");
        assert_eq!(row[3], "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...");
        let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv4"});
        assert_eq!(EndpointSlices.table_row(&empty)[2], "<unset>");
    }
}
