//! The scheduler's volume binder (upstream `volumeBinder`, binder.go): sorts a pod's claims
//! into bound, unbound WaitForFirstConsumer and unbound immediate ones; per node, checks the
//! bound volumes' node affinity and finds a matching Available PV or a way to provision for
//! each unbound claim; assumes the choice at Reserve; and in PreBind writes it (the PV's
//! `claimRef`, or the claim's selected node) and waits until the PV binder (or a provisioner
//! and the binder) has bound every claim.
//!
//! Timeline of one pod: PreFilter -> [`Binder::pod_volume_claims`]; Filter per node ->
//! [`Binder::find_pod_volumes`]; Reserve -> [`Binder::assume_pod_volumes`] (Unreserve ->
//! [`Binder::revert_assumed_pod_volumes`]); PreBind -> [`Binder::bind_pod_volumes`]: API
//! updates, then [`Binder::check_bindings`] every second until bound, failed or timed out.

use super::assume_cache::AssumeCache;
use crate::volumes::{self, Listers, SELECTED_NODE};
use apimachinery::quantity::Quantity;
use controllers::pvbinder::matching;
use k8s_openapi::api::core::v1::{
    Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Upstream's `ErrReasonBindConflict`.
pub const REASON_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// Upstream's `ErrReasonNodeConflict`.
pub const REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Upstream's `ErrReasonNotEnoughSpace`.
pub const REASON_NOT_ENOUGH_SPACE: &str = "node(s) did not have enough free storage";
/// Upstream's `ErrReasonPVNotExist`.
pub const REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";

/// A claim and the volume chosen for it.
#[derive(Debug, Clone)]
pub struct BindingInfo {
    pub pvc: Arc<PersistentVolumeClaim>,
    pub pv: Arc<PersistentVolume>,
}

/// What a node needs done for the pod's volumes (upstream `PodVolumes`).
#[derive(Debug, Clone, Default)]
pub struct PodVolumes {
    /// Claims to bind to existing volumes.
    pub static_bindings: Vec<BindingInfo>,
    /// Claims that need a volume provisioned.
    pub dynamic_provisions: Vec<Arc<PersistentVolumeClaim>>,
}

/// A pod's claims by state (upstream `PodVolumeClaims`).
#[derive(Debug, Clone, Default)]
pub struct PodVolumeClaims {
    pub bound: Vec<Arc<PersistentVolumeClaim>>,
    /// Unbound claims of a WaitForFirstConsumer class: the scheduler's to bind.
    pub unbound_delay_binding: Vec<Arc<PersistentVolumeClaim>>,
    /// Unbound claims the PV binder should have bound already (immediate, or pre-bound).
    pub unbound_immediate: Vec<Arc<PersistentVolumeClaim>>,
    /// The volumes of the classes of `unbound_delay_binding`, by class.
    pub unbound_volumes_delay_binding: HashMap<String, Vec<Arc<PersistentVolume>>>,
}

fn claim_key(claim: &PersistentVolumeClaim) -> String {
    format!(
        "{}/{}",
        claim.metadata.namespace.as_deref().unwrap_or_default(),
        claim.metadata.name.as_deref().unwrap_or_default()
    )
}

fn claim_ref(claim: &PersistentVolumeClaim) -> ObjectRef<PersistentVolumeClaim> {
    ObjectRef::new(claim.metadata.name.as_deref().unwrap_or_default())
        .within(claim.metadata.namespace.as_deref().unwrap_or_default())
}

fn volume_ref(volume: &PersistentVolume) -> ObjectRef<PersistentVolume> {
    ObjectRef::new(volume.metadata.name.as_deref().unwrap_or_default())
}

fn volume_name(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or_default()
}

/// A quantity in whole units, rounded up (Go's `Quantity.Value`).
fn units(q: &Quantity) -> i128 {
    let nanos = q.nanos();
    nanos.div_euclid(1_000_000_000) + i128::from(nanos.rem_euclid(1_000_000_000) != 0)
}

/// `volume` pre-bound to `claim` as the scheduler writes it (upstream
/// `GetBindVolumeToClaim`), and whether that changed anything.
pub fn bind_volume_to_claim(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> (PersistentVolume, bool) {
    let mut dirty = false;
    let set_bound_by_controller = !matching::is_bound_to(volume, claim);
    let mut clone = volume.clone();
    let current = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    let same = current.is_some_and(|r| {
        r.name == claim.metadata.name
            && r.namespace == claim.metadata.namespace
            && r.uid == claim.metadata.uid
    });
    if !same {
        clone.spec.get_or_insert_default().claim_ref = Some(ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("PersistentVolumeClaim".to_string()),
            namespace: claim.metadata.namespace.clone(),
            name: claim.metadata.name.clone(),
            uid: claim.metadata.uid.clone(),
            resource_version: claim.metadata.resource_version.clone(),
            field_path: None,
        });
        dirty = true;
    }
    if set_bound_by_controller
        && !volumes::has_annotation(&clone.metadata, volumes::BOUND_BY_CONTROLLER)
    {
        clone
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(volumes::BOUND_BY_CONTROLLER.to_string(), "yes".to_string());
        dirty = true;
    }
    (clone, dirty)
}

/// The smallest Available volume of the claim's class that fits it on the node, or the
/// volume pre-bound to it if that one fits the node (upstream `FindMatchingVolume` on the
/// scheduler's path); volumes in `excluded` are taken by the pod's other claims.
pub fn find_matching_volume(
    claim: &PersistentVolumeClaim,
    candidates: &[Arc<PersistentVolume>],
    node: &Node,
    excluded: &HashSet<String>,
) -> Option<Arc<PersistentVolume>> {
    let requested = matching::requested(claim);
    let class = matching::claim_class(claim);
    let selector = claim.spec.as_ref().and_then(|s| s.selector.as_ref());
    let labels = node.metadata.labels.as_ref();
    let mut smallest: Option<(Quantity, &Arc<PersistentVolume>)> = None;
    for volume in candidates {
        if excluded.contains(volume.metadata.name.as_deref().unwrap_or_default()) {
            continue;
        }
        let claimed = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        let bound_to_claim = matching::is_bound_to(volume, claim);
        if claimed.is_some() && !bound_to_claim {
            continue;
        }
        let size = matching::capacity(volume);
        if size < requested
            || matching::volume_mode_mismatch(volume, claim)
            || volume.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let affinity_ok = volumes::node_affinity_matches(volume, labels);
        if bound_to_claim {
            // The pre-bound volume decides: it fits this node or nothing does.
            return affinity_ok.then(|| volume.clone());
        }
        let phase = volume.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase != Some("Available")
            || selector.is_some_and(|s| {
                !controllers::selector::matches(Some(s), volume.metadata.labels.as_ref())
            })
            || matching::volume_class(volume) != class
            || !affinity_ok
            || !matching::access_modes_fit(volume, claim)
        {
            continue;
        }
        if smallest.as_ref().is_none_or(|(q, _)| *q > size) {
            smallest = Some((size, volume));
        }
    }
    smallest.map(|(_, v)| v.clone())
}

/// The volume binder of one profile.
pub struct Binder {
    pub listers: Listers,
    pub pvs: AssumeCache<PersistentVolume>,
    pub pvcs: AssumeCache<PersistentVolumeClaim>,
    /// To tell a deleted pod apart while waiting (none in unit tests).
    pub pods: Option<Store<Pod>>,
    pub nodes: Option<Store<Node>>,
    pub client: Option<kube::Client>,
    pub bind_timeout: Duration,
}

impl Binder {
    pub fn new(
        listers: Listers,
        pods: Option<Store<Pod>>,
        nodes: Option<Store<Node>>,
        client: Option<kube::Client>,
        bind_timeout: Duration,
    ) -> Self {
        Self {
            pvs: AssumeCache::new(listers.volumes.clone()),
            pvcs: AssumeCache::new(listers.claims.clone()),
            listers,
            pods,
            nodes,
            client,
            bind_timeout,
        }
    }

    /// A claim of the pod as the scheduler sees it, and whether it is fully bound (upstream
    /// `isVolumeBound`).
    fn claim_of(
        &self,
        pod: &Pod,
        c: &volumes::PodClaim,
    ) -> Result<(bool, Arc<PersistentVolumeClaim>), String> {
        let namespace = volumes::namespace(pod);
        let claim = self
            .pvcs
            .get(&ObjectRef::new(&c.name).within(namespace))
            .ok_or_else(|| {
                format!(
                    "error getting PVC \"{namespace}/{}\": {}",
                    c.name,
                    volumes::not_found("persistentvolumeclaim", &c.name)
                )
            })?;
        if c.ephemeral {
            controllers::ephemeral::is_for_pod(pod, &claim)?;
        }
        Ok((volumes::is_fully_bound(&claim), claim))
    }

    /// The pod's claims by state (upstream `GetPodVolumeClaims`).
    pub fn pod_volume_claims(&self, pod: &Pod) -> Result<PodVolumeClaims, String> {
        let mut out = PodVolumeClaims::default();
        for c in volumes::pod_claims(pod) {
            let (bound, claim) = self.claim_of(pod, &c)?;
            if bound {
                out.bound.push(claim);
            } else if volumes::is_delay_binding(&claim, &self.listers)?
                && volume_name(&claim).is_empty()
            {
                out.unbound_delay_binding.push(claim);
            } else {
                out.unbound_immediate.push(claim);
            }
        }
        if !out.unbound_delay_binding.is_empty() {
            let all = self.pvs.list();
            for claim in &out.unbound_delay_binding {
                let class = matching::claim_class(claim).to_string();
                let of_class = all
                    .iter()
                    .filter(|v| matching::volume_class(v) == class)
                    .cloned()
                    .collect();
                out.unbound_volumes_delay_binding.insert(class, of_class);
            }
        }
        Ok(out)
    }

    /// Whether every claim of the pod is fully bound (upstream `arePodVolumesBound`).
    fn pod_volumes_bound(&self, pod: &Pod) -> bool {
        volumes::pod_claims(pod)
            .iter()
            .all(|c| self.claim_of(pod, c).is_ok_and(|(bound, _)| bound))
    }

    /// What `node` needs done for the pod's claims, or why it cannot serve them (upstream
    /// `FindPodVolumes`).
    pub fn find_pod_volumes(
        &self,
        claims: &PodVolumeClaims,
        node: &Node,
    ) -> Result<(PodVolumes, Vec<&'static str>), String> {
        let mut volumes = PodVolumes::default();
        let (mut bound_satisfied, mut bound_found) = (true, true);
        let (mut unbound_satisfied, mut sufficient_storage) = (true, true);
        let reasons = |bound_satisfied: bool,
                       unbound_satisfied: bool,
                       sufficient_storage: bool,
                       bound_found: bool| {
            let mut r = Vec::new();
            if !bound_satisfied {
                r.push(REASON_NODE_CONFLICT);
            }
            if !unbound_satisfied {
                r.push(REASON_BIND_CONFLICT);
            }
            if !sufficient_storage {
                r.push(REASON_NOT_ENOUGH_SPACE);
            }
            if !bound_found {
                r.push(REASON_PV_NOT_EXIST);
            }
            r
        };
        if !claims.bound.is_empty() {
            (bound_satisfied, bound_found) = self.check_bound_claims(&claims.bound, node);
        }
        if !claims.unbound_delay_binding.is_empty() {
            let node_name = node.metadata.name.as_deref().unwrap_or_default();
            let mut to_find = Vec::new();
            let mut to_provision = Vec::new();
            for claim in &claims.unbound_delay_binding {
                match volumes::annotation(&claim.metadata, SELECTED_NODE) {
                    Some(selected) if selected != node_name => {
                        // Provisioning was asked for on another node.
                        let r = reasons(bound_satisfied, false, sufficient_storage, bound_found);
                        return Ok((volumes, r));
                    }
                    Some(_) => to_provision.push(claim.clone()),
                    None => to_find.push(claim.clone()),
                }
            }
            if !to_find.is_empty() {
                let (found, bindings, unbound) = self.find_matching_volumes(
                    &to_find,
                    &claims.unbound_volumes_delay_binding,
                    node,
                );
                unbound_satisfied = found;
                volumes.static_bindings = bindings;
                to_provision.extend(unbound);
            }
            if !to_provision.is_empty() {
                let (satisfied, sufficient, provisions) =
                    self.check_volume_provisions(&to_provision, node)?;
                unbound_satisfied = satisfied;
                sufficient_storage = sufficient;
                volumes.dynamic_provisions = provisions;
            }
        }
        let r = reasons(
            bound_satisfied,
            unbound_satisfied,
            sufficient_storage,
            bound_found,
        );
        Ok((volumes, r))
    }

    /// Whether the bound volumes fit the node, and whether they all exist (upstream
    /// `checkBoundClaims`).
    fn check_bound_claims(
        &self,
        claims: &[Arc<PersistentVolumeClaim>],
        node: &Node,
    ) -> (bool, bool) {
        for claim in claims {
            let Some(pv) = self.pvs.get(&ObjectRef::new(volume_name(claim))) else {
                return (true, false);
            };
            if !volumes::node_affinity_matches(&pv, node.metadata.labels.as_ref()) {
                return (false, true);
            }
        }
        (true, true)
    }

    /// A volume for each claim, smallest claims first, each volume used once; the claims
    /// left over (upstream `findMatchingVolumes`).
    fn find_matching_volumes(
        &self,
        claims: &[Arc<PersistentVolumeClaim>],
        by_class: &HashMap<String, Vec<Arc<PersistentVolume>>>,
        node: &Node,
    ) -> (bool, Vec<BindingInfo>, Vec<Arc<PersistentVolumeClaim>>) {
        let mut claims = claims.to_vec();
        claims.sort_by_key(|c| matching::requested(c).nanos());
        let mut chosen = HashSet::new();
        let (mut found, mut bindings, mut unbound) = (true, Vec::new(), Vec::new());
        let none = Vec::new();
        for claim in claims {
            let candidates = by_class.get(matching::claim_class(&claim)).unwrap_or(&none);
            match find_matching_volume(&claim, candidates, node, &chosen) {
                Some(pv) => {
                    chosen.insert(pv.metadata.name.clone().unwrap_or_default());
                    bindings.push(BindingInfo { pvc: claim, pv });
                }
                None => {
                    found = false;
                    unbound.push(claim);
                }
            }
        }
        (found, bindings, unbound)
    }

    /// Whether every claim left can get a volume provisioned for the node, and whether the
    /// storage reported for it suffices (upstream `checkVolumeProvisions`).
    fn check_volume_provisions(
        &self,
        claims: &[Arc<PersistentVolumeClaim>],
        node: &Node,
    ) -> Result<(bool, bool, Vec<Arc<PersistentVolumeClaim>>), String> {
        let mut provisions = Vec::new();
        for claim in claims {
            let class_name = matching::claim_class(claim);
            if class_name.is_empty() {
                return Err(format!("no class for claim {:?}", claim_key(claim)));
            }
            let Some(class) = self.listers.class(class_name) else {
                return Err(format!("failed to find storage class {class_name:?}"));
            };
            let provisioner = class.provisioner.as_str();
            if provisioner.is_empty() || provisioner == volumes::NO_PROVISIONER {
                return Ok((false, true, Vec::new()));
            }
            if !volumes::topology_matches(
                class.allowed_topologies.as_deref(),
                node.metadata.labels.as_ref(),
            ) {
                return Ok((false, true, Vec::new()));
            }
            if !self.has_enough_capacity(provisioner, claim, &class, node) {
                return Ok((true, false, Vec::new()));
            }
            provisions.push(claim.clone());
        }
        Ok((true, true, provisions))
    }

    /// Whether a CSI driver that reports storage capacity has room for the claim where the
    /// node can reach (upstream `hasEnoughCapacity`); other provisioners always have.
    fn has_enough_capacity(
        &self,
        provisioner: &str,
        claim: &PersistentVolumeClaim,
        class: &StorageClass,
        node: &Node,
    ) -> bool {
        let requested = claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"));
        let Some(requested) = requested else {
            return true;
        };
        let Some(driver) = self.listers.csi_driver(provisioner) else {
            return true;
        };
        if driver.spec.storage_capacity != Some(true) {
            return true;
        }
        let size = units(&Quantity::parse(&requested.0).unwrap_or(Quantity::ZERO));
        self.listers.capacities.state().iter().any(|c| {
            let limit = c.maximum_volume_size.as_ref().or(c.capacity.as_ref());
            let sufficient = limit
                .and_then(|q| Quantity::parse(&q.0).ok())
                .is_some_and(|q| units(&q) >= size);
            Some(&c.storage_class_name) == class.metadata.name.as_ref()
                && sufficient
                && c.node_topology.as_ref().is_some_and(|t| {
                    controllers::selector::matches(Some(t), node.metadata.labels.as_ref())
                })
        })
    }

    /// Lays the node's choices over the caches: volumes pre-bound to their claims, claims
    /// with the node selected; whether everything was bound already (upstream
    /// `AssumePodVolumes`). `volumes` becomes what was assumed.
    pub fn assume_pod_volumes(
        &self,
        pod: &Pod,
        node: &str,
        volumes: &mut PodVolumes,
    ) -> Result<bool, String> {
        if self.pod_volumes_bound(pod) {
            return Ok(true);
        }
        let mut new_bindings: Vec<BindingInfo> = Vec::new();
        for b in &volumes.static_bindings {
            let (pv, dirty) = bind_volume_to_claim(&b.pv, &b.pvc);
            if dirty && let Err(e) = self.pvs.assume(pv.clone()) {
                self.revert(&new_bindings, &[]);
                return Err(e);
            }
            new_bindings.push(BindingInfo {
                pvc: b.pvc.clone(),
                pv: Arc::new(pv),
            });
        }
        let mut new_claims: Vec<Arc<PersistentVolumeClaim>> = Vec::new();
        for claim in &volumes.dynamic_provisions {
            let mut clone = (**claim).clone();
            clone
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(SELECTED_NODE.to_string(), node.to_string());
            if let Err(e) = self.pvcs.assume(clone.clone()) {
                self.revert(&new_bindings, &new_claims);
                return Err(e);
            }
            new_claims.push(Arc::new(clone));
        }
        volumes.static_bindings = new_bindings;
        volumes.dynamic_provisions = new_claims;
        Ok(false)
    }

    fn revert(&self, bindings: &[BindingInfo], claims: &[Arc<PersistentVolumeClaim>]) {
        for b in bindings {
            self.pvs.restore(&volume_ref(&b.pv));
        }
        for c in claims {
            self.pvcs.restore(&claim_ref(c));
        }
    }

    /// Undoes [`Binder::assume_pod_volumes`] (upstream `RevertAssumedPodVolumes`).
    pub fn revert_assumed_pod_volumes(&self, volumes: &PodVolumes) {
        self.revert(&volumes.static_bindings, &volumes.dynamic_provisions);
    }

    /// Writes the assumed bindings and provisioning requests, then waits until the claims
    /// are bound (upstream `BindPodVolumes`).
    pub async fn bind_pod_volumes(
        &self,
        pod: &Pod,
        node: &str,
        volumes: &PodVolumes,
    ) -> Result<(), String> {
        let (bindings, claims) = self.bind_api_update(volumes).await?;
        let deadline = tokio::time::Instant::now() + self.bind_timeout;
        loop {
            let next = tokio::time::Instant::now() + Duration::from_secs(1);
            if next > deadline {
                tokio::time::sleep_until(deadline).await;
                return Err("binding volumes: context deadline exceeded".to_string());
            }
            tokio::time::sleep_until(next).await;
            match self.check_bindings(pod, node, &bindings, &claims) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(format!("binding volumes: {e}")),
            }
        }
    }

    /// The API updates: each volume's `claimRef`, each claim's selected node; what the API
    /// answered, for the checks (upstream `bindAPIUpdate`). What was not written is
    /// reverted in the caches.
    async fn bind_api_update(
        &self,
        volumes: &PodVolumes,
    ) -> Result<(Vec<BindingInfo>, Vec<Arc<PersistentVolumeClaim>>), String> {
        let Some(client) = &self.client else {
            self.revert_assumed_pod_volumes(volumes);
            return Err("VolumeBinding needs an API client to bind volumes".to_string());
        };
        let pv_api: Api<PersistentVolume> = Api::all(client.clone());
        let mut bindings = Vec::new();
        for (i, b) in volumes.static_bindings.iter().enumerate() {
            let name = b.pv.metadata.name.as_deref().unwrap_or_default();
            match pv_api.replace(name, &PostParams::default(), &b.pv).await {
                Ok(pv) => {
                    tracing::info!(
                        "Updated PersistentVolume {name} with claim {}. Waiting for binding to complete.",
                        claim_key(&b.pvc)
                    );
                    bindings.push(BindingInfo {
                        pvc: b.pvc.clone(),
                        pv: Arc::new(pv),
                    });
                }
                Err(e) => {
                    self.revert(&volumes.static_bindings[i..], &volumes.dynamic_provisions);
                    return Err(controllers::client::message(&e));
                }
            }
        }
        let mut claims = Vec::new();
        for (i, c) in volumes.dynamic_provisions.iter().enumerate() {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(
                client.clone(),
                c.metadata.namespace.as_deref().unwrap_or_default(),
            );
            let name = c.metadata.name.as_deref().unwrap_or_default();
            match api.replace(name, &PostParams::default(), c).await {
                Ok(claim) => claims.push(Arc::new(claim)),
                Err(e) => {
                    self.revert(&[], &volumes.dynamic_provisions[i..]);
                    return Err(controllers::client::message(&e));
                }
            }
        }
        Ok((bindings, claims))
    }

    /// Whether every claim the pod's binding touched is fully bound; an error when binding
    /// failed and the pod must be scheduled again (upstream `checkBindings`).
    pub fn check_bindings(
        &self,
        pod: &Pod,
        node_name: &str,
        bindings: &[BindingInfo],
        claims: &[Arc<PersistentVolumeClaim>],
    ) -> Result<bool, String> {
        let node = match &self.nodes {
            Some(nodes) => nodes.get(&ObjectRef::new(node_name)).ok_or_else(|| {
                format!(
                    "failed to get node {node_name:?}: {}",
                    volumes::not_found("node", node_name)
                )
            })?,
            None => Arc::new(Node::default()),
        };
        let labels: Option<&BTreeMap<String, String>> = node.metadata.labels.as_ref();
        if let Some(pods) = &self.pods {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let key = ObjectRef::new(name).within(volumes::namespace(pod));
            if pods.get(&key).is_none() {
                return Err(format!(
                    "pod does not exist any more: {}",
                    volumes::not_found("pod", name)
                ));
            }
        }
        let affinity_error = |pv: &PersistentVolume| {
            format!(
                "pv {:?} node affinity doesn't match node {node_name:?}: no matching NodeSelectorTerms",
                pv.metadata.name.as_deref().unwrap_or_default()
            )
        };
        for b in bindings {
            let pv_name = b.pv.metadata.name.as_deref().unwrap_or_default();
            let pv = self.pvs.get_api(&volume_ref(&b.pv)).ok_or_else(|| {
                format!(
                    "failed to check binding: {}",
                    volumes::not_found("persistentvolume", pv_name)
                )
            })?;
            let pvc = self.pvcs.get_api(&claim_ref(&b.pvc)).ok_or_else(|| {
                format!(
                    "failed to check binding: {}",
                    volumes::not_found("persistentvolumeclaim", &claim_key(&b.pvc))
                )
            })?;
            // Our own update has not come back through the informer yet.
            if volumes::resource_version(&b.pv.metadata) > volumes::resource_version(&pv.metadata) {
                return Ok(false);
            }
            if !volumes::node_affinity_matches(&pv, labels) {
                return Err(affinity_error(&pv));
            }
            let uid = pv
                .spec
                .as_ref()
                .and_then(|s| s.claim_ref.as_ref())
                .and_then(|r| r.uid.as_deref())
                .unwrap_or_default();
            if uid.is_empty() {
                return Err(format!("ClaimRef got reset for pv {pv_name:?}"));
            }
            if !volumes::is_fully_bound(&pvc) {
                return Ok(false);
            }
        }
        for c in claims {
            let name = c.metadata.name.as_deref().unwrap_or_default();
            let pvc = self.pvcs.get_api(&claim_ref(c)).ok_or_else(|| {
                format!(
                    "failed to check provisioning pvc: {}",
                    volumes::not_found("persistentvolumeclaim", &claim_key(c))
                )
            })?;
            if volumes::resource_version(&c.metadata) > volumes::resource_version(&pvc.metadata) {
                return Ok(false);
            }
            if pvc.metadata.annotations.is_none() {
                return Err(format!("selectedNode annotation reset for PVC {name:?}"));
            }
            if volumes::annotation(&pvc.metadata, SELECTED_NODE) != Some(node_name) {
                // The provisioner gave up: it takes the annotation away.
                return Err(format!("provisioning failed for PVC {name:?}"));
            }
            let bound_to = volume_name(&pvc);
            if !bound_to.is_empty() {
                let Some(pv) = self.pvs.get_api(&ObjectRef::new(bound_to)) else {
                    return Ok(false);
                };
                if !volumes::node_affinity_matches(&pv, labels) {
                    return Err(affinity_error(&pv));
                }
            }
            if !volumes::is_fully_bound(&pvc) {
                return Ok(false);
            }
        }
        tracing::info!(
            "All PVCs for pod {}/{} are bound.",
            volumes::namespace(pod),
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        Ok(true)
    }
}
