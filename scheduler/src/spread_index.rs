//! What PodTopologySpread counts, kept with the snapshot so that a cycle need not walk every
//! node's labels and every pod's labels: with thousands of nodes that walk was most of a
//! cycle (upstream spreads the same walk over 16 goroutines).
//!
//! - [`Domains`]: each node's value of one topology key, built the first time a cycle asks for
//!   the key and kept until a node's labels change or nodes come or go.
//! - [`PodGroups`]: the pods that are not terminating, grouped by namespace and labels, with how
//!   many of each group every node runs; kept current as the snapshot replaces nodes.
//!
//! Positions are those of the snapshot's `nodes`.

use crate::node_info::NodeInfo;
use k8s_openapi::api::core::v1::Pod;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// A node without the key.
pub const NO_DOMAIN: u32 = u32::MAX;

/// The nodes' values of one topology key.
#[derive(Debug)]
pub struct Domains {
    /// The distinct values; a domain's id is its index.
    pub values: Vec<String>,
    /// Each node's domain id, [`NO_DOMAIN`] for nodes without the label.
    pub of_node: Vec<u32>,
}

impl Domains {
    fn build(nodes: &[Arc<NodeInfo>], key: &str) -> Self {
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut values = Vec::new();
        let of_node = nodes
            .iter()
            .map(|info| {
                let value = info
                    .node
                    .as_ref()
                    .and_then(|n| n.metadata.labels.as_ref())
                    .and_then(|l| l.get(key));
                let Some(value) = value else {
                    return NO_DOMAIN;
                };
                *ids.entry(value.as_str()).or_insert_with(|| {
                    values.push(value.clone());
                    (values.len() - 1) as u32
                })
            })
            .collect();
        Self { values, of_node }
    }
}

/// [`Domains`] by topology key, shared by the clones of one snapshot.
#[derive(Debug, Default, Clone)]
pub struct DomainCache(Arc<Mutex<HashMap<String, Arc<Domains>>>>);

impl DomainCache {
    pub fn get(&self, nodes: &[Arc<NodeInfo>], key: &str) -> Arc<Domains> {
        // A poisoned lock only means a panic elsewhere mid-insert; the map is still whole.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = map.get(key) {
            return d.clone();
        }
        let d = Arc::new(Domains::build(nodes, key));
        map.insert(key.to_string(), d.clone());
        d
    }
}

/// Pods of one namespace with the same labels, and how many of them each node runs.
#[derive(Debug, Clone)]
pub struct PodGroup {
    /// One of the pods, for the labels they share.
    member: Arc<Pod>,
    /// Pods by node position; no zero counts.
    pub per_node: HashMap<u32, u32>,
}

impl PodGroup {
    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.member.metadata.labels.as_ref()
    }
}

/// The snapshot's non-terminating pods by namespace, then by a hash of their labels.
#[derive(Debug, Clone, Default)]
pub struct PodGroups {
    by_namespace: HashMap<String, HashMap<u64, Vec<PodGroup>>>,
}

fn labels_hash(pod: &Pod) -> u64 {
    let mut h = DefaultHasher::new();
    pod.metadata.labels.hash(&mut h);
    h.finish()
}

impl PodGroups {
    pub fn build(nodes: &[Arc<NodeInfo>]) -> Self {
        let mut groups = Self::default();
        for (i, info) in nodes.iter().enumerate() {
            groups.add_node(i as u32, info);
        }
        groups
    }

    /// Counts the pods of the node at `position`.
    pub fn add_node(&mut self, position: u32, info: &NodeInfo) {
        for p in &info.pods {
            self.change(position, &p.pod, true);
        }
    }

    /// Forgets the pods of the node at `position`.
    pub fn remove_node(&mut self, position: u32, info: &NodeInfo) {
        for p in &info.pods {
            self.change(position, &p.pod, false);
        }
    }

    fn change(&mut self, position: u32, pod: &Arc<Pod>, add: bool) {
        if pod.metadata.deletion_timestamp.is_some() {
            return;
        }
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let hash = labels_hash(pod);
        if !add {
            let Some(by_hash) = self.by_namespace.get_mut(namespace) else {
                return;
            };
            let Some(groups) = by_hash.get_mut(&hash) else {
                return;
            };
            let Some(at) = groups
                .iter()
                .position(|g| g.labels() == pod.metadata.labels.as_ref())
            else {
                return;
            };
            if let Some(n) = groups[at].per_node.get_mut(&position) {
                *n -= 1;
                if *n == 0 {
                    groups[at].per_node.remove(&position);
                }
            }
            // Empty groups go: label sets unique to one pod (Jobs, StatefulSets) would pile up.
            if groups[at].per_node.is_empty() {
                groups.swap_remove(at);
                if groups.is_empty() {
                    by_hash.remove(&hash);
                    if by_hash.is_empty() {
                        self.by_namespace.remove(namespace);
                    }
                }
            }
            return;
        }
        let groups = match self.by_namespace.get_mut(namespace) {
            Some(by_hash) => by_hash.entry(hash).or_default(),
            None => self
                .by_namespace
                .entry(namespace.to_string())
                .or_default()
                .entry(hash)
                .or_default(),
        };
        let at = match groups
            .iter()
            .position(|g| g.labels() == pod.metadata.labels.as_ref())
        {
            Some(at) => at,
            None => {
                groups.push(PodGroup {
                    member: pod.clone(),
                    per_node: HashMap::new(),
                });
                groups.len() - 1
            }
        };
        *groups[at].per_node.entry(position).or_default() += 1;
    }

    /// The groups of one namespace.
    pub fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = &PodGroup> {
        self.by_namespace
            .get(namespace)
            .into_iter()
            .flat_map(|by_hash| by_hash.values().flatten())
    }
}

#[cfg(test)]
impl PodGroups {
    /// Pods per (namespace, labels, node position), for comparing two indexes.
    pub fn counts(&self) -> BTreeMap<(String, String, u32), u32> {
        self.by_namespace
            .iter()
            .flat_map(|(ns, by_hash)| {
                by_hash.values().flatten().flat_map(move |g| {
                    let labels = format!("{:?}", g.labels());
                    g.per_node
                        .iter()
                        .map(move |(i, n)| ((ns.clone(), labels.clone(), *i), *n))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::PodInfo;
    use k8s_openapi::api::core::v1::Node;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn node(name: &str, zone: Option<&str>, pods: &[(&str, &str, bool)]) -> Arc<NodeInfo> {
        let mut labels = BTreeMap::from([("kubernetes.io/hostname".to_string(), name.into())]);
        if let Some(z) = zone {
            labels.insert("zone".into(), z.into());
        }
        let mut info = NodeInfo::new(Arc::new(Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        }));
        for (namespace, app, terminating) in pods {
            info.add_pod(PodInfo::new(Arc::new(Pod {
                metadata: ObjectMeta {
                    namespace: Some(namespace.to_string()),
                    labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
                    deletion_timestamp: terminating
                        .then_some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)),
                    ..Default::default()
                },
                ..Default::default()
            })));
        }
        Arc::new(info)
    }

    fn counts(groups: &PodGroups, namespace: &str) -> BTreeMap<(String, u32), u32> {
        groups
            .in_namespace(namespace)
            .flat_map(|g| {
                let app = g.labels().unwrap()["app"].clone();
                g.per_node.iter().map(move |(n, c)| ((app.clone(), *n), *c))
            })
            .collect()
    }

    #[test]
    fn domains_give_each_node_its_value() {
        let nodes = [
            node("a", Some("z1"), &[]),
            node("b", None, &[]),
            node("c", Some("z2"), &[]),
            node("d", Some("z1"), &[]),
        ];
        let d = Domains::build(&nodes, "zone");
        assert_eq!(d.values, ["z1", "z2"]);
        assert_eq!(d.of_node, [0, NO_DOMAIN, 1, 0]);
        let cache = DomainCache::default();
        assert!(Arc::ptr_eq(
            &cache.get(&nodes, "zone"),
            &cache.get(&nodes[..1], "zone")
        ));
    }

    #[test]
    fn groups_count_pods_per_node_by_namespace_and_labels() {
        let nodes = [
            node("a", None, &[("ns", "web", false), ("ns", "web", false)]),
            node("b", None, &[("ns", "web", false), ("ns", "db", false)]),
            node("c", None, &[("other", "web", false), ("ns", "web", true)]),
        ];
        let mut groups = PodGroups::build(&nodes);
        let want = BTreeMap::from([
            (("web".to_string(), 0), 2),
            (("web".to_string(), 1), 1),
            (("db".to_string(), 1), 1),
        ]);
        assert_eq!(counts(&groups, "ns"), want);
        assert_eq!(
            counts(&groups, "other"),
            BTreeMap::from([(("web".to_string(), 2), 1)])
        );

        // Replacing node a by its new state: one web pod left.
        groups.remove_node(0, &nodes[0]);
        groups.add_node(0, &node("a", None, &[("ns", "web", false)]));
        let mut want = want;
        want.insert(("web".to_string(), 0), 1);
        assert_eq!(counts(&groups, "ns"), want);
        groups.remove_node(1, &nodes[1]);
        assert_eq!(
            counts(&groups, "ns"),
            BTreeMap::from([(("web".to_string(), 0), 1)])
        );
        // The last pod of a label set takes its group along.
        assert_eq!(groups.in_namespace("ns").count(), 1);
        groups.remove_node(2, &nodes[2]);
        assert!(!groups.by_namespace.contains_key("other"));
    }
}
