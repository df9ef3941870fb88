//! Turning informer changes into cache and queue updates, as upstream's `eventhandlers.go`:
//! bound pods go to the cache (confirming assumed ones), pending pods of one of our profiles to
//! the queue, nodes to the cache; and each change that may help unschedulable pods is
//! announced to the queue as a cluster event. Finished pods (Succeeded, Failed) count as
//! deleted, as upstream's pod informer filters them out. Pods get their priority filled in
//! first ([`crate::priority`]).

use crate::cache::Cache;
use crate::framework::cluster_event::{
    self, Change, ClusterEvent, EventResource, Object, action, node_update,
};
use crate::node_info::pod_uid;
use crate::queue::{self, SchedulingQueue};
use controllers::informer::Change as InformerChange;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::Store;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

fn assigned(pod: &Pod) -> bool {
    !node_name(pod).is_empty()
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

/// Applies informer changes to the cache and the queue.
#[derive(Clone)]
pub struct Handlers {
    pub cache: Arc<Mutex<Cache>>,
    pub queue: Arc<SchedulingQueue>,
    pub priorities: crate::priority::Resolver,
}

impl Handlers {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn responsible(&self, pod: &Pod) -> bool {
        self.queue.profiles().for_pod(pod).is_some()
    }

    /// A pod was added or changed.
    pub fn pod_applied(&self, new: Arc<Pod>, old: Option<Arc<Pod>>) {
        let now = Instant::now();
        let new = self.priorities.resolve(new);
        let old = old.map(|o| self.priorities.resolve(o));
        if terminal(&new) {
            return self.pod_deleted(new);
        }
        if assigned(&new) {
            let was_pending = old.as_ref().is_none_or(|o| !assigned(o));
            if was_pending {
                self.queue.delete(&new);
            }
            self.cache().add_pod(new.clone());
            // Pods with inter-pod affinity or spreading constraints may wait for this pod or
            // its labels (upstream's AssignedPodAdd, and AssignedPodUpdate with
            // UpdatePodLabel).
            if was_pending {
                let added = Change {
                    event: cluster_event::ASSIGNED_POD_ADD,
                    old: None,
                    new: Some(Object::Pod(new.clone())),
                };
                self.queue.on_event(&added, now);
            } else if let Some(o) = old
                .as_ref()
                .filter(|o| o.metadata.labels != new.metadata.labels)
            {
                let relabelled = Change {
                    event: ClusterEvent::new(
                        EventResource::AssignedPod,
                        action::UPDATE_POD_LABEL,
                        "AssignedPodUpdate",
                    ),
                    old: Some(Object::Pod(o.clone())),
                    new: Some(Object::Pod(new.clone())),
                };
                self.queue.on_event(&relabelled, now);
            }
            if let Some(old) = old.filter(|o| assigned(o))
                && queue::assigned_pod_scaled_down(&old, &new)
            {
                self.queue
                    .on_event(&queue::assigned_pod_update(old, new), now);
            }
            return;
        }
        if !self.responsible(&new) {
            return;
        }
        if new.metadata.deletion_timestamp.is_some() {
            self.queue.delete(&new);
            return;
        }
        match old {
            Some(o) if !assigned(&o) => self.queue.update(new, now),
            _ => self.queue.add(new, now),
        }
    }

    /// A pod was deleted (or finished).
    pub fn pod_deleted(&self, pod: Arc<Pod>) {
        self.queue.delete(&pod);
        let in_cache = self.cache().pod(pod_uid(&pod)).is_some();
        if assigned(&pod) || in_cache {
            self.cache().remove_pod(&pod);
            self.queue
                .on_event(&queue::assigned_pod_deleted(pod), Instant::now());
        }
    }

    pub fn node_applied(&self, new: Arc<Node>, old: Option<Arc<Node>>) {
        let now = Instant::now();
        match old {
            None => {
                self.cache().add_node(new.clone());
                self.queue.on_event(
                    &Change {
                        event: cluster_event::NODE_ADD,
                        old: None,
                        new: Some(Object::Node(new)),
                    },
                    now,
                );
            }
            Some(old) => {
                self.cache().update_node(new.clone());
                if let Some(event) = node_update(&old, &new) {
                    self.queue.on_event(
                        &Change {
                            event,
                            old: Some(Object::Node(old)),
                            new: Some(Object::Node(new)),
                        },
                        now,
                    );
                }
            }
        }
    }

    pub fn node_deleted(&self, node: &Node) {
        self.cache()
            .remove_node(node.metadata.name.as_deref().unwrap_or_default());
        // Spreading counts domains by their nodes (upstream's NodeDelete).
        let deleted = Change {
            event: ClusterEvent::new(EventResource::Node, action::DELETE, "NodeDelete"),
            old: Some(Object::Node(Arc::new(node.clone()))),
            new: None,
        };
        self.queue.on_event(&deleted, Instant::now());
    }

    /// Brings everything in line with the informers' stores (at start, and after a relist).
    pub fn resync_pods(&self, store: &Store<Pod>) {
        let pods = store.state();
        let present: HashSet<String> = pods.iter().map(|p| pod_uid(p).to_string()).collect();
        for pod in pods {
            let cached = self.cache().pod(pod_uid(&pod));
            self.pod_applied(pod, cached);
        }
        self.cache()
            .retain_pods(|uid, assumed| assumed || present.contains(uid));
    }

    pub fn resync_nodes(&self, store: &Store<Node>) {
        let nodes = store.state();
        let present: HashSet<String> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let old = self.cache().node(&name);
            self.node_applied(node, old);
        }
        for name in self.cache().node_names() {
            if !present.contains(&name) {
                self.cache().remove_node(&name);
            }
        }
    }

    /// Follows the pods informer until it stops.
    pub async fn follow_pods(
        self,
        mut changes: impl futures::Stream<Item = InformerChange<Pod>> + Unpin,
        store: Store<Pod>,
    ) {
        while let Some(change) = changes.next().await {
            match change {
                InformerChange::Applied { new, old } => self.pod_applied(new, old),
                InformerChange::Deleted(pod) => self.pod_deleted(pod),
                InformerChange::Relisted => self.resync_pods(&store),
            }
        }
    }

    /// Follows a storage informer (claims, volumes, classes, CSI objects) until it stops:
    /// each object added or changed is announced to the queue as `resource`'s Add or Update
    /// (upstream's storage event handlers; deletions help no plugin). `wrap` gives the hints
    /// the object where they look at it.
    pub async fn follow_storage<K>(
        self,
        mut changes: impl futures::Stream<Item = InformerChange<K>> + Unpin,
        resource: EventResource,
        labels: (&'static str, &'static str),
        wrap: fn(Arc<K>) -> Option<Object>,
    ) {
        while let Some(change) = changes.next().await {
            let InformerChange::Applied { new, old } = change else {
                continue;
            };
            let (actions, label) = match old {
                None => (action::ADD, labels.0),
                Some(_) => (action::UPDATE_OBJECT, labels.1),
            };
            let change = Change {
                event: ClusterEvent::new(resource, actions, label),
                old: old.and_then(wrap),
                new: wrap(new),
            };
            self.queue.on_event(&change, Instant::now());
        }
    }

    /// Follows the nodes informer until it stops.
    pub async fn follow_nodes(
        self,
        mut changes: impl futures::Stream<Item = InformerChange<Node>> + Unpin,
        store: Store<Node>,
    ) {
        while let Some(change) = changes.next().await {
            match change {
                InformerChange::Applied { new, old } => self.node_applied(new, old),
                InformerChange::Deleted(node) => self.node_deleted(&node),
                InformerChange::Relisted => self.resync_nodes(&store),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::node_info::testing::*;
    use crate::queue::Profiles;
    use std::time::Duration;

    fn handlers() -> Handlers {
        let fw = Arc::new(crate::config::framework_for_tests(
            &Config::default().profiles[0],
        ));
        Handlers {
            cache: Arc::new(Mutex::new(Cache::new())),
            queue: Arc::new(SchedulingQueue::new(
                Profiles::new(fw, vec![]),
                Duration::from_secs(1),
                Duration::from_secs(10),
            )),
            priorities: Default::default(),
        }
    }

    #[test]
    fn pending_pods_queue_bound_pods_cache_others_are_ignored() {
        let h = handlers();
        let p = Arc::new(pod("p", &[&[("cpu", "1")]]));
        h.pod_applied(p.clone(), None);
        assert_eq!(h.queue.pending().active, 1);
        let mut other = pod("o", &[&[]]);
        other.spec.as_mut().unwrap().scheduler_name = Some("my-scheduler".into());
        h.pod_applied(Arc::new(other), None);
        assert_eq!(h.queue.pending().active, 1);
        // Bound: leaves the queue, enters the cache.
        h.node_applied(Arc::new(node("n", "2", "2Gi")), None);
        let bound = Arc::new(on_node((*p).clone(), "n"));
        h.pod_applied(bound.clone(), Some(p));
        assert_eq!(h.queue.pending().active, 0);
        assert_eq!(
            h.cache.lock().unwrap().snapshot().nodes[0]
                .requested
                .milli_cpu,
            1000
        );
        // Finished pods free their node.
        let mut done = (*bound).clone();
        done.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        h.pod_applied(Arc::new(done), Some(bound));
        assert_eq!(
            h.cache.lock().unwrap().snapshot().nodes[0]
                .requested
                .milli_cpu,
            0
        );
    }
}
