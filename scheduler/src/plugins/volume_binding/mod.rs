//! VolumeBinding (PreFilter, Filter, Reserve/Unreserve, PreBind), as upstream v1.33 without
//! the StorageCapacityScoring feature (alpha, off: no Score).
//!
//! - PreFilter: a missing claim (`persistentvolumeclaim "x" not found`; for a generic
//!   ephemeral volume `waiting for ephemeral volume controller to create the
//!   persistentvolumeclaim "x"`), a Lost one or one being deleted reject the pod, as do
//!   unbound claims the PV binder should have bound (`pod has unbound immediate
//!   PersistentVolumeClaims`); all unresolvable. Pods without claims skip the plugin.
//! - Filter: bound volumes' node affinity must admit the node (`node(s) had volume node
//!   affinity conflict`); each unbound WaitForFirstConsumer claim needs an Available volume
//!   matching it on the node (class, access modes, size, selector, volume mode, node
//!   affinity), else a class that can provision there (a provisioner other than
//!   `kubernetes.io/no-provisioner`, `allowedTopologies` matching the node, CSI storage
//!   capacity where the driver reports it): `node(s) didn't find available persistent
//!   volumes to bind`. All unresolvable.
//! - Reserve assumes the node's choice; PreBind writes it (the PV's `claimRef`; the claim's
//!   `volume.kubernetes.io/selected-node`) and waits for the PV binder to bind every claim,
//!   at most `bindTimeoutSeconds` (600), before the pod is bound.

mod assume_cache;
pub mod binder;

use crate::framework::cluster_event::{EventResource, EventWithHint, QueueingHint, action};
use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreBindPlugin, PreFilterPlugin, PreFilterResult,
    ReservePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::volumes::{self, Listers};
use binder::{Binder, PodVolumeClaims, PodVolumes};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const NAME: &str = "VolumeBinding";
/// Why PreFilter rejects a pod whose immediate claims are not bound yet.
pub const REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
const STATE_KEY: &str = NAME;
/// Upstream's default `bindTimeoutSeconds`.
pub const DEFAULT_BIND_TIMEOUT_SECONDS: i64 = 600;

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    #[serde(default = "default_bind_timeout")]
    bind_timeout_seconds: i64,
    #[serde(default)]
    shape: Vec<serde_json::Value>,
}

fn default_bind_timeout() -> i64 {
    DEFAULT_BIND_TIMEOUT_SECONDS
}

/// What the plugin reads and writes besides its args.
pub struct Deps {
    pub listers: Listers,
    pub pods: Option<Store<Pod>>,
    pub nodes: Option<Store<Node>>,
    pub client: Option<kube::Client>,
}

pub fn new(args: Option<&serde_json::Value>, deps: Deps) -> Result<Arc<dyn Plugin>, String> {
    let args: Args = match args {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| format!("decoding VolumeBindingArgs: {e}"))?,
        None => Args {
            bind_timeout_seconds: DEFAULT_BIND_TIMEOUT_SECONDS,
            shape: Vec::new(),
        },
    };
    if args.bind_timeout_seconds < 0 {
        return Err(format!(
            "bindTimeoutSeconds: Invalid value: {}: invalid BindTimeoutSeconds, should not be a negative value",
            args.bind_timeout_seconds
        ));
    }
    if !args.shape.is_empty() {
        return Err(
            "shape: Invalid value: the StorageCapacityScoring feature is disabled".to_string(),
        );
    }
    let timeout = Duration::from_secs(args.bind_timeout_seconds.unsigned_abs());
    Ok(Arc::new(VolumeBinding {
        binder: Binder::new(deps.listers, deps.pods, deps.nodes, deps.client, timeout),
    }))
}

struct VolumeBinding {
    binder: Binder,
}

/// The cycle's data, shared by every clone of the cycle state as upstream's pointer is.
#[derive(Default)]
struct StateData {
    claims: PodVolumeClaims,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    all_bound: bool,
    /// What each node that passed Filter needs done.
    by_node: HashMap<String, PodVolumes>,
}

impl StateData {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn state_data(state: &CycleState) -> Result<&StateData, Status> {
    state
        .read::<StateData>(STATE_KEY)
        .ok_or_else(|| Status::error(format!("reading {STATE_KEY:?} from cycleState: not found")))
}

impl VolumeBinding {
    /// Whether the pod uses claims, and why it cannot be scheduled now if one of them is
    /// unusable (upstream `podHasPVCs`).
    fn pod_has_claims(&self, pod: &Pod) -> Result<bool, String> {
        let claims = volumes::pod_claims(pod);
        for c in &claims {
            let Some(claim) = self.binder.listers.claim(volumes::namespace(pod), &c.name) else {
                return Err(if c.ephemeral {
                    format!(
                        "waiting for ephemeral volume controller to create the persistentvolumeclaim {:?}",
                        c.name
                    )
                } else {
                    volumes::not_found("persistentvolumeclaim", &c.name)
                });
            };
            let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
            if phase == Some("Lost") {
                let volume = claim
                    .spec
                    .as_ref()
                    .and_then(|s| s.volume_name.as_deref())
                    .unwrap_or_default();
                return Err(format!(
                    "persistentvolumeclaim {:?} bound to non-existent persistentvolume {volume:?}",
                    c.name
                ));
            }
            if claim.metadata.deletion_timestamp.is_some() {
                return Err(format!(
                    "persistentvolumeclaim {:?} is being deleted",
                    c.name
                ));
            }
            if c.ephemeral {
                controllers::ephemeral::is_for_pod(pod, &claim)?;
            }
        }
        Ok(!claims.is_empty())
    }
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        Some(self)
    }
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<EventWithHint> {
        let add_or_update = action::ADD | action::UPDATE_OBJECT;
        vec![
            // A missing or misconfigured class (binding mode, allowed topologies).
            EventWithHint::new(
                EventResource::StorageClass,
                add_or_update,
                "StorageClassAdd|StorageClassUpdate",
            ),
            // Claims bound, created or changed.
            EventWithHint::new(
                EventResource::PersistentVolumeClaim,
                add_or_update,
                "PersistentVolumeClaimAdd|PersistentVolumeClaimUpdate",
            ),
            EventWithHint::new(
                EventResource::PersistentVolume,
                add_or_update,
                "PersistentVolumeAdd|PersistentVolumeUpdate",
            )
            .with_hint(|pod, _| {
                if volumes::pod_claims(pod).is_empty() {
                    QueueingHint::Skip
                } else {
                    QueueingHint::Queue
                }
            }),
            // Nodes matching a class's allowed topologies or a volume's node affinity.
            EventWithHint::new(
                EventResource::Node,
                action::ADD | action::UPDATE_NODE_LABEL | action::UPDATE_NODE_TAINT,
                "NodeAdd|NodeUpdate",
            ),
            EventWithHint::new(
                EventResource::CSINode,
                add_or_update,
                "CSINodeAdd|CSINodeUpdate",
            ),
            EventWithHint::new(
                EventResource::CSIDriver,
                add_or_update,
                "CSIDriverAdd|CSIDriverUpdate",
            ),
            EventWithHint::new(
                EventResource::CSIStorageCapacity,
                add_or_update,
                "CSIStorageCapacityAdd|CSIStorageCapacityUpdate",
            ),
        ]
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        match self.pod_has_claims(pod) {
            Err(why) => return (None, Status::unresolvable(why)),
            Ok(false) => {
                state.write(STATE_KEY, StateData::default());
                return (None, Status::skip());
            }
            Ok(true) => {}
        }
        let claims = match self.binder.pod_volume_claims(pod) {
            Ok(c) => c,
            Err(e) => return (None, Status::error(e)),
        };
        if !claims.unbound_immediate.is_empty() {
            return (None, Status::unresolvable(REASON_UNBOUND_IMMEDIATE));
        }
        state.write(
            STATE_KEY,
            StateData {
                claims,
                inner: Mutex::default(),
            },
        );
        (None, Status::success())
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        let Some(n) = &node.node else {
            return Status::error("node not found");
        };
        let data = match state_data(state) {
            Ok(d) => d,
            Err(s) => return s,
        };
        match self.binder.find_pod_volumes(&data.claims, n) {
            Err(e) => Status::error(e),
            Ok((_, reasons)) if !reasons.is_empty() => Status::new(
                crate::framework::Code::UnschedulableAndUnresolvable,
                reasons,
            ),
            Ok((volumes, _)) => {
                data.inner()
                    .by_node
                    .insert(node.name().to_string(), volumes);
                Status::success()
            }
        }
    }
}

impl ReservePlugin for VolumeBinding {
    fn reserve(&self, state: &mut CycleState, pod: &Pod, node: &str) -> Status {
        let data = match state_data(state) {
            Ok(d) => d,
            Err(s) => return s,
        };
        let mut inner = data.inner();
        let Some(mut volumes) = inner.by_node.get(node).cloned() else {
            // The pod uses no claims.
            inner.all_bound = true;
            return Status::success();
        };
        match self.binder.assume_pod_volumes(pod, node, &mut volumes) {
            Ok(all_bound) => {
                inner.all_bound = all_bound;
                inner.by_node.insert(node.to_string(), volumes);
                Status::success()
            }
            Err(e) => Status::error(e),
        }
    }

    fn unreserve(&self, state: &mut CycleState, _pod: &Pod, node: &str) {
        let Ok(data) = state_data(state) else {
            return;
        };
        if let Some(volumes) = data.inner().by_node.get(node) {
            self.binder.revert_assumed_pod_volumes(volumes);
        }
    }
}

#[async_trait::async_trait]
impl PreBindPlugin for VolumeBinding {
    async fn pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        let pod_volumes = {
            let data = match state_data(state) {
                Ok(d) => d,
                Err(s) => return s,
            };
            let inner = data.inner();
            if inner.all_bound {
                return Status::success();
            }
            match inner.by_node.get(node) {
                Some(v) => v.clone(),
                None => {
                    return Status::error(format!("no pod volumes found for node {node:?}"));
                }
            }
        };
        match self.binder.bind_pod_volumes(pod, node, &pod_volumes).await {
            Ok(()) => Status::success(),
            Err(e) => {
                tracing::info!(
                    "Failed to bind volumes for pod {}/{}: {e}.",
                    volumes::namespace(pod),
                    pod.metadata.name.as_deref().unwrap_or_default()
                );
                Status::error(e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
