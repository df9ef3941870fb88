//! The controllers benchmark: a fresh etcd, `ferrokube apiserver` and `ferrokube
//! controller-manager` as separate processes, then
//! - 1,000 Deployments of 10 replicas created at once: the time until every ReplicaSet and pod
//!   exists and every Deployment is available (a fake kubelet in this process marks each new
//!   pod Running and Ready, as the simulated nodes of the scheduler issue will),
//! - a rolling update of all of them (a template annotation changed): the time until every
//!   Deployment has rolled out,
//!
//! with the controller manager's CPU and RSS, and the apiserver's and etcd's CPU for scale.
//! `BENCH_DEPLOYMENTS` and `BENCH_REPLICAS` change the sizes. Run with
//! `./hack/bench-controllers.sh` (builds the release binary first). Prints a markdown table for
//! docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness fails loudly, like a test

use benchkit::{Proc, client, cpu_seconds, env_or, rss_mib, start_apiserver, start_etcd};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const NS: &str = "bench";

fn deployment(i: usize, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": format!("d{i}")},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": format!("d{i}")}},
            "template": {
                "metadata": {"labels": {"app": format!("d{i}")}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    }))
    .unwrap()
}

/// Marks every new pod Running and Ready, as a kubelet would; returns how many it marked.
fn fake_kubelet(client: kube::Client) -> Arc<AtomicUsize> {
    let marked = Arc::new(AtomicUsize::new(0));
    let count = marked.clone();
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, NS);
        let limit = Arc::new(tokio::sync::Semaphore::new(32));
        let mut events = watcher(pods.clone(), watcher::Config::default())
            .applied_objects()
            .boxed();
        let mut next_ip = 0u32;
        while let Ok(Some(pod)) = events.try_next().await {
            let pending = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
            if !pending || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            next_ip += 1;
            let ip = format!(
                "10.{}.{}.{}",
                64 + (next_ip >> 16) % 64,
                (next_ip >> 8) & 255,
                next_ip & 255
            );
            let (pods, count, permit) = (
                pods.clone(),
                count.clone(),
                limit.clone().acquire_owned().await.unwrap(),
            );
            let name = pod.metadata.name.clone().unwrap_or_default();
            tokio::spawn(async move {
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let status = json!({"status": {
                    "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
                }});
                if pods
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .is_ok()
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                drop(permit);
            });
        }
    });
    marked
}

/// Waits until every Deployment reports `replicas` updated, available replicas of its
/// current generation.
async fn rolled_out(
    deployments: &Api<Deployment>,
    n: usize,
    replicas: i32,
    deadline: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let list = deployments.list(&ListParams::default()).await.unwrap();
        let done = list
            .items
            .iter()
            .filter(|d| {
                let s = d.status.clone().unwrap_or_default();
                s.observed_generation >= d.metadata.generation
                    && s.updated_replicas == Some(replicas)
                    && s.available_replicas == Some(replicas)
                    && s.replicas == Some(replicas)
            })
            .count();
        if done == n {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < deadline,
            "only {done} of {n} Deployments rolled out in {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::main]
async fn main() {
    let binary =
        std::env::var("FERROKUBE_BIN").unwrap_or_else(|_| "target/release/ferrokube".into());
    let n = env_or("BENCH_DEPLOYMENTS", 1000);
    let replicas = env_or("BENCH_REPLICAS", 10) as i32;
    let dir = tempfile::tempdir().unwrap();
    let (etcd, etcd_url) = start_etcd(dir.path());
    let (apiserver, kubeconfig) = start_apiserver(&binary, dir.path(), &etcd_url);
    let client = client(&kubeconfig).await;
    let manager = Proc(
        Command::new(&binary)
            .arg("controller-manager")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args([
                "--leader-elect=false",
                "--secure-port=0",
                "--controllers=*,-root-ca-cert-publisher",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (cm, api, etcd_pid) = (manager.0.id(), apiserver.0.id(), etcd.0.id());
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
        )
        .await
        .unwrap();
    let marked = fake_kubelet(client.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let cpu = || (cpu_seconds(cm), cpu_seconds(api), cpu_seconds(etcd_pid));
    let me = std::process::id();

    // Phase 1: create them all.
    let before = cpu();
    let me_before = cpu_seconds(me);
    let started = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let deployments = deployments.clone();
            async move {
                deployments
                    .create(&PostParams::default(), &deployment(i, replicas))
                    .await
                    .unwrap();
            }
        })
        .await;
    let created_in = started.elapsed();
    let available_in =
        created_in + rolled_out(&deployments, n, replicas, Duration::from_secs(1800)).await;
    let after = cpu();
    let me_after = cpu_seconds(me);
    let pods = n * replicas as usize;
    let rss_created = rss_mib(cm);

    // Phase 2: roll every Deployment out again.
    let before2 = cpu();
    let started = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let deployments = deployments.clone();
            async move {
                let patch = json!({"spec": {"template": {"metadata": {"annotations": {"bench/rollout": "2"}}}}});
                deployments
                    .patch(&format!("d{i}"), &PatchParams::default(), &Patch::Strategic(&patch))
                    .await
                    .unwrap();
            }
        })
        .await;
    let rolled_in =
        started.elapsed() + rolled_out(&deployments, n, replicas, Duration::from_secs(3600)).await;
    let after2 = cpu();
    let rss_rolled = rss_mib(cm);

    let per_pod = |secs: f64| secs / pods as f64 * 1e6;
    println!("| figure | value |");
    println!("|---|---|");
    println!("| Deployments x replicas | {n} x {replicas} ({pods} pods) |");
    println!(
        "| create: all Deployments accepted | {:.1} s |",
        created_in.as_secs_f64()
    );
    println!(
        "| create: every Deployment available (ReplicaSets and pods created, pods marked ready) | {:.1} s ({:.0} pods/s) |",
        available_in.as_secs_f64(),
        pods as f64 / available_in.as_secs_f64()
    );
    println!(
        "| create: CPU controller-manager / apiserver / etcd / fake kubelet | {:.1} s / {:.1} s / {:.1} s / {:.1} s |",
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
        me_after - me_before
    );
    println!(
        "| create: controller-manager CPU per pod | {:.0} µs |",
        per_pod(after.0 - before.0)
    );
    println!(
        "| rolling update of all: every Deployment rolled out | {:.1} s ({:.0} pods replaced/s) |",
        rolled_in.as_secs_f64(),
        pods as f64 / rolled_in.as_secs_f64()
    );
    println!(
        "| rolling update: CPU controller-manager / apiserver / etcd | {:.1} s / {:.1} s / {:.1} s |",
        after2.0 - before2.0,
        after2.1 - before2.1,
        after2.2 - before2.2
    );
    println!(
        "| rolling update: controller-manager CPU per replaced pod | {:.0} µs |",
        per_pod(after2.0 - before2.0)
    );
    println!(
        "| controller-manager RSS after create / after the update | {rss_created:.0} MiB / {rss_rolled:.0} MiB |"
    );
    println!(
        "| pods marked ready by the fake kubelet | {} |",
        marked.load(Ordering::Relaxed)
    );
    drop(manager);
    drop(apiserver);
    drop(etcd);
}
