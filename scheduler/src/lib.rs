//! kube-scheduler: assigns pending pods to nodes, as an API client only.
//!
//! The pieces, as upstream's `pkg/scheduler`:
//! - [`options`] and [`config`]: the flags and the KubeSchedulerConfiguration, with each
//!   profile's plugins resolved per extension point;
//! - [`queue`]: activeQ, backoffQ and the unschedulable pods, with requeueing on cluster
//!   events, and the [`nominator`] of pods nominated to nodes by preemption;
//! - [`priority`]: pods' priorities from their PriorityClass;
//! - [`cache`] and [`node_info`]: the nodes with their pods (bound and assumed) and what they
//!   request, and the per-cycle snapshot;
//! - [`framework`]: the extension point traits and one profile's plugin runner;
//! - [`plugins`]: the in-tree plugins, one folder each;
//! - [`schedule_one`]: the scheduling cycle and the asynchronous binding cycle;
//! - [`handlers`]: informer changes into the cache and the queue;
//! - [`events`] and [`metrics`]: what the scheduler reports;
//! - [`volumes`]: the storage listers and helpers the volume plugins share.
//!
//! The client machinery (kubeconfig loading, shared informers, leader election, the HTTPS
//! endpoint) is the controller manager's, used from the `controllers` crate for now; a shared
//! client crate is a later refactor.

pub mod affinity;
pub mod cache;
pub mod config;
pub mod events;
pub mod framework;
pub mod handlers;
pub mod labels;
pub mod metrics;
pub mod node_info;
pub mod nominator;
pub mod options;
pub mod plugins;
pub mod priority;
pub mod queue;
pub mod schedule_one;
pub mod spread_index;
pub mod volumes;

pub use options::Options;

use controllers::informer::{Informers, Tuning};
use controllers::{client, leaderelection, server};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why kube-scheduler could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file or flags are unusable.
    #[error("{0}")]
    Config(#[from] config::Error),
    /// The API client could not be set up.
    #[error("{0}")]
    Client(#[from] controllers::Error),
    /// The HTTPS endpoint could not start.
    #[error("serving /healthz and /metrics: {0}")]
    Serve(#[from] server::Error),
    /// Another instance took the lease; the process stops so it can start over cleanly.
    #[error("leaderelection lost")]
    LeaderElectionLost,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The User-Agent upstream's scheduler sends.
fn user_agent() -> String {
    client::component_user_agent("kube-scheduler", "scheduler")
}

/// Runs kube-scheduler until it fails or leadership is lost.
pub async fn run(opts: Options) -> Result<()> {
    let cfg = opts.config()?;
    let kube_config = client::load_config(cfg.kubeconfig.as_deref()).await?;
    let client = client::with_user_agent(&kube_config, &user_agent())?;
    // Plugins take their listers from the shared informers, as upstream's do from the
    // informer factory; `schedule` waits for them all.
    let informers = Arc::new(Informers::new(client.clone()));
    // Upstream's scheduler watches only pods that may still hold resources, and keeps no
    // managedFields (it never applies).
    informers.tune::<Pod>(Tuning {
        field_selector: Some("status.phase!=Succeeded,status.phase!=Failed".into()),
        strip_managed_fields: true,
    });
    informers.tune::<Node>(Tuning {
        field_selector: None,
        strip_managed_fields: true,
    });
    let handle = plugins::Handle {
        client: Some(client.clone()),
        informers: Some(informers.clone()),
    };
    let mut frameworks = Vec::new();
    for p in &cfg.profiles {
        frameworks.push(Arc::new(config::framework(p, &handle)?));
    }
    if opts.secure_port != 0 {
        let addr = std::net::SocketAddr::new(opts.bind_address, opts.secure_port);
        // Bind now, so a port in use is reported before anything runs.
        drop(
            std::net::TcpListener::bind(addr)
                .map_err(|source| server::Error::Listen { addr, source })?,
        );
        let (cert, key) = (
            opts.tls_cert_file.clone(),
            opts.tls_private_key_file.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) =
                server::serve_with(addr, cert.as_deref(), key.as_deref(), metrics::render).await
            {
                tracing::error!("The scheduler's HTTPS endpoint stopped: {e}.");
            }
        });
    }
    let le = &cfg.leader_election;
    if !le.leader_elect {
        schedule(client, informers, frameworks, &cfg).await;
        return Ok(());
    }
    let election = leaderelection::Config {
        namespace: le.resource_namespace.clone(),
        name: le.resource_name.clone(),
        lease_duration: le.lease_duration,
        renew_deadline: le.renew_deadline,
        retry_period: le.retry_period,
        ..leaderelection::Config::new(&le.resource_name)
    };
    let election = match &opts.leader_elect_identity {
        Some(identity) => leaderelection::Config {
            identity: identity.clone(),
            ..election
        },
        None => election,
    };
    let lease = election.name.clone();
    let elector = leaderelection::Elector::for_component(
        client::with_user_agent(
            &kube_config,
            &client::component_user_agent("kube-scheduler", "leader-election"),
        )?,
        election,
        "kube-scheduler",
    );
    metrics::global().leading(&lease, false);
    elector.acquire().await;
    metrics::global().leading(&lease, true);
    tokio::select! {
        () = schedule(client, informers, frameworks, &cfg) => Ok(()),
        () = elector.keep() => {
            metrics::global().leading(&lease, false);
            Err(Error::LeaderElectionLost)
        }
    }
}

/// Starts the informers, the event handlers and the queue's flushes, waits for the caches,
/// then schedules until the process stops.
async fn schedule(
    client: kube::Client,
    informers: Arc<Informers>,
    frameworks: Vec<Arc<framework::Framework>>,
    cfg: &config::Config,
) {
    let mut frameworks = frameworks.into_iter();
    let Some(first) = frameworks.next() else {
        return;
    };
    let profiles_preempt = first.has_post_filter_plugins();
    let rest: Vec<_> = frameworks.collect();
    let profiles_preempt = profiles_preempt || rest.iter().any(|f| f.has_post_filter_plugins());
    let storage = follow_storage(&informers, std::iter::once(&first).chain(&rest));
    let profiles = queue::Profiles::new(first, rest);
    let recorders: HashMap<String, events::Recorder> = profiles
        .names()
        .into_iter()
        .map(|n| (n.to_string(), events::Recorder::new(client.clone(), n)))
        .collect();
    let queue = Arc::new(queue::SchedulingQueue::new(
        profiles,
        cfg.pod_initial_backoff,
        cfg.pod_max_backoff,
    ));
    let cache = Arc::new(Mutex::new(cache::Cache::new()));
    let (pods, nodes) = (informers.get::<Pod>(), informers.get::<Node>());
    // Like upstream's, the scheduler reads priorities from the pods (the Priority admission
    // plugin writes them) and does not watch PriorityClasses, which its role does not grant.
    let handlers = handlers::Handlers {
        cache: cache.clone(),
        queue: queue.clone(),
        priorities: priority::Resolver::default(),
    };
    // Subscribe before waiting, so nothing between the first list and now is missed.
    let (pod_changes, node_changes) = (Box::pin(pods.changes()), Box::pin(nodes.changes()));
    pods.ready().await;
    nodes.ready().await;
    if profiles_preempt {
        informers.get::<PodDisruptionBudget>().ready().await;
    }
    plugins::wait_for_listers(&informers).await;
    handlers.resync_nodes(&nodes.store());
    handlers.resync_pods(&pods.store());
    tracing::info!("The scheduler's caches are synced; scheduling.");
    let following = [
        tokio::spawn(handlers.clone().follow_nodes(node_changes, nodes.store())),
        tokio::spawn(handlers.clone().follow_pods(pod_changes, pods.store())),
        tokio::spawn(queue.clone().run_flushes()),
        tokio::spawn(report_cache_size(cache.clone())),
    ];
    let following: Vec<_> = following
        .into_iter()
        .chain(
            storage
                .into_iter()
                .map(|f| tokio::spawn(f(handlers.clone()))),
        )
        .collect();
    let shared = schedule_one::Shared {
        cache,
        queue: queue.clone(),
        pods: Some(pods.store()),
        client: Some(client),
        recorders,
        priorities: handlers.priorities.clone(),
    };
    schedule_one::Scheduler::new(shared, cfg.percentage_of_nodes_to_score)
        .run()
        .await;
    for task in following {
        task.abort();
    }
    // Keep the informers alive until here.
    drop((pods, nodes, informers));
}

/// A task announcing one storage informer's changes through the handlers.
type StorageFollower =
    Box<dyn FnOnce(handlers::Handlers) -> futures::future::BoxFuture<'static, ()> + Send>;

/// The storage informers some profile's plugins registered events for, subscribed now so
/// nothing is missed while the caches fill (upstream adds event handlers only for the
/// resources plugins asked for).
fn follow_storage<'a>(
    informers: &Informers,
    frameworks: impl Iterator<Item = &'a Arc<framework::Framework>>,
) -> Vec<StorageFollower> {
    use framework::cluster_event::{EventResource as R, Object};
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use k8s_openapi::api::storage::v1::{CSIDriver, CSINode, CSIStorageCapacity, StorageClass};
    let wanted: Vec<R> = frameworks
        .flat_map(|f| f.events.iter().map(|(_, reg)| reg.event.resource))
        .collect();
    let mut out = Vec::new();
    let mut add = |r: R, follower: fn(&Informers) -> StorageFollower| {
        if wanted.contains(&r) {
            out.push(follower(informers));
        }
    };
    add(R::PersistentVolumeClaim, |i| {
        follower::<PersistentVolumeClaim>(
            i,
            R::PersistentVolumeClaim,
            ("PersistentVolumeClaimAdd", "PersistentVolumeClaimUpdate"),
            |c| Some(Object::Claim(c)),
        )
    });
    add(R::PersistentVolume, |i| {
        let labels = ("PersistentVolumeAdd", "PersistentVolumeUpdate");
        follower::<PersistentVolume>(i, R::PersistentVolume, labels, |_| None)
    });
    add(R::StorageClass, |i| {
        let labels = ("StorageClassAdd", "StorageClassUpdate");
        follower::<StorageClass>(i, R::StorageClass, labels, |_| None)
    });
    add(R::CSINode, |i| {
        let labels = ("CSINodeAdd", "CSINodeUpdate");
        follower::<CSINode>(i, R::CSINode, labels, |_| None)
    });
    add(R::CSIDriver, |i| {
        let labels = ("CSIDriverAdd", "CSIDriverUpdate");
        follower::<CSIDriver>(i, R::CSIDriver, labels, |_| None)
    });
    add(R::CSIStorageCapacity, |i| {
        let labels = ("CSIStorageCapacityAdd", "CSIStorageCapacityUpdate");
        follower::<CSIStorageCapacity>(i, R::CSIStorageCapacity, labels, |_| None)
    });
    out
}

/// Subscribes to `K`'s changes now; the task announces them once given the handlers.
fn follower<K: controllers::informer::Watched>(
    informers: &Informers,
    resource: framework::cluster_event::EventResource,
    labels: (&'static str, &'static str),
    wrap: fn(Arc<K>) -> Option<framework::cluster_event::Object>,
) -> StorageFollower {
    use futures::FutureExt;
    let changes = Box::pin(informers.get::<K>().changes());
    Box::new(move |h: handlers::Handlers| h.follow_storage(changes, resource, labels, wrap).boxed())
}

/// Publishes the cache's size every few seconds.
async fn report_cache_size(cache: Arc<Mutex<cache::Cache>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let sizes = cache.lock().unwrap_or_else(|p| p.into_inner()).sizes();
        metrics::global().cache_size(sizes);
    }
}

/// Runs the scheduler inside `ferrokube up` with its own kubeconfig: upstream's defaults,
/// leader election under an identity kept across restarts, no HTTPS port (tests run several
/// clusters side by side). Nobody awaits this task's result there, so a failure is logged.
pub async fn run_in_process(kubeconfig: std::path::PathBuf) {
    let opts = Options {
        config: None,
        kubeconfig: Some(kubeconfig),
        leader_elect: None,
        leader_elect_lease_duration: None,
        leader_elect_renew_deadline: None,
        leader_elect_retry_period: None,
        leader_elect_resource_lock: None,
        leader_elect_resource_name: None,
        leader_elect_resource_namespace: None,
        secure_port: 0,
        bind_address: std::net::IpAddr::from([127, 0, 0, 1]),
        tls_cert_file: None,
        tls_private_key_file: None,
        leader_elect_identity: Some(format!("{}_ferrokube-up", leaderelection::hostname())),
    };
    if let Err(e) = run(opts).await {
        tracing::error!("The scheduler stopped: {e}.");
    }
}
