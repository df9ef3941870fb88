//! A DaemonSet's ControllerRevisions (upstream `constructHistory` and `cleanupHistory`): one
//! revision per pod template, named `<daemonset>-<hash>` and labelled with the hash its pods
//! carry in `controller-revision-hash`, holding the template as a patch that `kubectl rollout
//! undo` applies back. The current template's revision gets the highest number; old
//! revisions beyond `revisionHistoryLimit` that no pod still runs are deleted.

use crate::deployment::hash;
use crate::pods::template::controller_reference;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The label naming the revision a pod (and a revision) belongs to.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// Upstream's default `revisionHistoryLimit`.
pub const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// The revision data of the DaemonSet's template (upstream `getPatch`): the template, marked
/// to replace the current one when applied as a strategic merge patch.
pub fn patch(ds: &DaemonSet) -> Value {
    let template = ds.spec.as_ref().map(|s| &s.template);
    let mut template = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".to_string(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The hash of the DaemonSet's current template and collision count.
pub fn hash_of(ds: &DaemonSet) -> String {
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let collisions = ds.status.as_ref().and_then(|s| s.collision_count);
    hash::compute(&template, collisions)
}

/// The revision to create for the current template, numbered `revision`.
pub fn new_revision(ds: &DaemonSet, revision: i64) -> ControllerRevision {
    let hash = hash_of(ds);
    let mut labels: BTreeMap<String, String> = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(HASH_LABEL.to_string(), hash.clone());
    ControllerRevision {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(format!(
                "{}-{hash}",
                ds.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![controller_reference(ds)]),
            ..Default::default()
        },
        data: Some(RawExtension(patch(ds))),
        revision,
    }
}

/// Whether `revision` holds the DaemonSet's current template.
pub fn matches(revision: &ControllerRevision, ds: &DaemonSet) -> bool {
    revision.data.as_ref().map(|d| &d.0) == Some(&patch(ds))
}

/// The revisions beyond the history limit to delete: old ones (not `current`) that no live pod
/// carries, oldest first.
pub fn to_clean_up(
    revisions: &[Arc<ControllerRevision>],
    current: &str,
    live_hashes: &[String],
    limit: i32,
) -> Vec<Arc<ControllerRevision>> {
    let mut old: Vec<&Arc<ControllerRevision>> = revisions
        .iter()
        .filter(|r| r.metadata.name.as_deref() != Some(current))
        .filter(|r| {
            let hash = r.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL));
            hash.is_none_or(|h| !live_hashes.contains(h))
        })
        .collect();
    let excess = old.len().saturating_sub(limit.max(0) as usize);
    old.sort_by_key(|r| r.revision);
    old.into_iter().take(excess).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSetSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

    fn ds(image: &str) -> DaemonSet {
        DaemonSet {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("agent".to_string()),
                namespace: Some("ns".to_string()),
                uid: Some("u".to_string()),
                ..Default::default()
            },
            spec: Some(DaemonSetSpec {
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "c".to_string(),
                            image: Some(image.to_string()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn revisions_hold_the_template_as_a_replacing_patch() {
        let r = new_revision(&ds("a"), 3);
        let data = &r.data.as_ref().unwrap().0;
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            data["spec"]["template"]["spec"]["containers"][0]["image"],
            "a"
        );
        assert_eq!(r.revision, 3);
        let hash = hash_of(&ds("a"));
        assert_eq!(
            r.metadata.name.as_deref(),
            Some(format!("agent-{hash}").as_str())
        );
        assert_eq!(r.metadata.labels.as_ref().unwrap()[HASH_LABEL], hash);
        assert!(matches(&r, &ds("a")));
        assert!(!matches(&r, &ds("b")));
        assert_ne!(hash_of(&ds("a")), hash_of(&ds("b")));
    }

    #[test]
    fn old_revisions_beyond_the_limit_go_unless_pods_use_them() {
        let rev = |n: i64, hash: &str| {
            let mut r = new_revision(&ds("x"), n);
            r.metadata.name = Some(format!("agent-{hash}"));
            r.metadata
                .labels
                .as_mut()
                .unwrap()
                .insert(HASH_LABEL.to_string(), hash.to_string());
            Arc::new(r)
        };
        let all = vec![rev(1, "a"), rev(2, "b"), rev(3, "c"), rev(4, "d")];
        let gone = to_clean_up(&all, "agent-d", &["a".to_string()], 1);
        let names: Vec<_> = gone.iter().map(|r| r.revision).collect();
        assert_eq!(names, vec![2]);
    }
}
