//! The apiserver benchmark: a fresh etcd and a fresh `ferrokube apiserver` process, then
//! - raw etcd create transactions of 1 KiB at concurrency 1 and 64 (the physical floor),
//! - 10,000 ConfigMap creates of 1 KiB at concurrency 1 and 64 through the API, and their
//!   ratio to raw etcd,
//! - LIST of 10,000 ConfigMaps from the watch cache (`resourceVersion=0`) and consistent,
//! - watch delivery latency to 100 concurrent watchers,
//! - strategic merge patches and server-side applies of a 50-container Deployment,
//! - the apiserver's RSS and its time from start to `/readyz`.
//!
//! Run with `./hack/bench-apiserver.sh` (builds the release binary first). Prints a markdown
//! table for docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness fails loudly, like a test

use benchkit::{Proc, TOKEN, cpu_seconds, env_or, free_port, rss_mib, start_etcd};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Objects per create phase; `BENCH_N` overrides it (e.g. for longer runs under a profiler).
fn n() -> usize {
    env_or("BENCH_N", 10_000)
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    Duration::from_secs_f64(cpu_seconds(pid))
}
const VALUE: usize = 1024;

/// Rounds of each concurrent phase.
const ROUNDS: usize = 3;

/// The run with the median rate.
fn median<T>(mut runs: Vec<(f64, T)>) -> (f64, T) {
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn raw_etcd(url: &str, concurrency: usize, tag: &str) -> f64 {
    let client = etcd_client::Client::connect([url], None).await.unwrap();
    let value = vec![b'x'; VALUE];
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut kv = client.kv_client();
        let next = next.clone();
        let value = value.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n() {
                    break;
                }
                let key = format!("/raw/{tag}/{i:06}");
                let txn = etcd_client::Txn::new()
                    .when([etcd_client::Compare::create_revision(
                        key.clone(),
                        etcd_client::CompareOp::Equal,
                        0,
                    )])
                    .and_then([etcd_client::TxnOp::put(key, value.clone(), None)]);
                kv.txn(txn).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    n() as f64 / start.elapsed().as_secs_f64()
}

fn configmap(name: &str) -> Vec<u8> {
    // 1 KiB of data, like the raw etcd values.
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"payload": "x".repeat(VALUE)},
    }))
    .unwrap()
}

async fn api_creates(http: &reqwest::Client, base: &str, ns: &str, concurrency: usize) -> f64 {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let http = http.clone();
        let url = format!("{base}/api/v1/namespaces/{ns}/configmaps");
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n() {
                    break;
                }
                let r = http
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(configmap(&format!("cm-{i:06}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
                let _ = r.bytes().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    n() as f64 / start.elapsed().as_secs_f64()
}

async fn list_latency(http: &reqwest::Client, url: &str, runs: usize) -> (Duration, Duration) {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let r = http.get(url).send().await.unwrap();
        let body = r.bytes().await.unwrap();
        samples.push(t.elapsed());
        assert!(body.len() > n() * VALUE, "a full list");
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

async fn watch_delivery(http: &reqwest::Client, base: &str) -> (Duration, Duration) {
    use futures::StreamExt;
    const WATCHERS: usize = 100;
    const EVENTS: usize = 200;
    let ns = "watched";
    let url = format!("{base}/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion=0");
    let sent: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> =
        Default::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Vec<Duration>>(WATCHERS);
    for _ in 0..WATCHERS {
        let resp = http.get(&url).send().await.unwrap();
        let sent = sent.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut buf = Vec::new();
            let mut lat = Vec::new();
            while lat.len() < EVENTS {
                let Some(Ok(chunk)) = stream.next().await else {
                    break;
                };
                let now = Instant::now();
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
                    let name = v["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if let Some(t) = sent.lock().unwrap().get(&name) {
                        lat.push(now - *t);
                    }
                }
            }
            let _ = done.send(lat).await;
        });
    }
    drop(done_tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let create = format!("{base}/api/v1/namespaces/{ns}/configmaps");
    for i in 0..EVENTS {
        let name = format!("w-{i:04}");
        sent.lock().unwrap().insert(name.clone(), Instant::now());
        let r = http
            .post(&create)
            .header("Content-Type", "application/json")
            .body(configmap(&name))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut all = Vec::new();
    while let Some(l) = done_rx.recv().await {
        all.extend(l);
    }
    all.sort();
    assert_eq!(
        all.len(),
        WATCHERS * EVENTS,
        "every watcher saw every event"
    );
    (percentile(&all, 0.5), percentile(&all, 0.99))
}

/// A Deployment with `n` containers, each with two env vars and a port; `image` varies.
fn big_deployment(n: usize, image: &str) -> serde_json::Value {
    let containers: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "name": format!("c{i:02}"), "image": format!("{image}-{i}"),
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": format!("{i}")}],
                "ports": [{"containerPort": 8000 + i, "protocol": "TCP"}],
            })
        })
        .collect();
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "big", "namespace": "patched"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "big"}},
            "template": {"metadata": {"labels": {"app": "big"}}, "spec": {"containers": containers}}},
    })
}

/// Sequential patches of one 50-container Deployment: strategic merge patches that change one
/// container's env var, then server-side applies of the whole configuration with a changed
/// image. Returns (patches/s, p99) for each.
async fn patch_rates(http: &reqwest::Client, base: &str) -> ((f64, Duration), (f64, Duration)) {
    const CONTAINERS: usize = 50;
    const PATCHES: usize = 300;
    create_namespace(http, base, "patched").await;
    let url = format!("{base}/apis/apps/v1/namespaces/patched/deployments/big");
    let r = http
        .post(format!(
            "{base}/apis/apps/v1/namespaces/patched/deployments"
        ))
        .json(&big_deployment(CONTAINERS, "img"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let url = &url;
    let run = |bodies: Vec<(Vec<u8>, &'static str, String)>| async move {
        let mut samples = Vec::with_capacity(bodies.len());
        let start = Instant::now();
        for (body, content_type, query) in bodies {
            let t = Instant::now();
            let r = http
                .patch(format!("{url}{query}"))
                .header("Content-Type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status().as_u16(),
                200,
                "{}",
                r.text().await.unwrap_or_default()
            );
            let _ = r.bytes().await;
            samples.push(t.elapsed());
        }
        let rate = samples.len() as f64 / start.elapsed().as_secs_f64();
        samples.sort();
        (rate, percentile(&samples, 0.99))
    };
    let smp: Vec<_> = (0..PATCHES)
        .map(|i| {
            let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
                {"name": format!("c{:02}", i % CONTAINERS), "env": [{"name": "A", "value": format!("{i}")}]}
            ]}}}});
            (
                serde_json::to_vec(&patch).unwrap(),
                "application/strategic-merge-patch+json",
                String::new(),
            )
        })
        .collect();
    let smp = run(smp).await;
    let ssa: Vec<_> = (0..PATCHES)
        .map(|i| {
            (
                serde_json::to_vec(&big_deployment(CONTAINERS, &format!("img{}", i % 2))).unwrap(),
                "application/apply-patch+yaml",
                "?fieldManager=bench&force=true".to_string(),
            )
        })
        .collect();
    let ssa = run(ssa).await;
    (smp, ssa)
}

fn us_per_op(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6 / n() as f64)
}

async fn create_namespace(http: &reqwest::Client, base: &str, name: &str) {
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let r = http
        .post(format!("{base}/api/v1/namespaces"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::main]
async fn main() {
    let binary =
        std::env::var("FERROKUBE_BIN").unwrap_or_else(|_| "target/release/ferrokube".into());
    let dir = tempfile::tempdir().unwrap();
    let (etcd, etcd_url) = start_etcd(dir.path());

    // `BENCH_SKIP_SERIAL=1` skips the concurrency-1 phases (quicker runs under a profiler).
    let serial = std::env::var("BENCH_SKIP_SERIAL").is_err();
    let etcd_pid = etcd.0.id();
    let raw1 = if serial {
        raw_etcd(&etcd_url, 1, "c1").await
    } else {
        f64::NAN
    };
    // The concurrent phases repeat and report their medians: one run of a few seconds on a
    // shared two-core machine varies by a third.
    let mut raw_runs = Vec::new();
    for r in 0..ROUNDS {
        let (etcd_before, me_before) = (cpu_time(etcd_pid), cpu_time(std::process::id()));
        let rate = raw_etcd(&etcd_url, 64, &format!("c64-{r}")).await;
        let cpu = (
            cpu_time(etcd_pid) - etcd_before,
            cpu_time(std::process::id()) - me_before,
        );
        raw_runs.push((rate, cpu));
    }
    let (raw64, (etcd_raw_cpu, client_raw_cpu)) = median(raw_runs);

    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},admin,1,system:masters\n")).unwrap();
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let started = Instant::now();
    let apiserver = Proc(
        Command::new(&binary)
            .args([
                "apiserver",
                "--bind-address=127.0.0.1",
                "--etcd-compaction-interval=0",
            ])
            .arg(format!("--secure-port={port}"))
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg(format!("--token-auth-file={}", tokens.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}")),
    );
    let pid = apiserver.0.id();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .default_headers(headers)
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ready = started.elapsed();
    for ns in ["c1", "watched"] {
        create_namespace(&http, &base, ns).await;
    }
    for r in 0..ROUNDS {
        create_namespace(&http, &base, &format!("c64-{r}")).await;
    }
    let api1 = if serial {
        api_creates(&http, &base, "c1", 1).await
    } else {
        f64::NAN
    };
    let rss_10k = rss_mib(pid);
    let mut api_runs = Vec::new();
    for r in 0..ROUNDS {
        let me = std::process::id();
        let before = (cpu_time(pid), cpu_time(etcd_pid), cpu_time(me));
        let rate = api_creates(&http, &base, &format!("c64-{r}"), 64).await;
        let cpu = (
            cpu_time(pid) - before.0,
            cpu_time(etcd_pid) - before.1,
            cpu_time(me) - before.2,
        );
        api_runs.push((rate, cpu));
    }
    let (api64, (api_cpu, etcd_api_cpu, client_api_cpu)) = median(api_runs);
    let (cache_p50, cache_p99) = list_latency(
        &http,
        &format!("{base}/api/v1/namespaces/c64-0/configmaps?resourceVersion=0"),
        30,
    )
    .await;
    let (cons_p50, cons_p99) = list_latency(
        &http,
        &format!("{base}/api/v1/namespaces/c64-0/configmaps"),
        30,
    )
    .await;
    let rss = rss_mib(pid);
    let (watch_p50, watch_p99) = watch_delivery(&http, &base).await;
    let ((smp_rate, smp_p99), (ssa_rate, ssa_p99)) = patch_rates(&http, &base).await;

    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!("| figure | value | aim |");
    println!("|---|---|---|");
    println!("| raw etcd txn creates/s, concurrency 1 | {raw1:.0} | |");
    println!("| raw etcd txn creates/s, concurrency 64 (median of {ROUNDS}) | {raw64:.0} | |");
    println!(
        "| API creates/s, concurrency 1 | {api1:.0} ({:.0}% of raw etcd) | |",
        api1 / raw1 * 100.0
    );
    println!(
        "| API creates/s, concurrency 64 (median of {ROUNDS}) | {api64:.0} ({:.0}% of raw etcd) | >= 70% |",
        api64 / raw64 * 100.0
    );
    println!(
        "| CPU per create at concurrency 64: etcd alone / etcd behind the API / apiserver | {} / {} / {} | |",
        us_per_op(etcd_raw_cpu),
        us_per_op(etcd_api_cpu),
        us_per_op(api_cpu)
    );
    println!(
        "| CPU per create at concurrency 64 in the load generator: raw etcd / API | {} / {} | |",
        us_per_op(client_raw_cpu),
        us_per_op(client_api_cpu)
    );
    println!(
        "| LIST 10k from cache p50 / p99 | {} / {} | p50 < 50 ms |",
        ms(cache_p50),
        ms(cache_p99)
    );
    println!(
        "| LIST 10k consistent p50 / p99 | {} / {} | |",
        ms(cons_p50),
        ms(cons_p99)
    );
    println!(
        "| watch delivery to 100 watchers p50 / p99 | {} / {} | |",
        ms(watch_p50),
        ms(watch_p99)
    );
    println!(
        "| strategic merge patch of a 50-container Deployment, sequential: patches/s / p99 | {smp_rate:.0} / {} | |",
        ms(smp_p99)
    );
    println!(
        "| server-side apply of a 50-container Deployment, sequential: applies/s / p99 | {ssa_rate:.0} / {} | |",
        ms(ssa_p99)
    );
    println!("| apiserver RSS with 10k ConfigMaps | {rss_10k:.0} MiB | < 150 MiB |");
    println!(
        "| apiserver RSS with {}k ConfigMaps | {rss:.0} MiB | |",
        (ROUNDS + 1) * n() / 1000
    );
    println!("| start to /readyz (etcd up) | {} | < 1 s |", ms(ready));
    println!();
    println!(
        "Machine: {machine}, {} cores; etcd {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        String::from_utf8_lossy(
            &Command::new("etcd")
                .arg("--version")
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        )
        .lines()
        .next()
        .unwrap_or("")
    );
}
