//! The resourcequota controller (upstream `pkg/controller/resourcequota`): keeps every
//! ResourceQuota's `status.hard` equal to its spec and `status.used` equal to what its namespace
//! uses ([`usage`]). As upstream, creations are charged by the apiserver's ResourceQuota
//! admission plugin; this controller "replenishes": it recalculates when an object is deleted or
//! stops using what it used (a pod finishing, a service or claim changing), when a quota's
//! limits change, and every `--resource-quota-sync-period` for all quotas. Recalculating on
//! creations or on admission's own charges would race them: the informers may not hold an
//! object admission has just charged for, and the quota would briefly forget it.

use crate::background::Background;
use crate::client;
use crate::informer::{Change, Informer, Informers, Watched};
use crate::workqueue::{self, WorkQueue, feed, key_of};
use apimachinery::quota as usage;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota,
    ResourceQuotaStatus, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::discovery::Discovery;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The controller's name (upstream `names.ResourceQuotaController`).
pub const NAME: &str = "resourcequota-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("updating the status of ResourceQuota {namespace}/{name}: {}", client::message(.source))]
    Status {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("counting {resource} in namespace {namespace}: {}", client::message(.source))]
    Count {
        resource: String,
        namespace: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    client: kube::Client,
    quotas: Store<ResourceQuota>,
    pods: Store<Pod>,
    services: Store<Service>,
    claims: Store<PersistentVolumeClaim>,
    configmaps: Store<ConfigMap>,
    secrets: Store<Secret>,
    rcs: Store<ReplicationController>,
    replicasets: Store<ReplicaSet>,
}

fn quotas_in(quotas: &Store<ResourceQuota>, namespace: Option<&str>) -> Vec<String> {
    quotas
        .state()
        .iter()
        .filter(|q| namespace.is_none() || q.metadata.namespace.as_deref() == namespace)
        .map(|q| key_of(&q.metadata))
        .collect()
}

/// Queues the quotas of the namespace of every deleted `K`, and of every changed one whose
/// change `releases` usage.
fn feed_namespace<K: Watched>(
    queue: &Arc<WorkQueue<String>>,
    informer: &Informer<K>,
    quotas: Store<ResourceQuota>,
    releases: fn(&K, &K) -> bool,
) {
    feed(queue, informer.changes(), move |change| match change {
        Change::Applied {
            new,
            old: Some(old),
        } if releases(&old, &new) => quotas_in(&quotas, new.meta().namespace.as_deref()),
        Change::Applied { .. } => Vec::new(),
        Change::Deleted(obj) => quotas_in(&quotas, obj.meta().namespace.as_deref()),
        Change::Relisted => quotas_in(&quotas, None),
    });
}

/// Counted kinds use the same however they change.
fn never<K>(_: &K, _: &K) -> bool {
    false
}

/// A pod releases what it used when it finishes or is being deleted.
fn pod_releases(old: &Pod, new: &Pod) -> bool {
    let now = Timestamp::now();
    (usage::pod_counts(old, now) && !usage::pod_counts(new, now))
        || (old.metadata.deletion_timestamp.is_none() && new.metadata.deletion_timestamp.is_some())
}

fn service_releases(old: &Service, new: &Service) -> bool {
    old.spec != new.spec
}

fn claim_releases(old: &PersistentVolumeClaim, new: &PersistentVolumeClaim) -> bool {
    old.spec != new.spec
}

/// Whether a quota changed in a way only this controller can answer: new, new limits, or a
/// status that does not yet measure every limit. Admission's charges to `status.used` are not.
fn needs_sync(old: Option<&ResourceQuota>, new: &ResourceQuota) -> bool {
    let hard = |q: &ResourceQuota| q.spec.as_ref().and_then(|s| s.hard.clone());
    let Some(old) = old else {
        return true;
    };
    let status = new.status.as_ref();
    let measured = hard(new).unwrap_or_default().keys().all(|k| {
        status
            .and_then(|s| s.used.as_ref())
            .is_some_and(|u| u.contains_key(k))
    });
    hard(old) != hard(new) || status.and_then(|s| s.hard.clone()) != hard(new) || !measured
}

/// Runs the controller with `workers` workers (`--concurrent-resource-quota-syncs`), looking at
/// every quota again each `resync` (`--resource-quota-sync-period`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, workers: u16, resync: Duration) {
    let quota_informer = informers.get::<ResourceQuota>();
    let pods = informers.get::<Pod>();
    let services = informers.get::<Service>();
    let claims = informers.get::<PersistentVolumeClaim>();
    let configmaps = informers.get::<ConfigMap>();
    let secrets = informers.get::<Secret>();
    let rcs = informers.get::<ReplicationController>();
    let replicasets = informers.get::<ReplicaSet>();
    let queue = WorkQueue::<String>::new("resourcequota");
    let quotas = quota_informer.store();
    // Subscribed before the first look, so nothing falls between.
    feed(&queue, quota_informer.changes(), {
        let quotas = quotas.clone();
        move |change| match change {
            Change::Applied { new, old } if needs_sync(old.as_deref(), &new) => {
                vec![key_of(&new.metadata)]
            }
            Change::Applied { .. } => Vec::new(),
            Change::Deleted(_) => Vec::new(),
            Change::Relisted => quotas_in(&quotas, None),
        }
    });
    feed_namespace(&queue, &pods, quotas.clone(), pod_releases);
    feed_namespace(&queue, &services, quotas.clone(), service_releases);
    feed_namespace(&queue, &claims, quotas.clone(), claim_releases);
    feed_namespace(&queue, &configmaps, quotas.clone(), never);
    feed_namespace(&queue, &secrets, quotas.clone(), never);
    feed_namespace(&queue, &rcs, quotas.clone(), never);
    feed_namespace(&queue, &replicasets, quotas.clone(), never);
    quota_informer.ready().await;
    pods.ready().await;
    services.ready().await;
    claims.ready().await;
    configmaps.ready().await;
    secrets.ready().await;
    rcs.ready().await;
    replicasets.ready().await;
    let ctx = Arc::new(Context {
        client,
        quotas: quotas.clone(),
        pods: pods.store(),
        services: services.store(),
        claims: claims.store(),
        configmaps: configmaps.store(),
        secrets: secrets.store(),
        rcs: rcs.store(),
        replicasets: replicasets.store(),
    });
    tracing::info!("Starting {NAME}.");
    // The full resync: every quota, now and every period.
    let resyncing = queue.clone();
    let _resync = Background::spawn(async move {
        loop {
            for key in quotas_in(&quotas, None) {
                resyncing.add(key);
            }
            tokio::time::sleep(resync).await;
        }
    });
    workqueue::process(queue, workers, "the usage of ResourceQuota", move |key| {
        let ctx = ctx.clone();
        async move { sync(&ctx, &key).await }
    })
    .await;
}

fn count_in<K>(store: &Store<K>, namespace: &str) -> usize
where
    K: kube::Resource + Clone,
    K::DynamicType: Eq + std::hash::Hash + Clone + Default,
{
    store
        .state()
        .iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(namespace))
        .count()
}

/// Counts objects of a `count/<resource>.<group>` key the controller has no cache for.
async fn count_through_api(
    client: &kube::Client,
    resource: &str,
    namespace: &str,
) -> Result<Option<usize>, Error> {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    let err = |source| Error::Count {
        resource: resource.to_string(),
        namespace: namespace.to_string(),
        source,
    };
    let discovery = Discovery::new(client.clone())
        .filter(&[group])
        .run_aggregated()
        .await
        .map_err(err)?;
    let Some(found) = discovery
        .groups()
        .find(|g| g.name() == group)
        .and_then(|g| {
            g.recommended_resources()
                .into_iter()
                .find(|(ar, _)| ar.plural == plural)
                .map(|(ar, _)| ar)
        })
    else {
        return Ok(None);
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &found);
    let list = api
        .list_metadata(&ListParams::default())
        .await
        .map_err(err)?;
    Ok(Some(list.items.len()))
}

async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(quota) = ctx.quotas.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let spec = quota.spec.clone().unwrap_or_default();
    let all_pods = ctx.pods.state();
    let all_services = ctx.services.state();
    let all_claims = ctx.claims.state();
    let in_ns = |ns: Option<&str>| ns == Some(namespace);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for key in spec.hard.iter().flatten().map(|(k, _)| k.as_str()) {
        let Some(resource) = usage::counted_resource(key) else {
            continue;
        };
        let n = match resource {
            "pods" => continue,
            "services" => count_in(&ctx.services, namespace),
            "configmaps" => count_in(&ctx.configmaps, namespace),
            "secrets" => count_in(&ctx.secrets, namespace),
            "replicationcontrollers" => count_in(&ctx.rcs, namespace),
            "resourcequotas" => count_in(&ctx.quotas, namespace),
            "persistentvolumeclaims" => count_in(&ctx.claims, namespace),
            "replicasets.apps" => count_in(&ctx.replicasets, namespace),
            other => match count_through_api(&ctx.client, other, namespace).await? {
                Some(n) => n,
                None => continue,
            },
        };
        counts.insert(resource.to_string(), n);
    }
    let ns = usage::Namespace {
        pods: all_pods
            .iter()
            .map(|p| &**p)
            .filter(|p| in_ns(p.metadata.namespace.as_deref()))
            .collect(),
        services: all_services
            .iter()
            .map(|s| &**s)
            .filter(|s| in_ns(s.metadata.namespace.as_deref()))
            .collect(),
        claims: all_claims
            .iter()
            .map(|c| &**c)
            .filter(|c| in_ns(c.metadata.namespace.as_deref()))
            .collect(),
        counts,
    };
    let used: BTreeMap<String, Quantity> = usage::calculate(&spec, &ns, Timestamp::now())
        .into_iter()
        .map(|(k, v)| (k, Quantity(v.canonical())))
        .collect();
    let status = ResourceQuotaStatus {
        hard: spec.hard.clone(),
        used: Some(used),
    };
    if same_status(quota.status.as_ref(), &status) {
        return Ok(());
    }
    let mut updated = (*quota).clone();
    updated.status = Some(status);
    let api: Api<ResourceQuota> = Api::namespaced(ctx.client.clone(), namespace);
    api.replace_status(name, &PostParams::default(), &updated)
        .await
        .map(|_| ())
        .map_err(|source| Error::Status {
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        })
}

/// Status equality by value (`1000m` equals `1`), as upstream compares quota usage.
fn same_status(current: Option<&ResourceQuotaStatus>, wanted: &ResourceQuotaStatus) -> bool {
    let Some(current) = current else {
        return false;
    };
    let same = |a: &Option<BTreeMap<String, Quantity>>, b: &Option<BTreeMap<String, Quantity>>| {
        let (a, b) = (a.clone().unwrap_or_default(), b.clone().unwrap_or_default());
        a.len() == b.len()
            && a.iter().all(|(k, v)| {
                b.get(k).is_some_and(|w| {
                    match (
                        apimachinery::quantity::Quantity::parse(&v.0),
                        apimachinery::quantity::Quantity::parse(&w.0),
                    ) {
                        (Ok(x), Ok(y)) => x.nanos() == y.nanos(),
                        _ => v == w,
                    }
                })
            })
    };
    same(&current.hard, &wanted.hard) && same(&current.used, &wanted.used)
}
