//! kube-controller-manager: the control loops that move the cluster toward what its objects ask
//! for. Each controller lives in its own module (folder) and is an API client only, built on
//! kube-rs watchers and `Controller`s; [`manager`] lists them and starts the enabled ones, and
//! [`run`] is the process entry point (`ferrokube controller-manager`, or in `ferrokube up`
//! through [`run_in_process`]).
//!
//! Controllers so far:
//! - [`namespace`]: empties a namespace being deleted, then releases it to the apiserver;
//! - [`serviceaccount`]: keeps a `default` ServiceAccount in every active namespace;
//! - [`root_ca_cert_publisher`]: keeps the `kube-root-ca.crt` ConfigMap in every namespace;
//! - [`replicaset`]: keeps each ReplicaSet's (and ReplicationController's) pods at its
//!   replica count;
//! - [`deployment`]: rolls Deployments out through ReplicaSets;
//! - [`endpoint`]: keeps each selecting Service's Endpoints;
//! - [`endpointslice`]: keeps each selecting Service's EndpointSlices;
//! - [`endpointslicemirroring`]: mirrors hand-written Endpoints into EndpointSlices;
//! - [`resourcequota`]: keeps each ResourceQuota's usage current;
//! - [`podgc`]: deletes finished pods over a threshold and pods of nodes that are gone;
//! - [`disruption`]: keeps each PodDisruptionBudget's status (how many pods may be disrupted);
//! - [`podautoscaler`]: scales HorizontalPodAutoscalers' targets from their pods' metrics;
//! - [`garbagecollector`]: deletes what owner references say should go, in the background,
//!   in the foreground or not at all (orphaning).
//!
//! Controllers that watch the same resource share one watch and cache through [`informer`].

pub mod background;
pub mod bootstrap;
pub mod client;
pub mod clusterroleaggregation;
pub mod cronjob;
pub mod csrapproving;
pub mod csrcleaner;
pub mod csrsigning;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoint;
pub mod endpointslice;
pub mod endpointslicemirroring;
pub mod ephemeral;
pub mod events;
pub mod garbagecollector;
pub mod informer;
pub mod job;
pub mod leaderelection;
pub mod legacytokencleaner;
pub mod manager;
pub mod metrics;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod ownership;
pub mod podautoscaler;
pub mod podgc;
pub mod pods;
pub mod protection;
pub mod pvbinder;
pub mod pvcprotection;
pub mod pvprotection;
pub mod queue;
pub mod replicaset;
pub mod resourcequota;
pub mod revisions;
pub mod root_ca_cert_publisher;
pub mod scale;
pub mod selector;
pub mod server;
pub mod service_account_credentials;
pub mod serviceaccount;
pub mod statefulset;
pub mod tainteviction;
pub mod taints;
pub mod ttl;
pub mod ttlafterfinished;
pub mod workqueue;

use std::path::PathBuf;

/// kube-controller-manager's flags, under their upstream names.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Path to a kubeconfig file with the apiserver's address and credentials. Without it the
    /// in-cluster configuration (or the default kubeconfig) is used.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// A PEM-encoded CA bundle published in every namespace as the `kube-root-ca.crt`
    /// ConfigMap. Without it the CA the kubeconfig trusts is published.
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,
    /// A PEM-encoded private RSA or ECDSA key used to sign service account tokens (the token
    /// controller's legacy Secret tokens).
    #[arg(long)]
    pub service_account_private_key_file: Option<PathBuf>,
    /// Run each controller with the credentials of its own service account in kube-system
    /// (bound to its `system:controller:` role by the bootstrap RBAC policy).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub use_service_account_credentials: bool,
    /// A list of controllers to enable. '*' enables all on-by-default controllers, 'foo'
    /// enables the controller named 'foo', '-foo' disables the controller named 'foo'.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub controllers: Vec<String>,
    /// The number of namespace objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 10)]
    pub concurrent_namespace_syncs: u16,
    /// The number of replica sets that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_replicaset_syncs: u16,
    /// The number of replication controllers that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_rc_syncs: u16,
    /// The number of garbage collector workers that are allowed to sync concurrently.
    #[arg(long, default_value_t = 20)]
    pub concurrent_gc_syncs: u16,
    /// The number of deployment objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_deployment_syncs: u16,
    /// The number of endpoint syncing operations that will be done concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_endpoint_syncs: u16,
    /// Filename containing a PEM-encoded X509 CA certificate used to issue cluster-scoped
    /// certificates.
    #[arg(long)]
    pub cluster_signing_cert_file: Option<PathBuf>,
    /// Filename containing a PEM-encoded RSA or ECDSA private key used to sign cluster-scoped
    /// certificates.
    #[arg(long)]
    pub cluster_signing_key_file: Option<PathBuf>,
    /// The max length of duration signed certificates will be given.
    #[arg(long, default_value = "8760h0m0s", value_parser = parse_duration)]
    pub cluster_signing_duration: std::time::Duration,
    /// The number of daemonset objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 2)]
    pub concurrent_daemonset_syncs: u16,
    /// The number of statefulset objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_statefulset_syncs: u16,
    /// The number of job objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_job_syncs: u16,
    /// The number of cron job objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_cron_job_syncs: u16,
    /// The number of ttl-after-finished-controller workers that are allowed to sync
    /// concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_ttl_after_finished_syncs: u16,
    /// The number of service endpoint syncing operations that will be done concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_service_endpoint_syncs: u16,
    /// The maximum number of endpoints that will be added to an EndpointSlice.
    #[arg(long, default_value_t = 100)]
    pub max_endpoints_per_slice: u16,
    /// The number of service endpoint syncing operations done concurrently by the
    /// endpointslice-mirroring-controller.
    #[arg(long, default_value_t = 5)]
    pub mirroring_concurrent_service_endpoint_syncs: u16,
    /// The number of resource quotas that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_resource_quota_syncs: u16,
    /// The period for syncing quota usage status in the system (seconds, or a duration such as
    /// `5m0s`).
    #[arg(long, default_value = "5m0s", value_parser = parse_duration)]
    pub resource_quota_sync_period: std::time::Duration,
    /// The period of time since the last usage of a legacy service account token before it
    /// can be deleted.
    #[arg(long, default_value = "8760h0m0s", value_parser = parse_duration)]
    pub legacy_service_account_token_clean_up_period: std::time::Duration,
    /// Start a leader election client and gain leadership before executing the main loop.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: bool,
    /// The duration that non-leader candidates will wait after observing a leadership renewal
    /// until attempting to acquire leadership of a led but unrenewed leader slot.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub leader_elect_lease_duration: std::time::Duration,
    /// The interval between attempts by the acting master to renew a leadership slot before it
    /// stops leading.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub leader_elect_renew_deadline: std::time::Duration,
    /// The duration the clients should wait between attempting acquisition and renewal of a
    /// leadership.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub leader_elect_retry_period: std::time::Duration,
    /// The name of the resource object that is used for locking during leader election.
    #[arg(long, default_value = "kube-controller-manager")]
    pub leader_elect_resource_name: String,
    /// The namespace of the resource object that is used for locking during leader election.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,
    /// The port on which to serve HTTPS (`/healthz`, `/metrics`); 0 disables it.
    #[arg(long, default_value_t = 10257)]
    pub secure_port: u16,
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: std::net::IpAddr,
    /// File containing the default x509 certificate for HTTPS.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// Number of terminated pods that can exist before the terminated pod garbage collector
    /// starts deleting terminated pods. If <= 0, the terminated pod garbage collector is
    /// disabled.
    #[arg(long, default_value_t = 12500)]
    pub terminated_pod_gc_threshold: i64,
    /// The period for syncing the number of pods in horizontal pod autoscaler.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_sync_period: std::time::Duration,
    /// The period for which autoscaler will look backwards and not scale down below any
    /// recommendation it made during that period.
    #[arg(long, default_value = "5m0s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_downscale_stabilization: std::time::Duration,
    /// The minimum change (from 1.0) in the desired-to-actual metrics ratio for the horizontal
    /// pod autoscaler to consider scaling.
    #[arg(long, default_value_t = 0.1)]
    pub horizontal_pod_autoscaler_tolerance: f64,
    /// The period after pod start when CPU samples might be skipped.
    #[arg(long, default_value = "5m0s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_cpu_initialization_period: std::time::Duration,
    /// The period after pod start during which readiness changes will be treated as initial
    /// readiness.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_initial_readiness_delay: std::time::Duration,
    /// The number of horizontal pod autoscaler objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_horizontal_pod_autoscaler_syncs: u16,
    #[command(flatten)]
    pub nodes: NodeOptions,
    /// The candidate's identity; `<hostname>_<uuid>` when unset. `ferrokube up` keeps one
    /// across restarts, so a restarted cluster leads again at once instead of waiting for its
    /// previous lease to expire.
    #[arg(skip)]
    pub leader_elect_identity: Option<String>,
}

/// Parses a Go-style duration (`5m0s`, `30s`, `1h`) or plain seconds.
/// The flags of the node lifecycle and node IPAM controllers.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeOptions {
    /// The period for syncing NodeStatus in NodeController.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub node_monitor_period: std::time::Duration,
    /// Amount of time which we allow running Node to be unresponsive before marking it
    /// unhealthy.
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    pub node_monitor_grace_period: std::time::Duration,
    /// Amount of time which we allow starting Node to be unresponsive before marking it
    /// unhealthy.
    #[arg(long, default_value = "1m0s", value_parser = parse_duration)]
    pub node_startup_grace_period: std::time::Duration,
    /// Number of nodes per second on which pods are deleted in case of node failure when a
    /// zone is healthy.
    #[arg(long, default_value_t = 0.1)]
    pub node_eviction_rate: f32,
    /// Number of nodes per second on which pods are deleted in case of node failure when a
    /// zone is unhealthy.
    #[arg(long, default_value_t = 0.01)]
    pub secondary_node_eviction_rate: f32,
    /// Number of nodes from which we treat the cluster as large for the eviction logic.
    #[arg(long, default_value_t = 50)]
    pub large_cluster_size_threshold: u32,
    /// Fraction of Nodes in a zone which needs to be not Ready (minimum 3) for zone to be
    /// treated as unhealthy.
    #[arg(long, default_value_t = 0.55)]
    pub unhealthy_zone_threshold: f32,
    /// Should CIDRs for Pods be allocated and set on the cloud provider.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allocate_node_cidrs: bool,
    /// CIDR Range for Pods in cluster (one, or one per IP family, comma separated).
    #[arg(long, default_value = "")]
    pub cluster_cidr: String,
    /// Mask size for node cidr in cluster (single-stack clusters).
    #[arg(long, default_value_t = 0)]
    pub node_cidr_mask_size: u8,
    /// Mask size for IPv4 node cidr in dual-stack cluster. Default is 24.
    #[arg(long, default_value_t = 0)]
    pub node_cidr_mask_size_ipv4: u8,
    /// Mask size for IPv6 node cidr in dual-stack cluster. Default is 64.
    #[arg(long, default_value_t = 0)]
    pub node_cidr_mask_size_ipv6: u8,
    /// CIDR Range for Services in cluster (kept out of the pod CIDRs).
    #[arg(long, default_value = "")]
    pub service_cluster_ip_range: String,
}

impl Default for NodeOptions {
    fn default() -> Self {
        let defaults = nodelifecycle::Settings::default();
        Self {
            node_monitor_period: defaults.monitor_period,
            node_monitor_grace_period: defaults.monitor_grace,
            node_startup_grace_period: defaults.startup_grace,
            node_eviction_rate: defaults.eviction_rate,
            secondary_node_eviction_rate: defaults.secondary_eviction_rate,
            large_cluster_size_threshold: defaults.large_cluster_threshold as u32,
            unhealthy_zone_threshold: defaults.unhealthy_zone_threshold,
            allocate_node_cidrs: false,
            cluster_cidr: String::new(),
            node_cidr_mask_size: 0,
            node_cidr_mask_size_ipv4: 0,
            node_cidr_mask_size_ipv6: 0,
            service_cluster_ip_range: String::new(),
        }
    }
}

impl NodeOptions {
    fn lifecycle(&self) -> nodelifecycle::Settings {
        nodelifecycle::Settings {
            monitor_period: self.node_monitor_period,
            monitor_grace: self.node_monitor_grace_period,
            startup_grace: self.node_startup_grace_period,
            eviction_rate: self.node_eviction_rate,
            secondary_eviction_rate: self.secondary_node_eviction_rate,
            large_cluster_threshold: self.large_cluster_size_threshold as usize,
            unhealthy_zone_threshold: self.unhealthy_zone_threshold,
        }
    }

    fn ipam(&self) -> Result<nodeipam::Settings> {
        let cidrs = |flag: &'static str, value: &str| -> Result<Vec<ipnet::IpNet>> {
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse().map_err(|_| Error::Flag {
                        flag,
                        message: format!("{s:?} is not a CIDR"),
                    })
                })
                .collect()
        };
        let cluster_cidrs = cidrs("--cluster-cidr", &self.cluster_cidr)?;
        let single = self.node_cidr_mask_size;
        let v4 = cluster_cidrs
            .iter()
            .any(|c| matches!(c, ipnet::IpNet::V4(_)));
        let v6 = cluster_cidrs
            .iter()
            .any(|c| matches!(c, ipnet::IpNet::V6(_)));
        if single != 0 && v4 && v6 {
            return Err(Error::Flag {
                flag: "--node-cidr-mask-size",
                message: "usage of --node-cidr-mask-size is not allowed with dual-stack clusters"
                    .to_string(),
            });
        }
        let pick = |family: u8| if single != 0 { single } else { family };
        Ok(nodeipam::Settings {
            allocate: self.allocate_node_cidrs,
            cluster_cidrs,
            mask_v4: pick(self.node_cidr_mask_size_ipv4),
            mask_v6: pick(self.node_cidr_mask_size_ipv6),
            service_cidrs: cidrs("--service-cluster-ip-range", &self.service_cluster_ip_range)?,
        })
    }
}

fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        number.clear();
        total += value
            * match unit.as_str() {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return Err(format!("invalid duration {s:?}")),
            };
    }
    if !number.is_empty() {
        return Err(format!("missing unit in duration {s:?}"));
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// What `ferrokube up` hands the in-process controller manager.
#[derive(Debug, Clone)]
pub struct InProcessOptions {
    /// The controller manager's kubeconfig (its client certificate, the apiserver's address).
    pub kubeconfig: PathBuf,
    /// The cluster CA certificate (PEM), published as `kube-root-ca.crt`.
    pub root_ca_file: PathBuf,
    /// The key that signs legacy service account tokens.
    pub service_account_private_key_file: Option<PathBuf>,
    /// The cluster CA (certificate and key) that signs approved CertificateSigningRequests.
    pub cluster_signing_cert_file: Option<PathBuf>,
    pub cluster_signing_key_file: Option<PathBuf>,
    /// Where node pod CIDRs come from; none disables their allocation.
    pub cluster_cidr: Option<String>,
    /// The Service range, kept out of the pod CIDRs.
    pub service_cluster_ip_range: String,
}

/// Why the controller manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("loading the service account key: {0}")]
    ServiceAccountKey(#[source] apimachinery::keys::Error),
    /// A flag's value is unusable.
    #[error("invalid {flag}: {message}")]
    Flag { flag: &'static str, message: String },
    /// `--controllers` names a controller that does not exist.
    #[error("{0:?} is not in the list of known controllers")]
    UnknownController(String),
    /// The kubeconfig could not be read or used.
    #[error("loading the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No kubeconfig was given and none could be inferred.
    #[error("finding the apiserver (no --kubeconfig given): {0}")]
    InferConfig(#[source] kube::config::InferConfigError),
    /// A client could not be built from the configuration.
    #[error("building the API client: {0}")]
    Client(#[source] kube::Error),
    /// The HTTPS endpoint could not start.
    #[error("serving /healthz and /metrics: {0}")]
    Serve(#[from] server::Error),
    /// Another instance took the lease; the process stops so it can start over cleanly.
    #[error("leaderelection lost")]
    LeaderElectionLost,
    /// A file named by a flag could not be read.
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs the enabled controllers until every one of them has stopped (they only stop when the
/// process does).
pub async fn run(opts: Options) -> Result<()> {
    let enabled = manager::enabled(&opts.controllers)?;
    let config = client::load_config(opts.kubeconfig.as_deref()).await?;
    let root_ca = match &opts.root_ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?),
        None => client::root_ca(opts.kubeconfig.as_deref(), &config)?,
    };
    let service_account_key = match &opts.service_account_private_key_file {
        Some(path) => Some(std::sync::Arc::new(
            apimachinery::keys::SigningKey::load(path).map_err(Error::ServiceAccountKey)?,
        )),
        None => None,
    };
    let settings = manager::Settings {
        root_ca,
        service_account_key,
        concurrent_namespace_syncs: opts.concurrent_namespace_syncs.max(1),
        concurrent_replicaset_syncs: opts.concurrent_replicaset_syncs.max(1),
        concurrent_rc_syncs: opts.concurrent_rc_syncs.max(1),
        concurrent_gc_syncs: opts.concurrent_gc_syncs.max(1),
        concurrent_deployment_syncs: opts.concurrent_deployment_syncs.max(1),
        concurrent_endpoint_syncs: opts.concurrent_endpoint_syncs.max(1),
        concurrent_daemonset_syncs: opts.concurrent_daemonset_syncs.max(1),
        concurrent_statefulset_syncs: opts.concurrent_statefulset_syncs.max(1),
        concurrent_job_syncs: opts.concurrent_job_syncs.max(1),
        concurrent_cron_job_syncs: opts.concurrent_cron_job_syncs.max(1),
        concurrent_ttl_after_finished_syncs: opts.concurrent_ttl_after_finished_syncs.max(1),
        concurrent_service_endpoint_syncs: opts.concurrent_service_endpoint_syncs.max(1),
        max_endpoints_per_slice: opts.max_endpoints_per_slice.clamp(1, 1000),
        mirroring_syncs: opts.mirroring_concurrent_service_endpoint_syncs.max(1),
        concurrent_resource_quota_syncs: opts.concurrent_resource_quota_syncs.max(1),
        terminated_pod_gc_threshold: usize::try_from(opts.terminated_pod_gc_threshold.max(0))
            .unwrap_or(0),
        resource_quota_sync_period: opts.resource_quota_sync_period,
        legacy_token_clean_up_period: opts.legacy_service_account_token_clean_up_period,
        csr_signing: csrsigning::Settings {
            cert_file: opts.cluster_signing_cert_file.clone(),
            key_file: opts.cluster_signing_key_file.clone(),
            duration: opts.cluster_signing_duration,
        },
        node_lifecycle: opts.nodes.lifecycle(),
        node_ipam: opts.nodes.ipam()?,
        horizontal_pod_autoscaling: podautoscaler::Settings {
            sync_period: opts.horizontal_pod_autoscaler_sync_period,
            downscale_stabilization: opts.horizontal_pod_autoscaler_downscale_stabilization,
            tolerance: opts.horizontal_pod_autoscaler_tolerance,
            cpu_initialization_period: opts.horizontal_pod_autoscaler_cpu_initialization_period,
            initial_readiness_delay: opts.horizontal_pod_autoscaler_initial_readiness_delay,
            workers: opts.concurrent_horizontal_pod_autoscaler_syncs.max(1),
        },
    };
    if opts.secure_port != 0 {
        let addr = std::net::SocketAddr::new(opts.bind_address, opts.secure_port);
        let (cert, key) = (
            opts.tls_cert_file.clone(),
            opts.tls_private_key_file.clone(),
        );
        // Bind now, so a port in use is reported before anything runs.
        let listener_check = std::net::TcpListener::bind(addr)
            .map_err(|source| server::Error::Listen { addr, source })?;
        drop(listener_check);
        tokio::spawn(async move {
            if let Err(e) = server::serve(addr, cert.as_deref(), key.as_deref()).await {
                tracing::error!("The controller manager's HTTPS endpoint stopped: {e}.");
            }
        });
    }
    if !opts.leader_elect {
        return manager::run(
            &config,
            &settings,
            &enabled,
            opts.use_service_account_credentials,
        )
        .await;
    }
    let defaults = leaderelection::Config::new(&opts.leader_elect_resource_name);
    let election = leaderelection::Config {
        identity: opts
            .leader_elect_identity
            .clone()
            .unwrap_or(defaults.identity.clone()),
        namespace: opts.leader_elect_resource_namespace.clone(),
        name: opts.leader_elect_resource_name.clone(),
        lease_duration: opts.leader_elect_lease_duration,
        renew_deadline: opts.leader_elect_renew_deadline,
        retry_period: opts.leader_elect_retry_period,
    };
    let lease = election.name.clone();
    let elector = leaderelection::Elector::new(
        client::for_controller(&config, "leader-election")?,
        election,
    );
    metrics::global().leading(&lease, false);
    elector.acquire().await;
    metrics::global().leading(&lease, true);
    tokio::select! {
        result = manager::run(&config, &settings, &enabled, opts.use_service_account_credentials) => result,
        _ = elector.keep() => {
            metrics::global().leading(&lease, false);
            Err(Error::LeaderElectionLost)
        }
    }
}

/// Runs every on-by-default controller inside `ferrokube up`. Nobody awaits this task's
/// result there, so a failure to start is logged here.
pub async fn run_in_process(opts: InProcessOptions) -> Result<()> {
    let options = Options {
        kubeconfig: Some(opts.kubeconfig),
        root_ca_file: Some(opts.root_ca_file),
        service_account_private_key_file: opts.service_account_private_key_file.clone(),
        // As kubeadm runs it: the defaults and the bootstrap token controllers, each under its
        // own service account.
        controllers: ["*", "bootstrapsigner", "tokencleaner"]
            .map(String::from)
            .to_vec(),
        use_service_account_credentials: true,
        concurrent_namespace_syncs: 10,
        concurrent_replicaset_syncs: 5,
        concurrent_rc_syncs: 5,
        concurrent_gc_syncs: 20,
        concurrent_deployment_syncs: 5,
        concurrent_endpoint_syncs: 5,
        cluster_signing_cert_file: opts.cluster_signing_cert_file.clone(),
        cluster_signing_key_file: opts.cluster_signing_key_file.clone(),
        cluster_signing_duration: csrsigning::Settings::default().duration,
        concurrent_daemonset_syncs: 2,
        concurrent_statefulset_syncs: 5,
        concurrent_job_syncs: 5,
        concurrent_cron_job_syncs: 5,
        concurrent_ttl_after_finished_syncs: 5,
        concurrent_service_endpoint_syncs: 5,
        max_endpoints_per_slice: 100,
        mirroring_concurrent_service_endpoint_syncs: 5,
        concurrent_resource_quota_syncs: 5,
        resource_quota_sync_period: std::time::Duration::from_secs(300),
        legacy_service_account_token_clean_up_period: std::time::Duration::from_secs(
            365 * 24 * 3600,
        ),
        terminated_pod_gc_threshold: podgc::DEFAULT_THRESHOLD as i64,
        horizontal_pod_autoscaler_sync_period: podautoscaler::Settings::default().sync_period,
        horizontal_pod_autoscaler_downscale_stabilization: podautoscaler::Settings::default()
            .downscale_stabilization,
        horizontal_pod_autoscaler_tolerance: podautoscaler::Settings::default().tolerance,
        horizontal_pod_autoscaler_cpu_initialization_period: podautoscaler::Settings::default()
            .cpu_initialization_period,
        horizontal_pod_autoscaler_initial_readiness_delay: podautoscaler::Settings::default()
            .initial_readiness_delay,
        concurrent_horizontal_pod_autoscaler_syncs: podautoscaler::Settings::default().workers,
        nodes: NodeOptions {
            allocate_node_cidrs: opts.cluster_cidr.is_some(),
            cluster_cidr: opts.cluster_cidr.clone().unwrap_or_default(),
            service_cluster_ip_range: opts.service_cluster_ip_range.clone(),
            ..NodeOptions::default()
        },
        leader_elect: true,
        leader_elect_lease_duration: leaderelection::LEASE_DURATION,
        leader_elect_renew_deadline: leaderelection::RENEW_DEADLINE,
        leader_elect_retry_period: leaderelection::RETRY_PERIOD,
        leader_elect_resource_name: "kube-controller-manager".to_string(),
        leader_elect_resource_namespace: "kube-system".to_string(),
        // Tests run several clusters side by side; a fixed port would collide.
        secure_port: 0,
        bind_address: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        tls_cert_file: None,
        tls_private_key_file: None,
        leader_elect_identity: Some(format!("{}_ferrokube-up", leaderelection::hostname())),
    };
    loop {
        match run(options.clone()).await {
            // A standalone manager exits and is restarted by its supervisor; inside `up`, the
            // controllers (and their informers) stop and the manager stands for election again.
            Err(Error::LeaderElectionLost) => {
                tracing::warn!(
                    "The controller manager lost its lease; standing for election again."
                );
            }
            Err(e) => {
                tracing::error!("The controller manager could not start: {e}.");
                return Err(e);
            }
            Ok(()) => return Ok(()),
        }
    }
}
