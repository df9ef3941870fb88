//! Simulated nodes: what kwok does, so the control plane can be measured at scale on one machine.
//!
//! One process plays the kubelets of N nodes through the API alone (no containers, no CRI):
//!
//! - [`nodes`] registers each Node with a kubelet's labels, capacity and Ready status, and
//!   reports the status again every `--node-status-report-frequency` (5 min, the kubelet's
//!   `nodeStatusReportFrequency`) when nothing changed, as the kubelet does;
//! - [`lease`] renews each node's Lease in `kube-node-lease` every quarter of
//!   `--node-lease-duration-seconds` (10 s of 40 s, as the kubelet does);
//! - [`pods`] turns the pods bound to a simulated node Running and Ready through the status
//!   subresource, and finishes pods being deleted (delete with grace period 0 and a uid
//!   precondition, as the kubelet does once a pod's containers stopped);
//! - [`ipam`] hands out the fake node and pod addresses.
//!
//! It is built for thousands of nodes: one shared client, each node's renewals offset by
//! `i * period / N` so they spread evenly over the period, a bound on requests in flight, and one
//! watch of bound pods filtered locally instead of a watch per node.
//!
//! ```no_run
//! # async fn example() -> Result<(), kubelet::simulated::Error> {
//! let options = kubelet::simulated::Options::new(Some("admin.kubeconfig".into()), 3);
//! kubelet::simulated::run(options, std::future::pending()).await
//! # }
//! ```

pub mod ipam;
pub mod lease;
pub mod nodes;
pub mod pods;

use apimachinery::quantity::Quantity as ParsedQuantity;
use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The version simulated nodes report as `nodeInfo.kubeletVersion`, matching the apiserver's
/// `gitVersion`.
pub const KUBELET_VERSION: &str = concat!("v1.33.0+ferrokube-", env!("CARGO_PKG_VERSION"));

/// The `nodeInfo.containerRuntimeVersion` of simulated nodes (`<runtime>://<version>`, as CRI
/// runtimes report it); container IDs use the same scheme.
pub const RUNTIME_VERSION: &str = concat!("simulated://", env!("CARGO_PKG_VERSION"));

/// The label every simulated node carries (`type=simulated`), as kwok's nodes carry `type=kwok`.
pub const TYPE_LABEL: (&str, &str) = ("type", "simulated");

/// Flags of `ferrokube simulate-nodes`.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Path to a kubeconfig file with the apiserver's address and credentials. Without it the
    /// in-cluster configuration (or the default kubeconfig) is used.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// How many nodes to simulate (the same as `--nodes`).
    #[arg(
        value_name = "N",
        conflicts_with = "nodes",
        required_unless_present = "nodes"
    )]
    pub count: Option<u32>,
    /// How many nodes to simulate.
    #[arg(long, value_name = "N")]
    pub nodes: Option<u32>,
    /// Nodes are named `<prefix>-0`, `<prefix>-1`, ...
    #[arg(long, default_value = "sim")]
    pub node_name_prefix: String,
    /// Each node's CPU capacity (and allocatable).
    #[arg(long, default_value = "32")]
    pub cpu: String,
    /// Each node's memory capacity (and allocatable).
    #[arg(long, default_value = "256Gi")]
    pub memory: String,
    /// Each node's ephemeral-storage capacity (and allocatable).
    #[arg(long, default_value = "1Ti")]
    pub ephemeral_storage: String,
    /// How many pods each node takes (its `pods` capacity), as the kubelet's `--max-pods`.
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// The range node InternalIPs are taken from (fake; nothing is routed).
    #[arg(long, default_value = "10.250.0.0/16")]
    pub node_ip_range: String,
    /// The range pod IPs are taken from, a /24 per node, while a node has no `spec.podCIDR`.
    #[arg(long, default_value = "10.128.0.0/10")]
    pub pod_ip_range: String,
    /// The duration of node Leases; they are renewed every quarter of it, as the kubelet does.
    #[arg(long, default_value_t = 40)]
    pub node_lease_duration_seconds: u32,
    /// How often a node's status is reported when nothing changed (the kubelet's
    /// `nodeStatusReportFrequency`), e.g. `5m`, `30s`.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub node_status_report_frequency: Duration,
    /// The most requests in flight for node registration, Leases and node status, and again for
    /// pods.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

impl Options {
    /// The defaults of the command line, simulating `nodes` nodes.
    pub fn new(kubeconfig: Option<PathBuf>, nodes: u32) -> Self {
        Self {
            kubeconfig,
            count: None,
            nodes: Some(nodes),
            node_name_prefix: "sim".to_string(),
            cpu: "32".to_string(),
            memory: "256Gi".to_string(),
            ephemeral_storage: "1Ti".to_string(),
            max_pods: 110,
            node_ip_range: "10.250.0.0/16".to_string(),
            pod_ip_range: "10.128.0.0/10".to_string(),
            node_lease_duration_seconds: 40,
            node_status_report_frequency: Duration::from_secs(300),
            concurrency: 32,
        }
    }
}

/// Parses `90s`, `5m`, `1h`, `1h30m` or plain seconds.
fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {c:?}")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: a number must precede {c:?}"))?;
        total += n * unit;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(format!("invalid duration {s:?}: use e.g. 30s, 5m or 1h"));
    }
    Ok(Duration::from_secs(total))
}

/// What can go wrong simulating nodes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither `N` nor `--nodes` was given.
    #[error("say how many nodes to simulate: ferrokube simulate-nodes --nodes N")]
    NoNodeCount,
    /// A flag's value is not usable.
    #[error("invalid --{flag} {value:?}: {reason}")]
    InvalidOption {
        flag: &'static str,
        value: String,
        reason: String,
    },
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
    /// The client could not be built from the configuration.
    #[error("building the API client: {0}")]
    Client(#[source] kube::Error),
    /// A request to the apiserver failed.
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a request's error with what was being done.
    pub(crate) fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Api { what, source }
    }

    /// The HTTP code of the `Status` the apiserver answered with, if it answered with one.
    pub(crate) fn code(&self) -> Option<u16> {
        match self {
            Error::Api {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }
}

/// The options, checked and parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub prefix: String,
    pub count: u32,
    /// `cpu`, `memory`, `ephemeral-storage` and `pods`, canonical.
    pub capacity: BTreeMap<String, Quantity>,
    pub node_ip_range: Ipv4Net,
    pub pod_ip_range: Ipv4Net,
    pub lease_duration_seconds: i32,
    pub renew_interval: Duration,
    pub status_report_frequency: Duration,
    pub concurrency: usize,
}

impl Settings {
    pub fn from_options(o: &Options) -> Result<Self> {
        let count = o.nodes.or(o.count).ok_or(Error::NoNodeCount)?;
        let quantity = |flag: &'static str, value: &str| {
            ParsedQuantity::parse(value)
                .map_err(|reason| Error::InvalidOption {
                    flag,
                    value: value.to_string(),
                    reason: reason.to_string(),
                })
                .map(|q| Quantity(q.canonical()))
        };
        let capacity = BTreeMap::from([
            ("cpu".to_string(), quantity("cpu", &o.cpu)?),
            ("memory".to_string(), quantity("memory", &o.memory)?),
            (
                "ephemeral-storage".to_string(),
                quantity("ephemeral-storage", &o.ephemeral_storage)?,
            ),
            ("pods".to_string(), Quantity(o.max_pods.to_string())),
        ]);
        let range = |flag: &'static str, value: &str| {
            value
                .parse::<Ipv4Net>()
                .map(|n| n.trunc())
                .map_err(|e| Error::InvalidOption {
                    flag,
                    value: value.to_string(),
                    reason: format!("{e} (an IPv4 CIDR such as 10.250.0.0/16)"),
                })
        };
        if o.node_lease_duration_seconds == 0 {
            return Err(Error::InvalidOption {
                flag: "node-lease-duration-seconds",
                value: "0".to_string(),
                reason: "must be positive".to_string(),
            });
        }
        let lease_duration = o.node_lease_duration_seconds.min(i32::MAX as u32);
        Ok(Self {
            prefix: o.node_name_prefix.clone(),
            count,
            capacity,
            node_ip_range: range("node-ip-range", &o.node_ip_range)?,
            pod_ip_range: range("pod-ip-range", &o.pod_ip_range)?,
            lease_duration_seconds: lease_duration as i32,
            // The kubelet renews at a quarter of the duration (nodelease.renewIntervalFraction).
            renew_interval: Duration::from_millis(u64::from(lease_duration) * 250),
            status_report_frequency: o.node_status_report_frequency,
            concurrency: o.concurrency.max(1),
        })
    }

    /// The name of node `index`.
    pub fn node_name(&self, index: u32) -> String {
        format!("{}-{index}", self.prefix)
    }
}

/// One simulated node as the simulator tracks it.
#[derive(Debug)]
pub struct SimNode {
    pub name: String,
    pub index: u32,
    pub ip: Ipv4Addr,
    /// Where pod IPs come from while the node has no `spec.podCIDR`.
    pub fallback_pod_cidr: Ipv4Net,
    state: Mutex<NodeState>,
}

/// What changes about a node while it runs.
#[derive(Debug, Default)]
pub struct NodeState {
    /// The Node's uid once registered (the Lease's owner).
    pub uid: Option<String>,
    /// `spec.podCIDR`, once the node IPAM controller set it.
    pub pod_cidr: Option<Ipv4Net>,
    /// The Node's conditions as last seen or written.
    pub conditions: Vec<k8s_openapi::api::core::v1::NodeCondition>,
    /// The Node was deleted: stop simulating it.
    pub deleted: bool,
    pub pod_ips: ipam::PodIps,
}

impl SimNode {
    /// Node `index` of `settings`, with its addresses.
    pub fn new(settings: &Settings, index: u32) -> Self {
        Self {
            name: settings.node_name(index),
            index,
            ip: ipam::node_ip(settings.node_ip_range, index),
            fallback_pod_cidr: ipam::fallback_pod_cidr(settings.pod_ip_range, index),
            state: Mutex::new(NodeState::default()),
        }
    }

    /// The node's state; held only for bookkeeping, never across an await.
    pub fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Shared by every task of the simulator.
pub struct Simulator {
    pub client: kube::Client,
    pub settings: Settings,
    pub nodes: HashMap<String, Arc<SimNode>>,
    /// Bounds node registration, Lease renewals and status reports in flight.
    pub node_requests: Semaphore,
    registered: AtomicUsize,
}

impl Simulator {
    pub fn new(client: kube::Client, settings: Settings) -> Self {
        let nodes = (0..settings.count)
            .map(|index| {
                let node = SimNode::new(&settings, index);
                (node.name.clone(), Arc::new(node))
            })
            .collect();
        Self {
            client,
            node_requests: Semaphore::new(settings.concurrency),
            settings,
            nodes,
            registered: AtomicUsize::new(0),
        }
    }

    /// Counts a registration; says so once every node is registered.
    pub(crate) fn registered_one(&self) {
        let n = self.registered.fetch_add(1, Ordering::Relaxed) + 1;
        if n == self.nodes.len() {
            tracing::info!(nodes = n, "All {n} simulated nodes are registered.");
        }
    }
}

/// The client configuration from `kubeconfig`, or inferred when none is given.
async fn load_config(kubeconfig: Option<&std::path::Path>) -> Result<kube::Config> {
    match kubeconfig {
        Some(path) => {
            let wrap = |source| Error::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kc = Kubeconfig::read_from(path).map_err(wrap)?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(wrap)
        }
        None => kube::Config::infer().await.map_err(Error::InferConfig),
    }
}

/// A client whose User-Agent names the simulator, so the apiserver's field managers and logs
/// tell it apart from a real kubelet.
fn client(mut config: kube::Config) -> Result<kube::Client> {
    let agent = format!(
        "ferrokube-node-simulator/{KUBELET_VERSION} ({}/{}) kubernetes/ferrokube",
        std::env::consts::OS,
        nodes::arch()
    );
    config
        .headers
        .retain(|(name, _)| name != http::header::USER_AGENT);
    if let Ok(value) = agent.parse() {
        config.headers.push((http::header::USER_AGENT, value));
    }
    kube::Client::try_from(config).map_err(Error::Client)
}

/// Simulates the nodes until `shutdown` completes. Nodes are left registered on exit, as a
/// stopped kubelet leaves its Node (the node lifecycle controller then marks them Unknown).
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<()> {
    let settings = Settings::from_options(&options)?;
    let config = load_config(options.kubeconfig.as_deref()).await?;
    let sim = Arc::new(Simulator::new(client(config)?, settings));
    tracing::info!(
        nodes = sim.settings.count,
        prefix = %sim.settings.prefix,
        "Simulating {} nodes named {}-0 onwards.",
        sim.settings.count,
        sim.settings.prefix
    );
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(nodes::watch(sim.clone()));
    tasks.spawn(pods::watch(sim.clone()));
    let count = sim.nodes.len().max(1) as u32;
    let mut ordered: Vec<_> = sim.nodes.values().cloned().collect();
    ordered.sort_by_key(|n| n.index);
    for node in ordered {
        // Spread each node's renewals over the period: node i renews at i/N of it.
        let offset = sim.settings.renew_interval * node.index / count;
        tasks.spawn(nodes::run_node(sim.clone(), node, offset));
    }
    shutdown.await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// `len` hex digits derived from `parts` (FNV-1a with a different seed per 16 digits): stable
/// identifiers such as container IDs and machine IDs.
pub(crate) fn stable_hex(parts: &[&str], len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut seed = 0u64;
    while out.len() < len {
        seed += 1;
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
        for part in parts {
            for b in part.bytes().chain([0]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100_0000_01b3);
            }
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(len);
    out
}

/// The events of a watcher stream, logging errors and carrying on (the watcher backs off and
/// re-lists by itself).
pub(crate) fn ok_events<K, S>(
    what: &'static str,
    stream: S,
) -> impl futures::Stream<Item = kube::runtime::watcher::Event<K>>
where
    S: futures::Stream<
            Item = Result<kube::runtime::watcher::Event<K>, kube::runtime::watcher::Error>,
        >,
{
    stream.filter_map(move |event| async move {
        match event {
            Ok(event) => Some(event),
            Err(e) => {
                tracing::warn!(error = %e, "Watching {what} failed; retrying.");
                None
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("10s5").is_err());
    }

    #[test]
    fn settings_from_the_defaults() {
        let s = Settings::from_options(&Options::new(None, 3)).unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.node_name(2), "sim-2");
        assert_eq!(s.renew_interval, Duration::from_secs(10));
        assert_eq!(s.lease_duration_seconds, 40);
        assert_eq!(s.capacity["cpu"].0, "32");
        assert_eq!(s.capacity["memory"].0, "256Gi");
        assert_eq!(s.capacity["pods"].0, "110");
        assert_eq!(s.capacity["ephemeral-storage"].0, "1Ti");
    }

    #[test]
    fn settings_refuse_bad_values() {
        let mut o = Options::new(None, 1);
        o.memory = "lots".into();
        let e = Settings::from_options(&o).unwrap_err().to_string();
        assert!(e.starts_with("invalid --memory \"lots\""), "{e}");
        let mut o = Options::new(None, 1);
        o.node_ip_range = "10.0.0.0".into();
        assert!(Settings::from_options(&o).is_err());
        let mut o = Options::new(None, 1);
        o.nodes = None;
        assert!(matches!(
            Settings::from_options(&o),
            Err(Error::NoNodeCount)
        ));
        o.count = Some(4);
        assert_eq!(Settings::from_options(&o).unwrap().count, 4);
    }
}
