//! The deployment controller (upstream `pkg/controller/deployment`): rolls a Deployment's pod
//! template out through ReplicaSets, one per template revision, following its strategy
//! ([`rolling`] within `maxSurge`/`maxUnavailable`, or [`recreate`]), scales them
//! proportionally when the replica count changes mid-rollout ([`scale`]), keeps
//! `revisionHistoryLimit` old ones ([`cleanup`]), and reports progress, availability and
//! failures in its status ([`status`], [`conditions`]).
//!
//! Timeline of one sync (upstream `syncDeployment`): a selector that selects everything is
//! refused with an event -> claim ReplicaSets (adopt and release by selector) -> being deleted:
//! status only -> pause/resume conditions -> paused or a scaling event: scale, status -> else the
//! strategy's rollout step -> status; look again when the progress deadline passes.

pub mod annotations;
pub mod cleanup;
pub mod conditions;
pub mod fenceposts;
pub mod hash;
pub mod recreate;
pub mod replicasets;
pub mod rolling;
pub mod scale;
pub mod status;

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informers};
use crate::ownership::{self, ClaimError};
use crate::pods::template::controller_reference;
use crate::queue::{self, Backoff};
use crate::{client, selector};
use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The controller's name (upstream `names.DeploymentController`), also its event source.
pub const NAME: &str = "deployment-controller";

const API_VERSION: &str = "apps/v1";
const KIND: &str = "Deployment";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} ReplicaSet {namespace}/{name}: {}", client::message(.source))]
    ReplicaSet {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("updating the status of Deployment {namespace}/{name}: {}", client::message(.source))]
    Status {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("unexpected deployment strategy type: {0}")]
    Strategy(String),
}

/// What every sync shares.
pub struct Context {
    client: kube::Client,
    replicasets: Store<ReplicaSet>,
    pods: Store<Pod>,
    recorder: Recorder,
    backoff: Backoff,
}

/// One sync of one Deployment: the Deployment as last written, and when to look again.
pub struct Syncer<'a> {
    ctx: &'a Context,
    d: Deployment,
    namespace: String,
    name: String,
    requeue: Option<Duration>,
}

impl Syncer<'_> {
    /// Writes the status (and with it the revision annotation), keeping what the apiserver
    /// answered as the Deployment from now on.
    pub async fn write_status(&mut self, status: DeploymentStatus) -> Result<(), Error> {
        let mut copy = self.d.clone();
        copy.status = Some(status);
        let api: Api<Deployment> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        self.d = api
            .replace_status(&self.name, &PostParams::default(), &copy)
            .await
            .map_err(|source| Error::Status {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source,
            })?;
        Ok(())
    }
}

/// Runs the controller until the process stops, syncing up to `concurrency` Deployments at
/// once (`--concurrent-deployment-syncs`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, concurrency: u16) {
    let deployment_informer = informers.get::<Deployment>();
    let rs_informer = informers.get::<ReplicaSet>();
    let pod_informer = informers.get::<Pod>();
    let deployments = deployment_informer.store();
    // Subscribed before the caches fill, so no change falls between the first look and them.
    let (own_changes, rs_changes, pod_changes) = (
        deployment_informer.changes(),
        rs_informer.changes(),
        pod_informer.changes(),
    );
    // Counting ReplicaSets and pods before the caches are filled would create them again.
    deployment_informer.ready().await;
    rs_informer.ready().await;
    pod_informer.ready().await;
    let ctx = Arc::new(Context {
        client: client.clone(),
        replicasets: rs_informer.store(),
        pods: pod_informer.store(),
        recorder: Recorder::new(client, NAME),
        backoff: Backoff::default(),
    });
    // Every Deployment is looked at once at start, then on changes.
    let own = {
        let store = deployments.clone();
        stream::iter(all_of(&deployments)).chain(own_changes.flat_map(move |change| {
            stream::iter(match change {
                Change::Applied { new, .. } => vec![ObjectRef::from_obj(&*new)],
                Change::Deleted(_) => Vec::new(),
                Change::Relisted => all_of(&store),
            })
        }))
    };
    let from_sets = {
        let store = deployments.clone();
        rs_changes.flat_map(move |change| stream::iter(deployments_for_rs_change(&store, change)))
    };
    let from_pods = {
        let (store, sets) = (deployments.clone(), ctx.replicasets.clone());
        pod_changes.flat_map(move |change| {
            stream::iter(match change {
                Change::Deleted(pod) => recreate_deployment_of(&store, &sets, &pod),
                _ => Vec::new(),
            })
        })
    };
    let stream = Controller::for_stream(stream::pending(), deployments)
        .reconcile_on(own)
        .reconcile_on(from_sets)
        .reconcile_on(from_pods)
        .with_config(controller::Config::default().concurrency(concurrency))
        .run(reconcile, error_policy, ctx);
    queue::drive(NAME, stream).await;
}

fn all_of(store: &Store<Deployment>) -> Vec<ObjectRef<Deployment>> {
    store
        .state()
        .iter()
        .map(|d| ObjectRef::from_obj(&**d))
        .collect()
}

fn controller_of(rs: &ReplicaSet) -> Option<ObjectRef<Deployment>> {
    let r = ownership::controller_ref(&rs.metadata)
        .filter(|r| r.kind == KIND && r.api_version == API_VERSION)?;
    Some(ObjectRef::new(&r.name).within(rs.metadata.namespace.as_deref().unwrap_or_default()))
}

/// The Deployments a ReplicaSet change concerns: its controller (before and after), or for an
/// orphan every Deployment of its namespace that selects it.
fn deployments_for_rs_change(
    store: &Store<Deployment>,
    change: Change<ReplicaSet>,
) -> Vec<ObjectRef<Deployment>> {
    let (rs, old) = match change {
        Change::Applied { new, old } => (new, old),
        Change::Deleted(rs) => (rs, None),
        Change::Relisted => return all_of(store),
    };
    let mut out = Vec::new();
    match controller_of(&rs) {
        Some(owner) => out.push(owner),
        None => {
            let namespace = rs.metadata.namespace.as_deref();
            out.extend(
                store
                    .state()
                    .iter()
                    .filter(|d| d.metadata.namespace.as_deref() == namespace)
                    .filter(|d| {
                        selector::matches(
                            d.spec.as_ref().map(|s| &s.selector),
                            rs.metadata.labels.as_ref(),
                        )
                    })
                    .map(|d| ObjectRef::from_obj(&**d)),
            );
        }
    }
    if let Some(previous) = old.as_deref().and_then(controller_of)
        && !out.contains(&previous)
    {
        out.push(previous);
    }
    out
}

/// A Recreate Deployment waits for its old pods to go: each deleted pod brings it back.
fn recreate_deployment_of(
    store: &Store<Deployment>,
    sets: &Store<ReplicaSet>,
    pod: &Pod,
) -> Vec<ObjectRef<Deployment>> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let Some(owner) = crate::pods::controller_ref(pod).filter(|r| r.kind == "ReplicaSet") else {
        return Vec::new();
    };
    let Some(rs) = sets.get(&ObjectRef::new(&owner.name).within(namespace)) else {
        return Vec::new();
    };
    let Some(dref) = controller_of(&rs) else {
        return Vec::new();
    };
    let recreate = store
        .get(&dref)
        .is_some_and(|d| !replicasets::is_rolling(&d));
    if recreate { vec![dref] } else { Vec::new() }
}

impl Syncer<'_> {
    /// Upstream `getReplicaSetsForDeployment`: the ReplicaSets this Deployment owns.
    async fn claim_replicasets(&self) -> Result<Vec<ReplicaSet>, Error> {
        let sel = self.d.spec.as_ref().map(|s| &s.selector);
        let candidates: Vec<Arc<ReplicaSet>> = self
            .ctx
            .replicasets
            .state()
            .into_iter()
            .filter(|rs| rs.metadata.namespace.as_deref() == Some(self.namespace.as_str()))
            .filter(|rs| {
                ownership::decide(&self.d.metadata, sel, &rs.metadata) != ownership::Claim::Ignore
            })
            .collect();
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let deployments: Api<Deployment> =
            Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let check = async {
            match deployments.get_opt(&self.name).await {
                Ok(Some(fresh)) => Ok(fresh.metadata.uid == self.d.metadata.uid
                    && fresh.metadata.deletion_timestamp.is_none()),
                Ok(None) => Ok(false),
                Err(source) => Err(ClaimError {
                    action: "reading",
                    name: self.name.clone(),
                    source,
                }),
            }
        };
        let owned = ownership::claim(
            &api,
            &self.d.metadata,
            controller_reference(&self.d),
            None,
            sel,
            candidates,
            check,
        )
        .await
        .map_err(|e| Error::ReplicaSet {
            action: e.action,
            namespace: self.namespace.clone(),
            name: e.name,
            source: e.source,
        })?;
        Ok(owned.iter().map(|rs| (**rs).clone()).collect())
    }

    /// The pods of the Deployment's ReplicaSets, for Recreate.
    fn pods_of(&self, sets: &[ReplicaSet]) -> Vec<Arc<Pod>> {
        let uids: Vec<&str> = sets
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .collect();
        let sel = self.d.spec.as_ref().map(|s| &s.selector);
        self.ctx
            .pods
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(self.namespace.as_str()))
            .filter(|p| selector::matches(sel, p.metadata.labels.as_ref()))
            .filter(|p| {
                crate::pods::controller_ref(p).is_some_and(|r| uids.contains(&r.uid.as_str()))
            })
            .collect()
    }

    /// Upstream `checkPausedConditions`.
    async fn check_paused_conditions(&mut self) -> Result<(), Error> {
        if !replicasets::has_progress_deadline(&self.d) {
            return Ok(());
        }
        let mut status = self.d.status.clone().unwrap_or_default();
        let reason =
            conditions::get(&status, conditions::PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(conditions::TIMED_OUT) {
            return Ok(());
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let paused_condition = reason.as_deref() == Some(conditions::PAUSED);
        let condition = if paused && !paused_condition {
            conditions::new(
                conditions::PROGRESSING,
                "Unknown",
                conditions::PAUSED,
                "Deployment is paused".to_string(),
            )
        } else if !paused && paused_condition {
            conditions::new(
                conditions::PROGRESSING,
                "Unknown",
                conditions::RESUMED,
                "Deployment is resumed".to_string(),
            )
        } else {
            return Ok(());
        };
        conditions::set(&mut status, condition);
        self.write_status(status).await
    }

    /// Upstream `sync`: scale (paused, or the replica count changed) and report.
    async fn sync(&mut self, new: Option<ReplicaSet>, old: Vec<ReplicaSet>) -> Result<(), Error> {
        self.scale_all(new.as_ref(), &old).await?;
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let rollback = self
            .d
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(annotations::ROLLBACK_TO));
        if paused && !rollback {
            self.cleanup(&old).await?;
        }
        let mut all = old;
        all.extend(new.clone());
        self.sync_status(&all, new.as_ref()).await
    }
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = crate::metrics::WorkTimer::start("deployment");
    let namespace = d.metadata.namespace.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let span = crate::workqueue::reconcile_span(NAME, &d.metadata);
    async move {
        let mut s = Syncer {
            ctx: &ctx,
            d: (*d).clone(),
            namespace: namespace.clone(),
            name: name.clone(),
            requeue: None,
        };
        let sel = d.spec.as_ref().map(|s| &s.selector);
        if sel.is_none_or(selector::is_empty) {
            ctx.recorder.record(
                &*d,
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required."
                    .to_string(),
            );
            let mut status = d.status.clone().unwrap_or_default();
            if status.observed_generation < d.metadata.generation {
                status.observed_generation = d.metadata.generation;
                s.write_status(status).await?;
            }
            return Ok(Action::await_change());
        }
        let sets = s.claim_replicasets().await?;
        if d.metadata.deletion_timestamp.is_some() {
            let (new, old) = s.new_and_old(sets, false).await?;
            let mut all = old;
            all.extend(new.clone());
            s.sync_status(&all, new.as_ref()).await?;
            return Ok(Action::await_change());
        }
        s.check_paused_conditions().await?;
        let (new, old) = s.new_and_old(sets, false).await?;
        let paused = s.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let mut all = old.clone();
        all.extend(new.clone());
        if paused || scale::is_scaling_event(&s.d, &all) {
            s.sync(new, old).await?;
        } else {
            let strategy =
                s.d.spec
                    .as_ref()
                    .and_then(|s| s.strategy.as_ref())
                    .and_then(|s| s.type_.clone())
                    .unwrap_or_else(|| "RollingUpdate".to_string());
            match strategy.as_str() {
                "RollingUpdate" => s.rollout_rolling(all).await?,
                "Recreate" => {
                    let pods = s.pods_of(&all);
                    s.rollout_recreate(all, &pods).await?;
                }
                other => return Err(Error::Strategy(other.to_string())),
            }
        }
        ctx.backoff.forget(&format!("{namespace}/{name}"));
        Ok(match s.requeue {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        })
    }
    .instrument(span)
    .await
}

fn error_policy(d: Arc<Deployment>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}",
        d.metadata.namespace.as_deref().unwrap_or_default(),
        d.metadata.name.as_deref().unwrap_or_default()
    );
    let delay = ctx.backoff.next_delay(&key);
    if matches!(err, Error::ReplicaSet { source, .. } | Error::Status { source, .. } if client::is_conflict(source))
    {
        tracing::debug!(
            "Syncing Deployment {key} raced another writer: {err}. Retrying in {delay:?}."
        );
    } else {
        tracing::warn!("Syncing Deployment {key} failed: {err}. Retrying in {delay:?}.");
    }
    Action::requeue(delay)
}
