//! The Recreate strategy (upstream `recreate.go`): every old ReplicaSet to zero, wait until no
//! old pod runs, then the new ReplicaSet (created only now) to the full count.

use super::fenceposts::replicas;
use super::replicasets::active;
use super::{Error, Syncer};
use crate::pods;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use std::sync::Arc;

/// Whether pods of the old ReplicaSets still run (upstream `oldPodsRunning`): any counted in
/// their status, or any of `pods` (the Deployment's, by ReplicaSet) not finished.
pub fn old_pods_running(new: Option<&ReplicaSet>, old: &[ReplicaSet], pods: &[Arc<Pod>]) -> bool {
    if old
        .iter()
        .filter_map(|rs| rs.status.as_ref())
        .map(|s| s.replicas)
        .sum::<i32>()
        > 0
    {
        return true;
    }
    let new_uid = new.and_then(|rs| rs.metadata.uid.as_deref());
    let old_uids: Vec<&str> = old
        .iter()
        .filter_map(|rs| rs.metadata.uid.as_deref())
        .collect();
    pods.iter().any(|p| {
        let Some(owner) = pods::controller_ref(p).map(|r| r.uid.as_str()) else {
            return false;
        };
        Some(owner) != new_uid
            && old_uids.contains(&owner)
            && !matches!(pods::phase(p), "Failed" | "Succeeded")
    })
}

impl Syncer<'_> {
    pub async fn rollout_recreate(
        &mut self,
        sets: Vec<ReplicaSet>,
        pods: &[Arc<Pod>],
    ) -> Result<(), Error> {
        let (mut new, mut old) = self.new_and_old(sets.clone(), false).await?;
        let mut all = old.clone();
        all.extend(new.clone());
        let mut scaled = false;
        for rs in active(&old) {
            scaled |= self.scale_if_needed(&rs, 0).await?.0;
        }
        if scaled {
            return self.sync_rollout_status(&all, new.as_ref()).await;
        }
        if old_pods_running(new.as_ref(), &old, pods) {
            return self.sync_rollout_status(&all, new.as_ref()).await;
        }
        if new.is_none() {
            (new, old) = self.new_and_old(sets, true).await?;
            all = old.clone();
            all.extend(new.clone());
        }
        if let Some(rs) = &new {
            let want = replicas(&self.d);
            self.scale_if_needed(rs, want).await?;
        }
        if super::status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&all, new.as_ref()).await
    }
}
