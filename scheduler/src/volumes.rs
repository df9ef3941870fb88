//! What the volume plugins (VolumeRestrictions, NodeVolumeLimits, VolumeBinding, VolumeZone)
//! share: the storage listers they read ([`Listers`]), a pod's claims ([`pod_claims`]), and
//! upstream's storage helpers (`component-helpers/storage/volume`): a claim's binding mode,
//! a volume's node affinity, a class's allowed topologies, and the annotations the scheduler
//! and the PV binder talk through.

use controllers::informer::{Informers, Watched};
use controllers::pvbinder::matching;
use k8s_openapi::api::core::v1::{
    Node, NodeSelectorTerm, PersistentVolume, PersistentVolumeClaim, Pod, TopologySelectorTerm,
};
use k8s_openapi::api::storage::v1::{CSIDriver, CSINode, CSIStorageCapacity, StorageClass};
use kube::runtime::reflector::{self, ObjectRef, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

/// On a claim: the node the scheduler picked for a WaitForFirstConsumer claim that needs a
/// volume provisioned (upstream's `AnnSelectedNode`).
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a claim: the PV binder finished binding it (upstream's `AnnBindCompleted`).
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a volume: a controller (not the user) set its `claimRef` (upstream's
/// `AnnBoundByController`).
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// The provisioner of classes that cannot provision (upstream's `NotSupportedProvisioner`).
pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// On a CSINode: the in-tree plugins whose volumes its CSI drivers serve.
pub const MIGRATED_PLUGINS: &str = "storage.alpha.kubernetes.io/migrated-plugins";

/// The caches of storage objects the volume plugins read (upstream's listers from the shared
/// informer factory). Without informers (unit tests of other parts) they are empty.
#[derive(Clone)]
pub struct Listers {
    pub claims: Store<PersistentVolumeClaim>,
    pub volumes: Store<PersistentVolume>,
    pub classes: Store<StorageClass>,
    pub csi_nodes: Store<CSINode>,
    pub csi_drivers: Store<CSIDriver>,
    pub capacities: Store<CSIStorageCapacity>,
}

fn store<K: Watched>(informers: Option<&Informers>) -> Store<K> {
    match informers {
        Some(i) => i.get::<K>().store(),
        // The writer is dropped: the store stays empty.
        None => reflector::store::<K>().0,
    }
}

impl Listers {
    pub fn new(informers: Option<&Informers>) -> Self {
        Self {
            claims: store(informers),
            volumes: store(informers),
            classes: store(informers),
            csi_nodes: store(informers),
            csi_drivers: store(informers),
            capacities: store(informers),
        }
    }

    pub fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.volumes.get(&ObjectRef::new(name))
    }

    pub fn class(&self, name: &str) -> Option<Arc<StorageClass>> {
        self.classes.get(&ObjectRef::new(name))
    }

    pub fn csi_node(&self, name: &str) -> Option<Arc<CSINode>> {
        self.csi_nodes.get(&ObjectRef::new(name))
    }

    pub fn csi_driver(&self, name: &str) -> Option<Arc<CSIDriver>> {
        self.csi_drivers.get(&ObjectRef::new(name))
    }
}

/// Waits until every storage cache is filled.
pub async fn wait_for_listers(informers: &Informers) {
    informers.get::<PersistentVolumeClaim>().ready().await;
    informers.get::<PersistentVolume>().ready().await;
    informers.get::<StorageClass>().ready().await;
    informers.get::<CSINode>().ready().await;
    informers.get::<CSIDriver>().ready().await;
    informers.get::<CSIStorageCapacity>().ready().await;
}

/// One claim a pod's volume uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodClaim {
    pub name: String,
    /// A generic ephemeral volume's claim (`<pod>-<volume>`), which the pod must own.
    pub ephemeral: bool,
}

/// The claims of the pod's `persistentVolumeClaim` and `ephemeral` volumes, in volume order.
pub fn pod_claims(pod: &Pod) -> Vec<PodClaim> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some(PodClaim {
                    name: c.claim_name.clone(),
                    ephemeral: false,
                })
            } else {
                v.ephemeral.as_ref().map(|_| PodClaim {
                    name: controllers::ephemeral::claim_name(pod_name, &v.name),
                    ephemeral: true,
                })
            }
        })
        .collect()
}

pub fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or_default()
}

/// A lister's NotFound error text, as upstream's `apierrors.NewNotFound` words it.
pub fn not_found(resource: &str, name: &str) -> String {
    format!("{resource} {name:?} not found")
}

/// The class a claim asks for, `""` for none (upstream `GetPersistentVolumeClaimClass`).
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    matching::claim_class(claim)
}

/// Whether the claim's class delays binding until a pod uses it (upstream
/// `IsDelayBindingMode`): no class or a missing class does not; a class without a binding
/// mode is an error.
pub fn is_delay_binding(claim: &PersistentVolumeClaim, listers: &Listers) -> Result<bool, String> {
    let class_name = claim_class(claim);
    if class_name.is_empty() {
        return Ok(false);
    }
    let Some(class) = listers.class(class_name) else {
        return Ok(false);
    };
    match class.volume_binding_mode.as_deref() {
        None => Err(format!(
            "VolumeBindingMode not set for StorageClass {class_name:?}"
        )),
        Some(mode) => Ok(mode == "WaitForFirstConsumer"),
    }
}

/// Whether the PV binder has finished binding the claim (upstream `isPVCFullyBound`).
pub fn is_fully_bound(claim: &PersistentVolumeClaim) -> bool {
    let volume = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref());
    volume.is_some_and(|v| !v.is_empty()) && has_annotation(&claim.metadata, BIND_COMPLETED)
}

pub fn has_annotation(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(key))
}

pub fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// Whether the volume's required node affinity admits a node with `labels` (upstream
/// `CheckNodeAffinity`, which matches the terms against a node with the labels only: field
/// terms never match).
pub fn node_affinity_matches(
    volume: &PersistentVolume,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let Some(required) = volume
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
    else {
        return true;
    };
    let node = Node {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            labels: labels.cloned(),
            ..Default::default()
        },
        ..Default::default()
    };
    terms_match(&required.node_selector_terms, &node)
}

fn terms_match(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    terms
        .iter()
        .any(|t| controllers::daemonset::placement::term_matches(t, node))
}

/// Whether a node with `labels` satisfies a class's `allowedTopologies` (upstream
/// `MatchTopologySelectorTerms`): no terms allow every node; an empty term or one with an
/// expression without values allows none.
pub fn topology_matches(
    terms: Option<&[TopologySelectorTerm]>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let terms = terms.unwrap_or_default();
    if terms.is_empty() {
        return true;
    }
    terms.iter().any(|term| {
        let exprs = term.match_label_expressions.as_deref().unwrap_or_default();
        !exprs.is_empty()
            && exprs.iter().all(|e| {
                !e.values.is_empty()
                    && labels
                        .and_then(|l| l.get(&e.key))
                        .is_some_and(|v| e.values.contains(v))
            })
    })
}

/// A resource version as a number, for telling which of two versions is newer.
pub fn resource_version(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Storage objects and filled listers for the volume plugins' unit tests.

    use super::*;
    use k8s_openapi::api::core::v1::{
        PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PersistentVolumeSpec,
        PersistentVolumeStatus, Volume, VolumeResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::runtime::watcher;

    fn filled<K: Watched>(items: Vec<K>) -> Store<K> {
        let (store, mut writer) = reflector::store::<K>();
        for item in items {
            writer.apply_watcher_event(&watcher::Event::Apply(item));
        }
        store
    }

    pub fn listers(
        claims: Vec<PersistentVolumeClaim>,
        volumes: Vec<PersistentVolume>,
        classes: Vec<StorageClass>,
        csi_nodes: Vec<CSINode>,
    ) -> Listers {
        Listers {
            claims: filled(claims),
            volumes: filled(volumes),
            classes: filled(classes),
            csi_nodes: filled(csi_nodes),
            csi_drivers: filled(vec![]),
            capacities: filled(vec![]),
        }
    }

    /// A claim in `default` for `size` with `modes`, of `class` (none if empty), bound to
    /// `volume` (none if empty; bind-completed when given).
    pub fn claim(name: &str, class: &str, volume: &str, modes: &[&str]) -> PersistentVolumeClaim {
        let mut annotations = BTreeMap::new();
        if !volume.is_empty() {
            annotations.insert(BIND_COMPLETED.to_string(), "yes".to_string());
        }
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("default".to_string()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("1".to_string()),
                annotations: Some(annotations),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(modes.iter().map(|m| m.to_string()).collect()),
                storage_class_name: (!class.is_empty()).then(|| class.to_string()),
                volume_name: (!volume.is_empty()).then(|| volume.to_string()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity("1Gi".to_string()),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    /// An Available volume of `size` and `class` with `labels`.
    pub fn volume(
        name: &str,
        class: &str,
        size: &str,
        labels: &[(&str, &str)],
    ) -> PersistentVolume {
        PersistentVolume {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                resource_version: Some("1".to_string()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            spec: Some(PersistentVolumeSpec {
                capacity: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(size.to_string()),
                )])),
                access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                storage_class_name: (!class.is_empty()).then(|| class.to_string()),
                ..Default::default()
            }),
            status: Some(PersistentVolumeStatus {
                phase: Some("Available".to_string()),
                ..Default::default()
            }),
        }
    }

    /// `volume` pinned to nodes whose `key` label is one of `values`.
    pub fn pinned(mut volume: PersistentVolume, key: &str, values: &[&str]) -> PersistentVolume {
        use k8s_openapi::api::core::v1::{
            NodeSelector, NodeSelectorRequirement, VolumeNodeAffinity,
        };
        volume.spec.get_or_insert_default().node_affinity = Some(VolumeNodeAffinity {
            required: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: key.to_string(),
                        operator: "In".to_string(),
                        values: Some(values.iter().map(|v| v.to_string()).collect()),
                    }]),
                    match_fields: None,
                }],
            }),
        });
        volume
    }

    pub fn class(name: &str, provisioner: &str, mode: &str) -> StorageClass {
        StorageClass {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            provisioner: provisioner.to_string(),
            volume_binding_mode: Some(mode.to_string()),
            ..Default::default()
        }
    }

    /// `pod` with a volume per claim name.
    pub fn with_claims(mut pod: Pod, claims: &[&str]) -> Pod {
        let spec = pod.spec.get_or_insert_default();
        for c in claims {
            spec.volumes.get_or_insert_default().push(Volume {
                name: format!("v-{c}"),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: c.to_string(),
                    read_only: None,
                }),
                ..Default::default()
            });
        }
        pod
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use k8s_openapi::api::core::v1::TopologySelectorLabelRequirement;

    #[test]
    fn binding_modes_and_affinity_as_upstream() {
        let l = listers(
            vec![],
            vec![],
            vec![
                class("wait", NO_PROVISIONER, "WaitForFirstConsumer"),
                class("now", "example.com/p", "Immediate"),
            ],
            vec![],
        );
        assert_eq!(is_delay_binding(&claim("a", "wait", "", &[]), &l), Ok(true));
        assert_eq!(is_delay_binding(&claim("a", "now", "", &[]), &l), Ok(false));
        assert_eq!(is_delay_binding(&claim("a", "", "", &[]), &l), Ok(false));
        assert_eq!(
            is_delay_binding(&claim("a", "gone", "", &[]), &l),
            Ok(false)
        );
        let v = pinned(
            volume("v", "", "1Gi", &[]),
            "kubernetes.io/hostname",
            &["b"],
        );
        let labels =
            |h: &str| BTreeMap::from([("kubernetes.io/hostname".to_string(), h.to_string())]);
        assert!(node_affinity_matches(&v, Some(&labels("b"))));
        assert!(!node_affinity_matches(&v, Some(&labels("a"))));
        assert!(!node_affinity_matches(&v, None));
        assert!(node_affinity_matches(&volume("w", "", "1Gi", &[]), None));
        let zone = |values: &[&str]| TopologySelectorTerm {
            match_label_expressions: Some(vec![TopologySelectorLabelRequirement {
                key: "zone".to_string(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }]),
        };
        let in_a = BTreeMap::from([("zone".to_string(), "a".to_string())]);
        assert!(topology_matches(None, Some(&in_a)));
        assert!(topology_matches(Some(&[zone(&["a", "b"])]), Some(&in_a)));
        assert!(!topology_matches(Some(&[zone(&["b"])]), Some(&in_a)));
        assert!(!topology_matches(Some(&[zone(&[])]), Some(&in_a)));
        assert_eq!(
            not_found("persistentvolumeclaim", "x"),
            "persistentvolumeclaim \"x\" not found"
        );
    }
}
