//! A Deployment's ReplicaSets (upstream `sync.go`): which one is new (its template equals the
//! Deployment's, ignoring `pod-template-hash`) and which are old, creating the new one with the
//! next revision, scaling one with its `ScalingReplicaSet` event, and the orderings the
//! rollout uses.

use super::annotations;
use super::conditions::{self, FAILED_RS_CREATE, FOUND_NEW_RS, NEW_RS_CREATED, PROGRESSING};
use super::fenceposts::{self, max_surge, replicas};
use super::hash;
use super::{Error, Syncer};
use crate::client;
use crate::events::EventType;
use crate::pods::template::controller_reference;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use std::cmp::Ordering;

pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// Sets with pods wanted (`spec.replicas > 0`).
pub fn active(sets: &[ReplicaSet]) -> Vec<ReplicaSet> {
    sets.iter()
        .filter(|rs| spec_replicas(rs) > 0)
        .cloned()
        .collect()
}

pub fn total_spec(sets: &[ReplicaSet]) -> i32 {
    sets.iter().map(spec_replicas).sum()
}

pub fn total_available(sets: &[ReplicaSet]) -> i32 {
    sets.iter().map(available).sum()
}

fn created(rs: &ReplicaSet) -> Option<k8s_openapi::jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first, then by name (upstream `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Largest first; ties oldest first (`ReplicaSetsBySizeOlder`).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// Largest first; ties newest first (`ReplicaSetsBySizeNewer`).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Lowest revision first; unparsable or equal revisions by creation (`ReplicaSetsByRevision`).
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    match (annotations::revision(a), annotations::revision(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => by_creation(a, b),
    }
}

fn without_hash(template: Option<&PodTemplateSpec>) -> Option<PodTemplateSpec> {
    let mut t = template.cloned()?;
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(hash::LABEL);
    }
    Some(t)
}

/// Whether two templates are equal apart from the `pod-template-hash` label.
pub fn equal_ignore_hash(a: Option<&PodTemplateSpec>, b: Option<&PodTemplateSpec>) -> bool {
    without_hash(a) == without_hash(b)
}

/// Upstream `NewRSNewReplicas`: what the new ReplicaSet may grow to now.
pub fn new_rs_new_replicas(d: &Deployment, all: &[ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let wanted = replicas(d);
    if !is_rolling(d) {
        return wanted;
    }
    let max_total = wanted + max_surge(d);
    let current = total_spec(all);
    let new_spec = spec_replicas(new_rs);
    if current >= max_total {
        return new_spec;
    }
    new_spec + (max_total - current).min(wanted - new_spec)
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|s| s != i32::MAX)
}

impl Syncer<'_> {
    fn rs_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace)
    }

    /// Upstream `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when `create`
    /// and missing) and the old ones.
    pub async fn new_and_old(
        &mut self,
        mut sets: Vec<ReplicaSet>,
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
        sets.sort_by(by_creation);
        let template = self.d.spec.as_ref().map(|s| &s.template);
        let position = sets.iter().position(|rs| {
            equal_ignore_hash(rs.spec.as_ref().and_then(|s| s.template.as_ref()), template)
        });
        let existing = position.map(|i| sets.remove(i));
        let old = sets;
        let new_revision = annotations::max_revision(&old) + 1;
        let new_rs = self
            .new_replicaset(existing, &old, new_revision, create)
            .await?;
        Ok((new_rs, old))
    }

    async fn new_replicaset(
        &mut self,
        existing: Option<ReplicaSet>,
        old: &[ReplicaSet],
        new_revision: i64,
        create: bool,
    ) -> Result<Option<ReplicaSet>, Error> {
        let surge = max_surge(&self.d);
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if let Some(existing) = existing {
            let mut copy = existing.clone();
            let changed =
                annotations::set_new_replicaset(&self.d, &mut copy, new_revision, true, surge);
            let spec_min_ready = copy.spec.as_ref().and_then(|s| s.min_ready_seconds);
            if changed || spec_min_ready != min_ready {
                if let Some(spec) = copy.spec.as_mut() {
                    spec.min_ready_seconds = min_ready;
                }
                let updated = self.update_rs(&copy).await?;
                return Ok(Some(updated));
            }
            let revision = existing
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(annotations::REVISION))
                .cloned()
                .unwrap_or_default();
            let mut needs_update = annotations::set_deployment_revision(&mut self.d, &revision);
            let mut status = self.d.status.clone().unwrap_or_default();
            if has_progress_deadline(&self.d) && conditions::get(&status, PROGRESSING).is_none() {
                let name = existing.metadata.name.clone().unwrap_or_default();
                conditions::set(
                    &mut status,
                    conditions::new(
                        PROGRESSING,
                        "True",
                        FOUND_NEW_RS,
                        format!("Found new replica set {name:?}"),
                    ),
                );
                needs_update = true;
            }
            if needs_update {
                self.write_status(status).await?;
            }
            return Ok(Some(existing));
        }
        if !create {
            return Ok(None);
        }

        let spec = self.d.spec.clone().unwrap_or_default();
        let collision_count = self.d.status.as_ref().and_then(|s| s.collision_count);
        let mut template = spec.template.clone();
        let pod_hash = hash::compute(&template, collision_count);
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(hash::LABEL.to_string(), pod_hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(hash::LABEL.to_string(), pod_hash.clone());
        let name = format!("{}-{pod_hash}", self.name);
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                owner_references: Some(vec![controller_reference(&self.d)]),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all: Vec<ReplicaSet> = old.to_vec();
        all.push(rs.clone());
        let wanted = new_rs_new_replicas(&self.d, &all, &rs);
        if let Some(spec) = rs.spec.as_mut() {
            spec.replicas = Some(wanted);
        }
        annotations::set_new_replicaset(&self.d, &mut rs, new_revision, false, surge);

        let created = match self.rs_api().create(&PostParams::default(), &rs).await {
            Ok(created) => created,
            Err(e) if client::is_already_exists(&e) => {
                // Ours already (a sync that did not see its own create yet), or a hash collision.
                let found = self
                    .rs_api()
                    .get_opt(&name)
                    .await
                    .map_err(|source| self.rs_error("reading", &name, source))?;
                let ours = found.as_ref().is_some_and(|f| {
                    crate::ownership::controller_ref(&f.metadata)
                        .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref())
                        && equal_ignore_hash(
                            f.spec.as_ref().and_then(|s| s.template.as_ref()),
                            Some(&spec.template),
                        )
                });
                if let (true, Some(found)) = (ours, found) {
                    return Ok(Some(found));
                }
                let mut status = self.d.status.clone().unwrap_or_default();
                status.collision_count = Some(collision_count.unwrap_or(0).saturating_add(1));
                self.write_status(status).await?;
                return Err(self.rs_error("creating", &name, e));
            }
            Err(e) if client::has_cause(&e, client::NAMESPACE_TERMINATING_CAUSE) => {
                return Err(self.rs_error("creating", &name, e));
            }
            Err(e) => {
                let message = format!(
                    "Failed to create new replica set {name:?}: {}",
                    client::message(&e)
                );
                if has_progress_deadline(&self.d) {
                    let mut status = self.d.status.clone().unwrap_or_default();
                    conditions::set(
                        &mut status,
                        conditions::new(PROGRESSING, "False", FAILED_RS_CREATE, message.clone()),
                    );
                    let _ = self.write_status(status).await;
                }
                self.ctx
                    .recorder
                    .record(&self.d, EventType::Warning, FAILED_RS_CREATE, message);
                return Err(self.rs_error("creating", &name, e));
            }
        };
        if wanted > 0 {
            self.ctx.recorder.record(
                &self.d,
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} to {wanted}"),
            );
        }
        let mut needs_update =
            annotations::set_deployment_revision(&mut self.d, &new_revision.to_string());
        let mut status = self.d.status.clone().unwrap_or_default();
        if has_progress_deadline(&self.d) {
            conditions::set(
                &mut status,
                conditions::new(
                    PROGRESSING,
                    "True",
                    NEW_RS_CREATED,
                    format!("Created new replica set {name:?}"),
                ),
            );
            needs_update = true;
        }
        if needs_update {
            self.write_status(status).await?;
        }
        Ok(Some(created))
    }

    pub async fn update_rs(&self, rs: &ReplicaSet) -> Result<ReplicaSet, Error> {
        let name = rs.metadata.name.clone().unwrap_or_default();
        self.rs_api()
            .replace(&name, &PostParams::default(), rs)
            .await
            .map_err(|source| self.rs_error("updating", &name, source))
    }

    fn rs_error(&self, action: &'static str, name: &str, source: kube::Error) -> Error {
        Error::ReplicaSet {
            action,
            namespace: self.namespace.clone(),
            name: name.to_string(),
            source,
        }
    }

    /// Upstream `scaleReplicaSetAndRecordEvent`: nothing when the size is right already.
    pub async fn scale_if_needed(
        &mut self,
        rs: &ReplicaSet,
        size: i32,
    ) -> Result<(bool, ReplicaSet), Error> {
        if spec_replicas(rs) == size {
            return Ok((false, rs.clone()));
        }
        self.scale(rs, size).await
    }

    /// Upstream `scaleReplicaSet`: sets the size and the replica annotations, with a
    /// `ScalingReplicaSet` event when the size changed.
    pub async fn scale(&mut self, rs: &ReplicaSet, size: i32) -> Result<(bool, ReplicaSet), Error> {
        let old = spec_replicas(rs);
        let resize = old != size;
        let mut copy = rs.clone();
        let desired = replicas(&self.d);
        let annotate =
            annotations::set_replicas(&mut copy, desired, desired + fenceposts::max_surge(&self.d));
        if !resize && !annotate {
            return Ok((false, rs.clone()));
        }
        if let Some(spec) = copy.spec.as_mut() {
            spec.replicas = Some(size);
        }
        let updated = self.update_rs(&copy).await?;
        if resize {
            let direction = if old < size { "up" } else { "down" };
            self.ctx.recorder.record(
                &self.d,
                EventType::Normal,
                "ScalingReplicaSet",
                format!(
                    "Scaled {direction} replica set {} from {old} to {size}",
                    updated.metadata.name.as_deref().unwrap_or_default()
                ),
            );
        }
        Ok((resize, updated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn rs(replicas: i32) -> ReplicaSet {
        ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn deployment(replicas: i32, surge: i32, unavailable: i32) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".to_string()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(surge)),
                        max_unavailable: Some(IntOrString::Int(unavailable)),
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_new_replicaset_grows_within_the_surge() {
        let d = deployment(10, 3, 2);
        // All 10 old, none new: may add 3.
        assert_eq!(new_rs_new_replicas(&d, &[rs(10), rs(0)], &rs(0)), 3);
        // 8 old + 3 new = 11 of 13 allowed: 2 more.
        assert_eq!(new_rs_new_replicas(&d, &[rs(8), rs(3)], &rs(3)), 5);
        // At the surge limit: unchanged.
        assert_eq!(new_rs_new_replicas(&d, &[rs(8), rs(5)], &rs(5)), 5);
        // Never past the desired count.
        assert_eq!(new_rs_new_replicas(&d, &[rs(0), rs(9)], &rs(9)), 10);
        let mut recreate = d.clone();
        recreate.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".to_string()),
            rolling_update: None,
        });
        assert_eq!(new_rs_new_replicas(&recreate, &[rs(10)], &rs(0)), 10);
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let a = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "x".to_string())].into()),
                ..Default::default()
            }),
            spec: None,
        };
        let mut b = a.clone();
        b.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(hash::LABEL.to_string(), "abc".to_string());
        assert!(equal_ignore_hash(Some(&a), Some(&b)));
        b.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert("tier".to_string(), "y".to_string());
        assert!(!equal_ignore_hash(Some(&a), Some(&b)));
    }
}
