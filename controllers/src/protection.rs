//! What the storage protection controllers ([`crate::pvcprotection`], [`crate::pvprotection`])
//! share (upstream `pkg/controller/volume/protectionutil`): when an object needs its protection
//! finalizer, when it is waiting for the controller to take it off, and the write doing either.
//!
//! Upstream's StorageObjectInUseProtection admission plugin puts the finalizers on at creation;
//! the apiserver here has no mutating admission yet, so the controllers' own "add it when
//! missing" path (upstream's catch-up for objects older than the plugin) is what puts them on.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{Api, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

fn has(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == finalizer)
}

/// Being deleted and still held by `finalizer`: the controller decides when it comes off.
pub fn is_deletion_candidate(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.deletion_timestamp.is_some() && has(meta, finalizer)
}

/// Not being deleted and without `finalizer`: it should get it.
pub fn needs_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.deletion_timestamp.is_none() && !has(meta, finalizer)
}

/// `finalizers` with `finalizer` added (`present`) or removed; `None` when that leaves none.
pub fn with_finalizer(
    finalizers: Option<&[String]>,
    finalizer: &str,
    present: bool,
) -> Option<Vec<String>> {
    let mut out: Vec<String> = finalizers
        .unwrap_or_default()
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    if present {
        out.push(finalizer.to_string());
    }
    (!out.is_empty()).then_some(out)
}

/// Adds or removes `finalizer` with an update of `obj` as cached: a stale copy fails with a
/// conflict, and the retry sees the newer object, as upstream's update of a lister copy does.
pub async fn set_finalizer<K>(
    api: &Api<K>,
    obj: &K,
    finalizer: &str,
    present: bool,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let mut updated = obj.clone();
    let meta = updated.meta_mut();
    meta.finalizers = with_finalizer(meta.finalizers.as_deref(), finalizer, present);
    let name = meta.name.clone().unwrap_or_default();
    api.replace(&name, &PostParams::default(), &updated)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    const F: &str = "kubernetes.io/pvc-protection";

    fn meta(finalizers: &[&str], deleting: bool) -> ObjectMeta {
        ObjectMeta {
            finalizers: (!finalizers.is_empty())
                .then(|| finalizers.iter().map(|f| f.to_string()).collect()),
            deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
            ..Default::default()
        }
    }

    #[test]
    fn live_objects_get_the_finalizer_and_deleted_ones_wait_on_it() {
        assert!(needs_finalizer(&meta(&[], false), F));
        assert!(needs_finalizer(&meta(&["other"], false), F));
        assert!(!needs_finalizer(&meta(&[F], false), F));
        // Too late to protect an object already being deleted.
        assert!(!needs_finalizer(&meta(&[], true), F));

        assert!(is_deletion_candidate(&meta(&["other", F], true), F));
        assert!(!is_deletion_candidate(&meta(&["other"], true), F));
        assert!(!is_deletion_candidate(&meta(&[F], false), F));
    }

    #[test]
    fn finalizers_are_added_once_and_removed_without_touching_others() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(with_finalizer(None, F, true), Some(list(&[F])));
        assert_eq!(
            with_finalizer(Some(&list(&["a", F])), F, true),
            Some(list(&["a", F]))
        );
        assert_eq!(
            with_finalizer(Some(&list(&["a", F, "b"])), F, false),
            Some(list(&["a", "b"]))
        );
        assert_eq!(with_finalizer(Some(&list(&[F])), F, false), None);
    }
}
