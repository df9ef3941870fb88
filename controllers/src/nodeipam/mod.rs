//! The node IPAM controller (upstream `pkg/controller/nodeipam`, its RangeAllocator): gives
//! every node a pod CIDR (`spec.podCIDR`, and one per family in `spec.podCIDRs`) cut from
//! `--cluster-cidr`, so the pod network can hand out pod addresses per node. It runs only with
//! `--allocate-node-cidrs`.
//!
//! Timeline: at start every node's existing podCIDRs (and the Service range, where it overlaps)
//! are marked taken ([`cidrset`]) -> each node without podCIDRs gets the next free block of
//! each cluster CIDR -> a deleted node's blocks are released.

pub mod cidrset;

use crate::client;
use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, feed, process};
use cidrset::CidrSet;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The controller's name (upstream `names.NodeIpamController`).
pub const NAME: &str = "node-ipam-controller";

/// The component its events come from (upstream's range allocator).
const EVENT_SOURCE: &str = "cidrAllocator";

/// How often a podCIDR patch is tried (upstream `cidrUpdateRetries`).
const PATCH_TRIES: usize = 3;

/// The controller's flags.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--allocate-node-cidrs`: without it the controller does nothing.
    pub allocate: bool,
    /// `--cluster-cidr`: one CIDR, or one per family.
    pub cluster_cidrs: Vec<IpNet>,
    /// `--node-cidr-mask-size-ipv4` (24 when 0).
    pub mask_v4: u8,
    /// `--node-cidr-mask-size-ipv6` (64 when 0).
    pub mask_v6: u8,
    /// `--service-cluster-ip-range`: kept out of the pod CIDRs where it overlaps.
    pub service_cidrs: Vec<IpNet>,
}

/// Why the controller cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("Controller: Must specify --cluster-cidr if --allocate-node-cidrs is set")]
    NoClusterCidr,
    #[error(
        "Controller: Invalid --cluster-cidr, mask size of cluster CIDR must be less than or equal to --node-cidr-mask-size configured for CIDR family"
    )]
    MaskTooSmall,
    #[error("{0}")]
    Set(#[from] cidrset::CidrError),
}

/// The CIDR sets the settings describe, before any node is looked at.
pub fn sets(settings: &Settings) -> Result<Vec<CidrSet>, ConfigError> {
    if settings.cluster_cidrs.is_empty() {
        return Err(ConfigError::NoClusterCidr);
    }
    let mut out = Vec::new();
    for cluster in &settings.cluster_cidrs {
        let mask = match cluster {
            IpNet::V4(_) if settings.mask_v4 == 0 => 24,
            IpNet::V4(_) => settings.mask_v4,
            IpNet::V6(_) if settings.mask_v6 == 0 => 64,
            IpNet::V6(_) => settings.mask_v6,
        };
        if cluster.prefix_len() > mask {
            return Err(ConfigError::MaskTooSmall);
        }
        let mut set = CidrSet::new(*cluster, mask)?;
        for service in &settings.service_cidrs {
            // Only where the ranges overlap: a Service range elsewhere is no concern here.
            let _ = set.occupy(service);
        }
        out.push(set);
    }
    Ok(out)
}

fn pod_cidrs(node: &Node) -> Vec<IpNet> {
    node.spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.parse().ok())
        .collect()
}

struct Allocator {
    client: kube::Client,
    nodes: Store<Node>,
    sets: Mutex<Vec<CidrSet>>,
    /// Blocks this controller gave nodes (by name, with the node's uid) that the cache may not
    /// show yet: a sync queued by an older change must not hand out a second block.
    assigned: Mutex<HashMap<String, (String, Vec<IpNet>)>>,
    recorder: Recorder,
}

/// Runs the controller until the process stops; returns at once unless
/// `--allocate-node-cidrs` is set, and with an error log when the flags do not fit.
pub async fn run(client: kube::Client, informers: Arc<Informers>, settings: Settings) {
    if !settings.allocate {
        return;
    }
    let mut sets = match sets(&settings) {
        Ok(sets) => sets,
        Err(e) => {
            tracing::error!("The {NAME} cannot start: {e}.");
            return;
        }
    };
    let informer = informers.get::<Node>();
    let changes = informer.changes();
    informer.ready().await;
    let nodes = informer.store();
    for node in nodes.state() {
        for (i, cidr) in pod_cidrs(&node).iter().enumerate() {
            if let Some(set) = sets.get_mut(i)
                && let Err(e) = set.occupy(cidr)
            {
                tracing::warn!(
                    "The {NAME} leaves node {} alone: {e}.",
                    node.metadata.name.as_deref().unwrap_or_default()
                );
            }
        }
    }
    let ctl = Arc::new(Allocator {
        recorder: Recorder::new(client.clone(), EVENT_SOURCE),
        client,
        nodes: nodes.clone(),
        sets: Mutex::new(sets),
        assigned: Mutex::new(HashMap::new()),
    });
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::new("cidrallocator_node");
    for node in nodes.state() {
        queue.add(node.metadata.name.clone().unwrap_or_default());
    }
    {
        let ctl = ctl.clone();
        feed(&queue, changes, move |change| match change {
            Change::Applied { new, .. } => vec![new.metadata.name.clone().unwrap_or_default()],
            Change::Deleted(node) => {
                ctl.release(&node);
                Vec::new()
            }
            Change::Relisted => Vec::new(),
        });
    }
    process(queue, 30, "the pod CIDRs of Node", move |name| {
        let ctl = ctl.clone();
        async move { ctl.sync(&name).await }
    })
    .await;
}

impl Allocator {
    fn sets(&self) -> std::sync::MutexGuard<'_, Vec<CidrSet>> {
        self.sets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn assigned(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Vec<IpNet>)>> {
        self.assigned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn release(&self, node: &Node) {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let mut cidrs = pod_cidrs(node);
        if let Some((_, given)) = self.assigned().remove(name)
            && cidrs.is_empty()
        {
            cidrs = given;
        }
        let mut sets = self.sets();
        for (i, cidr) in cidrs.iter().enumerate() {
            if let Some(set) = sets.get_mut(i) {
                set.release(cidr);
            }
        }
    }

    fn event(&self, node: &Node, what: &str) {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        self.recorder.record(
            node,
            EventType::Normal,
            what,
            format!("Node {name} status is now: {what}"),
        );
    }

    async fn sync(&self, name: &str) -> Result<(), String> {
        let Some(node) = self.nodes.get(&ObjectRef::new(name)) else {
            return Ok(());
        };
        if node.metadata.deletion_timestamp.is_some() {
            self.release(&node);
            return Ok(());
        }
        let existing = pod_cidrs(&node);
        let uid = node.metadata.uid.clone().unwrap_or_default();
        let given = self.assigned().remove(name);
        match given {
            // The cache has not caught up with our patch yet.
            Some((given_to, cidrs)) if existing.is_empty() && given_to == uid => {
                self.assigned().insert(name.to_string(), (given_to, cidrs));
                return Ok(());
            }
            // The node was made again, unseen: its predecessor's blocks are free.
            Some((given_to, cidrs)) if given_to != uid => {
                let mut sets = self.sets();
                for (set, cidr) in sets.iter_mut().zip(&cidrs) {
                    set.release(cidr);
                }
            }
            // The cache shows what we gave.
            Some(_) | None => {}
        }
        if !existing.is_empty() {
            let mut sets = self.sets();
            for (i, cidr) in existing.iter().enumerate() {
                if let Some(set) = sets.get_mut(i) {
                    set.occupy(cidr).map_err(|e| e.to_string())?;
                }
            }
            return Ok(());
        }
        let picked: Result<Vec<IpNet>, _> = {
            let mut sets = self.sets();
            sets.iter_mut().map(CidrSet::allocate).collect()
        };
        let picked = match picked {
            Ok(picked) => picked,
            Err(e) => {
                self.event(&node, "CIDRNotAvailable");
                return Err(e.to_string());
            }
        };
        let cidrs: Vec<String> = picked.iter().map(IpNet::to_string).collect();
        let patch = json!({"spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs}});
        let api: Api<Node> = Api::all(self.client.clone());
        let mut last = None;
        for _ in 0..PATCH_TRIES {
            match api
                .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                Ok(_) => {
                    tracing::info!("The {NAME} set the pod CIDRs of node {name} to {cidrs:?}.");
                    self.assigned().insert(name.to_string(), (uid, picked));
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        let mut sets = self.sets();
        for (set, cidr) in sets.iter_mut().zip(&picked) {
            set.release(cidr);
        }
        drop(sets);
        self.event(&node, "CIDRAssignmentFailed");
        Err(last.map(|e| client::message(&e)).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_must_describe_usable_sets() {
        let mut s = Settings {
            allocate: true,
            ..Default::default()
        };
        assert!(matches!(sets(&s), Err(ConfigError::NoClusterCidr)));
        s.cluster_cidrs = vec!["10.244.0.0/16".parse().unwrap()];
        s.mask_v4 = 8;
        assert!(matches!(sets(&s), Err(ConfigError::MaskTooSmall)));
        s.mask_v4 = 0;
        s.service_cidrs = vec!["10.244.0.0/24".parse().unwrap()];
        let mut built = sets(&s).unwrap();
        // The Service range overlapping the cluster CIDR is never handed out.
        assert_eq!(built[0].allocate().unwrap().to_string(), "10.244.1.0/24");
    }
}
