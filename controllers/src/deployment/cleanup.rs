//! Keeping `revisionHistoryLimit` old ReplicaSets (upstream `cleanupDeployment`): the oldest
//! revisions beyond the limit go, but only those scaled to zero with no pods left.

use super::replicasets::{by_revision, spec_replicas};
use super::{Error, Syncer};
use crate::client;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, DeleteParams};

/// Which of `old` to delete for `limit`.
pub fn to_delete(old: &[ReplicaSet], limit: i32) -> Vec<ReplicaSet> {
    let mut candidates: Vec<ReplicaSet> = old
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect();
    let excess = candidates.len() as i64 - i64::from(limit);
    if excess <= 0 {
        return Vec::new();
    }
    candidates.sort_by(by_revision);
    candidates
        .into_iter()
        .take(excess as usize)
        .filter(|rs| {
            let status = rs.status.as_ref();
            status.map_or(0, |s| s.replicas) == 0
                && spec_replicas(rs) == 0
                && rs.metadata.generation.unwrap_or(0)
                    <= status.and_then(|s| s.observed_generation).unwrap_or(0)
        })
        .collect()
}

impl Syncer<'_> {
    pub async fn cleanup(&mut self, old: &[ReplicaSet]) -> Result<(), Error> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return Ok(());
        };
        if limit == i32::MAX {
            return Ok(());
        }
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        for rs in to_delete(old, limit) {
            let name = rs.metadata.name.clone().unwrap_or_default();
            tracing::info!(
                "Deleting old ReplicaSet {}/{name} of Deployment {} beyond its revision history limit.",
                self.namespace,
                self.name
            );
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if client::is_not_found(&e) => {}
                Err(source) => {
                    return Err(Error::ReplicaSet {
                        action: "deleting",
                        namespace: self.namespace.clone(),
                        name,
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::annotations::REVISION;
    use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rs(name: &str, revision: i64, size: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                annotations: Some([(REVISION.to_string(), revision.to_string())].into()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(size),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                replicas: size,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn the_oldest_empty_revisions_beyond_the_limit_go() {
        let old = vec![
            rs("r3", 3, 0),
            rs("r1", 1, 0),
            rs("r2", 2, 1),
            rs("r4", 4, 0),
        ];
        let names: Vec<String> = to_delete(&old, 1)
            .into_iter()
            .filter_map(|r| r.metadata.name)
            .collect();
        // r1, r2, r3 are beyond the limit; r2 still has a pod.
        assert_eq!(names, vec!["r1", "r3"]);
        assert!(to_delete(&old, 4).is_empty());
    }
}
