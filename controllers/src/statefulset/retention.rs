//! Who owns a StatefulSet's claims under its `persistentVolumeClaimRetentionPolicy`
//! (upstream `isClaimOwnerUpToDate` and `updateClaimOwnerRefForSetAndPod`): the garbage
//! collector deletes a claim when its owner goes, so the controller points each claim's
//! controller reference at the object whose deletion should take the claim along.
//!
//! | `whenScaled` | `whenDeleted` | claim of a pod in range | claim of a condemned pod |
//! |---|---|---|---|
//! | Retain | Retain | no reference | no reference |
//! | Retain | Delete | the set | the set |
//! | Delete | Retain | no reference | the pod |
//! | Delete | Delete | the set | the pod |
//!
//! References are controller references (`controller` and `blockOwnerDeletion` true, since
//! upstream v1.31); older non-controller references to the set or pod are rewritten. A claim
//! another controller owns, or one holding a reference to an earlier object of the same name
//! (a stale UID), is left alone.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

const DELETE: &str = "Delete";

/// The policy, `Retain` where unset (or unknown, as upstream treats it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `whenDeleted: Delete`: claims go with the set.
    pub delete_with_set: bool,
    /// `whenScaled: Delete`: claims of condemned pods go with the pod.
    pub delete_on_scale_down: bool,
}

impl Policy {
    pub fn of(set: &StatefulSet) -> Policy {
        let policy = set
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
        Policy {
            delete_with_set: policy.and_then(|p| p.when_deleted.as_deref()) == Some(DELETE),
            delete_on_scale_down: policy.and_then(|p| p.when_scaled.as_deref()) == Some(DELETE),
        }
    }

    fn retains_all(self) -> bool {
        !self.delete_with_set && !self.delete_on_scale_down
    }
}

/// An owner the controller may point a claim at: the set or one of its pods.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    /// Empty for a pod not created yet.
    pub uid: &'a str,
}

impl<'a> Owner<'a> {
    pub fn set(set: &'a StatefulSet) -> Owner<'a> {
        Owner {
            api_version: "apps/v1",
            kind: "StatefulSet",
            name: set.metadata.name.as_deref().unwrap_or_default(),
            uid: set.metadata.uid.as_deref().unwrap_or_default(),
        }
    }

    pub fn pod(pod: &'a Pod) -> Owner<'a> {
        Owner {
            api_version: "v1",
            kind: "Pod",
            name: pod.metadata.name.as_deref().unwrap_or_default(),
            uid: pod.metadata.uid.as_deref().unwrap_or_default(),
        }
    }

    /// Whether `r` names this owner (group, version, kind and name; not the UID).
    fn named_by(&self, r: &OwnerReference) -> bool {
        r.api_version == self.api_version && r.kind == self.kind && r.name == self.name
    }

    /// The controller reference to this owner (upstream `NewControllerRef`).
    pub fn controller_ref(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.to_string(),
            kind: self.kind.to_string(),
            name: self.name.to_string(),
            uid: self.uid.to_string(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

fn refs(claim: &PersistentVolumeClaim) -> &[OwnerReference] {
    claim
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
}

fn has_ref(claim: &PersistentVolumeClaim, owner: &Owner) -> bool {
    refs(claim).iter().any(|r| r.uid == owner.uid)
}

/// Whether the first reference naming `owner` carries another UID: the claim belongs to an
/// earlier object of that name.
pub fn has_stale_ref(claim: &PersistentVolumeClaim, owner: &Owner) -> bool {
    refs(claim)
        .iter()
        .find(|r| owner.named_by(r))
        .is_some_and(|r| r.uid != owner.uid)
}

/// Whether something other than the set or the pod controls the claim (only under a policy
/// that deletes; a stale reference to either counts too).
fn has_unexpected_controller(
    claim: &PersistentVolumeClaim,
    policy: Policy,
    set: &Owner,
    pod: &Owner,
) -> bool {
    if policy.retains_all() {
        return false;
    }
    refs(claim).iter().any(|r| {
        if set.named_by(r) {
            r.uid != set.uid
        } else if pod.named_by(r) {
            r.uid != pod.uid
        } else {
            r.controller == Some(true)
        }
    })
}

/// Whether the set or the pod owns the claim without being its controller (as upstream's
/// beta did).
fn has_non_controller_ref(claim: &PersistentVolumeClaim, set: &Owner, pod: &Owner) -> bool {
    refs(claim)
        .iter()
        .any(|r| (r.uid == set.uid || r.uid == pod.uid) && r.controller != Some(true))
}

/// Whether the claim's references agree with the policy for a pod in range
/// (`scaled_down == false`) or a condemned one.
pub fn up_to_date(
    claim: &PersistentVolumeClaim,
    policy: Policy,
    set: &Owner,
    pod: &Owner,
    scaled_down: bool,
) -> bool {
    if has_stale_ref(claim, set) || has_stale_ref(claim, pod) {
        // Left to the garbage collector.
        return true;
    }
    if has_unexpected_controller(claim, policy, set, pod) {
        // Our own references must go; otherwise nothing to do.
        return !(has_ref(claim, set) || has_ref(claim, pod));
    }
    if has_non_controller_ref(claim, set, pod) {
        return false;
    }
    let (want_set, want_pod) = wanted(policy, scaled_down);
    has_ref(claim, set) == want_set && has_ref(claim, pod) == want_pod
}

/// Which of the set and the pod should own the claim.
fn wanted(policy: Policy, scaled_down: bool) -> (bool, bool) {
    let want_pod = policy.delete_on_scale_down && scaled_down;
    let want_set = policy.delete_with_set && !want_pod;
    (want_set, want_pod)
}

/// The claim's references made to agree with the policy: references to the set and the pod
/// are dropped and the wanted ones added as controller references; with an unexpected
/// controller none are added.
pub fn updated_refs(
    claim: &PersistentVolumeClaim,
    policy: Policy,
    set: &Owner,
    pod: &Owner,
    scaled_down: bool,
) -> Vec<OwnerReference> {
    let unexpected = has_unexpected_controller(claim, policy, set, pod);
    let mut out: Vec<OwnerReference> = refs(claim)
        .iter()
        .filter(|r| !set.named_by(r) && !pod.named_by(r))
        .cloned()
        .collect();
    if unexpected {
        return out;
    }
    let (want_set, want_pod) = wanted(policy, scaled_down);
    for (want, owner) in [(want_pod, pod), (want_set, set)] {
        if want && !out.iter().any(|r| r.uid == owner.uid) {
            out.push(owner.controller_ref());
        }
    }
    out
}

/// Whether the claim has a controller other than the set and the pod, which makes the policy
/// not apply to it (upstream's `ConflictingController` event).
pub fn conflicts(claim: &PersistentVolumeClaim, policy: Policy, set: &Owner, pod: &Owner) -> bool {
    has_unexpected_controller(claim, policy, set, pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_owner() -> Owner<'static> {
        Owner {
            api_version: "apps/v1",
            kind: "StatefulSet",
            name: "web",
            uid: "set-uid",
        }
    }

    fn pod_owner() -> Owner<'static> {
        Owner {
            api_version: "v1",
            kind: "Pod",
            name: "web-2",
            uid: "pod-uid",
        }
    }

    fn claim(refs: Vec<OwnerReference>) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some("www-web-2".to_string());
        c.metadata.owner_references = (!refs.is_empty()).then_some(refs);
        c
    }

    fn policy(delete_with_set: bool, delete_on_scale_down: bool) -> Policy {
        Policy {
            delete_with_set,
            delete_on_scale_down,
        }
    }

    fn apply(c: &PersistentVolumeClaim, p: Policy, scaled_down: bool) -> PersistentVolumeClaim {
        claim(updated_refs(c, p, &set_owner(), &pod_owner(), scaled_down))
    }

    fn owners(c: &PersistentVolumeClaim) -> Vec<(String, Option<bool>)> {
        refs(c)
            .iter()
            .map(|r| (r.kind.clone(), r.controller))
            .collect()
    }

    #[test]
    fn each_policy_has_its_owners() {
        let (set, pod) = (set_owner(), pod_owner());
        let cases = [
            (policy(false, false), false, vec![]),
            (policy(false, false), true, vec![]),
            (policy(true, false), false, vec!["StatefulSet"]),
            (policy(true, false), true, vec!["StatefulSet"]),
            (policy(false, true), false, vec![]),
            (policy(false, true), true, vec!["Pod"]),
            (policy(true, true), false, vec!["StatefulSet"]),
            (policy(true, true), true, vec!["Pod"]),
        ];
        for (p, scaled_down, kinds) in cases {
            let bare = claim(vec![]);
            assert_eq!(
                up_to_date(&bare, p, &set, &pod, scaled_down),
                kinds.is_empty(),
                "{p:?} {scaled_down}"
            );
            let fixed = apply(&bare, p, scaled_down);
            let want: Vec<(String, Option<bool>)> =
                kinds.iter().map(|k| (k.to_string(), Some(true))).collect();
            assert_eq!(owners(&fixed), want, "{p:?} {scaled_down}");
            assert!(up_to_date(&fixed, p, &set, &pod, scaled_down));
            // Every claim moves from one state to another as the policy or scale changes.
            for (other, other_scaled) in [(policy(true, true), true), (policy(false, false), false)]
            {
                let moved = apply(&fixed, other, other_scaled);
                assert!(up_to_date(&moved, other, &set, &pod, other_scaled));
            }
        }
    }

    #[test]
    fn non_controller_references_become_controller_references() {
        let (set, pod) = (set_owner(), pod_owner());
        let mut old = set.controller_ref();
        old.controller = None;
        let c = claim(vec![old]);
        assert!(!up_to_date(&c, policy(true, false), &set, &pod, false));
        assert_eq!(
            owners(&apply(&c, policy(true, false), false)),
            [("StatefulSet".to_string(), Some(true))]
        );
    }

    #[test]
    fn claims_of_other_controllers_and_stale_owners_are_left_alone() {
        let (set, pod) = (set_owner(), pod_owner());
        let other = OwnerReference {
            api_version: "example.com/v1".to_string(),
            kind: "Operator".to_string(),
            name: "op".to_string(),
            uid: "op-uid".to_string(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let c = claim(vec![other.clone()]);
        assert!(up_to_date(&c, policy(true, true), &set, &pod, true));
        assert!(conflicts(&c, policy(true, true), &set, &pod));
        // Our own reference beside another controller is taken away.
        let c = claim(vec![other.clone(), set.controller_ref()]);
        assert!(!up_to_date(&c, policy(true, true), &set, &pod, false));
        assert_eq!(
            owners(&apply(&c, policy(true, true), false)),
            [("Operator".to_string(), Some(true))]
        );
        // A reference to an earlier pod of the same name: the collector's business.
        let mut earlier = pod.controller_ref();
        earlier.uid = "old-pod-uid".to_string();
        let c = claim(vec![earlier]);
        assert!(has_stale_ref(&c, &pod));
        assert!(up_to_date(&c, policy(false, true), &set, &pod, false));
    }
}
