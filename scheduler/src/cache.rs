//! The scheduler's cache of nodes and the pods on them, as upstream's `internal/cache`: filled
//! from the informers, plus **assumed** pods, placed on their node the moment the scheduler
//! decides, so the next pod's cycle already counts them while the binding is in flight.
//!
//! Timeline of an assumed pod: `assume` (decision) -> `finish_binding` (the bind call
//! returned) -> `add_pod` from the informer confirms it (it is then an ordinary pod) ->
//! ... -> `remove_pod`. If binding fails, `forget` takes it off its node again. As upstream
//! (since 1.27) assumed pods do not expire: the informer always confirms or the binder forgets.
//!
//! A [`Snapshot`] is what one scheduling cycle sees: the NodeInfos (shared, copy-on-write) in a
//! zone-interleaved order, so that looking at a part of the nodes spreads over zones. As
//! upstream's `UpdateSnapshot`, the cache keeps the last snapshot and replaces only the nodes
//! changed since (every mutation goes through [`Cache::info_mut`] or [`Cache::unplace`], which
//! note the node), rebuilding the order only when nodes come or go or change zone: with
//! thousands of nodes, a cycle must not pay for each of them.

use crate::node_info::{NodeInfo, PodInfo, pod_uid};
use crate::spread_index::{DomainCache, Domains, PodGroups};
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// Where a pod is, and whether it is only assumed there.
#[derive(Debug, Clone)]
struct PodState {
    pod: Arc<Pod>,
    node: String,
    assumed: bool,
    binding_finished: bool,
}

#[derive(Debug, Default)]
pub struct Cache {
    /// NodeInfos by node name, including nodes only pods name (no Node object yet).
    nodes: HashMap<String, Arc<NodeInfo>>,
    pods: HashMap<String, PodState>,
    /// The last snapshot handed out, brought up to date by the next [`Cache::snapshot`].
    snapshot: Snapshot,
    /// Whether `snapshot`'s node order still holds: no node came, went or changed zone since.
    order_current: bool,
    /// Nodes changed since `snapshot` was taken.
    dirty: HashSet<String>,
}

/// What one scheduling cycle sees: the nodes, and (as upstream's snapshot) the few of them
/// some plugins look at, so that those do not walk every node for every pod. Cloning shares
/// everything.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Arc<[Arc<NodeInfo>]>,
    /// Each node's position in `nodes`.
    index: Arc<HashMap<String, usize>>,
    /// Positions of the nodes with pods that have pod (anti-)affinity, ascending.
    with_affinity: Arc<Vec<usize>>,
    /// Positions of the nodes with pods that have required pod anti-affinity, ascending.
    with_required_anti_affinity: Arc<Vec<usize>>,
    /// How many nodes have each image (by each of its names).
    image_nodes: Arc<HashMap<String, usize>>,
    /// The nodes' topology domains and the pods grouped for PodTopologySpread.
    domains: DomainCache,
    pod_groups: Arc<PodGroups>,
}

/// Adds or removes `i` in the ascending `positions`, as `member` says.
fn set_membership(positions: &mut Arc<Vec<usize>>, i: usize, member: bool) {
    match (positions.binary_search(&i), member) {
        (Err(at), true) => Arc::make_mut(positions).insert(at, i),
        (Ok(at), false) => {
            Arc::make_mut(positions).remove(at);
        }
        _ => {}
    }
}

impl Snapshot {
    pub fn new(nodes: Vec<Arc<NodeInfo>>) -> Self {
        let positions = |keep: fn(&NodeInfo) -> bool| {
            Arc::new(
                (0..nodes.len())
                    .filter(|i| keep(&nodes[*i]))
                    .collect::<Vec<_>>(),
            )
        };
        let mut image_nodes: HashMap<String, usize> = HashMap::new();
        for n in &nodes {
            for image in n.image_sizes.keys() {
                *image_nodes.entry(image.clone()).or_default() += 1;
            }
        }
        Self {
            index: Arc::new(
                nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.name().to_string(), i))
                    .collect(),
            ),
            with_affinity: positions(|n| n.pods_with_affinity > 0),
            with_required_anti_affinity: positions(|n| n.pods_with_required_anti_affinity > 0),
            image_nodes: Arc::new(image_nodes),
            domains: DomainCache::default(),
            pod_groups: Arc::new(PodGroups::build(&nodes)),
            nodes: nodes.into(),
        }
    }

    /// Each node's value of the topology label `key`, by position in `nodes`.
    pub fn domains(&self, key: &str) -> Arc<Domains> {
        self.domains.get(&self.nodes, key)
    }

    /// The non-terminating pods grouped by namespace and labels, with their nodes' positions.
    pub fn pod_groups(&self) -> &PodGroups {
        &self.pod_groups
    }

    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).and_then(|i| self.nodes.get(*i))
    }

    /// The nodes with pods that have pod affinity or anti-affinity (upstream's
    /// `HavePodsWithAffinityList`).
    pub fn nodes_with_affinity_pods(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_affinity.iter().map(|i| &self.nodes[*i])
    }

    /// The nodes with pods that have required anti-affinity (upstream's
    /// `HavePodsWithRequiredAntiAffinityList`).
    pub fn nodes_with_required_anti_affinity_pods(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_required_anti_affinity
            .iter()
            .map(|i| &self.nodes[*i])
    }

    /// How many nodes have `image` (upstream's `ImageStateSummary.NumNodes`).
    pub fn nodes_with_image(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// Puts `info` in place of the node at `i`, keeping what is derived from it current.
    fn replace(&mut self, i: usize, info: Arc<NodeInfo>) {
        let old = &self.nodes[i];
        if old.image_sizes != info.image_sizes {
            let counts = Arc::make_mut(&mut self.image_nodes);
            for image in old.image_sizes.keys() {
                if let Some(n) = counts.get_mut(image) {
                    *n -= 1;
                    if *n == 0 {
                        counts.remove(image);
                    }
                }
            }
            for image in info.image_sizes.keys() {
                *counts.entry(image.clone()).or_default() += 1;
            }
        }
        let labels = |n: &NodeInfo| n.node.as_ref().map(|n| n.metadata.labels.clone());
        let same_node = match (&old.node, &info.node) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same_node && labels(old) != labels(&info) {
            self.domains = DomainCache::default();
        }
        let groups = Arc::make_mut(&mut self.pod_groups);
        groups.remove_node(i as u32, old);
        groups.add_node(i as u32, &info);
        set_membership(&mut self.with_affinity, i, info.pods_with_affinity > 0);
        set_membership(
            &mut self.with_required_anti_affinity,
            i,
            info.pods_with_required_anti_affinity > 0,
        );
        // In place when no cycle holds this snapshot any more; copied otherwise.
        Arc::make_mut(&mut self.nodes)[i] = info;
    }
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// A zone key as upstream's `GetZoneKey`: region and zone.
fn zone(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k)).cloned().unwrap_or_default();
    let (region, zone) = (get(REGION_LABEL), get(ZONE_LABEL));
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\x00:{zone}")
    }
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The NodeInfo to change, noted for the next snapshot.
    fn info_mut(&mut self, name: &str) -> &mut NodeInfo {
        if !self.dirty.contains(name) {
            self.dirty.insert(name.to_string());
        }
        Arc::make_mut(self.nodes.entry(name.to_string()).or_default())
    }

    pub fn add_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let existed = self.nodes.get(&name).is_some_and(|n| n.node.is_some());
        self.info_mut(&name).set_node(node);
        if !existed {
            self.order_current = false;
        }
    }

    pub fn update_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let zone_changed = self
            .nodes
            .get(&name)
            .and_then(|n| n.node.as_ref())
            .is_none_or(|old| zone(old) != zone(&node));
        self.info_mut(&name).set_node(node);
        if zone_changed {
            self.order_current = false;
        }
    }

    /// Forgets the Node; its pods (until they are deleted too) stay on a node-less entry.
    pub fn remove_node(&mut self, name: &str) {
        let Some(info) = self.nodes.get_mut(name) else {
            return;
        };
        if info.pods.is_empty() {
            self.nodes.remove(name);
        } else {
            Arc::make_mut(info).node = None;
        }
        self.order_current = false;
    }

    fn place(&mut self, pod: Arc<Pod>, node: &str) {
        self.info_mut(node).add_pod(PodInfo::new(pod));
    }

    fn unplace(&mut self, uid: &str, node: &str) {
        if !self.nodes.contains_key(node) {
            return;
        }
        let info = self.info_mut(node);
        info.remove_pod(uid);
        if info.node.is_none() && info.pods.is_empty() {
            self.nodes.remove(node);
        }
    }

    /// Places `pod` on `node` before it is bound.
    pub fn assume(&mut self, pod: Arc<Pod>, node: &str) {
        let uid = pod_uid(&pod).to_string();
        if let Some(prev) = self.pods.remove(&uid) {
            self.unplace(&uid, &prev.node);
        }
        self.place(pod.clone(), node);
        self.pods.insert(
            uid,
            PodState {
                pod,
                node: node.to_string(),
                assumed: true,
                binding_finished: false,
            },
        );
    }

    /// Notes that the bind call for an assumed pod returned.
    pub fn finish_binding(&mut self, uid: &str) {
        if let Some(p) = self.pods.get_mut(uid) {
            p.binding_finished = true;
        }
    }

    /// Takes an assumed pod off its node (its binding failed).
    pub fn forget(&mut self, uid: &str) {
        if let Some(p) = self.pods.get(uid)
            && p.assumed
        {
            let node = p.node.clone();
            self.pods.remove(uid);
            self.unplace(uid, &node);
        }
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// A bound pod the informer reports (added or updated); confirms an assumed one.
    pub fn add_pod(&mut self, pod: Arc<Pod>) {
        let uid = pod_uid(&pod).to_string();
        let node = node_name(&pod).to_string();
        if let Some(prev) = self.pods.remove(&uid) {
            self.unplace(&uid, &prev.node);
        }
        self.place(pod.clone(), &node);
        self.pods.insert(
            uid,
            PodState {
                pod,
                node,
                assumed: false,
                binding_finished: true,
            },
        );
    }

    pub fn update_pod(&mut self, pod: Arc<Pod>) {
        self.add_pod(pod);
    }

    pub fn remove_pod(&mut self, pod: &Pod) {
        let uid = pod_uid(pod).to_string();
        if let Some(prev) = self.pods.remove(&uid) {
            self.unplace(&uid, &prev.node);
        }
    }

    /// The pod as the cache holds it, if it does.
    pub fn pod(&self, uid: &str) -> Option<Arc<Pod>> {
        self.pods.get(uid).map(|p| p.pod.clone())
    }

    /// Keeps the pods `keep(uid, assumed)` accepts.
    pub fn retain_pods(&mut self, keep: impl Fn(&str, bool) -> bool) {
        let gone: Vec<(String, String)> = self
            .pods
            .iter()
            .filter(|(uid, p)| !keep(uid, p.assumed))
            .map(|(uid, p)| (uid.clone(), p.node.clone()))
            .collect();
        for (uid, node) in gone {
            self.pods.remove(&uid);
            self.unplace(&uid, &node);
        }
    }

    /// The Node object the cache holds under `name`.
    pub fn node(&self, name: &str) -> Option<Arc<Node>> {
        self.nodes.get(name).and_then(|n| n.node.clone())
    }

    /// Names of the nodes with a Node object.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.node.is_some())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// (nodes, pods, assumed pods), for metrics.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let nodes = self.nodes.values().filter(|n| n.node.is_some()).count();
        let assumed = self.pods.values().filter(|p| p.assumed).count();
        (nodes, self.pods.len(), assumed)
    }

    /// Node names interleaved by zone (one from each zone in turn), as upstream's node tree.
    fn ordered_names(&self) -> Vec<&str> {
        let mut zones: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (name, info) in &self.nodes {
            if let Some(node) = &info.node {
                zones.entry(zone(node)).or_default().push(name);
            }
        }
        let mut lists: Vec<std::vec::IntoIter<&str>> = zones
            .into_values()
            .map(|mut v| {
                v.sort_unstable();
                v.into_iter()
            })
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        loop {
            let before = order.len();
            for l in lists.iter_mut() {
                order.extend(l.next());
            }
            if order.len() == before {
                break;
            }
        }
        order
    }

    /// The nodes (with a Node object) as one cycle sees them.
    pub fn snapshot(&mut self) -> Snapshot {
        if !self.order_current {
            let nodes = self
                .ordered_names()
                .into_iter()
                .filter_map(|n| self.nodes.get(n).cloned())
                .collect();
            self.snapshot = Snapshot::new(nodes);
            self.order_current = true;
            self.dirty.clear();
        } else {
            for name in self.dirty.drain() {
                let i = self.snapshot.index.get(&name).copied();
                if let (Some(i), Some(info)) = (i, self.nodes.get(&name)) {
                    self.snapshot.replace(i, info.clone());
                }
            }
        }
        self.snapshot.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::*;
    use k8s_openapi::api::core::v1::{Affinity, ContainerImage, PodAffinityTerm, PodAntiAffinity};

    #[test]
    fn assumed_pods_count_until_forgotten_or_confirmed() {
        let mut c = Cache::new();
        c.add_node(Arc::new(node("a", "2", "2Gi")));
        let p = Arc::new(pod("p", &[&[("cpu", "1")]]));
        c.assume(p.clone(), "a");
        assert!(c.is_assumed("uid-p"));
        let snap = c.snapshot();
        assert_eq!(snap.nodes[0].requested.milli_cpu, 1000);
        // A snapshot taken earlier does not change (copy-on-write).
        c.forget("uid-p");
        assert_eq!(snap.nodes[0].requested.milli_cpu, 1000);
        assert_eq!(c.snapshot().nodes[0].requested.milli_cpu, 0);
        assert!(!c.is_assumed("uid-p"));
        // Assume, then the informer confirms: counted once.
        c.assume(p.clone(), "a");
        c.finish_binding("uid-p");
        c.add_pod(Arc::new(on_node((*p).clone(), "a")));
        assert!(!c.is_assumed("uid-p"));
        assert_eq!(c.snapshot().nodes[0].pods.len(), 1);
        assert_eq!(c.snapshot().nodes[0].requested.milli_cpu, 1000);
        // Forgetting a confirmed pod does nothing.
        c.forget("uid-p");
        assert_eq!(c.snapshot().nodes[0].pods.len(), 1);
        c.remove_pod(&p);
        assert_eq!(c.snapshot().nodes[0].pods.len(), 0);
    }

    #[test]
    fn pods_of_unknown_nodes_wait_for_the_node() {
        let mut c = Cache::new();
        c.add_pod(Arc::new(on_node(pod("p", &[&[("cpu", "1")]]), "later")));
        assert!(c.snapshot().nodes.is_empty());
        c.add_node(Arc::new(node("later", "2", "2Gi")));
        let snap = c.snapshot();
        assert_eq!(snap.nodes.len(), 1);
        assert_eq!(snap.nodes[0].requested.milli_cpu, 1000);
        c.remove_node("later");
        assert!(c.snapshot().nodes.is_empty());
        assert_eq!(c.sizes(), (0, 1, 0));
    }

    /// Each node's name, requested CPU and pod count, in snapshot order.
    fn summary(s: &Snapshot) -> Vec<(String, i64, usize)> {
        s.nodes
            .iter()
            .map(|n| (n.name().to_string(), n.requested.milli_cpu, n.pods.len()))
            .collect()
    }

    /// The next snapshot, checked against one rebuilt from scratch.
    fn checked_snapshot(c: &mut Cache) -> Snapshot {
        let incremental = c.snapshot();
        c.order_current = false;
        let rebuilt = c.snapshot();
        assert_eq!(summary(&incremental), summary(&rebuilt));
        assert_eq!(incremental.with_affinity, rebuilt.with_affinity);
        assert_eq!(
            incremental.with_required_anti_affinity,
            rebuilt.with_required_anti_affinity
        );
        assert_eq!(incremental.image_nodes, rebuilt.image_nodes);
        for n in rebuilt.nodes.iter() {
            assert!(Arc::ptr_eq(incremental.get(n.name()).unwrap(), n));
        }
        // Same order, so the same positions: the spread index must match too.
        assert_eq!(
            incremental.pod_groups().counts(),
            rebuilt.pod_groups().counts()
        );
        let values = |s: &Snapshot, key: &str| {
            let d = s.domains(key);
            let values: Vec<_> = d
                .of_node
                .iter()
                .map(|i| d.values.get(*i as usize).cloned())
                .collect();
            values
        };
        for key in [ZONE_LABEL, "rack"] {
            assert_eq!(values(&incremental, key), values(&rebuilt, key));
        }
        incremental
    }

    #[test]
    fn snapshots_follow_every_change_without_rebuilding() {
        let mut c = Cache::new();
        for n in ["a", "b", "c"] {
            c.add_node(Arc::new(node(n, "4", "4Gi")));
        }
        let held = checked_snapshot(&mut c);
        let p1 = Arc::new(pod("p1", &[&[("cpu", "1")]]));
        c.assume(p1.clone(), "b");
        let s = checked_snapshot(&mut c);
        assert_eq!(s.get("b").unwrap().requested.milli_cpu, 1000);
        // The snapshot a cycle still holds does not change.
        assert_eq!(held.get("b").unwrap().requested.milli_cpu, 0);
        drop((held, s));
        c.add_pod(Arc::new(on_node((*p1).clone(), "b")));
        checked_snapshot(&mut c);
        let p2 = Arc::new(on_node(pod("p2", &[&[("cpu", "2")]]), "c"));
        c.add_pod(p2.clone());
        c.add_pod(Arc::new(on_node(pod("p3", &[&[("cpu", "1")]]), "d")));
        assert_eq!(checked_snapshot(&mut c).nodes.len(), 3);
        c.add_node(Arc::new(node("d", "4", "4Gi")));
        assert_eq!(
            checked_snapshot(&mut c)
                .get("d")
                .unwrap()
                .requested
                .milli_cpu,
            1000
        );
        c.update_node(Arc::new(with_labels(
            node("a", "8", "4Gi"),
            &[(ZONE_LABEL, "z")],
        )));
        let s = checked_snapshot(&mut c);
        assert_eq!(s.get("a").unwrap().allocatable.milli_cpu, 8000);
        c.remove_pod(&p2);
        c.forget("uid-p1");
        c.remove_node("b");
        let s = checked_snapshot(&mut c);
        assert_eq!(s.get("c").unwrap().pods.len(), 0);
        assert!(s.get("b").is_none());
        assert_eq!(s.nodes.len(), 3);
        drop(s);
        // What plugins look up instead of walking every node follows too.
        let mut anti = on_node(pod("anti", &[&[]]), "c");
        anti.spec.as_mut().unwrap().affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let anti = Arc::new(anti);
        c.add_pod(anti.clone());
        let mut imaged = node("d", "4", "4Gi");
        imaged.status.as_mut().unwrap().images = Some(vec![ContainerImage {
            names: Some(vec!["busybox:1.36".into()]),
            size_bytes: Some(1),
        }]);
        c.update_node(Arc::new(imaged));
        let s = checked_snapshot(&mut c);
        let names = |it: &mut dyn Iterator<Item = &Arc<NodeInfo>>| {
            it.map(|n| n.name().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(names(&mut s.nodes_with_affinity_pods()), ["c"]);
        assert_eq!(
            names(&mut s.nodes_with_required_anti_affinity_pods()),
            ["c"]
        );
        assert_eq!(s.nodes_with_image("busybox:1.36"), 1);
        drop(s);
        // A label no zone depends on: the nodes keep their order, the domains are rebuilt.
        c.update_node(Arc::new(with_labels(
            node("b", "4", "4Gi"),
            &[("rack", "r1")],
        )));
        let s = checked_snapshot(&mut c);
        assert_eq!(s.domains("rack").values, ["r1"]);
        drop(s);
        c.remove_pod(&anti);
        c.update_node(Arc::new(node("d", "4", "4Gi")));
        let s = checked_snapshot(&mut c);
        assert_eq!(s.nodes_with_affinity_pods().count(), 0);
        assert_eq!(s.nodes_with_image("busybox:1.36"), 0);
    }

    #[test]
    fn snapshots_interleave_zones() {
        let mut c = Cache::new();
        for (n, z) in [
            ("a1", "a"),
            ("a2", "a"),
            ("b1", "b"),
            ("b2", "b"),
            ("c1", "c"),
        ] {
            c.add_node(Arc::new(with_labels(
                node(n, "1", "1Gi"),
                &[(ZONE_LABEL, z)],
            )));
        }
        let names: Vec<String> = c
            .snapshot()
            .nodes
            .iter()
            .map(|n| n.name().to_string())
            .collect();
        assert_eq!(names, vec!["a1", "b1", "c1", "a2", "b2"]);
    }
}
