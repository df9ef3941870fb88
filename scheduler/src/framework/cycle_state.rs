//! Per-pod scratch space for one scheduling attempt, as upstream's `CycleState`: what a plugin
//! computes at PreFilter or PreScore and reads back at Filter or Score, keyed by a name of the
//! plugin's choosing. It lives for one scheduling cycle and the binding cycle that follows.
//!
//! Cloning is cheap (values are shared): preemption's dry runs work on clones, and a plugin
//! that adjusts its data for a clone (PreFilter's `add_pod` / `remove_pod`) writes a new
//! value instead of changing the shared one.

use crate::cache::Snapshot;
use crate::node_info::NodeInfo;
use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Default, Clone)]
pub struct CycleState {
    /// A handful of entries, read for every node: a list beats hashing the key each time.
    data: Vec<(&'static str, Arc<dyn Any + Send + Sync>)>,
    /// Plugins whose PreFilter answered Skip: their Filter is not run this cycle.
    pub(crate) skip_filter: HashSet<&'static str>,
    /// The positions of the Filter plugins that run this cycle (those not skipped), set after
    /// PreFilter so that each node's Filter does not look the skipped ones up again.
    pub(crate) active_filters: Option<Arc<[usize]>>,
    /// Plugins whose PreScore answered Skip: their Score is not run this cycle.
    pub(crate) skip_score: HashSet<&'static str>,
    /// The cycle's snapshot, set by the framework at PreFilter: what upstream's plugins list
    /// through the snapshot lister (PreScore sees only the feasible nodes).
    snapshot: Option<Snapshot>,
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState")
            .field(
                "keys",
                &self.data.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CycleState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        match self.data.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.data.push((key, value)),
        }
    }

    /// The value written under `key`, if it is a `T`.
    pub fn read<T: Any + Send + Sync>(&self, key: &'static str) -> Option<&T> {
        // Keys are constants, so the same key is almost always the same pointer; the text is
        // compared only when it is not.
        self.data
            .iter()
            .find(|(k, _)| std::ptr::eq(*k, key) || *k == key)
            .and_then(|(_, v)| v.downcast_ref())
    }

    /// Records the cycle's snapshot (once per cycle).
    pub fn set_snapshot(&mut self, snapshot: Snapshot) {
        self.snapshot = Some(snapshot);
    }

    /// Records a snapshot of just `nodes` (for plugins run on their own, in tests).
    pub fn set_all_nodes(&mut self, nodes: &[Arc<NodeInfo>]) {
        self.set_snapshot(Snapshot::new(nodes.to_vec()));
    }

    /// Lets go of the cycle's snapshot: the binding cycle does not need it, and while anyone
    /// holds a snapshot the cache copies it instead of updating it in place.
    pub fn clear_snapshot(&mut self) {
        self.snapshot = None;
    }

    /// The cycle's snapshot, if the framework recorded it.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Every node of the cycle's snapshot, if the framework recorded it.
    pub fn all_nodes(&self) -> Option<&[Arc<NodeInfo>]> {
        self.snapshot.as_ref().map(|s| &*s.nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_was_written() {
        let mut s = CycleState::new();
        s.write("PreFilterNodePorts", vec![80u16]);
        assert_eq!(s.read::<Vec<u16>>("PreFilterNodePorts"), Some(&vec![80]));
        assert_eq!(s.read::<String>("PreFilterNodePorts"), None);
        assert_eq!(s.read::<Vec<u16>>("missing"), None);
    }
}
