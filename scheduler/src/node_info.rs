//! What the scheduler knows about one node, as upstream's `framework.NodeInfo`: the Node, the
//! pods on it (bound or assumed), what they request in total (`requested`), the same with
//! upstream's non-zero defaults for containers that request nothing (`non_zero_requested`,
//! used for scoring), the host ports in use, and the node's allocatable resources.
//!
//! A pod's requests are computed as upstream's `resourcehelper.PodRequests`: the sum of its
//! containers and restartable (sidecar) init containers, at least as much as any other init
//! container needs while it runs (plus the sidecars started before it), plus the pod overhead.
//!
//! For InterPodAffinity a NodeInfo counts its pods with (anti-)affinity, and each PodInfo
//! carries its parsed affinity terms; for ImageLocality it knows the node's images.

use crate::affinity::PodAffinityTerms;
use apimachinery::quantity::Quantity;
use k8s_openapi::api::core::v1::{Container, Node, Pod, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// CPU assumed for a container that requests none, when scoring (upstream's
/// `DefaultMilliCPURequest`, 0.1 core).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed for a container that requests none, when scoring (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// Amounts of resources: CPU in millicores, the rest in units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub allowed_pod_number: i64,
    /// Extended resources, hugepages and the like, by name.
    pub scalar: BTreeMap<String, i64>,
}

/// A quantity in whole units, rounded up as Go's `Quantity.Value`.
pub fn value(q: &ApiQuantity) -> i64 {
    Quantity::parse(&q.0).map_or(0, |q| ceil_div(q.nanos(), 1_000_000_000))
}

/// A quantity in thousandths, rounded up as Go's `Quantity.MilliValue`.
pub fn milli_value(q: &ApiQuantity) -> i64 {
    Quantity::parse(&q.0).map_or(0, |q| ceil_div(q.nanos(), 1_000_000))
}

fn ceil_div(n: i128, d: i128) -> i64 {
    let q = n / d + i128::from(n % d > 0);
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

impl Resource {
    /// The resources of a `ResourceList` (node allocatable, or summed requests).
    pub fn from_list(list: &BTreeMap<String, ApiQuantity>) -> Self {
        let mut r = Resource::default();
        for (name, q) in list {
            r.set(
                name,
                if name == CPU {
                    milli_value(q)
                } else {
                    value(q)
                },
            );
        }
        r
    }

    /// Sets one resource (CPU in millicores).
    pub fn set(&mut self, name: &str, amount: i64) {
        match name {
            CPU => self.milli_cpu = amount,
            MEMORY => self.memory = amount,
            EPHEMERAL_STORAGE => self.ephemeral_storage = amount,
            PODS => self.allowed_pod_number = amount,
            _ if is_scalar_resource(name) => {
                self.scalar.insert(name.to_string(), amount);
            }
            _ => {}
        }
    }

    /// One resource's amount (CPU in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.allowed_pod_number,
            _ => self.scalar.get(name).copied().unwrap_or(0),
        }
    }

    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (name, n) in &other.scalar {
            *self.scalar.entry(name.clone()).or_default() += n;
        }
    }

    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (name, n) in &other.scalar {
            *self.scalar.entry(name.clone()).or_default() -= n;
        }
    }

    fn max_with(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, n) in &other.scalar {
            let e = self.scalar.entry(name.clone()).or_default();
            *e = (*e).max(*n);
        }
    }

    /// Whether nothing at all is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|n| *n == 0)
    }
}

/// Whether a resource is counted as a "scalar" one: extended resources (a domain-prefixed name
/// outside `kubernetes.io/`), `hugepages-*`, `attachable-volumes-*` and `kubernetes.io/`-prefixed
/// native resources.
pub fn is_scalar_resource(name: &str) -> bool {
    is_extended_resource(name)
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || name.starts_with("kubernetes.io/")
}

/// An extended resource: a domain-prefixed name that is not in the `kubernetes.io` domain and
/// does not start with `requests.`.
pub fn is_extended_resource(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    !native && !name.starts_with("requests.")
}

fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let empty = BTreeMap::new();
    let list = c
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .unwrap_or(&empty);
    let mut r = Resource::from_list(list);
    if non_zero {
        // Only a missing request is defaulted, as upstream's `NonMissingContainerRequests`.
        if !list.contains_key(CPU) {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !list.contains_key(MEMORY) {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// What `pod` requests (upstream `PodRequests`); with `non_zero`, containers that request no CPU
/// or memory count upstream's defaults for them.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resource {
    let Some(spec) = &pod.spec else {
        return Resource::default();
    };
    let mut total = Resource::default();
    for c in &spec.containers {
        total.add(&container_requests(c, non_zero));
    }
    let mut sidecars = Resource::default();
    let mut init_peak = Resource::default();
    for c in spec.init_containers.as_deref().unwrap_or_default() {
        let reqs = container_requests(c, non_zero);
        if c.restart_policy.as_deref() == Some("Always") {
            total.add(&reqs);
            sidecars.add(&reqs);
            init_peak.max_with(&sidecars);
        } else {
            let mut running = reqs;
            running.add(&sidecars);
            init_peak.max_with(&running);
        }
    }
    total.max_with(&init_peak);
    if let Some(overhead) = &spec.overhead {
        total.add(&Resource::from_list(overhead));
    }
    total
}

/// A host port in use: (host IP, protocol, port).
pub type HostPort = (String, String, i32);

/// The host ports a pod asks for (containers' ports with a `hostPort`), with upstream's
/// defaults: IP `0.0.0.0`, protocol TCP.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .flat_map(|c| c.ports.as_deref().unwrap_or_default())
        .filter_map(|p| {
            let port = p.host_port.filter(|p| *p > 0)?;
            let ip = p
                .host_ip
                .clone()
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| "0.0.0.0".to_string());
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".to_string());
            Some((ip, protocol, port))
        })
        .collect()
}

/// Whether `want` clashes with a port in `used`: the same protocol and port, on the same IP or
/// where either side listens on every address (upstream `HostPortInfo.CheckConflict`).
pub fn port_conflicts(used: &HashSet<HostPort>, want: &HostPort) -> bool {
    let (ip, protocol, port) = want;
    used.iter().any(|(uip, uproto, uport)| {
        uproto == protocol && uport == port && (uip == ip || uip == "0.0.0.0" || ip == "0.0.0.0")
    })
}

/// A pod on a node with what it takes from it, computed once.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub requests: Resource,
    pub non_zero: Resource,
    pub ports: Vec<HostPort>,
    /// The pod's inter-pod (anti-)affinity terms, parsed.
    pub affinity: Arc<PodAffinityTerms>,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> Self {
        Self {
            requests: pod_requests(&pod, false),
            non_zero: pod_requests(&pod, true),
            ports: host_ports(&pod),
            affinity: Arc::new(PodAffinityTerms::of(&pod)),
            pod,
        }
    }

    pub fn uid(&self) -> &str {
        pod_uid(&self.pod)
    }
}

/// A pod's UID, or its `namespace/name` when it has none (in tests).
pub fn pod_uid(pod: &Pod) -> &str {
    pod.metadata
        .uid
        .as_deref()
        .or(pod.metadata.name.as_deref())
        .unwrap_or_default()
}

/// One node as the scheduler sees it.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// None while pods name a node the scheduler has not seen (yet, or any more).
    pub node: Option<Arc<Node>>,
    /// The node's name, kept here to be read without reaching into the Node object.
    name: Arc<str>,
    /// `spec.unschedulable` and `spec.taints`, kept here because Filter reads them for every
    /// node of every cycle, and reaching into each Node object costs a cache miss or two.
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
    pub pods: Vec<PodInfo>,
    pub requested: Resource,
    pub non_zero_requested: Resource,
    pub allocatable: Resource,
    pub used_ports: HashSet<HostPort>,
    /// Pods with pod affinity or anti-affinity of any kind (upstream counts them in
    /// `PodsWithAffinity`).
    pub pods_with_affinity: usize,
    /// Pods with required anti-affinity terms (upstream's `PodsWithRequiredAntiAffinity`).
    pub pods_with_required_anti_affinity: usize,
    /// The sizes of the images the node has, by each of their names (`status.images`).
    pub image_sizes: HashMap<String, i64>,
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> Self {
        let mut info = NodeInfo::default();
        info.set_node(node);
        info
    }

    /// The node's name ("" for a node not seen).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn set_node(&mut self, node: Arc<Node>) {
        let empty = BTreeMap::new();
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .unwrap_or(&empty);
        self.allocatable = Resource::from_list(allocatable);
        self.image_sizes = node
            .status
            .iter()
            .flat_map(|s| s.images.iter().flatten())
            .flat_map(|i| {
                let size = i.size_bytes.unwrap_or(0);
                i.names.iter().flatten().map(move |n| (n.clone(), size))
            })
            .collect();
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        if self.name.as_ref() != node.metadata.name.as_deref().unwrap_or_default() {
            self.name = node.metadata.name.as_deref().unwrap_or_default().into();
        }
        self.node = Some(node);
    }

    pub fn add_pod(&mut self, info: PodInfo) {
        self.requested.add(&info.requests);
        self.non_zero_requested.milli_cpu += info.non_zero.milli_cpu;
        self.non_zero_requested.memory += info.non_zero.memory;
        self.used_ports.extend(info.ports.iter().cloned());
        self.count_affinity(&info, 1);
        self.pods.push(info);
    }

    /// Removes the pod with `uid`; whether it was there.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.uid() == uid) else {
            return false;
        };
        let info = self.pods.swap_remove(i);
        self.requested.sub(&info.requests);
        self.non_zero_requested.milli_cpu -= info.non_zero.milli_cpu;
        self.non_zero_requested.memory -= info.non_zero.memory;
        self.count_affinity(&info, -1);
        // Another pod may use the same port (only when it was allowed to, e.g. other IPs).
        self.used_ports = self
            .pods
            .iter()
            .flat_map(|p| p.ports.iter().cloned())
            .collect();
        true
    }

    fn count_affinity(&mut self, info: &PodInfo, delta: isize) {
        if info.affinity.with_affinity {
            self.pods_with_affinity = self.pods_with_affinity.saturating_add_signed(delta);
        }
        if !info.affinity.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity = self
                .pods_with_required_anti_affinity
                .saturating_add_signed(delta);
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Pods and nodes for the unit tests.

    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, Node, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements,
        Taint,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::collections::BTreeMap;

    pub fn list(items: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect()
    }

    /// A node with allocatable `cpu`, `memory` and 110 pods.
    pub fn node(name: &str, cpu: &str, memory: &str) -> Node {
        Node {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                allocatable: Some(list(&[("cpu", cpu), ("memory", memory), ("pods", "110")])),
                ..Default::default()
            }),
        }
    }

    pub fn with_labels(mut node: Node, labels: &[(&str, &str)]) -> Node {
        node.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        node
    }

    pub fn with_taints(mut node: Node, taints: &[(&str, &str, &str)]) -> Node {
        node.spec.get_or_insert_default().taints = Some(
            taints
                .iter()
                .map(|(k, v, e)| Taint {
                    key: k.to_string(),
                    value: (!v.is_empty()).then(|| v.to_string()),
                    effect: e.to_string(),
                    time_added: None,
                })
                .collect(),
        );
        node
    }

    /// A pod with one container per request list.
    pub fn pod(name: &str, containers: &[&[(&str, &str)]]) -> Pod {
        Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("default".to_string()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: containers
                    .iter()
                    .enumerate()
                    .map(|(i, reqs)| Container {
                        name: format!("c{i}"),
                        resources: (!reqs.is_empty()).then(|| ResourceRequirements {
                            requests: Some(list(reqs)),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            status: None,
        }
    }

    pub fn with_host_port(mut pod: Pod, port: i32) -> Pod {
        if let Some(c) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) {
            c.ports.get_or_insert_default().push(ContainerPort {
                container_port: port,
                host_port: Some(port),
                ..Default::default()
            });
        }
        pod
    }

    pub fn on_node(mut pod: Pod, node: &str) -> Pod {
        pod.spec.get_or_insert_default().node_name = Some(node.to_string());
        pod
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    #[test]
    fn quantities_round_up() {
        assert_eq!(milli_value(&ApiQuantity("0.1".into())), 100);
        assert_eq!(milli_value(&ApiQuantity("1500u".into())), 2);
        assert_eq!(value(&ApiQuantity("1Gi".into())), 1 << 30);
        assert_eq!(value(&ApiQuantity("1500m".into())), 2);
    }

    #[test]
    fn init_containers_sidecars_and_overhead_count_as_upstream() {
        let mut p = pod(
            "p",
            &[&[("cpu", "100m"), ("memory", "1Gi")], &[("cpu", "200m")]],
        );
        let spec = p.spec.as_mut().unwrap();
        let init = |name: &str, cpu: &str, sidecar: bool| Container {
            name: name.to_string(),
            restart_policy: sidecar.then(|| "Always".to_string()),
            resources: Some(ResourceRequirements {
                requests: Some(list(&[("cpu", cpu)])),
                ..Default::default()
            }),
            ..Default::default()
        };
        // A sidecar (50m) then a plain init container (1) that runs beside it: 1050m peak.
        spec.init_containers = Some(vec![init("s", "50m", true), init("i", "1", false)]);
        spec.overhead = Some(list(&[("cpu", "10m")]));
        let r = pod_requests(&p, false);
        assert_eq!(r.milli_cpu, 1050 + 10);
        assert_eq!(r.memory, 1 << 30);
        // Containers without a memory request count 200Mi each when scoring.
        let nz = pod_requests(&p, true);
        assert_eq!(nz.memory, (1 << 30) + 2 * DEFAULT_MEMORY_REQUEST);
        let best_effort = pod("b", &[&[]]);
        assert!(pod_requests(&best_effort, false).is_zero());
        assert_eq!(pod_requests(&best_effort, true).milli_cpu, 100);
    }

    #[test]
    fn node_info_tracks_requests_and_ports() {
        let mut info = NodeInfo::new(Arc::new(node("n", "2", "4Gi")));
        assert_eq!(info.allocatable.milli_cpu, 2000);
        assert_eq!(info.allocatable.allowed_pod_number, 110);
        let p = with_host_port(pod("a", &[&[("cpu", "500m")]]), 8080);
        info.add_pod(PodInfo::new(Arc::new(p)));
        assert_eq!(info.requested.milli_cpu, 500);
        assert_eq!(info.non_zero_requested.memory, DEFAULT_MEMORY_REQUEST);
        let want = ("127.0.0.1".to_string(), "TCP".to_string(), 8080);
        assert!(port_conflicts(&info.used_ports, &want));
        let udp = ("127.0.0.1".to_string(), "UDP".to_string(), 8080);
        assert!(!port_conflicts(&info.used_ports, &udp));
        assert!(info.remove_pod("uid-a"));
        assert_eq!(info.requested.milli_cpu, 0);
        assert!(info.used_ports.is_empty());
        assert!(!info.remove_pod("uid-a"));
    }

    #[test]
    fn resource_names() {
        assert!(is_scalar_resource("example.com/gpu"));
        assert!(is_scalar_resource("hugepages-2Mi"));
        assert!(!is_scalar_resource("cpu"));
        assert!(!is_extended_resource("kubernetes.io/foo"));
    }
}
