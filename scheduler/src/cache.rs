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
//! zone-interleaved order, so that looking at a part of the nodes spreads over zones.

use crate::node_info::{NodeInfo, PodInfo, pod_uid};
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::{BTreeMap, HashMap};
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
    /// The node order of snapshots; rebuilt when nodes come or go.
    order: Option<Vec<String>>,
}

/// What one scheduling cycle sees.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<Arc<NodeInfo>>,
}

impl Snapshot {
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.nodes.iter().find(|n| n.name() == name)
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

    fn info_mut(&mut self, name: &str) -> &mut NodeInfo {
        Arc::make_mut(self.nodes.entry(name.to_string()).or_default())
    }

    pub fn add_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let existed = self.nodes.get(&name).is_some_and(|n| n.node.is_some());
        self.info_mut(&name).set_node(node);
        if !existed {
            self.order = None;
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
            self.order = None;
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
        self.order = None;
    }

    fn place(&mut self, pod: Arc<Pod>, node: &str) {
        self.info_mut(node).add_pod(PodInfo::new(pod));
    }

    fn unplace(&mut self, uid: &str, node: &str) {
        if let Some(info) = self.nodes.get_mut(node) {
            Arc::make_mut(info).remove_pod(uid);
            if info.node.is_none() && info.pods.is_empty() {
                self.nodes.remove(node);
            }
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
    fn ordered(&mut self) -> &[String] {
        if self.order.is_none() {
            let mut zones: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (name, info) in &self.nodes {
                if let Some(node) = &info.node {
                    zones.entry(zone(node)).or_default().push(name.clone());
                }
            }
            let mut lists: Vec<std::vec::IntoIter<String>> = zones
                .into_values()
                .map(|mut v| {
                    v.sort();
                    v.into_iter()
                })
                .collect();
            let mut order = Vec::new();
            loop {
                let before = order.len();
                for l in lists.iter_mut() {
                    if let Some(n) = l.next() {
                        order.push(n);
                    }
                }
                if order.len() == before {
                    break;
                }
            }
            self.order = Some(order);
        }
        self.order.as_deref().unwrap_or_default()
    }

    /// The nodes (with a Node object) as one cycle sees them.
    pub fn snapshot(&mut self) -> Snapshot {
        let order: Vec<String> = self.ordered().to_vec();
        Snapshot {
            nodes: order
                .iter()
                .filter_map(|n| self.nodes.get(n).cloned())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::*;

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
