//! Scaling a Deployment that is paused or whose replica count changed mid-rollout (upstream
//! `scale`, `isScalingEvent`, `IsSaturated`, `GetReplicaSetProportion`): a single active
//! ReplicaSet takes the new count; a saturated new ReplicaSet lets the old ones go to zero;
//! otherwise the change is spread over the active ReplicaSets in proportion to their sizes
//! (largest first; newer first when growing, older first when shrinking), with what rounding
//! leaves over going to the first.

use super::annotations;
use super::fenceposts::{max_surge, replicas};
use super::replicasets::{
    active, available, by_creation, by_size_newer, by_size_older, is_rolling, spec_replicas,
    total_spec,
};
use super::{Error, Syncer};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

/// Whether any active ReplicaSet was last scaled for a different replica count.
pub fn is_scaling_event(d: &Deployment, all: &[ReplicaSet]) -> bool {
    let want = replicas(d);
    active(all)
        .iter()
        .filter_map(annotations::desired_replicas)
        .any(|desired| desired != want)
}

/// Whether the new ReplicaSet runs all the Deployment's replicas, all available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let want = replicas(d);
    let desired: Option<i32> = rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotations::DESIRED_REPLICAS))
        .and_then(|v| v.parse().ok());
    spec_replicas(rs) == want && desired == Some(want) && available(rs) == want
}

/// Go's `math.Round`-style rounding to the nearest integer, halves away from zero.
fn round(x: f64) -> i32 {
    if x < 0.0 {
        (x - 0.5) as i32
    } else {
        (x + 0.5) as i32
    }
}

/// How many replicas `rs` gains (or loses) of `to_add`, given `added` so far.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    let size = spec_replicas(rs);
    if size == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let size = spec_replicas(rs);
    let want = replicas(d);
    if want == 0 {
        return -size;
    }
    let allowed = want + max_surge(d);
    let before = match annotations::max_replicas(rs) {
        Some(n) if n != 0 => n,
        _ => d.status.as_ref().map_or(0, |s| s.replicas.unwrap_or(0)),
    };
    if before == 0 {
        return 0;
    }
    round(f64::from(size.wrapping_mul(allowed)) / f64::from(before)) - size
}

/// Upstream `FindActiveOrLatest`: the one active ReplicaSet, or with none active the new one
/// or else the newest old one; `None` when several are active.
fn active_or_latest(new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Option<ReplicaSet> {
    if new.is_none() && old.is_empty() {
        return None;
    }
    let mut newest_first = old.to_vec();
    newest_first.sort_by(|a, b| by_creation(b, a));
    let mut all = newest_first.clone();
    all.extend(new.cloned());
    let live = active(&all);
    match live.len() {
        0 => new.cloned().or_else(|| newest_first.first().cloned()),
        1 => live.into_iter().next(),
        _ => None,
    }
}

impl Syncer<'_> {
    /// Upstream `scale`.
    pub async fn scale_all(
        &mut self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<(), Error> {
        let want = replicas(&self.d);
        if let Some(rs) = active_or_latest(new, old) {
            if spec_replicas(&rs) != want {
                self.scale_if_needed(&rs, want).await?;
            }
            return Ok(());
        }
        if is_saturated(&self.d, new) {
            for rs in active(old) {
                self.scale_if_needed(&rs, 0).await?;
            }
            return Ok(());
        }
        if !is_rolling(&self.d) {
            return Ok(());
        }
        let mut all = old.to_vec();
        all.extend(new.cloned());
        let mut all = active(&all);
        let allowed = if want > 0 {
            want + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - total_spec(&all);
        if to_add > 0 {
            all.sort_by(by_size_newer);
        } else if to_add < 0 {
            all.sort_by(by_size_older);
        }
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(all.len());
        for rs in &all {
            if to_add != 0 {
                let p = proportion(rs, &self.d, to_add, added);
                sizes.push(spec_replicas(rs) + p);
                added += p;
            } else {
                sizes.push(spec_replicas(rs));
            }
        }
        for (i, rs) in all.iter().enumerate() {
            let mut size = sizes[i];
            if i == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale(rs, size).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, RollingUpdateDeployment,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn d(replicas: i32, surge: i32) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".to_string()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(surge)),
                        max_unavailable: Some(IntOrString::Int(0)),
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rs(size: i32, desired: i32, max: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                annotations: Some(
                    [
                        (
                            annotations::DESIRED_REPLICAS.to_string(),
                            desired.to_string(),
                        ),
                        (annotations::MAX_REPLICAS.to_string(), max.to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(size),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn scaling_events_and_proportions() {
        // Scaled from 10 (max 13) to 20 (max 23): a ReplicaSet of 6 of 13 gets 6*23/13 ~ 11.
        let dep = d(20, 3);
        let set = rs(6, 10, 13);
        assert!(is_scaling_event(&dep, std::slice::from_ref(&set)));
        assert!(!is_scaling_event(&d(10, 3), std::slice::from_ref(&set)));
        assert_eq!(proportion(&set, &dep, 10, 0), 5);
        // Never more than is left to add.
        assert_eq!(proportion(&set, &dep, 10, 8), 2);
        // Scaling to zero takes everything.
        assert_eq!(proportion(&set, &d(0, 3), -6, 0), -6);
        assert_eq!(round(2.5), 3);
        assert_eq!(round(-2.5), -3);
    }

    #[test]
    fn one_active_replicaset_or_the_latest_takes_the_count() {
        let mut a = rs(0, 1, 1);
        a.metadata.name = Some("a".to_string());
        let mut b = rs(3, 3, 4);
        b.metadata.name = Some("b".to_string());
        let picked = active_or_latest(None, &[a.clone(), b.clone()]).unwrap();
        assert_eq!(picked.metadata.name.as_deref(), Some("b"));
        assert!(active_or_latest(Some(&rs(1, 1, 1)), &[b]).is_none());
        assert_eq!(
            active_or_latest(Some(&rs(0, 0, 0)), &[a])
                .and_then(|r| r.spec)
                .and_then(|s| s.replicas),
            Some(0)
        );
    }
}
