//! The pods nominated to nodes, as upstream's `backend/queue` nominator: a pod that preempted
//! others is nominated to the node it freed (`status.nominatedNodeName`), and until it is
//! bound there the Filter of every pod of equal or lower priority counts it as running on that
//! node ([`crate::framework::Framework::run_filter_with_nominated_pods`]), so the room is kept
//! for it.
//!
//! Timeline of a nomination: the preemptor fails its cycle with a PostFilter result -> `add`
//! (Override) -> the pod's status update arrives (`update` keeps the node) -> the pod is
//! assumed on a node (`delete`) or deleted (`delete`); a higher-priority preemptor may clear it
//! (its status update arrives with no node: `update` drops it).

use crate::node_info::{PodInfo, pod_uid};
use k8s_openapi::api::core::v1::Pod;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A pod's `status.nominatedNodeName` ("" when none).
pub fn nominated_node_name(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .unwrap_or_default()
}

/// How a failed cycle changes the pod's nomination (upstream's `NominatingInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nominating {
    /// Keep what the pod's status says.
    Noop,
    /// Nominate the pod to this node ("" clears the nomination).
    Override(String),
}

impl Nominating {
    /// Upstream's `clearNominatedNode`.
    pub fn clear() -> Self {
        Nominating::Override(String::new())
    }
}

#[derive(Debug, Default)]
struct State {
    /// Nominated pods by node, in nomination order.
    by_node: HashMap<String, Vec<PodInfo>>,
    /// The node each nominated pod is nominated to, by UID.
    node_of: HashMap<String, String>,
}

impl State {
    fn delete(&mut self, uid: &str) {
        let Some(node) = self.node_of.remove(uid) else {
            return;
        };
        if let Some(pods) = self.by_node.get_mut(&node) {
            pods.retain(|p| p.uid() != uid);
            if pods.is_empty() {
                self.by_node.remove(&node);
            }
        }
    }

    fn add(&mut self, pod: Arc<Pod>, nominating: &Nominating) {
        let uid = pod_uid(&pod).to_string();
        self.delete(&uid);
        let node = match nominating {
            Nominating::Override(node) => node.clone(),
            Nominating::Noop => nominated_node_name(&pod).to_string(),
        };
        if node.is_empty() {
            return;
        }
        self.node_of.insert(uid, node.clone());
        self.by_node
            .entry(node)
            .or_default()
            .push(PodInfo::new(pod));
    }
}

/// The nominations, shared by the queue (which keeps them current) and the scheduling cycle.
#[derive(Debug, Default)]
pub struct Nominator {
    state: Mutex<State>,
}

/// The nominated pods by node as one cycle sees them.
#[derive(Debug, Clone, Default)]
pub struct NominatedPods {
    by_node: HashMap<String, Vec<PodInfo>>,
}

impl NominatedPods {
    /// The pods nominated to `node`.
    pub fn for_node(&self, node: &str) -> &[PodInfo] {
        self.by_node
            .get(node)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Nominates `pod` to `node` (for tests).
    pub fn insert(&mut self, node: &str, pod: Arc<Pod>) {
        self.by_node
            .entry(node.to_string())
            .or_default()
            .push(PodInfo::new(pod));
    }
}

impl Nominator {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `pod`'s nomination (upstream's `AddNominatedPod`); a pending pod that arrives
    /// with `status.nominatedNodeName` (a restart) is added with [`Nominating::Noop`].
    pub fn add(&self, pod: Arc<Pod>, nominating: &Nominating) {
        self.lock().add(pod, nominating);
    }

    /// A nominated pod changed (upstream's `UpdateNominatedPod`): an update that neither
    /// sets nor clears the nomination keeps the node nominated in memory, which the pod's
    /// status may not show yet.
    pub fn update(&self, old: &Pod, new: Arc<Pod>) {
        let mut st = self.lock();
        let mut nominating = Nominating::Noop;
        if nominated_node_name(old).is_empty()
            && nominated_node_name(&new).is_empty()
            && let Some(node) = st.node_of.get(pod_uid(old))
        {
            nominating = Nominating::Override(node.clone());
        }
        st.delete(pod_uid(old));
        st.add(new, &nominating);
    }

    /// A pending pod changed: [`Nominator::update`] from the version held, or an `add` of a
    /// pod not held.
    pub fn pod_changed(&self, new: Arc<Pod>) {
        let old = {
            let st = self.lock();
            st.node_of.get(pod_uid(&new)).and_then(|node| {
                st.by_node
                    .get(node)
                    .and_then(|ps| ps.iter().find(|p| p.uid() == pod_uid(&new)))
                    .map(|p| p.pod.clone())
            })
        };
        match old {
            Some(old) => self.update(&old, new),
            None => self.add(new, &Nominating::Noop),
        }
    }

    /// Forgets `pod`'s nomination (it was scheduled, or deleted).
    pub fn delete(&self, pod: &Pod) {
        self.lock().delete(pod_uid(pod));
    }

    /// The pods nominated to `node`.
    pub fn pods_for_node(&self, node: &str) -> Vec<Arc<Pod>> {
        self.lock()
            .by_node
            .get(node)
            .map(|ps| ps.iter().map(|p| p.pod.clone()).collect())
            .unwrap_or_default()
    }

    /// The node `uid` is nominated to.
    pub fn node_of(&self, uid: &str) -> Option<String> {
        self.lock().node_of.get(uid).cloned()
    }

    /// Every nomination, for one cycle.
    pub fn snapshot(&self) -> NominatedPods {
        NominatedPods {
            by_node: self.lock().by_node.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::pod;
    use k8s_openapi::api::core::v1::PodStatus;

    fn nominated(name: &str, node: &str) -> Pod {
        let mut p = pod(name, &[&[]]);
        p.status = Some(PodStatus {
            nominated_node_name: Some(node.to_string()),
            ..Default::default()
        });
        p
    }

    #[test]
    fn nominations_follow_the_pods() {
        let n = Nominator::default();
        let p = Arc::new(pod("p", &[&[]]));
        // Noop without a nominated node in the status: nothing.
        n.add(p.clone(), &Nominating::Noop);
        assert!(n.snapshot().for_node("a").is_empty());
        n.add(p.clone(), &Nominating::Override("a".into()));
        assert_eq!(n.pods_for_node("a").len(), 1);
        // An update that does not touch the nomination keeps it (the status lags behind).
        n.update(&p, p.clone());
        assert_eq!(n.node_of("uid-p").as_deref(), Some("a"));
        // The status now says b.
        let on_b = Arc::new(nominated("p", "b"));
        n.update(&p, on_b.clone());
        assert_eq!(n.node_of("uid-p").as_deref(), Some("b"));
        assert!(n.pods_for_node("a").is_empty());
        // The nomination is cleared in the status: gone.
        n.update(&on_b, p.clone());
        assert_eq!(n.node_of("uid-p"), None);
        // A pending pod arriving with a nomination (a restart) is nominated.
        n.add(Arc::new(nominated("q", "c")), &Nominating::Noop);
        assert_eq!(n.snapshot().for_node("c").len(), 1);
        n.add(Arc::new(nominated("q", "c")), &Nominating::clear());
        assert!(n.snapshot().for_node("c").is_empty());
        n.add(Arc::new(nominated("q", "c")), &Nominating::Noop);
        n.delete(&pod("q", &[&[]]));
        assert!(n.snapshot().for_node("c").is_empty());
    }
}
