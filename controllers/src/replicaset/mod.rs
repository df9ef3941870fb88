//! The replicaset controller (upstream `pkg/controller/replicaset`): keeps as many pods as a
//! ReplicaSet asks for, creating them from its template and deleting surplus ones, adopts
//! matching orphans and releases pods that stopped matching, and reports counts and failures
//! in the ReplicaSet's status. The same controller runs for ReplicationControllers
//! ([`kind`]), as upstream's replication manager does.
//!
//! Timeline of one sync: pod cache ready -> [`claim`] the namespace's active pods -> if the last
//! sync's [`expectations`] are met and the ReplicaSet is not being deleted, [`manage`] replicas
//! -> [`status`] written if changed -> look again when a ready pod becomes available.
//!
//! Syncs are triggered by the ReplicaSet's own changes and by its pods' (found through their
//! controller reference, or, for orphans, every ReplicaSet whose selector matches them), from
//! the shared informers.

pub mod claim;
pub mod expectations;
pub mod kind;
pub mod manage;
pub mod status;

use crate::events::Recorder;
use crate::informer::{Change, Informers};
use crate::queue::{self, Backoff};
use crate::{client, ownership, pods, selector};
use expectations::Expectations;
use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::jiff::Timestamp;
use kind::Replicated;
use kube::api::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The controller's name (upstream `names.ReplicaSetController`), also its event source.
pub const NAME: &str = <ReplicaSet as Replicated>::CONTROLLER;

/// The ReplicationController controller's name (upstream
/// `names.ReplicationControllerController`).
pub const RC_NAME: &str = <ReplicationController as Replicated>::CONTROLLER;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} pods for {kind} {namespace}/{name}: {}", client::message(.source))]
    Pods {
        kind: &'static str,
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("{action} pod {namespace}/{pod} for {kind} {name}: {}", client::message(.source))]
    Pod {
        kind: &'static str,
        action: &'static str,
        namespace: String,
        name: String,
        pod: String,
        #[source]
        source: kube::Error,
    },
    #[error("updating the status of {kind} {namespace}/{name}: {}", client::message(.source))]
    Status {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// What every sync shares.
pub struct Context<K: Replicated> {
    client: kube::Client,
    pods: Store<Pod>,
    /// The controller's own objects (for a ReplicaSet's siblings on scale-down).
    owners: Store<K>,
    expectations: Arc<Expectations>,
    recorder: Recorder,
    backoff: Backoff,
}

/// Runs the controller for `K` until the process stops, syncing up to `concurrency` objects at
/// once (`--concurrent-replicaset-syncs`, `--concurrent-rc-syncs`).
pub async fn run<K: Replicated>(client: kube::Client, informers: Arc<Informers>, concurrency: u16) {
    let rs_informer = informers.get::<K>();
    let pod_informer = informers.get::<Pod>();
    let replicasets = rs_informer.store();
    // Subscribed before the caches fill, so no change falls between the first look and them.
    let (rs_changes, pod_changes) = (rs_informer.changes(), pod_informer.changes());
    // Counting pods before the pod cache is filled would create them all again.
    rs_informer.ready().await;
    pod_informer.ready().await;
    let expectations = Arc::new(Expectations::default());
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods: pod_informer.store(),
        owners: replicasets.clone(),
        expectations: expectations.clone(),
        recorder: Recorder::new(client, K::EVENT_SOURCE),
        backoff: Backoff::default(),
    });

    // Every object is looked at once at start, then on changes.
    let everything: Vec<ObjectRef<K>> = replicasets
        .state()
        .iter()
        .map(|rs| ObjectRef::from_obj(&**rs))
        .collect();
    let own = {
        let (store, expectations) = (replicasets.clone(), expectations.clone());
        stream::iter(everything).chain(rs_changes.flat_map(move |change| {
            let refs: Vec<ObjectRef<K>> = match change {
                Change::Applied { new, .. } => vec![ObjectRef::from_obj(&*new)],
                Change::Deleted(rs) => {
                    expectations.forget(&key_of(&*rs));
                    Vec::new()
                }
                Change::Relisted => store
                    .state()
                    .iter()
                    .map(|rs| ObjectRef::from_obj(&**rs))
                    .collect(),
            };
            stream::iter(refs)
        }))
    };
    let from_pods = {
        let (store, expectations) = (replicasets.clone(), expectations);
        pod_changes.flat_map(move |change| {
            stream::iter(replicasets_for_pod_change(&store, &expectations, change))
        })
    };
    let stream = Controller::for_stream(stream::pending(), replicasets)
        .reconcile_on(own)
        .reconcile_on(from_pods)
        .with_config(controller::Config::default().concurrency(concurrency))
        .run(reconcile::<K>, error_policy::<K>, ctx);
    queue::drive(K::CONTROLLER, stream).await;
}

/// `namespace/name`, the key of expectations and backoff.
fn key_of<K: kube::Resource>(obj: &K) -> String {
    crate::workqueue::key_of(obj.meta())
}

fn controller_key<K: Replicated>(pod: &Pod) -> Option<ObjectRef<K>> {
    let r = pods::controller_ref(pod)
        .filter(|r| r.kind == K::kind(&()) && r.api_version == K::api_version(&()))?;
    Some(ObjectRef::new(&r.name).within(pod.metadata.namespace.as_deref().unwrap_or_default()))
}

/// The ReplicaSets a pod change concerns: the pod's controller (before and after the change),
/// or for an orphan every ReplicaSet of its namespace that selects it. Also notes the change
/// against the controller's expectations.
fn replicasets_for_pod_change<K: Replicated>(
    store: &Store<K>,
    expectations: &Expectations,
    change: Change<Pod>,
) -> Vec<ObjectRef<K>> {
    let (pod, old, gone) = match change {
        Change::Applied { new, old } => (new, old, false),
        Change::Deleted(pod) => (pod, None, true),
        Change::Relisted => {
            return store
                .state()
                .iter()
                .map(|rs| ObjectRef::from_obj(&**rs))
                .collect();
        }
    };
    let mut out = Vec::new();
    match controller_key::<K>(&pod) {
        Some(owner) => {
            expectations.observe(
                &format!(
                    "{}/{}",
                    owner.namespace.as_deref().unwrap_or_default(),
                    owner.name
                ),
                &pod,
                gone,
            );
            out.push(owner);
        }
        None if !gone => {
            let namespace = pod.metadata.namespace.as_deref();
            out.extend(
                store
                    .state()
                    .iter()
                    .filter(|rs| rs.meta().namespace.as_deref() == namespace)
                    .filter(|rs| {
                        selector::matches(
                            rs.view().spec.as_ref().map(|s| &s.selector),
                            pod.metadata.labels.as_ref(),
                        )
                    })
                    .map(|rs| ObjectRef::from_obj(&**rs)),
            );
        }
        None => {}
    }
    // A pod whose controller changed concerns the one it left too.
    if let Some(previous) = old.as_deref().and_then(controller_key::<K>)
        && !out.contains(&previous)
    {
        out.push(previous);
    }
    out
}

async fn reconcile<K: Replicated>(obj: Arc<K>, ctx: Arc<Context<K>>) -> Result<Action, Error> {
    let _timer = crate::metrics::WorkTimer::start(K::QUEUE);
    let rs = obj.view();
    let namespace = rs.metadata.namespace.clone().unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    let span = crate::workqueue::reconcile_span(K::CONTROLLER, &rs.metadata);
    async move {
        let key = key_of(&rs);
        let satisfied = ctx.expectations.satisfied(&key, |pod| {
            ctx.pods.get(&ObjectRef::new(pod).within(&namespace))
        });
        let candidates: Vec<Arc<Pod>> = ctx
            .pods
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
            .filter(|p| pods::is_active(p))
            .filter(|p| {
                ownership::decide(
                    &rs.metadata,
                    rs.spec.as_ref().map(|s| &s.selector),
                    &p.metadata,
                ) != ownership::Claim::Ignore
            })
            .collect();
        let owned = claim::claim(&ctx, &*obj, &rs, candidates).await?;

        let mut failure = None;
        if satisfied && rs.metadata.deletion_timestamp.is_none() {
            let related = related_pods(&ctx, &rs, &owned);
            if let Err(e) = manage::manage_replicas(&ctx, &*obj, &rs, &key, &owned, &related).await
            {
                failure = Some(e);
            }
        }
        let now = Timestamp::now();
        let message = failure.as_ref().map(|(_, e)| match e {
            Error::Pods { source, .. } => client::message(source),
            other => other.to_string(),
        });
        let status = status::calculate(
            &rs,
            &owned,
            failure
                .as_ref()
                .map(|(what, _)| *what)
                .zip(message.as_deref()),
            now,
        );
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
        status::update(&api, &*obj, &rs, status)
            .await
            .map_err(|source| Error::Status {
                kind: rs_kind::<K>(),
                namespace: namespace.clone(),
                name: name.clone(),
                source,
            })?;
        if let Some((_, e)) = failure {
            return Err(e);
        }
        ctx.backoff.forget(&key);
        Ok(match status::next_availability(&rs, &owned, now) {
            Some(at) => Action::requeue(
                Duration::try_from(at.duration_since(now)).unwrap_or_default()
                    + Duration::from_millis(10),
            ),
            None => Action::await_change(),
        })
    }
    .instrument(span)
    .await
}

/// The active pods of `rs` and of the ReplicaSets that share its controller (a Deployment's
/// other ReplicaSets), for spreading what stays across nodes on scale-down.
/// The kind's name for messages.
fn rs_kind<K: Replicated>() -> &'static str {
    if K::kind(&()) == "ReplicaSet" {
        "ReplicaSet"
    } else {
        "ReplicationController"
    }
}

fn related_pods<K: Replicated>(
    ctx: &Context<K>,
    rs: &ReplicaSet,
    owned: &[Arc<Pod>],
) -> Vec<Arc<Pod>> {
    let owner = rs
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.clone());
    let Some(owner) = owner else {
        return owned.to_vec();
    };
    let namespace = rs.metadata.namespace.as_deref();
    let siblings: Vec<String> = ctx
        .owners
        .state()
        .iter()
        .map(|s| s.meta())
        .filter(|s| s.namespace.as_deref() == namespace)
        .filter(|s| {
            s.owner_references
                .iter()
                .flatten()
                .any(|r| r.controller == Some(true) && r.uid == owner)
        })
        .filter_map(|s| s.uid.clone())
        .collect();
    ctx.pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == namespace && pods::is_active(p))
        .filter(|p| {
            pods::controller_of(p, &K::api_version(&()), &K::kind(&()))
                .is_some_and(|uid| siblings.iter().any(|s| s == uid))
        })
        .collect()
}

fn error_policy<K: Replicated>(obj: Arc<K>, err: &Error, ctx: Arc<Context<K>>) -> Action {
    let key = key_of(&*obj);
    let delay = ctx.backoff.next_delay(&key);
    tracing::warn!(
        "Syncing {} {key} failed: {err}. Retrying in {delay:?}.",
        rs_kind::<K>()
    );
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, ObjectMeta, OwnerReference,
    };
    use kube::runtime::reflector;
    use kube::runtime::watcher;
    use std::collections::BTreeMap;

    fn labels(app: &str) -> Option<BTreeMap<String, String>> {
        Some(BTreeMap::from([("app".to_string(), app.to_string())]))
    }

    fn rs(name: &str, app: &str) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("ns".to_string()),
                uid: Some(format!("{name}-uid")),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                selector: LabelSelector {
                    match_labels: labels(app),
                    match_expressions: None,
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pod(app: &str, controller: Option<&str>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some("p".to_string()),
                namespace: Some("ns".to_string()),
                labels: labels(app),
                owner_references: controller.map(|c| {
                    vec![OwnerReference {
                        api_version: "apps/v1".to_string(),
                        kind: "ReplicaSet".to_string(),
                        name: c.to_string(),
                        uid: format!("{c}-uid"),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn names(refs: Vec<ObjectRef<ReplicaSet>>) -> Vec<String> {
        refs.into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn pod_changes_reach_their_controller_or_the_replicasets_selecting_orphans() {
        let (store, mut writer) = reflector::store::<ReplicaSet>();
        for set in [rs("web", "web"), rs("web2", "web"), rs("db", "db")] {
            writer.apply_watcher_event(&watcher::Event::Apply(set));
        }
        let e = Expectations::default();
        let applied = |new, old| Change::Applied { new, old };
        assert_eq!(
            names(replicasets_for_pod_change(
                &store,
                &e,
                applied(pod("web", Some("db")), None)
            )),
            vec!["db"]
        );
        let mut orphans = names(replicasets_for_pod_change(
            &store,
            &e,
            applied(pod("web", None), None),
        ));
        orphans.sort();
        assert_eq!(orphans, vec!["web", "web2"]);
        // Released from web: web hears of it too.
        assert_eq!(
            names(replicasets_for_pod_change(
                &store,
                &e,
                applied(pod("other", None), Some(pod("web", Some("web"))))
            )),
            vec!["web"]
        );
        assert_eq!(
            names(replicasets_for_pod_change(
                &store,
                &e,
                Change::Deleted(pod("web", Some("web")))
            )),
            vec!["web"]
        );
        assert!(
            replicasets_for_pod_change(&store, &e, Change::Deleted(pod("web", None))).is_empty()
        );
        assert_eq!(
            replicasets_for_pod_change(&store, &e, Change::Relisted).len(),
            3
        );
    }
}
