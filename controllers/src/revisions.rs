//! The ControllerRevisions of DaemonSets and StatefulSets (upstream `constructHistory` and
//! `cleanupHistory`, and `pkg/controller/history`): one revision per pod template, named
//! `<owner>-<hash>` and labelled with the hash in `controller-revision-hash`, holding the
//! template as a patch that `kubectl rollout undo` applies back. The current template's
//! revision gets the highest number ([`current`]); old revisions beyond
//! `revisionHistoryLimit` that no pod still runs are deleted ([`to_clean_up`]).

use crate::deployment::hash;
use crate::pods::template::controller_reference;
use crate::{client, ownership};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::Store;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A workload whose templates are kept as ControllerRevisions.
pub trait Revisioned:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone
{
    fn template(&self) -> PodTemplateSpec;
    fn collision_count(&self) -> Option<i32>;
    fn set_collision_count(&mut self, count: i32);
}

impl Revisioned for DaemonSet {
    fn template(&self) -> PodTemplateSpec {
        self.spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default()
    }
    fn collision_count(&self) -> Option<i32> {
        self.status.as_ref().and_then(|s| s.collision_count)
    }
    fn set_collision_count(&mut self, count: i32) {
        self.status
            .get_or_insert_with(Default::default)
            .collision_count = Some(count);
    }
}

impl Revisioned for StatefulSet {
    fn template(&self) -> PodTemplateSpec {
        self.spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default()
    }
    fn collision_count(&self) -> Option<i32> {
        self.status.as_ref().and_then(|s| s.collision_count)
    }
    fn set_collision_count(&mut self, count: i32) {
        self.status
            .get_or_insert_with(Default::default)
            .collision_count = Some(count);
    }
}

/// Why the current revision could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    #[error("{action} a ControllerRevision: {}", client::message(.source))]
    Api {
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("too many hash collisions for the pod template")]
    Collisions,
}

/// The label naming the revision a pod (and a revision) belongs to.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// Upstream's default `revisionHistoryLimit`.
pub const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// The revision data of the owner's template (upstream `getPatch`): the template, marked to
/// replace the current one when applied as a strategic merge patch.
pub fn patch<K: Revisioned>(owner: &K) -> Value {
    let mut template = serde_json::to_value(owner.template()).unwrap_or(Value::Null);
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".to_string(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The hash of the owner's current template and collision count.
pub fn hash_of<K: Revisioned>(owner: &K) -> String {
    hash::compute(&owner.template(), owner.collision_count())
}

/// The revision to create for the current template, numbered `revision`.
pub fn new_revision<K: Revisioned>(owner: &K, revision: i64) -> ControllerRevision {
    let hash = hash_of(owner);
    let mut labels: BTreeMap<String, String> = owner
        .template()
        .metadata
        .and_then(|m| m.labels)
        .unwrap_or_default();
    labels.insert(HASH_LABEL.to_string(), hash.clone());
    ControllerRevision {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(format!(
                "{}-{hash}",
                owner.meta().name.as_deref().unwrap_or_default()
            )),
            namespace: owner.meta().namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![controller_reference(owner)]),
            ..Default::default()
        },
        data: Some(RawExtension(patch(owner))),
        revision,
    }
}

/// Whether `revision` holds the owner's current template.
pub fn matches<K: Revisioned>(revision: &ControllerRevision, owner: &K) -> bool {
    revision.data.as_ref().map(|d| &d.0) == Some(&patch(owner))
}

/// The revision of the owner's current template, made or renumbered to be the newest, and the
/// other revisions it controls. A name taken by another template bumps the owner's collision
/// count (in `owner`, for its status) and hashes again.
pub async fn current<K: Revisioned>(
    client: &kube::Client,
    revisions: &Store<ControllerRevision>,
    owner: &mut K,
) -> Result<(ControllerRevision, Vec<Arc<ControllerRevision>>), RevisionError> {
    let namespace = owner.meta().namespace.clone().unwrap_or_default();
    let uid = owner.meta().uid.clone();
    let ours = |r: &ControllerRevision| {
        ownership::controller_ref(&r.metadata).is_some_and(|o| Some(&o.uid) == uid.as_ref())
    };
    let owned: Vec<Arc<ControllerRevision>> = revisions
        .state()
        .into_iter()
        .filter(|r| r.metadata.namespace.as_deref() == Some(namespace.as_str()) && ours(r))
        .collect();
    let newest = owned.iter().map(|r| r.revision).max().unwrap_or(0);
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), &namespace);
    let matching = owned
        .iter()
        .filter(|r| matches(r, owner))
        .max_by_key(|r| r.revision)
        .cloned();
    let others: Vec<Arc<ControllerRevision>> = owned
        .iter()
        .filter(|r| {
            matching
                .as_ref()
                .is_none_or(|m| m.metadata.uid != r.metadata.uid)
        })
        .cloned()
        .collect();
    let api_error = |action| move |source| RevisionError::Api { action, source };
    if let Some(current) = matching {
        let mut current = (*current).clone();
        if current.revision < newest {
            // Rolled back to an older template: it becomes the newest revision again.
            current.revision = newest + 1;
            let name = current.metadata.name.clone().unwrap_or_default();
            current = api
                .replace(&name, &PostParams::default(), &current)
                .await
                .map_err(api_error("renumbering"))?;
        }
        return Ok((current, others));
    }
    for _ in 0..10 {
        let wanted = new_revision(owner, newest + 1);
        match api.create(&PostParams::default(), &wanted).await {
            Ok(created) => return Ok((created, others)),
            Err(e) if client::is_already_exists(&e) => {
                let name = wanted.metadata.name.clone().unwrap_or_default();
                let existing = api.get(&name).await.map_err(api_error("reading"))?;
                if ours(&existing) && matches(&existing, owner) {
                    return Ok((existing, others));
                }
                // Another template under this hash: hash again with one more collision.
                let count = owner.collision_count().unwrap_or(0) + 1;
                owner.set_collision_count(count);
            }
            Err(e) => return Err(api_error("creating")(e)),
        }
    }
    Err(RevisionError::Collisions)
}

/// Deletes `doomed` revisions of the namespace; a failure is logged for `controller`, the next
/// sync tries again.
pub async fn delete(
    client: &kube::Client,
    namespace: &str,
    doomed: Vec<Arc<ControllerRevision>>,
    controller: &str,
) {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    for old in doomed {
        let name = old.metadata.name.clone().unwrap_or_default();
        if let Err(e) = api.delete(&name, &Default::default()).await
            && !client::is_not_found(&e)
        {
            tracing::warn!(
                "The {controller} could not delete ControllerRevision {name}: {}.",
                client::message(&e)
            );
        }
    }
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
    use k8s_openapi::api::core::v1::Container;
    use k8s_openapi::api::core::v1::PodSpec;

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
