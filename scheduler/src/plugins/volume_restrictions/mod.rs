//! VolumeRestrictions (PreFilter, Filter), as upstream v1.33: a pod may not share a node with
//! a pod using the same GCE PD (unless both mount it read-only), AWS EBS volume, RBD image
//! (a shared monitor, same pool and image, unless both read-only) or iSCSI IQN (unless both
//! read-only): `node(s) had no available disk`. And a claim with the ReadWriteOncePod access
//! mode may be used by one pod only, anywhere in the cluster: while a scheduled pod uses it,
//! every node answers `node has pod using PersistentVolumeClaim with the same name and
//! ReadWriteOncePod access mode` (Unschedulable: preempting that pod helps). A missing claim
//! rejects the pod outright.

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::volumes::{self, Listers};
use k8s_openapi::api::core::v1::{Pod, Volume};
use std::collections::BTreeSet;
use std::sync::Arc;

pub const NAME: &str = "VolumeRestrictions";
/// Upstream's `ErrReasonDiskConflict`.
pub const REASON_DISK_CONFLICT: &str = "node(s) had no available disk";
/// Upstream's `ErrReasonReadWriteOncePodConflict`.
pub const REASON_RWOP_CONFLICT: &str =
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode";
const STATE_KEY: &str = "PreFilterVolumeRestrictions";

pub fn new(listers: Listers) -> Arc<dyn Plugin> {
    Arc::new(VolumeRestrictions { listers })
}

struct VolumeRestrictions {
    listers: Listers,
}

/// What PreFilter found: the pod's ReadWriteOncePod claims and how many scheduled pods use
/// them.
#[derive(Debug, Clone)]
struct PreFilterState {
    rwop_claims: Arc<BTreeSet<String>>,
    conflicting_refs: i64,
}

impl PreFilterState {
    /// How many of `other`'s volumes use one of the claims (same namespace as `pod`).
    fn refs_of(&self, pod: &Pod, other: &Pod) -> i64 {
        if other.metadata.namespace != pod.metadata.namespace {
            return 0;
        }
        volumes_of(other)
            .iter()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .filter(|c| self.rwop_claims.contains(&c.claim_name))
            .count() as i64
    }
}

fn volumes_of(pod: &Pod) -> &[Volume] {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default()
}

fn needs_restrictions_check(v: &Volume) -> bool {
    v.gce_persistent_disk.is_some()
        || v.aws_elastic_block_store.is_some()
        || v.rbd.is_some()
        || v.iscsi.is_some()
}

/// Whether `volume` clashes with one of `pod`'s volumes (upstream `isVolumeConflict`).
pub fn is_volume_conflict(volume: &Volume, pod: &Pod) -> bool {
    volumes_of(pod).iter().any(|existing| {
        if let (Some(d), Some(e)) = (&volume.gce_persistent_disk, &existing.gce_persistent_disk)
            && d.pd_name == e.pd_name
            && !(d.read_only.unwrap_or(false) && e.read_only.unwrap_or(false))
        {
            return true;
        }
        if let (Some(d), Some(e)) = (
            &volume.aws_elastic_block_store,
            &existing.aws_elastic_block_store,
        ) && d.volume_id == e.volume_id
        {
            return true;
        }
        if let (Some(d), Some(e)) = (&volume.iscsi, &existing.iscsi)
            && d.iqn == e.iqn
            && !(d.read_only.unwrap_or(false) && e.read_only.unwrap_or(false))
        {
            return true;
        }
        if let (Some(d), Some(e)) = (&volume.rbd, &existing.rbd) {
            let pool = |p: &Option<String>| p.clone().unwrap_or_else(|| "rbd".to_string());
            let shared_monitor = d.monitors.iter().any(|m| e.monitors.contains(m));
            if shared_monitor
                && pool(&d.pool) == pool(&e.pool)
                && d.image == e.image
                && !(d.read_only.unwrap_or(false) && e.read_only.unwrap_or(false))
            {
                return true;
            }
        }
        false
    })
}

/// Whether none of the pod's disks clashes with those of the node's pods (upstream
/// `satisfyVolumeConflicts`).
fn satisfies_volume_conflicts(pod: &Pod, pods: &[PodInfo]) -> bool {
    volumes_of(pod)
        .iter()
        .filter(|v| needs_restrictions_check(v))
        .all(|v| !pods.iter().any(|p| is_volume_conflict(v, &p.pod)))
}

impl Plugin for VolumeRestrictions {
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
            // A deleted pod frees its disks and its ReadWriteOncePod claims.
            EventWithHint::new(
                EventResource::AssignedPod,
                action::DELETE,
                "AssignedPodDelete",
            )
            .with_hint(|pod, change| {
                let Some(deleted) = change.old.as_ref().and_then(Object::pod) else {
                    return QueueingHint::Queue;
                };
                if deleted.metadata.namespace != pod.metadata.namespace {
                    return QueueingHint::Skip;
                }
                let as_node = [PodInfo::new(Arc::new(deleted.clone()))];
                if !satisfies_volume_conflicts(pod, &as_node) {
                    return QueueingHint::Queue;
                }
                // Upstream does not look up the claim's access modes here either.
                let claims = |p: &Pod| -> BTreeSet<String> {
                    volumes_of(p)
                        .iter()
                        .filter_map(|v| v.persistent_volume_claim.as_ref())
                        .map(|c| c.claim_name.clone())
                        .collect()
                };
                if claims(pod).is_disjoint(&claims(deleted)) {
                    QueueingHint::Skip
                } else {
                    QueueingHint::Queue
                }
            }),
            EventWithHint::new(
                EventResource::Node,
                action::ADD | action::UPDATE_NODE_TAINT | action::UPDATE_NODE_LABEL,
                "NodeAdd|NodeUpdate",
            ),
            // The claim the pod waits for was created.
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
                    && volumes_of(pod).iter().any(|v| {
                        v.persistent_volume_claim
                            .as_ref()
                            .is_some_and(|c| Some(&c.claim_name) == claim.metadata.name.as_ref())
                    });
                if wanted {
                    QueueingHint::Queue
                } else {
                    QueueingHint::Skip
                }
            }),
        ]
    }
}

impl PreFilterPlugin for VolumeRestrictions {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        let needs_check = volumes_of(pod).iter().any(needs_restrictions_check);
        let namespace = volumes::namespace(pod);
        let mut rwop_claims = BTreeSet::new();
        for v in volumes_of(pod) {
            let Some(source) = &v.persistent_volume_claim else {
                continue;
            };
            let Some(claim) = self.listers.claim(namespace, &source.claim_name) else {
                return (
                    None,
                    Status::unresolvable(volumes::not_found(
                        "persistentvolumeclaim",
                        &source.claim_name,
                    )),
                );
            };
            let rwop = claim
                .spec
                .iter()
                .flat_map(|s| s.access_modes.iter().flatten())
                .any(|m| m == "ReadWriteOncePod");
            if rwop {
                rwop_claims.insert(source.claim_name.clone());
            }
        }
        let mut s = PreFilterState {
            rwop_claims: Arc::new(rwop_claims),
            conflicting_refs: 0,
        };
        if !s.rwop_claims.is_empty() {
            // Every scheduled pod counts, wherever it runs (upstream's `IsPVCUsedByPods` over
            // the snapshot): at most one pod may use such a claim.
            let all = state.all_nodes().unwrap_or(nodes);
            let used: BTreeSet<&String> = all
                .iter()
                .flat_map(|n| n.pods.iter())
                .filter(|p| p.pod.metadata.namespace.as_deref() == Some(namespace))
                .flat_map(|p| volumes_of(&p.pod))
                .filter_map(|v| v.persistent_volume_claim.as_ref())
                .map(|c| &c.claim_name)
                .collect();
            s.conflicting_refs = s.rwop_claims.iter().filter(|c| used.contains(c)).count() as i64;
        }
        if !needs_check && s.conflicting_refs == 0 {
            return (None, Status::skip());
        }
        state.write(STATE_KEY, s);
        (None, Status::success())
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        added: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        let Some(s) = state.read::<PreFilterState>(STATE_KEY) else {
            return Status::error(format!("cannot read {STATE_KEY:?} from cycleState"));
        };
        let mut s = s.clone();
        s.conflicting_refs += s.refs_of(pod, &added.pod);
        state.write(STATE_KEY, s);
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        removed: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        let Some(s) = state.read::<PreFilterState>(STATE_KEY) else {
            return Status::error(format!("cannot read {STATE_KEY:?} from cycleState"));
        };
        let mut s = s.clone();
        s.conflicting_refs -= s.refs_of(pod, &removed.pod);
        state.write(STATE_KEY, s);
        Status::success()
    }
}

impl FilterPlugin for VolumeRestrictions {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if !satisfies_volume_conflicts(pod, &node.pods) {
            return Status::unschedulable(REASON_DISK_CONFLICT);
        }
        let Some(s) = state.read::<PreFilterState>(STATE_KEY) else {
            return Status::error(format!("cannot read {STATE_KEY:?} from cycleState"));
        };
        if s.conflicting_refs > 0 {
            return Status::unschedulable(REASON_RWOP_CONFLICT);
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests;
