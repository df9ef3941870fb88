//! The garbage collector's picture of ownership (upstream `graph_builder.go`): a node per
//! object seen by any monitor, keyed by uid, with its owner references and its dependents.
//! Owners known only from a reference are *virtual* nodes until a monitor shows them or a
//! lookup shows they are gone. Every change returns the [`Work`] it calls for; the graph itself
//! makes no API calls.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// The finalizer that makes an owner wait until its blocking dependents are deleted.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer that makes the collector orphan an owner's dependents before it goes.
pub const ORPHAN: &str = "orphan";

/// Who an object is: enough to read, patch or delete it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub api_version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects (and for owners whose scope is not known yet).
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}/{}, namespace: {}, name: {}, uid: {}]",
            self.api_version, self.kind, self.namespace, self.name, self.uid
        )
    }
}

/// One object in the graph.
#[derive(Debug, Clone)]
pub struct Node {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    /// Uids of the objects that name this one as an owner.
    pub dependents: BTreeSet<String>,
    /// `deletionTimestamp` is set.
    pub deleting: bool,
    /// Being deleted in the foreground: waits for its blocking dependents.
    pub deleting_dependents: bool,
    /// Being deleted with the orphan finalizer.
    pub orphaning: bool,
    /// Known only from an owner reference.
    pub virtual_node: bool,
}

/// What the collector should do next.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Work {
    /// Look at this object: delete it if its owners are gone, drop references to missing owners,
    /// finish a foreground deletion, or check whether a virtual node exists.
    AttemptToDelete(String),
    /// Remove this owner's references from its dependents, then its orphan finalizer.
    AttemptToOrphan(String),
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AttemptToDelete(uid) => write!(f, "delete:{uid}"),
            Self::AttemptToOrphan(uid) => write!(f, "orphan:{uid}"),
        }
    }
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
}

fn has_finalizer(meta: &ObjectMeta, name: &str) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == name)
}

impl Graph {
    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The dependents of `uid` whose reference to it has `blockOwnerDeletion` set.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|r| r.uid == uid && r.block_owner_deletion == Some(true))
            })
            .collect()
    }

    /// The dependents of `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.nodes
            .get(uid)
            .map(|n| {
                n.dependents
                    .iter()
                    .filter_map(|d| self.nodes.get(d))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A monitor saw `identity` added or changed with `meta`.
    pub fn observe(&mut self, identity: Identity, meta: &ObjectMeta) -> Vec<Work> {
        let uid = identity.uid.clone();
        let mut work = Vec::new();
        let owners = meta.owner_references.clone().unwrap_or_default();
        let deleting = meta.deletion_timestamp.is_some();
        let deleting_dependents = deleting && has_finalizer(meta, FOREGROUND);
        let orphaning = deleting && has_finalizer(meta, ORPHAN);
        let (old_owners, was_deleting_dependents, was_orphaning) = match self.nodes.get(&uid) {
            Some(n) if !n.virtual_node => (n.owners.clone(), n.deleting_dependents, n.orphaning),
            _ => (Vec::new(), false, false),
        };
        let dependents = self
            .nodes
            .remove(&uid)
            .map(|n| n.dependents)
            .unwrap_or_default();
        let namespace = identity.namespace.clone();
        self.nodes.insert(
            uid.clone(),
            Node {
                identity,
                owners: owners.clone(),
                dependents,
                deleting,
                deleting_dependents,
                orphaning,
                virtual_node: false,
            },
        );

        // Owners this object stopped naming.
        for gone in old_owners
            .iter()
            .filter(|o| !owners.iter().any(|n| n.uid == o.uid))
        {
            if let Some(owner) = self.nodes.get_mut(&gone.uid) {
                owner.dependents.remove(&uid);
                if owner.deleting_dependents {
                    work.push(Work::AttemptToDelete(gone.uid.clone()));
                }
            }
        }
        for owner_ref in &owners {
            let before = old_owners.iter().find(|o| o.uid == owner_ref.uid);
            match self.nodes.get_mut(&owner_ref.uid) {
                Some(owner) => {
                    owner.dependents.insert(uid.clone());
                    // An owner waiting in the foreground may now be free of this dependent.
                    let unblocked = before.is_some_and(|b| b.block_owner_deletion == Some(true))
                        && owner_ref.block_owner_deletion != Some(true);
                    if owner.deleting_dependents && (before.is_none() || unblocked) {
                        work.push(Work::AttemptToDelete(owner_ref.uid.clone()));
                    }
                }
                None => {
                    let owner = Node {
                        identity: Identity {
                            api_version: owner_ref.api_version.clone(),
                            kind: owner_ref.kind.clone(),
                            namespace: namespace.clone(),
                            name: owner_ref.name.clone(),
                            uid: owner_ref.uid.clone(),
                        },
                        owners: Vec::new(),
                        dependents: BTreeSet::from([uid.clone()]),
                        deleting: false,
                        deleting_dependents: false,
                        orphaning: false,
                        virtual_node: true,
                    };
                    self.nodes.insert(owner_ref.uid.clone(), owner);
                    work.push(Work::AttemptToDelete(owner_ref.uid.clone()));
                }
            }
        }

        if orphaning && !was_orphaning {
            work.push(Work::AttemptToOrphan(uid.clone()));
        }
        if deleting_dependents && !was_deleting_dependents {
            let node = &self.nodes[&uid];
            work.extend(node.dependents.iter().cloned().map(Work::AttemptToDelete));
            work.push(Work::AttemptToDelete(uid));
        }
        work
    }

    /// A monitor saw the object `uid` deleted, or a virtual node turned out not to exist.
    pub fn remove(&mut self, uid: &str) -> Vec<Work> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        let mut work: Vec<Work> = node
            .dependents
            .iter()
            .cloned()
            .map(Work::AttemptToDelete)
            .collect();
        for owner_ref in &node.owners {
            if let Some(owner) = self.nodes.get_mut(&owner_ref.uid) {
                owner.dependents.remove(uid);
                if owner.deleting_dependents {
                    work.push(Work::AttemptToDelete(owner_ref.uid.clone()));
                }
                // A virtual owner nobody names any more is forgotten.
                if owner.virtual_node && owner.dependents.is_empty() {
                    self.nodes.remove(&owner_ref.uid);
                }
            }
        }
        if !node.dependents.is_empty() {
            // Dependents keep naming the uid; an absent owner stays as a virtual node so they
            // find it gone when they are looked at.
            self.nodes.insert(
                uid.to_string(),
                Node {
                    owners: Vec::new(),
                    deleting: false,
                    deleting_dependents: false,
                    orphaning: false,
                    virtual_node: true,
                    ..node
                },
            );
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn id(kind: &str, name: &str) -> Identity {
        Identity {
            api_version: "v1".to_string(),
            kind: kind.to_string(),
            namespace: "ns".to_string(),
            name: name.to_string(),
            uid: format!("{name}-uid"),
        }
    }

    fn owned_by(owner: &str, block: bool) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".to_string(),
                kind: "ReplicaSet".to_string(),
                name: owner.to_string(),
                uid: format!("{owner}-uid"),
                controller: Some(true),
                block_owner_deletion: Some(block),
            }]),
            ..Default::default()
        }
    }

    fn deleting_with(finalizer: &str) -> ObjectMeta {
        ObjectMeta {
            deletion_timestamp: Some(Time(Timestamp::UNIX_EPOCH)),
            finalizers: Some(vec![finalizer.to_string()]),
            ..Default::default()
        }
    }

    fn del(uid: &str) -> Work {
        Work::AttemptToDelete(uid.to_string())
    }

    #[test]
    fn unseen_owners_become_virtual_and_are_checked() {
        let mut g = Graph::default();
        let work = g.observe(id("Pod", "p"), &owned_by("rs", true));
        assert_eq!(work, vec![del("rs-uid")]);
        let owner = g.node("rs-uid").unwrap();
        assert!(owner.virtual_node);
        assert_eq!(owner.identity.kind, "ReplicaSet");
        assert_eq!(owner.identity.namespace, "ns");
        // Seen for real, it keeps its dependents.
        assert!(
            g.observe(id("ReplicaSet", "rs"), &ObjectMeta::default())
                .is_empty()
        );
        let owner = g.node("rs-uid").unwrap();
        assert!(!owner.virtual_node);
        assert_eq!(owner.dependents.len(), 1);
    }

    #[test]
    fn a_deleted_owner_sends_its_dependents_to_be_looked_at() {
        let mut g = Graph::default();
        g.observe(id("ReplicaSet", "rs"), &ObjectMeta::default());
        g.observe(id("Pod", "a"), &owned_by("rs", true));
        g.observe(id("Pod", "b"), &owned_by("rs", false));
        let mut work = g.remove("rs-uid");
        work.sort_by_key(|w| w.to_string());
        assert_eq!(work, vec![del("a-uid"), del("b-uid")]);
        // The dependents still name it: it stays as a virtual node.
        assert!(g.node("rs-uid").unwrap().virtual_node);
        g.remove("a-uid");
        g.remove("b-uid");
        assert!(g.node("rs-uid").is_none());
        assert!(g.is_empty());
    }

    #[test]
    fn foreground_deletion_waits_for_blocking_dependents() {
        let mut g = Graph::default();
        g.observe(id("ReplicaSet", "rs"), &ObjectMeta::default());
        g.observe(id("Pod", "a"), &owned_by("rs", true));
        g.observe(id("Pod", "b"), &owned_by("rs", false));
        let work = g.observe(id("ReplicaSet", "rs"), &deleting_with(FOREGROUND));
        assert_eq!(work, vec![del("a-uid"), del("b-uid"), del("rs-uid")]);
        assert_eq!(g.blocking_dependents("rs-uid").len(), 1);
        // The same state again is no transition.
        assert!(
            g.observe(id("ReplicaSet", "rs"), &deleting_with(FOREGROUND))
                .is_empty()
        );
        // A blocking dependent going brings the owner back.
        assert_eq!(g.remove("a-uid"), vec![del("rs-uid")]);
        assert!(g.blocking_dependents("rs-uid").is_empty());
    }

    #[test]
    fn orphan_finalizer_and_reference_changes() {
        let mut g = Graph::default();
        g.observe(id("ReplicaSet", "rs"), &ObjectMeta::default());
        g.observe(id("Pod", "a"), &owned_by("rs", true));
        assert_eq!(
            g.observe(id("ReplicaSet", "rs"), &deleting_with(ORPHAN)),
            vec![Work::AttemptToOrphan("rs-uid".to_string())]
        );
        // The dependent drops its reference: the owner no longer lists it.
        g.observe(id("Pod", "a"), &ObjectMeta::default());
        assert!(g.dependents("rs-uid").is_empty());
    }
}
