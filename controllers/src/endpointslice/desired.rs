//! The endpoints a Service's EndpointSlices should hold (upstream `podToEndpoint` and
//! `getEndpointPorts`): one endpoint per pod with an IP, terminating pods included, with
//! `ready`, `serving` and `terminating` conditions, grouped by the ports the pod serves.

use crate::endpoint::ports::{find_port, pod_ip, should_be_in_endpoints};
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use std::collections::BTreeMap;

/// The node label holding a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// A port set in a stable order: the key endpoints are grouped by.
pub type PortKey = Vec<(String, i32, String, Option<String>)>;

pub fn port_key(ports: &[EndpointPort]) -> PortKey {
    let mut key: PortKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or(0),
                p.protocol.clone().unwrap_or_default(),
                p.app_protocol.clone(),
            )
        })
        .collect();
    key.sort();
    key
}

/// The address family of slices for `service`: IPv6 only when the Service asks for it first.
pub fn address_type(service: &Service) -> &'static str {
    let spec = service.spec.as_ref();
    let first_family = spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first());
    match first_family.map(String::as_str) {
        Some("IPv6") => "IPv6",
        Some(_) => "IPv4",
        None => match spec.and_then(|s| s.cluster_ip.as_deref()) {
            Some(ip) if ip.contains(':') => "IPv6",
            _ => "IPv4",
        },
    }
}

fn family_matches(ip: &str, address_type: &str) -> bool {
    ip.contains(':') == (address_type == "IPv6")
}

fn endpoint(
    pod: &Pod,
    service: &Service,
    ip: &str,
    nodes: &dyn Fn(&str) -> Option<Node>,
) -> Endpoint {
    let spec = pod.spec.as_ref();
    let serving = crate::pods::is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let node_name = spec
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    let zone = node_name
        .as_deref()
        .and_then(nodes)
        .and_then(|n| n.metadata.labels.and_then(|l| l.get(ZONE_LABEL).cloned()))
        .filter(|z| !z.is_empty());
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .filter(|_| {
            spec.and_then(|s| s.subdomain.as_deref()) == service.metadata.name.as_deref()
                && pod.metadata.namespace == service.metadata.namespace
        });
    Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(publish || (serving && !terminating)),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname,
        node_name,
        zone,
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_string()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Service's ports as `pod` serves them; `None` for a port the pod does not have.
fn ports_for(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let spec = service.spec.clone().unwrap_or_default();
    spec.ports
        .unwrap_or_default()
        .iter()
        .filter_map(|port| {
            Some(EndpointPort {
                name: Some(port.name.clone().unwrap_or_default()),
                port: Some(find_port(pod, port)?),
                protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                app_protocol: port.app_protocol.clone(),
            })
        })
        .collect()
}

/// Desired endpoints of `service` from `pods` (those its selector matches), by port set, each
/// group sorted by address.
pub fn endpoints_by_ports(
    service: &Service,
    pods: &[&Pod],
    nodes: &dyn Fn(&str) -> Option<Node>,
) -> BTreeMap<PortKey, (Vec<EndpointPort>, Vec<Endpoint>)> {
    let address_type = address_type(service);
    let mut groups: BTreeMap<PortKey, (Vec<EndpointPort>, Vec<Endpoint>)> = BTreeMap::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let Some(ip) = pod_ip(pod).filter(|ip| family_matches(ip, address_type)) else {
            continue;
        };
        let ports = ports_for(service, pod);
        let group = groups
            .entry(port_key(&ports))
            .or_insert_with(|| (ports, Vec::new()));
        group.1.push(endpoint(pod, service, ip, nodes));
    }
    for (_, endpoints) in groups.values_mut() {
        endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus, ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::jiff::Timestamp;

    fn pod(name: &str, ip: &str, ready: bool, terminating: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("ns".to_string()),
                deletion_timestamp: terminating.then_some(Time(Timestamp::UNIX_EPOCH)),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                pod_ip: Some(ip.to_string()),
                phase: Some("Running".to_string()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".to_string(),
                    status: if ready { "True" } else { "False" }.to_string(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn conditions_follow_readiness_and_termination() {
        let svc = Service {
            metadata: ObjectMeta {
                name: Some("web".to_string()),
                namespace: Some("ns".to_string()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                ports: Some(vec![ServicePort {
                    port: 80,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        };
        let (a, b, c) = (
            pod("a", "10.0.0.3", true, false),
            pod("b", "10.0.0.1", true, true),
            pod("c", "10.0.0.2", false, false),
        );
        let zone = |_: &str| {
            Some(Node {
                metadata: ObjectMeta {
                    labels: Some([(ZONE_LABEL.to_string(), "z1".to_string())].into()),
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        let groups = endpoints_by_ports(&svc, &[&a, &b, &c], &zone);
        assert_eq!(groups.len(), 1);
        let (ports, eps) = groups.values().next().unwrap();
        assert_eq!(ports[0].port, Some(80));
        assert_eq!(ports[0].name.as_deref(), Some(""));
        let conds: Vec<(bool, bool, bool)> = eps
            .iter()
            .map(|e| {
                let c = e.conditions.as_ref().unwrap();
                (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
            })
            .collect();
        // Sorted by address: b (terminating), c (not ready), a (ready).
        assert_eq!(
            conds,
            vec![
                (false, true, true),
                (false, false, false),
                (true, true, false)
            ]
        );
        assert_eq!(eps[2].zone.as_deref(), Some("z1"));
        assert_eq!(address_type(&svc), "IPv4");
    }
}
