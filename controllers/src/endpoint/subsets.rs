//! An Endpoints object's subsets from a Service and its pods (upstream `syncService`'s loop
//! and `endpoints.RepackSubsets`): one address per pod with an IP, ready or not ready, listed
//! under every port the pod serves; addresses that serve the same ports share a subset. At most
//! [`MAX_CAPACITY`] addresses are kept, ready ones first.

use super::ports::{find_port, pod_ip, should_be_in_endpoints};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, ObjectReference, Pod, Service,
};
use std::collections::{BTreeMap, BTreeSet};

/// Upstream's cap on the addresses of one Endpoints object.
pub const MAX_CAPACITY: usize = 1000;

/// Whether the Service has a cluster IP (not headless).
pub fn has_cluster_ip(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty() && ip != "None")
}

fn address(pod: &Pod, service: &Service, ip: &str) -> EndpointAddress {
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.as_deref())
        .filter(|h| !h.is_empty())
        .filter(|_| {
            spec.and_then(|s| s.subdomain.as_deref()) == service.metadata.name.as_deref()
                && pod.metadata.namespace == service.metadata.namespace
        });
    EndpointAddress {
        ip: ip.to_string(),
        hostname: hostname.map(str::to_string),
        node_name: spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_string()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
    }
}

/// Sort key of a port; `None` stands for "no ports" (headless Services without ports).
type PortKey = (String, i32, String, Option<String>);

fn port_key(p: &EndpointPort) -> PortKey {
    (
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_default(),
        p.app_protocol.clone(),
    )
}

/// The ports one address serves (`None` for "no ports").
type PortSet = BTreeSet<Option<PortKey>>;

/// An address's place in the order: not-ready after ready, then by IP and pod uid.
type AddressKey = (bool, String, String);

fn port_of(key: &PortKey) -> EndpointPort {
    EndpointPort {
        name: (!key.0.is_empty()).then(|| key.0.clone()),
        port: key.1,
        protocol: Some(key.2.clone()),
        app_protocol: key.3.clone(),
    }
}

/// The subsets for `service` from `pods` (those its selector matches), and whether addresses
/// were dropped to stay within [`MAX_CAPACITY`].
pub fn desired(service: &Service, pods: &[&Pod]) -> (Vec<EndpointSubset>, bool) {
    let spec = service.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let ports = spec.ports.unwrap_or_default();
    let headless_without_ports = ports.is_empty() && spec.cluster_ip.as_deref() == Some("None");
    let mut by_address: BTreeMap<AddressKey, (EndpointAddress, PortSet)> = BTreeMap::new();
    for pod in pods {
        let Some(ip) = pod_ip(pod) else {
            continue;
        };
        if !publish_not_ready && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let ready = publish_not_ready || crate::pods::is_ready(pod);
        if !ready && !should_be_in_endpoints(pod, false) {
            continue;
        }
        let key = (
            !ready,
            ip.to_string(),
            pod.metadata.uid.clone().unwrap_or_default(),
        );
        let mut served = BTreeSet::new();
        for port in &ports {
            if let Some(number) = find_port(pod, port) {
                served.insert(Some(port_key(&EndpointPort {
                    name: port.name.clone(),
                    port: number,
                    protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                    app_protocol: port.app_protocol.clone(),
                })));
            }
        }
        if headless_without_ports {
            served.insert(None);
        }
        if served.is_empty() {
            continue;
        }
        by_address.insert(key, (address(pod, service, ip), served));
    }
    // Ready addresses first when over capacity (the key sorts them first).
    let truncated = by_address.len() > MAX_CAPACITY;
    let mut groups: BTreeMap<PortSet, EndpointSubset> = BTreeMap::new();
    for ((not_ready, _, _), (addr, served)) in by_address.into_iter().take(MAX_CAPACITY) {
        let subset = groups
            .entry(served.clone())
            .or_insert_with(|| EndpointSubset {
                ports: {
                    let p: Vec<EndpointPort> = served.iter().flatten().map(port_of).collect();
                    (!p.is_empty()).then_some(p)
                },
                ..Default::default()
            });
        let list = if not_ready {
            subset.not_ready_addresses.get_or_insert_with(Vec::new)
        } else {
            subset.addresses.get_or_insert_with(Vec::new)
        };
        list.push(addr);
    }
    let mut subsets: Vec<EndpointSubset> = groups.into_values().collect();
    let first_ip = |s: &EndpointSubset| {
        s.addresses
            .iter()
            .chain(s.not_ready_addresses.iter())
            .flatten()
            .map(|a| a.ip.clone())
            .min()
            .unwrap_or_default()
    };
    subsets.sort_by_key(first_ip);
    (subsets, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServicePort, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn service(ports: Vec<ServicePort>, cluster_ip: &str) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".to_string()),
                namespace: Some("ns".to_string()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(cluster_ip.to_string()),
                ports: Some(ports),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pod(name: &str, ip: &str, ready: bool, http_port: Option<i32>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("ns".to_string()),
                uid: Some(format!("{name}-uid")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".to_string(),
                    ports: http_port.map(|p| {
                        vec![ContainerPort {
                            name: Some("http".to_string()),
                            container_port: p,
                            ..Default::default()
                        }]
                    }),
                    ..Default::default()
                }],
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

    fn named_port() -> ServicePort {
        ServicePort {
            name: Some("http".to_string()),
            port: 80,
            target_port: Some(IntOrString::String("http".to_string())),
            ..Default::default()
        }
    }

    #[test]
    fn pods_with_the_same_ports_share_a_subset() {
        let svc = service(vec![named_port()], "10.96.0.5");
        let (a, b, c) = (
            pod("a", "10.0.0.2", true, Some(8080)),
            pod("b", "10.0.0.1", false, Some(8080)),
            pod("c", "10.0.0.3", true, Some(9090)),
        );
        let (subsets, truncated) = desired(&svc, &[&a, &b, &c]);
        assert!(!truncated);
        assert_eq!(subsets.len(), 2);
        let first = &subsets[0];
        assert_eq!(first.ports.as_ref().unwrap()[0].port, 8080);
        assert_eq!(first.addresses.as_ref().unwrap()[0].ip, "10.0.0.2");
        assert_eq!(
            first.not_ready_addresses.as_ref().unwrap()[0].ip,
            "10.0.0.1"
        );
        let target = first.addresses.as_ref().unwrap()[0]
            .target_ref
            .as_ref()
            .unwrap();
        assert_eq!(target.name.as_deref(), Some("a"));
        assert_eq!(subsets[1].ports.as_ref().unwrap()[0].port, 9090);
        // A pod without the named port serves none of the Service's ports.
        let d = pod("d", "10.0.0.4", true, None);
        assert!(desired(&svc, &[&d]).0.is_empty());
    }

    #[test]
    fn headless_services_without_ports_list_addresses_alone() {
        let svc = service(Vec::new(), "None");
        let a = pod("a", "10.0.0.2", true, None);
        let (subsets, _) = desired(&svc, &[&a]);
        assert_eq!(subsets.len(), 1);
        assert_eq!(subsets[0].ports, None);
        assert!(!has_cluster_ip(&svc));
        assert!(
            desired(&service(Vec::new(), "10.96.0.1"), &[&a])
                .0
                .is_empty()
        );
    }
}
