//! Per-pod scratch space for one scheduling attempt, as upstream's `CycleState`: what a plugin
//! computes at PreFilter or PreScore and reads back at Filter or Score, keyed by a name of the
//! plugin's choosing. It lives for one scheduling cycle and the binding cycle that follows.
//!
//! Cloning is cheap (values are shared): preemption's dry runs work on clones, and a plugin
//! that adjusts its data for a clone (PreFilter's `add_pod` / `remove_pod`) writes a new
//! value instead of changing the shared one.

use crate::node_info::NodeInfo;
use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Default, Clone)]
pub struct CycleState {
    data: HashMap<&'static str, Arc<dyn Any + Send + Sync>>,
    /// Plugins whose PreFilter answered Skip: their Filter is not run this cycle.
    pub(crate) skip_filter: HashSet<&'static str>,
    /// Plugins whose PreScore answered Skip: their Score is not run this cycle.
    pub(crate) skip_score: HashSet<&'static str>,
    /// Every node of the cycle's snapshot, set by the framework at PreFilter: what upstream's
    /// plugins list through the snapshot lister (PreScore sees only the feasible nodes).
    all_nodes: Option<Arc<[Arc<NodeInfo>]>>,
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState")
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CycleState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        self.data.insert(key, Arc::new(value));
    }

    /// The value written under `key`, if it is a `T`.
    pub fn read<T: Any + Send + Sync>(&self, key: &'static str) -> Option<&T> {
        self.data.get(key).and_then(|v| v.downcast_ref())
    }

    /// Records the cycle's nodes (once per cycle).
    pub fn set_all_nodes(&mut self, nodes: &[Arc<NodeInfo>]) {
        self.all_nodes = Some(nodes.into());
    }

    /// Every node of the cycle's snapshot, if the framework recorded them.
    pub fn all_nodes(&self) -> Option<&[Arc<NodeInfo>]> {
        self.all_nodes.as_deref()
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
