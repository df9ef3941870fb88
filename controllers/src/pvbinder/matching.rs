//! Which PersistentVolume a claim may use (upstream `findMatchingVolume`,
//! `checkVolumeSatisfyClaim` and the storage helpers they call): class, access modes, size,
//! selector and volume mode, with a volume already pointing at the claim taking precedence over
//! the smallest free fit. Node affinity is the scheduler's business and is not looked at here.

use apimachinery::quantity::Quantity;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use std::collections::BTreeSet;

/// The class annotation that predates `storageClassName` and still wins over it.
pub const BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The claim's class, `""` for none (upstream `GetPersistentVolumeClaimClass`).
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    if let Some(class) = annotation(&claim.metadata, BETA_CLASS) {
        return class;
    }
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

/// Whether the claim names a class at all; `""` counts, a missing field does not. Only a claim
/// without one gets the default class.
pub fn claim_has_class(claim: &PersistentVolumeClaim) -> bool {
    annotation(&claim.metadata, BETA_CLASS).is_some()
        || claim
            .spec
            .as_ref()
            .is_some_and(|s| s.storage_class_name.is_some())
}

/// The volume's class, `""` for none (upstream `GetPersistentVolumeClass`).
pub fn volume_class(volume: &PersistentVolume) -> &str {
    if let Some(class) = annotation(&volume.metadata, BETA_CLASS) {
        return class;
    }
    volume
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// The storage the claim asks for; an unparsable or missing request asks for nothing.
pub fn requested(claim: &PersistentVolumeClaim) -> Quantity {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .unwrap_or(Quantity::ZERO)
}

/// The volume's storage capacity.
pub fn capacity(volume: &PersistentVolume) -> Quantity {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .unwrap_or(Quantity::ZERO)
}

fn claim_modes(claim: &PersistentVolumeClaim) -> BTreeSet<&str> {
    claim
        .spec
        .iter()
        .flat_map(|s| s.access_modes.iter().flatten())
        .map(String::as_str)
        .collect()
}

fn volume_modes(volume: &PersistentVolume) -> BTreeSet<&str> {
    volume
        .spec
        .iter()
        .flat_map(|s| s.access_modes.iter().flatten())
        .map(String::as_str)
        .collect()
}

/// Whether the volume offers every access mode the claim asks for.
pub fn access_modes_fit(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    claim_modes(claim).is_subset(&volume_modes(volume))
}

/// Whether claim and volume disagree on block versus filesystem; unset means Filesystem.
pub fn volume_mode_mismatch(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let claim_mode = claim.spec.as_ref().and_then(|s| s.volume_mode.as_deref());
    let volume_mode = volume.spec.as_ref().and_then(|s| s.volume_mode.as_deref());
    claim_mode.unwrap_or("Filesystem") != volume_mode.unwrap_or("Filesystem")
}

/// Whether the volume's `claimRef` points at this claim: same namespace and name, and the uid
/// either matches or is not filled in yet (a volume pre-bound by its creator).
pub fn is_bound_to(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    r.name == claim.metadata.name
        && r.namespace == claim.metadata.namespace
        && r.uid
            .as_deref()
            .is_none_or(|uid| uid.is_empty() || Some(uid) == claim.metadata.uid.as_deref())
}

fn phase(volume: &PersistentVolume) -> &str {
    volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// The volume the claim should bind to (upstream `findBestMatchForClaim`), if any. A volume
/// whose `claimRef` already names the claim wins whatever its size; otherwise the smallest
/// Available, unclaimed volume that fits, looking first among volumes offering the fewest
/// access modes, as upstream's access-mode index does. With `delay_binding` (a
/// WaitForFirstConsumer class) only such a pre-bound volume is taken: the scheduler picks the
/// rest.
pub fn find_best_match<'a>(
    claim: &PersistentVolumeClaim,
    volumes: impl IntoIterator<Item = &'a PersistentVolume>,
    delay_binding: bool,
) -> Option<&'a PersistentVolume> {
    let wanted = requested(claim);
    let class = claim_class(claim);
    let selector = claim.spec.as_ref().and_then(|s| s.selector.as_ref());
    let mut candidates: Vec<(usize, Quantity, &PersistentVolume)> = Vec::new();
    for volume in volumes {
        let size = capacity(volume);
        if size < wanted
            || !access_modes_fit(volume, claim)
            || volume_mode_mismatch(volume, claim)
            || volume.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        if is_bound_to(volume, claim) {
            return Some(volume);
        }
        if delay_binding
            || phase(volume) != "Available"
            || volume.spec.as_ref().is_some_and(|s| s.claim_ref.is_some())
            || selector.is_some_and(|s| {
                !crate::selector::matches(Some(s), volume.metadata.labels.as_ref())
            })
            || volume_class(volume) != class
        {
            continue;
        }
        candidates.push((volume_modes(volume).len(), size, volume));
    }
    // Ties go to the name, so repeated syncs pick the same volume.
    candidates
        .into_iter()
        .min_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.nanos().cmp(&b.1.nanos()))
                .then(a.2.metadata.name.cmp(&b.2.metadata.name))
        })
        .map(|(_, _, v)| v)
}

/// Why the volume a claim names in `spec.volumeName` cannot serve it (upstream
/// `checkVolumeSatisfyClaim`, messages included); the selector is not looked at, as upstream.
pub fn check_satisfies(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<(), String> {
    let name = volume.metadata.name.as_deref().unwrap_or_default();
    if volume.metadata.deletion_timestamp.is_some() {
        return Err(format!("the volume is marked for deletion {name:?}"));
    }
    if capacity(volume) < requested(claim) {
        return Err("requested PV is too small".to_string());
    }
    if volume_class(volume) != claim_class(claim) {
        return Err("storageClassName does not match".to_string());
    }
    if volume_mode_mismatch(volume, claim) {
        return Err("incompatible volumeMode".to_string());
    }
    if !access_modes_fit(volume, claim) {
        return Err("incompatible accessMode".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ObjectReference, PersistentVolumeClaimSpec, PersistentVolumeSpec, PersistentVolumeStatus,
        VolumeResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
    use std::collections::BTreeMap;

    fn pv(name: &str, size: &str, modes: &[&str]) -> PersistentVolume {
        PersistentVolume {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeSpec {
                capacity: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Q(size.to_string()),
                )])),
                access_modes: Some(modes.iter().map(|m| m.to_string()).collect()),
                ..Default::default()
            }),
            status: Some(PersistentVolumeStatus {
                phase: Some("Available".to_string()),
                ..Default::default()
            }),
        }
    }

    fn pvc(size: &str, modes: &[&str]) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("data".to_string()),
                namespace: Some("prod".to_string()),
                uid: Some("claim-uid".to_string()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(modes.iter().map(|m| m.to_string()).collect()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Q(size.to_string()),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn name(v: Option<&PersistentVolume>) -> Option<&str> {
        v.and_then(|v| v.metadata.name.as_deref())
    }

    fn claim_ref(pv: &mut PersistentVolume, name: &str, uid: Option<&str>) {
        if let Some(s) = pv.spec.as_mut() {
            s.claim_ref = Some(ObjectReference {
                namespace: Some("prod".to_string()),
                name: Some(name.to_string()),
                uid: uid.map(str::to_string),
                ..Default::default()
            });
        }
    }

    const RWO: &[&str] = &["ReadWriteOnce"];

    #[test]
    fn the_smallest_volume_that_fits_wins() {
        let vols = [
            pv("big", "10Gi", RWO),
            pv("small", "1Gi", RWO),
            pv("mid", "5Gi", RWO),
        ];
        assert_eq!(
            name(find_best_match(&pvc("2Gi", RWO), &vols, false)),
            Some("mid")
        );
        assert_eq!(
            name(find_best_match(&pvc("1Gi", RWO), &vols, false)),
            Some("small")
        );
        // Units do not matter, only the amount.
        assert_eq!(
            name(find_best_match(&pvc("1073741824", RWO), &vols, false)),
            Some("small")
        );
        assert_eq!(name(find_best_match(&pvc("20Gi", RWO), &vols, false)), None);
    }

    #[test]
    fn classes_must_be_equal_and_none_matches_only_none() {
        let mut fast = pv("fast", "1Gi", RWO);
        if let Some(s) = fast.spec.as_mut() {
            s.storage_class_name = Some("fast".to_string());
        }
        let plain = pv("plain", "5Gi", RWO);
        let vols = [fast, plain];
        // No class and the empty class are the same for matching.
        let none = pvc("1Gi", RWO);
        assert_eq!(name(find_best_match(&none, &vols, false)), Some("plain"));
        let mut empty = pvc("1Gi", RWO);
        if let Some(s) = empty.spec.as_mut() {
            s.storage_class_name = Some(String::new());
        }
        assert_eq!(name(find_best_match(&empty, &vols, false)), Some("plain"));
        assert!(claim_has_class(&empty) && !claim_has_class(&none));
        let mut wants_fast = pvc("1Gi", RWO);
        if let Some(s) = wants_fast.spec.as_mut() {
            s.storage_class_name = Some("fast".to_string());
        }
        assert_eq!(
            name(find_best_match(&wants_fast, &vols, false)),
            Some("fast")
        );
        // The beta annotation overrides the field.
        wants_fast.metadata.annotations =
            Some(BTreeMap::from([(BETA_CLASS.to_string(), String::new())]));
        assert_eq!(
            name(find_best_match(&wants_fast, &vols, false)),
            Some("plain")
        );
    }

    #[test]
    fn access_modes_must_be_a_superset_and_fewer_modes_come_first() {
        let vols = [
            pv("rwx", "1Gi", &["ReadWriteOnce", "ReadWriteMany"]),
            pv("rwo", "5Gi", RWO),
        ];
        // The single-mode volume is preferred although it is larger.
        assert_eq!(
            name(find_best_match(&pvc("1Gi", RWO), &vols, false)),
            Some("rwo")
        );
        assert_eq!(
            name(find_best_match(
                &pvc("1Gi", &["ReadWriteMany"]),
                &vols,
                false
            )),
            Some("rwx")
        );
        assert_eq!(
            name(find_best_match(
                &pvc("1Gi", &["ReadOnlyMany"]),
                &vols,
                false
            )),
            None
        );
    }

    #[test]
    fn selector_volume_mode_phase_claim_and_deletion_filter() {
        let mut labelled = pv("labelled", "5Gi", RWO);
        labelled.metadata.labels = Some(BTreeMap::from([("tier".to_string(), "db".to_string())]));
        let vols = [pv("bare", "1Gi", RWO), labelled];
        let mut claim = pvc("1Gi", RWO);
        if let Some(s) = claim.spec.as_mut() {
            s.selector = Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("tier".to_string(), "db".to_string())])),
                ..Default::default()
            });
        }
        assert_eq!(
            name(find_best_match(&claim, &vols, false)),
            Some("labelled")
        );

        let mut block = pvc("1Gi", RWO);
        if let Some(s) = block.spec.as_mut() {
            s.volume_mode = Some("Block".to_string());
        }
        assert_eq!(name(find_best_match(&block, &vols, false)), None);

        let mut released = pv("released", "1Gi", RWO);
        released.status = Some(PersistentVolumeStatus {
            phase: Some("Released".to_string()),
            ..Default::default()
        });
        let mut other = pv("other", "1Gi", RWO);
        claim_ref(&mut other, "someone-else", None);
        let mut deleting = pv("deleting", "1Gi", RWO);
        deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        let vols = [released, other, deleting];
        assert_eq!(name(find_best_match(&pvc("1Gi", RWO), &vols, false)), None);
    }

    #[test]
    fn a_volume_pre_bound_to_the_claim_wins() {
        let mut reserved = pv("reserved", "10Gi", RWO);
        claim_ref(&mut reserved, "data", None);
        // Not Available yet, and bigger than the free one: still chosen.
        reserved.status = None;
        let vols = [pv("free", "1Gi", RWO), reserved.clone()];
        assert_eq!(
            name(find_best_match(&pvc("1Gi", RWO), &vols, false)),
            Some("reserved")
        );
        // Even when binding waits for the first consumer.
        assert_eq!(
            name(find_best_match(&pvc("1Gi", RWO), &vols, true)),
            Some("reserved")
        );
        assert_eq!(
            name(find_best_match(&pvc("1Gi", RWO), &vols[..1], true)),
            None
        );
        // A uid of another claim of that name does not count.
        claim_ref(&mut reserved, "data", Some("old-uid"));
        let vols = [reserved];
        assert_eq!(name(find_best_match(&pvc("1Gi", RWO), &vols, false)), None);
    }

    #[test]
    fn a_named_volume_is_checked_with_upstream_messages() {
        let claim = pvc("2Gi", RWO);
        assert_eq!(check_satisfies(&pv("v", "5Gi", RWO), &claim), Ok(()));
        assert_eq!(
            check_satisfies(&pv("v", "1Gi", RWO), &claim),
            Err("requested PV is too small".to_string())
        );
        assert_eq!(
            check_satisfies(&pv("v", "5Gi", &["ReadOnlyMany"]), &claim),
            Err("incompatible accessMode".to_string())
        );
        let mut classy = pv("v", "5Gi", RWO);
        if let Some(s) = classy.spec.as_mut() {
            s.storage_class_name = Some("fast".to_string());
        }
        assert_eq!(
            check_satisfies(&classy, &claim),
            Err("storageClassName does not match".to_string())
        );
    }
}
