//! NodeVolumeLimits (PreFilter, Filter), upstream's CSI volume limits as of v1.33: the unique
//! CSI volumes of the node's pods plus the pod's new ones, per driver, may not exceed the
//! driver's `CSINode.spec.drivers[].allocatable.count` (or the node's
//! `attachable-volumes-csi-<driver>` allocatable): `node(s) exceed max volume count`.
//!
//! A volume counts through its claim (a plain claim or a generic ephemeral volume's): the
//! bound PV's `spec.csi` driver and handle; a claim not bound yet counts once for its class's
//! provisioner. In-tree AWS EBS, GCE PD, Azure Disk and Cinder volumes (inline or as PVs)
//! count for their CSI driver where the node's CSINode lists the plugin as migrated. A
//! missing claim of the pod rejects it (`looking up PVC ns/name: persistentvolumeclaim
//! "name" not found`, unresolvable).

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::NodeInfo;
use crate::volumes::{self, Listers, MIGRATED_PLUGINS};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, Volume};
use k8s_openapi::api::storage::v1::CSINode;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const NAME: &str = "NodeVolumeLimits";
/// Upstream's `ErrReasonMaxVolumeCountExceeded`.
pub const REASON: &str = "node(s) exceed max volume count";
/// The prefix of a driver's limit key (upstream's `CSIAttachLimitPrefix`).
const LIMIT_PREFIX: &str = "attachable-volumes-csi-";

pub fn new(listers: Listers) -> Arc<dyn Plugin> {
    use rand::Rng;
    let prefix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    Arc::new(NodeVolumeLimits {
        listers,
        random_prefix: prefix,
    })
}

struct NodeVolumeLimits {
    listers: Listers,
    /// Makes up handles for claims not bound yet, unlike any real volume's.
    random_prefix: String,
}

/// An in-tree plugin CSI migration covers: its name, its driver, and a volume's handle.
struct InTree {
    plugin: &'static str,
    driver: &'static str,
    handle: String,
}

const IN_TREE: [(&str, &str); 4] = [
    ("kubernetes.io/aws-ebs", "ebs.csi.aws.com"),
    ("kubernetes.io/gce-pd", "pd.csi.storage.gke.io"),
    ("kubernetes.io/azure-disk", "disk.csi.azure.com"),
    ("kubernetes.io/cinder", "cinder.csi.openstack.org"),
];

fn in_tree(plugin_index: usize, handle: String) -> Option<InTree> {
    let (plugin, driver) = IN_TREE.get(plugin_index)?;
    Some(InTree {
        plugin,
        driver,
        handle,
    })
}

fn ebs_handle(id: &str) -> String {
    // `aws://zone/vol-id` names the same volume as `vol-id`.
    match id.strip_prefix("aws://") {
        Some(rest) => rest.rsplit('/').next().unwrap_or(rest).to_string(),
        None => id.to_string(),
    }
}

fn gce_handle(pd: &str) -> String {
    format!("projects/UNSPECIFIED/zones/UNSPECIFIED/disks/{pd}")
}

/// The migratable in-tree source of an inline volume (upstream `IsInlineMigratable`).
fn inline_in_tree(v: &Volume) -> Option<InTree> {
    if let Some(s) = &v.aws_elastic_block_store {
        return in_tree(0, ebs_handle(&s.volume_id));
    }
    if let Some(s) = &v.gce_persistent_disk {
        return in_tree(1, gce_handle(&s.pd_name));
    }
    if let Some(s) = &v.azure_disk {
        return in_tree(2, s.disk_uri.clone());
    }
    if let Some(s) = &v.cinder {
        return in_tree(3, s.volume_id.clone());
    }
    None
}

/// The migratable in-tree source of a PV (upstream `IsPVMigratable`).
fn volume_in_tree(pv: &PersistentVolume) -> Option<InTree> {
    let s = pv.spec.as_ref()?;
    if let Some(s) = &s.aws_elastic_block_store {
        return in_tree(0, ebs_handle(&s.volume_id));
    }
    if let Some(s) = &s.gce_persistent_disk {
        return in_tree(1, gce_handle(&s.pd_name));
    }
    if let Some(s) = &s.azure_disk {
        return in_tree(2, s.disk_uri.clone());
    }
    if let Some(s) = &s.cinder {
        return in_tree(3, s.volume_id.clone());
    }
    None
}

/// Whether the node's CSI drivers serve the in-tree `plugin` (upstream `isCSIMigrationOn`).
fn migration_on(csi_node: Option<&CSINode>, plugin: &str) -> bool {
    csi_node
        .and_then(|n| volumes::annotation(&n.metadata, MIGRATED_PLUGINS))
        .is_some_and(|list| list.split(',').any(|p| p == plugin))
}

/// The limit key of a driver (upstream `GetCSIAttachLimitKey`, without the hashing of names
/// too long for a resource name: both sides here use the same key).
fn limit_key(driver: &str) -> String {
    format!("{LIMIT_PREFIX}{driver}")
}

/// The node's limits by key: its `attachable-volumes-*` allocatable, overridden by its
/// CSINode's drivers' counts (upstream `getVolumeLimits`).
fn volume_limits(node: &NodeInfo, csi_node: Option<&CSINode>) -> HashMap<String, i64> {
    let mut limits: HashMap<String, i64> = node
        .allocatable
        .scalar
        .iter()
        .filter(|(k, _)| k.starts_with("attachable-volumes-"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for d in csi_node
        .map(|n| n.spec.drivers.as_slice())
        .unwrap_or_default()
    {
        if let Some(count) = d.allocatable.as_ref().and_then(|a| a.count) {
            limits.insert(limit_key(&d.name), i64::from(count));
        }
    }
    limits
}

/// Why a pod's volumes could not be counted.
enum CountError {
    /// The pod's claim does not exist (yet): unresolvable.
    NotFound(String),
    Other(String),
}

impl NodeVolumeLimits {
    /// Adds the unique CSI volumes of `pod` (`driver/handle` -> limit key) to `result`.
    /// Claims of a new pod must exist; an existing pod's missing ones are not counted.
    fn attachable_volumes(
        &self,
        pod: &Pod,
        csi_node: Option<&CSINode>,
        new_pod: bool,
        result: &mut BTreeMap<String, String>,
    ) -> Result<(), CountError> {
        let namespace = volumes::namespace(pod);
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let (claim_name, ephemeral) = if let Some(c) = &v.persistent_volume_claim {
                (c.claim_name.clone(), false)
            } else if v.ephemeral.is_some() {
                (controllers::ephemeral::claim_name(pod_name, &v.name), true)
            } else {
                if let Some(t) = inline_in_tree(v)
                    && migration_on(csi_node, t.plugin)
                {
                    result.insert(format!("{}/{}", t.driver, t.handle), limit_key(t.driver));
                }
                continue;
            };
            if claim_name.is_empty() {
                return Err(CountError::Other(
                    "PersistentVolumeClaim had no name".to_string(),
                ));
            }
            let Some(claim) = self.listers.claim(namespace, &claim_name) else {
                if new_pod {
                    return Err(CountError::NotFound(format!(
                        "looking up PVC {namespace}/{claim_name}: {}",
                        volumes::not_found("persistentvolumeclaim", &claim_name)
                    )));
                }
                continue;
            };
            if ephemeral {
                controllers::ephemeral::is_for_pod(pod, &claim).map_err(CountError::Other)?;
            }
            if let Some((driver, handle)) = self.driver_info(csi_node, &claim) {
                result.insert(format!("{driver}/{handle}"), limit_key(&driver));
            }
        }
        Ok(())
    }

    /// The CSI driver and volume handle behind a claim (upstream `getCSIDriverInfo`).
    fn driver_info(
        &self,
        csi_node: Option<&CSINode>,
        claim: &PersistentVolumeClaim,
    ) -> Option<(String, String)> {
        let pv_name = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .unwrap_or_default();
        let pv = (!pv_name.is_empty())
            .then(|| self.listers.volume(pv_name))
            .flatten();
        let Some(pv) = pv else {
            return self.driver_info_from_class(csi_node, claim);
        };
        if let Some(csi) = pv.spec.as_ref().and_then(|s| s.csi.as_ref()) {
            return Some((csi.driver.clone(), csi.volume_handle.clone()));
        }
        let t = volume_in_tree(&pv)?;
        migration_on(csi_node, t.plugin).then(|| (t.driver.to_string(), t.handle))
    }

    /// A claim not bound yet counts for its class's provisioner, under a handle of its own
    /// (upstream `getCSIDriverInfoFromSC`).
    fn driver_info_from_class(
        &self,
        csi_node: Option<&CSINode>,
        claim: &PersistentVolumeClaim,
    ) -> Option<(String, String)> {
        let class_name = volumes::claim_class(claim);
        if class_name.is_empty() {
            return None;
        }
        let class = self.listers.class(class_name)?;
        let handle = format!(
            "{}-{}/{}",
            self.random_prefix,
            claim.metadata.namespace.as_deref().unwrap_or_default(),
            claim.metadata.name.as_deref().unwrap_or_default()
        );
        let provisioner = class.provisioner.as_str();
        if let Some((plugin, driver)) = IN_TREE.iter().find(|(p, _)| *p == provisioner) {
            return migration_on(csi_node, plugin).then(|| (driver.to_string(), handle));
        }
        Some((provisioner.to_string(), handle))
    }
}

impl Plugin for NodeVolumeLimits {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<EventWithHint> {
        vec![
            EventWithHint::new(EventResource::CSINode, action::ADD, "CSINodeAdd"),
            EventWithHint::new(
                EventResource::AssignedPod,
                action::DELETE,
                "AssignedPodDelete",
            )
            .with_hint(|_, change| {
                let Some(deleted) = change.old.as_ref().and_then(Object::pod) else {
                    return QueueingHint::Queue;
                };
                let uses_volumes = deleted
                    .spec
                    .iter()
                    .flat_map(|s| s.volumes.iter().flatten())
                    .any(|v| {
                        v.persistent_volume_claim.is_some()
                            || v.ephemeral.is_some()
                            || inline_in_tree(v).is_some()
                    });
                if uses_volumes {
                    QueueingHint::Queue
                } else {
                    QueueingHint::Skip
                }
            }),
            EventWithHint::new(
                EventResource::PersistentVolumeClaim,
                action::ADD,
                "PersistentVolumeClaimAdd",
            )
            .with_hint(|pod, change| {
                let Some(claim) = change.new.as_ref().and_then(Object::claim) else {
                    return QueueingHint::Queue;
                };
                let wanted = claim.metadata.namespace == pod.metadata.namespace
                    && volumes::pod_claims(pod)
                        .iter()
                        .any(|c| Some(&c.name) == claim.metadata.name.as_ref());
                if wanted {
                    QueueingHint::Queue
                } else {
                    QueueingHint::Skip
                }
            }),
        ]
    }
}

impl PreFilterPlugin for NodeVolumeLimits {
    fn pre_filter(
        &self,
        _state: &mut CycleState,
        pod: &Pod,
        _nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let counts = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .any(|v| {
                v.persistent_volume_claim.is_some()
                    || v.ephemeral.is_some()
                    || inline_in_tree(v).is_some()
            });
        if counts {
            (None, Status::success())
        } else {
            (None, Status::skip())
        }
    }
}

impl FilterPlugin for NodeVolumeLimits {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if pod
            .spec
            .as_ref()
            .is_none_or(|s| s.volumes.as_ref().is_none_or(Vec::is_empty))
        {
            return Status::success();
        }
        let csi_node = self.listers.csi_node(node.name());
        let csi_node = csi_node.as_deref();
        let mut new_volumes = BTreeMap::new();
        match self.attachable_volumes(pod, csi_node, true, &mut new_volumes) {
            Ok(()) => {}
            Err(CountError::NotFound(why)) => return Status::unresolvable(why),
            Err(CountError::Other(why)) => return Status::error(why),
        }
        if new_volumes.is_empty() {
            return Status::success();
        }
        let limits = volume_limits(node, csi_node);
        if limits.is_empty() {
            return Status::success();
        }
        let mut attached = BTreeMap::new();
        for p in &node.pods {
            match self.attachable_volumes(&p.pod, csi_node, false, &mut attached) {
                Ok(()) => {}
                Err(CountError::NotFound(why) | CountError::Other(why)) => {
                    return Status::error(why);
                }
            }
        }
        let mut attached_count: HashMap<&str, i64> = HashMap::new();
        for (unique, key) in &attached {
            // A volume the node's pods already use is not attached again.
            new_volumes.remove(unique);
            *attached_count.entry(key.as_str()).or_default() += 1;
        }
        let mut new_count: HashMap<&str, i64> = HashMap::new();
        for key in new_volumes.values() {
            *new_count.entry(key.as_str()).or_default() += 1;
        }
        for (key, count) in new_count {
            if let Some(max) = limits.get(key) {
                let current = attached_count.get(key).copied().unwrap_or(0);
                if current + count > *max {
                    return Status::unschedulable(REASON);
                }
            }
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests;
