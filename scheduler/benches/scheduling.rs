//! The scheduler benchmark, after upstream's scheduler_perf: a fresh etcd and `ferrokube
//! apiserver` (no controller manager: nothing else writes pods), `BENCH_NODES` simulated nodes
//! (default 5,000: Node objects registered through the API without kubelets, as scheduler_perf
//! does, with its default node template: 4 CPUs, 32Gi, 110 pods, Ready, no taints; spread over
//! `BENCH_ZONES` zones, half of each zone labelled for the node-affinity shape), then
//! - **the floor**: `BENCH_PODS` pods bound through `pods/binding` by a trivial round-robin
//!   binder in this process, at each concurrency of `BENCH_FLOOR_CONCURRENCY` (default
//!   16,64,256): the fastest a scheduler can bind on this apiserver;
//! - the shapes, each in its own namespace with its pods created up front (pause-like, requests
//!   100m / 100Mi like scheduler_perf's pod template), then `ferrokube scheduler` started as a
//!   child process and timed from its start until every pod has `spec.nodeName` (counted from a
//!   watch); the scheduler stops and the pods are deleted before the next shape:
//!   - `basic` (SchedulingBasic): `BENCH_PODS` plain pods;
//!   - `node-affinity`: `BENCH_PODS` pods requiring the label half the nodes carry;
//!   - `pod-anti-affinity` (SchedulingPodAntiAffinity): `BENCH_ANTI_PODS` pods (1,000) in groups
//!     of `BENCH_ANTI_GROUP` (default: as many as fit, at most one per node), each with required
//!     anti-affinity on `kubernetes.io/hostname` against its own group;
//!   - `topology-spread`: `BENCH_SPREAD_PODS` pods (default `BENCH_PODS`) with a
//!     `DoNotSchedule` zone constraint of maxSkew 1 over their own label.
//!
//! Reported per shape: pods/s from the scheduler's start (its informers' initial lists
//! included) and the ratio to the fastest floor, the time to the first binding and the rate
//! from the first binding to the last, the scheduler's CPU and peak RSS, and the apiserver's and
//! etcd's CPU for scale. `BENCH_SHAPES` (comma-separated) runs some shapes only,
//! `BENCH_TIMEOUT` (seconds, default 900) bounds each shape (a shape that times out is
//! reported with the pods it bound), `BENCH_PERF_DIR` records each shape's scheduler with
//! `perf record` (DWARF call graphs, `BENCH_PERF_FREQ` samples/s, default 99) into that
//! directory, `BENCH_PERF_APISERVER` (with it) also the apiserver during each floor round and
//! shape, and `BENCH_KEEP_DIR` keeps the temporary directory (the schedulers' logs). Run with `./hack/bench-scheduler.sh` (builds the
//! release binary first). Prints a markdown table for docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness fails loudly, like a test

use benchkit::{Proc, client, cpu_seconds, env_or, start_apiserver, start_etcd, status_mib};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Carried by half the nodes of each zone; the node-affinity shape's pods require it.
const AFFINITY_LABEL: &str = "bench.ferrokube.io/affinity";

/// scheduler_perf's default node template (4 CPUs, 32Gi, 110 pods), Ready, no taints.
fn node(i: usize, zones: usize) -> Node {
    let name = format!("node-{i}");
    let mut labels = json!({HOSTNAME_LABEL: name, ZONE_LABEL: format!("zone-{}", i % zones)});
    if (i / zones).is_multiple_of(2) {
        labels[AFFINITY_LABEL] = json!("true");
    }
    let resources = json!({"cpu": "4", "memory": "32Gi", "pods": "110"});
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "simulated node", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                "lastTransitionTime": "2026-01-01T00:00:00Z"
            }],
            "phase": "Running"
        }
    }))
    .unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Basic,
    NodeAffinity,
    PodAntiAffinity { group: usize },
    TopologySpread,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Basic => "basic",
            Shape::NodeAffinity => "node-affinity",
            Shape::PodAntiAffinity { .. } => "pod-anti-affinity",
            Shape::TopologySpread => "topology-spread",
        }
    }
}

/// scheduler_perf's pause pod (requests 100m / 100Mi), plus what `shape` adds.
fn pod(shape: Shape, i: usize) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("p-{i}"), "labels": {"app": "bench"}},
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "pause",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {
                    "requests": {"cpu": "100m", "memory": "100Mi"},
                    "limits": {"cpu": "100m", "memory": "100Mi"}
                }
            }]
        }
    });
    match shape {
        Shape::Basic => {}
        Shape::NodeAffinity => {
            pod["spec"]["affinity"] = json!({"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                    "matchExpressions": [{"key": AFFINITY_LABEL, "operator": "In", "values": ["true"]}]
                }]}
            }});
        }
        Shape::PodAntiAffinity { group } => {
            let group = format!("g{}", i / group);
            pod["metadata"]["labels"]["group"] = json!(group);
            pod["spec"]["affinity"] = json!({"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchLabels": {"group": group}},
                    "topologyKey": HOSTNAME_LABEL
                }]
            }});
        }
        Shape::TopologySpread => {
            pod["spec"]["topologySpreadConstraints"] = json!([{
                "maxSkew": 1,
                "topologyKey": ZONE_LABEL,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "bench"}}
            }]);
        }
    }
    serde_json::from_value(pod).unwrap()
}

async fn create_namespace(client: &kube::Client, name: &str) {
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
}

async fn create_pods(client: &kube::Client, namespace: &str, shape: Shape, n: usize) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(0..n)
        .for_each_concurrent(64, |i| {
            let pods = pods.clone();
            async move {
                pods.create(&PostParams::default(), &pod(shape, i))
                    .await
                    .unwrap();
            }
        })
        .await;
}

/// Deletes every pod of `namespace` at once (grace period 0: there is no kubelet to confirm)
/// and waits until they are gone.
async fn delete_pods(client: &kube::Client, namespace: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    pods.delete_collection(&now, &ListParams::default())
        .await
        .unwrap();
    while !pods
        .list(&ListParams::default().limit(1))
        .await
        .unwrap()
        .items
        .is_empty()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One floor setting's figures.
struct Floor {
    concurrency: usize,
    binds_per_second: f64,
    /// The apiserver's and etcd's CPU per bind, in µs.
    server_cpu_per_bind: f64,
}

/// Binds `n` pending pods round-robin over `nodes` nodes, `concurrency` at a time.
async fn floor(cluster: &Cluster, n: usize, nodes: usize, concurrency: usize) -> Floor {
    let client = &cluster.client;
    let namespace = format!("floor-{concurrency}");
    create_namespace(client, &namespace).await;
    create_pods(client, &namespace, Shape::Basic, n).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let servers = || cpu_seconds(cluster.apiserver) + cpu_seconds(cluster.etcd);
    let before = servers();
    let started = Instant::now();
    let perf = cluster.record(&namespace, None);
    futures::stream::iter(0..n)
        .for_each_concurrent(concurrency, |i| {
            let pods = pods.clone();
            async move {
                let binding = json!({
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": format!("p-{i}")},
                    "target": {"kind": "Node", "name": format!("node-{}", i % nodes)}
                });
                let _: Value = pods
                    .create_subresource(
                        "binding",
                        &format!("p-{i}"),
                        &PostParams::default(),
                        &binding,
                    )
                    .await
                    .unwrap();
            }
        })
        .await;
    let result = Floor {
        concurrency,
        binds_per_second: n as f64 / started.elapsed().as_secs_f64(),
        server_cpu_per_bind: (servers() - before) / n as f64 * 1e6,
    };
    drop(perf);
    delete_pods(client, &namespace).await;
    result
}

struct ShapeResult {
    shape: Shape,
    pods: usize,
    bound: usize,
    /// Scheduler start to the last binding seen (or the deadline).
    elapsed: Duration,
    first_bound: Option<Duration>,
    last_bound: Option<Duration>,
    scheduler_cpu: f64,
    apiserver_cpu: f64,
    etcd_cpu: f64,
    peak_rss: f64,
}

struct Cluster {
    binary: String,
    dir: PathBuf,
    kubeconfig: PathBuf,
    client: kube::Client,
    apiserver: u32,
    etcd: u32,
    timeout: Duration,
    perf_dir: Option<PathBuf>,
}

/// `perf record` of one process and, with `BENCH_PERF_APISERVER`, of the apiserver
/// beside it; stopped with SIGINT (perf writes its data then) when dropped.
struct Recording(Vec<Child>);

impl Drop for Recording {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    /// Records `pid` as `<name>.perf.data` (and the apiserver as
    /// `<name>.apiserver.perf.data`) when `BENCH_PERF_DIR` is set.
    fn record(&self, name: &str, pid: Option<u32>) -> Option<Recording> {
        let dir = self.perf_dir.as_ref()?;
        let mut targets: Vec<(u32, String)> = pid
            .map(|p| (p, format!("{name}.perf.data")))
            .into_iter()
            .collect();
        if std::env::var_os("BENCH_PERF_APISERVER").is_some() {
            targets.push((self.apiserver, format!("{name}.apiserver.perf.data")));
        }
        let freq = std::env::var("BENCH_PERF_FREQ").unwrap_or_else(|_| "99".to_string());
        let children = targets
            .into_iter()
            .map(|(pid, file)| {
                Command::new("perf")
                    // DWARF call graphs: the release build keeps debug info, not frame
                    // pointers.
                    .args(["record", "-F", &freq, "--call-graph=dwarf,16384", "-p"])
                    .arg(pid.to_string())
                    .arg("-o")
                    .arg(dir.join(file))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("perf on PATH")
            })
            .collect();
        Some(Recording(children))
    }
}

/// Creates the shape's pods, starts a scheduler and times it until every pod is bound.
async fn run_shape(cluster: &Cluster, shape: Shape, n: usize) -> ShapeResult {
    let namespace = shape.name();
    create_namespace(&cluster.client, namespace).await;
    create_pods(&cluster.client, namespace, shape, n).await;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let mut events = watcher(pods, watcher::Config::default()).boxed();
    // The initial list first, so that the clock starts with the scheduler.
    while !matches!(
        events.try_next().await.unwrap(),
        Some(watcher::Event::InitDone)
    ) {}

    let log = cluster.dir.join(format!("scheduler-{namespace}.log"));
    let (api_before, etcd_before) = (cpu_seconds(cluster.apiserver), cpu_seconds(cluster.etcd));
    let started = Instant::now();
    let scheduler = Proc(
        Command::new(&cluster.binary)
            .arg("scheduler")
            .arg(format!("--kubeconfig={}", cluster.kubeconfig.display()))
            .args(["--leader-elect=false", "--secure-port=0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", cluster.binary)),
    );
    let pid = scheduler.0.id();
    let perf = cluster.record(namespace, Some(pid));

    let deadline = tokio::time::Instant::now() + cluster.timeout;
    let mut bound = HashSet::new();
    let (mut first_bound, mut last_bound) = (None, None);
    while bound.len() < n {
        let event = match tokio::time::timeout_at(deadline, events.try_next()).await {
            Ok(event) => event.unwrap().unwrap(),
            Err(_) => break,
        };
        let (watcher::Event::Apply(p) | watcher::Event::InitApply(p)) = event else {
            continue;
        };
        let on_node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if on_node.is_some_and(|n| !n.is_empty())
            && bound.insert(p.metadata.name.clone().unwrap_or_default())
        {
            first_bound.get_or_insert(started.elapsed());
            last_bound = Some(started.elapsed());
        }
    }
    let elapsed = if bound.len() == n {
        last_bound.unwrap()
    } else {
        started.elapsed()
    };
    let result = ShapeResult {
        shape,
        pods: n,
        bound: bound.len(),
        elapsed,
        first_bound,
        last_bound,
        scheduler_cpu: cpu_seconds(pid),
        apiserver_cpu: cpu_seconds(cluster.apiserver) - api_before,
        etcd_cpu: cpu_seconds(cluster.etcd) - etcd_before,
        peak_rss: status_mib(pid, "VmHWM:"),
    };
    drop(perf);
    if result.bound < n {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        eprintln!(
            "{namespace}: only {} of {n} pods bound in {:?}; the scheduler's last log lines:",
            result.bound, cluster.timeout
        );
        for line in tail.into_iter().rev() {
            eprintln!("  {line}");
        }
    }
    drop(scheduler);
    delete_pods(&cluster.client, namespace).await;
    result
}

#[tokio::main]
async fn main() {
    let binary =
        std::env::var("FERROKUBE_BIN").unwrap_or_else(|_| "target/release/ferrokube".into());
    let nodes = env_or("BENCH_NODES", 5000);
    let zones = env_or("BENCH_ZONES", 10).max(1);
    let pods = env_or("BENCH_PODS", 10000);
    let anti_pods = env_or("BENCH_ANTI_PODS", 1000);
    let anti_group = env_or("BENCH_ANTI_GROUP", anti_pods.min(nodes)).max(1);
    let spread_pods = env_or("BENCH_SPREAD_PODS", pods);
    let concurrencies: Vec<usize> = std::env::var("BENCH_FLOOR_CONCURRENCY")
        .unwrap_or_else(|_| "16,64,256".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let shapes = std::env::var("BENCH_SHAPES")
        .unwrap_or_else(|_| "basic,node-affinity,pod-anti-affinity,topology-spread".into());
    let shapes: Vec<(Shape, usize)> = [
        (Shape::Basic, pods),
        (Shape::NodeAffinity, pods),
        (Shape::PodAntiAffinity { group: anti_group }, anti_pods),
        (Shape::TopologySpread, spread_pods),
    ]
    .into_iter()
    .filter(|(s, _)| shapes.split(',').any(|name| name.trim() == s.name()))
    .collect();

    let dir = tempfile::tempdir().unwrap();
    let (etcd, etcd_url) = start_etcd(dir.path());
    let (apiserver, kubeconfig) = start_apiserver(&binary, dir.path(), &etcd_url);
    let client = client(&kubeconfig).await;
    let cluster = Cluster {
        binary,
        dir: dir.path().to_path_buf(),
        kubeconfig,
        client: client.clone(),
        apiserver: apiserver.0.id(),
        etcd: etcd.0.id(),
        timeout: Duration::from_secs(env_or("BENCH_TIMEOUT", 900) as u64),
        perf_dir: std::env::var_os("BENCH_PERF_DIR").map(PathBuf::from),
    };

    let started = Instant::now();
    let node_api: Api<Node> = Api::all(client.clone());
    futures::stream::iter(0..nodes)
        .for_each_concurrent(64, |i| {
            let node_api = node_api.clone();
            async move {
                node_api
                    .create(&PostParams::default(), &node(i, zones))
                    .await
                    .unwrap();
            }
        })
        .await;
    let nodes_in = started.elapsed();
    eprintln!("{nodes} nodes registered in {nodes_in:.1?}.");

    let mut floors = Vec::new();
    for &c in &concurrencies {
        let f = floor(&cluster, pods, nodes, c).await;
        eprintln!(
            "floor at concurrency {c}: {:.0} binds/s.",
            f.binds_per_second
        );
        floors.push(f);
    }
    let best = floors
        .iter()
        .map(|f| f.binds_per_second)
        .fold(0.0, f64::max);

    let mut results = Vec::new();
    for (shape, n) in shapes {
        let r = run_shape(&cluster, shape, n).await;
        eprintln!(
            "{}: {} of {} pods bound in {:.1?}.",
            shape.name(),
            r.bound,
            r.pods,
            r.elapsed
        );
        results.push(r);
    }

    print_report(nodes, zones, nodes_in, pods, &floors, best, &results);
    drop(apiserver);
    drop(etcd);
    keep_dir_on_request(dir);
}

/// `BENCH_KEEP_DIR=1` keeps the temporary directory (the schedulers' logs) and prints it.
fn keep_dir_on_request(dir: tempfile::TempDir) {
    if std::env::var_os("BENCH_KEEP_DIR").is_some() {
        let kept: &Path = &dir.keep();
        eprintln!("kept {}", kept.display());
    }
}

fn print_report(
    nodes: usize,
    zones: usize,
    nodes_in: Duration,
    pods: usize,
    floors: &[Floor],
    best: f64,
    results: &[ShapeResult],
) {
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| nodes (zones) registered | {nodes} ({zones}) in {:.1} s |",
        nodes_in.as_secs_f64()
    );
    let floor_row: Vec<String> = floors
        .iter()
        .map(|f| format!("{:.0} at {}", f.binds_per_second, f.concurrency))
        .collect();
    println!(
        "| floor: {pods} pods bound through `pods/binding` by a round-robin binder, binds/s at concurrency | {} |",
        floor_row.join(" / ")
    );
    let cpu_row: Vec<String> = floors
        .iter()
        .map(|f| format!("{:.0} µs", f.server_cpu_per_bind))
        .collect();
    println!(
        "| floor: apiserver + etcd CPU per bind, same concurrencies | {} |",
        cpu_row.join(" / ")
    );
    println!();
    println!(
        "| shape | pods | scheduler start to all bound | pods/s | of the floor | first binding after | pods/s first to last binding | CPU scheduler / apiserver / etcd | scheduler CPU per pod | apiserver + etcd CPU per pod | scheduler peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let secs = r.elapsed.as_secs_f64();
        let rate = r.bound as f64 / secs;
        let done = if r.bound == r.pods {
            format!("{secs:.1} s")
        } else {
            format!("{} bound in {secs:.1} s (timed out)", r.bound)
        };
        let first = r
            .first_bound
            .map_or("-".into(), |f| format!("{:.2} s", f.as_secs_f64()));
        let steady = match (r.first_bound, r.last_bound) {
            (Some(f), Some(l)) if l > f && r.bound > 1 => {
                format!("{:.0}", (r.bound - 1) as f64 / (l - f).as_secs_f64())
            }
            _ => "-".into(),
        };
        let ratio = if best > 0.0 {
            format!("{:.0}%", rate / best * 100.0)
        } else {
            "-".into()
        };
        let per_pod = |cpu: f64| cpu / r.bound.max(1) as f64 * 1e6;
        println!(
            "| {} | {} | {done} | {rate:.0} | {ratio} | {first} | {steady} | {:.1} s / {:.1} s / {:.1} s | {:.0} µs | {:.0} µs | {:.0} MiB |",
            match r.shape {
                Shape::PodAntiAffinity { group } =>
                    format!("pod-anti-affinity (groups of {group})"),
                s => s.name().to_string(),
            },
            r.pods,
            r.scheduler_cpu,
            r.apiserver_cpu,
            r.etcd_cpu,
            per_pod(r.scheduler_cpu),
            per_pod(r.apiserver_cpu + r.etcd_cpu),
            r.peak_rss
        );
    }
}
