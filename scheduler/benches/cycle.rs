//! The scheduling cycle alone, without an API server: the default profile's plugins over a
//! cache of `BENCH_NODES` nodes (default 5,000, scheduler_perf's node template: 4 CPUs, 32Gi,
//! 110 pods, over `BENCH_ZONES` zones, default 10, half of each zone labelled), scheduling
//! `BENCH_PODS` pods (default 10,000; `BENCH_ANTI_PODS`, default 1,000, for the anti-affinity
//! shape) one after the other: snapshot, PreFilter .. Score, assume, then the informer's
//! confirmation, as a cycle of `ferrokube scheduler` does. This is the ceiling the scheduler's
//! own work puts on pods/s; `hack/bench-scheduler.sh` measures it end to end. Shapes as that
//! benchmark: `basic`, `node-affinity`, `pod-anti-affinity`, `topology-spread`
//! (`BENCH_SHAPES` picks some). Run with
//! `cargo bench -p scheduler --bench cycle`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness fails loudly, like a test

use benchkit::env_or;
use k8s_openapi::api::core::v1::{
    Affinity, Container, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, NodeSpec, NodeStatus, Pod, PodAffinityTerm, PodAntiAffinity, PodSpec,
    ResourceRequirements, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use scheduler::cache::Cache;
use scheduler::config::{Config, framework};
use scheduler::framework::CycleState;
use scheduler::nominator::NominatedPods;
use scheduler::plugins::Handle;
use scheduler::schedule_one::Algorithm;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const AFFINITY_LABEL: &str = "bench.ferrokube.io/affinity";

fn list(items: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

fn node(i: usize, zones: usize) -> Node {
    let name = format!("node-{i}");
    let zone = i % zones;
    let mut labels = BTreeMap::from([
        (HOSTNAME_LABEL.to_string(), name.clone()),
        (ZONE_LABEL.to_string(), format!("zone-{zone}")),
    ]);
    if (i / zones).is_multiple_of(2) {
        labels.insert(AFFINITY_LABEL.to_string(), "yes".to_string());
    }
    let capacity = list(&[("cpu", "4"), ("memory", "32Gi"), ("pods", "110")]);
    Node {
        metadata: ObjectMeta {
            name: Some(name),
            uid: Some(format!("node-uid-{i}")),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            capacity: Some(capacity.clone()),
            allocatable: Some(capacity),
            ..Default::default()
        }),
    }
}

fn pod(shape: &str, i: usize, group: usize) -> Pod {
    let label = format!("group-{}", i / group);
    let selector = LabelSelector {
        match_labels: Some(BTreeMap::from([("group".to_string(), label.clone())])),
        ..Default::default()
    };
    let mut spec = PodSpec {
        scheduler_name: Some("default-scheduler".to_string()),
        containers: vec![Container {
            name: "pause".to_string(),
            image: Some("registry.k8s.io/pause:3.10".to_string()),
            resources: Some(ResourceRequirements {
                requests: Some(list(&[("cpu", "100m"), ("memory", "100Mi")])),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    match shape {
        "node-affinity" => {
            spec.affinity = Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: AFFINITY_LABEL.to_string(),
                                operator: "In".to_string(),
                                values: Some(vec!["yes".to_string()]),
                            }]),
                            ..Default::default()
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })
        }
        "pod-anti-affinity" => {
            spec.affinity = Some(Affinity {
                pod_anti_affinity: Some(PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![
                        PodAffinityTerm {
                            label_selector: Some(selector),
                            topology_key: HOSTNAME_LABEL.to_string(),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                }),
                ..Default::default()
            })
        }
        "topology-spread" => {
            spec.topology_spread_constraints = Some(vec![TopologySpreadConstraint {
                max_skew: 1,
                topology_key: ZONE_LABEL.to_string(),
                when_unsatisfiable: "DoNotSchedule".to_string(),
                label_selector: Some(selector),
                ..Default::default()
            }])
        }
        _ => {}
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("pod-{i}")),
            namespace: Some("bench".to_string()),
            uid: Some(format!("pod-uid-{i}")),
            labels: Some(BTreeMap::from([("group".to_string(), label)])),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn main() {
    let nodes = env_or("BENCH_NODES", 5000);
    let zones = env_or("BENCH_ZONES", 10);
    let shapes = std::env::var("BENCH_SHAPES")
        .unwrap_or_else(|_| "basic,node-affinity,pod-anti-affinity,topology-spread".to_string());
    // The binder needs a client to exist; nothing here binds, so it points nowhere.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let nowhere = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let handle = Handle {
        client: Some(kube::Client::try_from(nowhere).unwrap()),
        informers: None,
    };
    let config = Config::default();
    let fw = framework(&config.profiles[0], &handle).unwrap();
    let nominated = NominatedPods::default();
    println!("| shape | nodes | pods | cycles/s | µs per cycle | unschedulable |");
    println!("|---|---:|---:|---:|---:|---:|");
    for shape in shapes.split(',') {
        let pods = if shape == "pod-anti-affinity" {
            env_or("BENCH_ANTI_PODS", 1000)
        } else {
            env_or("BENCH_PODS", 10000)
        };
        let group = env_or("BENCH_ANTI_GROUP", pods.min(nodes)).max(1);
        let mut cache = Cache::new();
        for i in 0..nodes {
            cache.add_node(Arc::new(node(i, zones)));
        }
        let pods: Vec<Pod> = (0..pods).map(|i| pod(shape, i, group)).collect();
        let mut algorithm = Algorithm::default();
        let mut failed = 0;
        let started = Instant::now();
        for p in &pods {
            let mut state = CycleState::new();
            let snapshot = cache.snapshot();
            let result =
                algorithm.schedule_pod_with_nominated(&fw, &mut state, p, &snapshot, 0, &nominated);
            drop(snapshot);
            match result {
                Ok(r) => {
                    let mut bound = p.clone();
                    bound.spec.get_or_insert_default().node_name = Some(r.node.clone());
                    let bound = Arc::new(bound);
                    cache.assume(bound.clone(), &r.node);
                    cache.finish_binding(bound.metadata.uid.as_deref().unwrap_or_default());
                    cache.add_pod(bound);
                }
                Err(_) => failed += 1,
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let n = pods.len();
        println!(
            "| {shape} | {nodes} | {n} | {:.0} | {:.1} | {failed} |",
            n as f64 / elapsed,
            elapsed * 1e6 / n as f64
        );
    }
}
