//! The RollingUpdate strategy (upstream `rolling.go`): grow the new ReplicaSet within
//! `maxSurge`, shrink old ones while at least `replicas - maxUnavailable` pods stay available
//! (unhealthy old replicas first), clean up history once the rollout is complete.

use super::fenceposts::{max_unavailable, replicas};
use super::replicasets::{
    active, available, by_creation, new_rs_new_replicas, spec_replicas, total_available, total_spec,
};
use super::{Error, Syncer};
use k8s_openapi::api::apps::v1::ReplicaSet;

impl Syncer<'_> {
    pub async fn rollout_rolling(&mut self, sets: Vec<ReplicaSet>) -> Result<(), Error> {
        let (new, old) = self.new_and_old(sets, true).await?;
        let mut all = old.clone();
        all.extend(new.clone());
        if let Some(new_rs) = &new
            && self.reconcile_new(&all, new_rs).await?
        {
            return self.sync_rollout_status(&all, new.as_ref()).await;
        }
        if self.reconcile_old(&all, active(&old), new.as_ref()).await? {
            return self.sync_rollout_status(&all, new.as_ref()).await;
        }
        if super::status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&all, new.as_ref()).await
    }

    async fn reconcile_new(&mut self, all: &[ReplicaSet], new: &ReplicaSet) -> Result<bool, Error> {
        let want = replicas(&self.d);
        let size = spec_replicas(new);
        if size == want {
            return Ok(false);
        }
        let target = if size > want {
            want
        } else {
            new_rs_new_replicas(&self.d, all, new)
        };
        Ok(self.scale_if_needed(new, target).await?.0)
    }

    async fn reconcile_old(
        &mut self,
        all: &[ReplicaSet],
        mut old: Vec<ReplicaSet>,
        new: Option<&ReplicaSet>,
    ) -> Result<bool, Error> {
        if total_spec(&old) == 0 {
            return Ok(false);
        }
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let new_unavailable = new.map_or(0, |rs| spec_replicas(rs) - available(rs));
        let max_scaled_down = total_spec(all) - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        let cleaned = self.cleanup_unhealthy(&mut old, max_scaled_down).await?;
        let mut all = old.clone();
        all.extend(new.cloned());
        let scaled = self.scale_down_old(&all, &mut old).await?;
        Ok(cleaned + scaled > 0)
    }

    /// Scales down old ReplicaSets by their unavailable replicas, oldest first.
    async fn cleanup_unhealthy(&mut self, old: &mut [ReplicaSet], max: i32) -> Result<i32, Error> {
        old.sort_by(by_creation);
        let mut done = 0;
        for rs in old.iter_mut() {
            if done >= max {
                break;
            }
            let size = spec_replicas(rs);
            if size == 0 || size == available(rs) {
                continue;
            }
            let down = (max - done).min(size - available(rs));
            let (_, updated) = self.scale_if_needed(rs, size - down).await?;
            *rs = updated;
            done += down;
        }
        Ok(done)
    }

    /// Scales down old ReplicaSets, oldest first, while enough pods stay available.
    async fn scale_down_old(
        &mut self,
        all: &[ReplicaSet],
        old: &mut [ReplicaSet],
    ) -> Result<i32, Error> {
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let available_now = total_available(all);
        if available_now <= min_available {
            return Ok(0);
        }
        old.sort_by(by_creation);
        let total = available_now - min_available;
        let mut done = 0;
        for rs in old.iter_mut() {
            if done >= total {
                break;
            }
            let size = spec_replicas(rs);
            if size == 0 {
                continue;
            }
            let down = size.min(total - done);
            let (_, updated) = self.scale_if_needed(rs, size - down).await?;
            *rs = updated;
            done += down;
        }
        Ok(done)
    }
}
