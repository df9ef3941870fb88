//! VolumeZone (PreFilter, Filter), as upstream v1.33: the zone and region labels of the PVs
//! bound to the pod's claims (`topology.kubernetes.io/zone|region` and the deprecated
//! `failure-domain.beta.kubernetes.io/zone|region`; a value may list several zones joined by
//! `__`) must match the node's (a beta volume label matches the node's GA one too): `node(s)
//! had no available volume zone`, unresolvable. Nodes without any of those labels fit
//! (single-zone clusters). Claims not bound yet of a WaitForFirstConsumer class are left to
//! VolumeBinding (it checks the class's `allowedTopologies`); any other unbound claim, or a
//! missing claim, volume or class, rejects the pod.

use crate::framework::cluster_event::{EventResource, EventWithHint, Object, QueueingHint, action};
use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::NodeInfo;
use crate::volumes::{self, Listers};
use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeSet;
use std::sync::Arc;

pub const NAME: &str = "VolumeZone";
/// Upstream's `ErrReasonConflict`.
pub const REASON: &str = "node(s) had no available volume zone";
const STATE_KEY: &str = "PreFilterVolumeZone";

const BETA_ZONE: &str = "failure-domain.beta.kubernetes.io/zone";
const BETA_REGION: &str = "failure-domain.beta.kubernetes.io/region";
const ZONE: &str = "topology.kubernetes.io/zone";
const REGION: &str = "topology.kubernetes.io/region";
/// The labels compared, in upstream's order.
const TOPOLOGY_LABELS: [&str; 4] = [BETA_ZONE, BETA_REGION, ZONE, REGION];

pub fn new(listers: Listers) -> Arc<dyn Plugin> {
    Arc::new(VolumeZone { listers })
}

struct VolumeZone {
    listers: Listers,
}

/// One topology label of a bound volume.
#[derive(Debug, Clone)]
struct PvTopology {
    key: &'static str,
    values: BTreeSet<String>,
}

fn ga_label(key: &str) -> &str {
    match key {
        BETA_REGION => REGION,
        BETA_ZONE => ZONE,
        other => other,
    }
}

/// The zones of a label value (upstream `LabelZonesToSet`): `a__b` is a and b; an empty
/// part makes the label unusable.
fn zones(value: &str) -> Option<BTreeSet<String>> {
    let parts: Vec<&str> = value.split("__").collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(parts.into_iter().map(str::to_string).collect())
}

impl VolumeZone {
    /// The topology labels of the pod's bound volumes (upstream `getPVbyPod`).
    fn topologies(&self, pod: &Pod) -> Result<Vec<PvTopology>, Status> {
        let namespace = volumes::namespace(pod);
        let mut out = Vec::new();
        let claims = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| v.persistent_volume_claim.as_ref());
        for c in claims {
            if c.claim_name.is_empty() {
                return Err(Status::unresolvable("PersistentVolumeClaim had no name"));
            }
            let Some(claim) = self.listers.claim(namespace, &c.claim_name) else {
                return Err(Status::unresolvable(volumes::not_found(
                    "persistentvolumeclaim",
                    &c.claim_name,
                )));
            };
            let pv_name = claim
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .unwrap_or_default();
            if pv_name.is_empty() {
                let class_name = volumes::claim_class(&claim);
                if class_name.is_empty() {
                    return Err(Status::unresolvable(
                        "PersistentVolumeClaim had no pv name and storageClass name",
                    ));
                }
                let Some(class) = self.listers.class(class_name) else {
                    return Err(Status::unresolvable(volumes::not_found(
                        "storageclass.storage.k8s.io",
                        class_name,
                    )));
                };
                match class.volume_binding_mode.as_deref() {
                    None => {
                        return Err(Status::unresolvable(format!(
                            "VolumeBindingMode not set for StorageClass {class_name:?}"
                        )));
                    }
                    // VolumeBinding's business.
                    Some("WaitForFirstConsumer") => continue,
                    Some(_) => {
                        return Err(Status::unresolvable("PersistentVolume had no name"));
                    }
                }
            }
            let Some(pv) = self.listers.volume(pv_name) else {
                return Err(Status::unresolvable(volumes::not_found(
                    "persistentvolume",
                    pv_name,
                )));
            };
            for key in TOPOLOGY_LABELS {
                let value = pv.metadata.labels.as_ref().and_then(|l| l.get(key));
                if let Some(values) = value.and_then(|v| zones(v)) {
                    out.push(PvTopology { key, values });
                }
            }
        }
        Ok(out)
    }
}

impl Plugin for VolumeZone {
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
            EventWithHint::new(EventResource::StorageClass, action::ADD, "StorageClassAdd"),
            EventWithHint::new(
                EventResource::Node,
                action::ADD | action::UPDATE_NODE_LABEL | action::UPDATE_NODE_TAINT,
                "NodeAdd|NodeUpdate",
            ),
            EventWithHint::new(
                EventResource::PersistentVolumeClaim,
                action::ADD | action::UPDATE_OBJECT,
                "PersistentVolumeClaimAdd|PersistentVolumeClaimUpdate",
            )
            .with_hint(|pod, change| {
                let Some(claim) = change.new.as_ref().and_then(Object::claim) else {
                    return QueueingHint::Queue;
                };
                let wanted = claim.metadata.namespace == pod.metadata.namespace
                    && pod
                        .spec
                        .iter()
                        .flat_map(|s| s.volumes.iter().flatten())
                        .filter_map(|v| v.persistent_volume_claim.as_ref())
                        .any(|c| Some(&c.claim_name) == claim.metadata.name.as_ref());
                if wanted {
                    QueueingHint::Queue
                } else {
                    QueueingHint::Skip
                }
            }),
            EventWithHint::new(
                EventResource::PersistentVolume,
                action::ADD | action::UPDATE_OBJECT,
                "PersistentVolumeAdd|PersistentVolumeUpdate",
            ),
        ]
    }
}

impl PreFilterPlugin for VolumeZone {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _nodes: &[Arc<NodeInfo>],
    ) -> (Option<PreFilterResult>, Status) {
        match self.topologies(pod) {
            Err(s) => (None, s),
            Ok(t) if t.is_empty() => (None, Status::skip()),
            Ok(t) => {
                state.write(STATE_KEY, t);
                (None, Status::success())
            }
        }
    }
}

impl FilterPlugin for VolumeZone {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if pod
            .spec
            .as_ref()
            .is_none_or(|s| s.volumes.as_ref().is_none_or(Vec::is_empty))
        {
            return Status::success();
        }
        let computed;
        let topologies = match state.read::<Vec<PvTopology>>(STATE_KEY) {
            Some(t) => t,
            None => match self.topologies(pod) {
                Ok(t) => {
                    computed = t;
                    &computed
                }
                Err(s) => return s,
            },
        };
        let labels = node.node.as_ref().and_then(|n| n.metadata.labels.as_ref());
        let label = |k: &str| labels.and_then(|l| l.get(k));
        if !TOPOLOGY_LABELS.iter().any(|k| label(k).is_some()) {
            return Status::success();
        }
        for t in topologies {
            let value = label(t.key).or_else(|| label(ga_label(t.key)));
            if !value.is_some_and(|v| t.values.contains(v)) {
                return Status::unresolvable(REASON);
            }
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::{node, pod, with_labels};
    use crate::volumes::testing::{claim, class, listers, volume, with_claims};

    #[test]
    fn volume_zones_must_match_the_nodes() {
        let pl = VolumeZone {
            listers: listers(
                vec![
                    claim("in-a", "", "pv-a", &[]),
                    claim("in-ab", "", "pv-ab", &[]),
                    claim("beta", "", "pv-beta", &[]),
                    claim("plain", "", "pv-plain", &[]),
                    claim("later", "wait", "", &[]),
                    claim("now", "now", "", &[]),
                    claim("lost", "", "gone", &[]),
                ],
                vec![
                    volume("pv-a", "", "1Gi", &[(ZONE, "a"), (REGION, "r")]),
                    volume("pv-ab", "", "1Gi", &[(ZONE, "a__b")]),
                    volume("pv-beta", "", "1Gi", &[(BETA_ZONE, "b")]),
                    volume("pv-plain", "", "1Gi", &[]),
                ],
                vec![
                    class("wait", "x", "WaitForFirstConsumer"),
                    class("now", "x", "Immediate"),
                ],
                vec![],
            ),
        };
        let n = |name: &str, labels: &[(&str, &str)]| {
            NodeInfo::new(Arc::new(with_labels(node(name, "1", "1Gi"), labels)))
        };
        let a = n("a", &[(ZONE, "a"), (REGION, "r")]);
        let b = n("b", &[(ZONE, "b"), (REGION, "r")]);
        let bare = n("bare", &[]);
        let run = |claims: &[&str], node: &NodeInfo| {
            let p = with_claims(pod("p", &[&[]]), claims);
            let mut state = CycleState::new();
            let (_, s) = pl.pre_filter(&mut state, &p, &[]);
            if !s.is_success() {
                return s;
            }
            pl.filter(&state, &p, node)
        };
        assert!(run(&["in-a"], &a).is_success());
        let s = run(&["in-a"], &b);
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(s.message(), REASON);
        assert!(run(&["in-a"], &bare).is_success());
        assert!(run(&["in-ab"], &b).is_success());
        // A beta volume label matches the node's GA one.
        assert!(run(&["beta"], &b).is_success());
        assert_eq!(
            run(&["beta"], &a).code(),
            Code::UnschedulableAndUnresolvable
        );
        assert!(run(&["plain"], &a).is_skip());
        assert!(run(&["later"], &a).is_skip());
        let s = run(&["now"], &a);
        assert_eq!(s.message(), "PersistentVolume had no name");
        let s = run(&["lost"], &a);
        assert_eq!(s.message(), "persistentvolume \"gone\" not found");
        let s = run(&["nope"], &a);
        assert_eq!(s.message(), "persistentvolumeclaim \"nope\" not found");
        assert_eq!(zones("a__"), None);
    }
}
