//! Endpoints: the addresses behind a Service (written by the endpoints controller, or by hand
//! for selector-less Services). Stored under `services/endpoints` as upstream does.

use super::common::{array_at, dns_label, dns_subdomain, int_at, one_of, str_at};
use super::docs;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{FieldError, FieldErrors, child, index};
use apimachinery::validation::is_valid_port_num;
use k8s_openapi::api::core::v1::Endpoints as EndpointsKind;
use serde_json::{Value, json};
use std::net::IpAddr;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "endpoints", "Endpoints", "endpoints", true)
            .short_names(&["ep"])
            .storage_path("services/endpoints"),
        Endpoints,
    )
}

pub struct Endpoints;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Endpoints", "string", docs::ENDPOINTS_SUBSETS),
    AGE,
];

/// Upstream's `formatEndpoints`: up to three `ip:port` pairs, then `+ N more...`.
pub fn format_endpoints(obj: &Value) -> String {
    let subsets = array_at(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addrs = array_at(ss, "/addresses");
        let ports = array_at(ss, "/ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                let ip: &str = str_at(a, "/ip");
                let port = int_at(p, "/port").unwrap_or(0);
                list.push(if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                });
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

/// Upstream's endpoint IP rules: a valid, non-special address.
fn validate_endpoint_ip(ip: &str, path: &str) -> FieldErrors {
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return vec![FieldError::invalid(
            path,
            ip,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        )];
    };
    let mut errs = Vec::new();
    if addr.is_unspecified() {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be unspecified (0.0.0.0)",
        ));
    }
    if addr.is_loopback() {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    let link_local = match addr {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    let multicast = match addr {
        IpAddr::V4(a) => a.is_multicast(),
        IpAddr::V6(a) => a.is_multicast(),
    };
    if multicast {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

fn validate_endpoints(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, ss) in array_at(obj, "/subsets").iter().enumerate() {
        let sp = index("subsets", i);
        let ready = array_at(ss, "/addresses");
        let not_ready = array_at(ss, "/notReadyAddresses");
        if ready.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(
                &sp,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (field, list) in [("addresses", ready), ("notReadyAddresses", not_ready)] {
            for (j, a) in list.iter().enumerate() {
                let ap = index(&child(&sp, field), j);
                errs.extend(validate_endpoint_ip(str_at(a, "/ip"), &child(&ap, "ip")));
                let host = str_at(a, "/hostname");
                if !host.is_empty() {
                    errs.extend(dns_label(host, &child(&ap, "hostname")));
                }
                let node = str_at(a, "/nodeName");
                if !node.is_empty() {
                    errs.extend(dns_subdomain(node, &child(&ap, "nodeName")));
                }
            }
        }
        let ports = array_at(ss, "/ports");
        for (j, p) in ports.iter().enumerate() {
            let pp = index(&child(&sp, "ports"), j);
            let name = str_at(p, "/name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(child(&pp, "name"), ""));
            } else if !name.is_empty() {
                errs.extend(dns_label(name, &child(&pp, "name")));
            }
            let port = int_at(p, "/port").unwrap_or(0);
            for m in is_valid_port_num(port) {
                errs.push(FieldError::invalid(child(&pp, "port"), port, m));
            }
            errs.extend(one_of(
                p.get("protocol").and_then(Value::as_str),
                &child(&pp, "protocol"),
                &["SCTP", "TCP", "UDP"],
                true,
            ));
            let app = str_at(p, "/appProtocol");
            if !app.is_empty() {
                errs.extend(super::common::qualified_name(
                    app,
                    &child(&pp, "appProtocol"),
                ));
            }
        }
    }
    errs
}

impl Strategy for Endpoints {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<EndpointsKind>(body)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(subsets) = obj.get_mut("subsets").and_then(Value::as_array_mut) {
            for ss in subsets {
                super::common::each_mut(ss, "ports", |p| {
                    super::common::default_str(p, "protocol", "TCP")
                });
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_endpoints(obj)
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![
            table::name(obj),
            json!(format_endpoints(obj)),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_upstream() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
            "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(
            format_endpoints(&ep),
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
        );
        assert_eq!(format_endpoints(&json!({})), "<none>");
        let headless = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
        assert_eq!(format_endpoints(&headless), "10.0.0.1");
    }

    #[test]
    fn validation() {
        let mut ep = json!({"subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 80}, {"port": 0, "name": "b"}]}]});
        Endpoints.default(&mut ep);
        let e: Vec<String> = validate_endpoints(&ep)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(e.contains(&"subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)".to_string()), "{e:?}");
        assert!(
            e.contains(&"subsets[0].ports[0].name: Required value".to_string()),
            "{e:?}"
        );
        assert!(e.contains(&"subsets[0].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive".to_string()), "{e:?}");
    }
}
