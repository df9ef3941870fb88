//! `ferrokube scheduler` as a process of its own beside `ferrokube up` (which runs no scheduler
//! yet): pods bound to the only node that fits (resources, nodeSelector, taints and
//! tolerations, a cordoned node), LeastAllocated spreading pods over equal nodes, a second
//! profile from `--config` packing them with MostAllocated, an unschedulable pod's condition
//! and `FailedScheduling` event as `kubectl describe` shows them, that pod scheduled once a
//! node that fits is added, scheduling gates, a pod for another scheduler left alone, the
//! `Scheduled` events, leader election on `kube-system/kube-scheduler`, and `/healthz` and
//! `/metrics`. No kubelet runs: the test plays the kubelets' Leases.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, free_port, kubectls};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(60), f)
}

/// The scheduler process, killed when dropped (its log printed if the test failed).
struct Scheduler {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "scheduler log (last lines):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "5", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A ready Node with `cpu`/`memory` allocatable, labels and extra spec (YAML, indented).
fn node(name: &str, cpu: &str, memory: &str, labels: &str, spec: &str) -> String {
    let t = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    format!(
        r#"
apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels: {{kubernetes.io/os: linux, kubernetes.io/hostname: {name}{labels}}}
spec:
{spec}
status:
  capacity: {{cpu: "{cpu}", memory: {memory}, pods: "110"}}
  allocatable: {{cpu: "{cpu}", memory: {memory}, pods: "110"}}
  conditions:
  - {{type: Ready, status: "True", reason: KubeletReady, message: ready, lastHeartbeatTime: "{t}", lastTransitionTime: "{t}"}}
"#
    )
}

/// A pod requesting `cpu` with extra spec (YAML lines indented by two, or nothing).
fn pod(name: &str, cpu: &str, spec: &str) -> String {
    let spec = if spec.is_empty() {
        String::new()
    } else {
        format!("{spec}\n")
    };
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
{spec}  containers:
  - name: c
    image: busybox
    resources: {{requests: {{cpu: "{cpu}", memory: 100Mi}}}}
"#
    )
}

fn node_of(k: &Kubectl, pod: &str) -> String {
    k.ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"])
}

fn bound(k: &Kubectl, pod: &str) -> String {
    eventually(&format!("{pod} is bound"), || {
        Some(node_of(k, pod)).filter(|n| !n.is_empty())
    })
}

const CONFIG: &str = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: true
  retryPeriod: 1s
podInitialBackoffSeconds: 1
podMaxBackoffSeconds: 2
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 1}]
"#;

#[test]
fn the_scheduler_places_pods_as_upstream_does() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    let k133 = cluster.kubectl(&bins[1]);

    let nodes = [
        node("small", "1", "2Gi", ", disk: hdd", "  {}"),
        node("big", "4", "8Gi", ", disk: ssd", "  {}"),
        node(
            "tainted",
            "8",
            "16Gi",
            ", gpu: \"true\"",
            "  taints: [{key: dedicated, value: gpu, effect: NoSchedule}]",
        ),
        node("cordoned", "8", "16Gi", "", "  unschedulable: true"),
        node("even-a", "2", "4Gi", ", pool: even", "  {}"),
        node("even-b", "2", "4Gi", ", pool: even", "  {}"),
    ];
    k.ok_stdin(&["apply", "-f", "-"], &nodes.join("---\n"));
    let _beats = common::heartbeats(
        &cluster,
        &bins[0],
        &[
            "small", "big", "tainted", "cordoned", "even-a", "even-b", "roomy",
        ],
    );

    let config = cluster.dir.path().join("scheduler.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let port = free_port();
    let log = cluster.dir.path().join("scheduler.log");
    let out = std::fs::File::create(&log).unwrap();
    let _scheduler = Scheduler {
        child: Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .arg("scheduler")
            .arg("--config")
            .arg(&config)
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args([
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                &port.to_string(),
            ])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
        log,
    };

    // Leader election on the upstream lease.
    let holder = eventually("the scheduler holds its lease", || {
        let h = k.ok(&[
            "get",
            "lease",
            "kube-scheduler",
            "-n",
            "kube-system",
            "--ignore-not-found",
            "-o",
            "jsonpath={.spec.holderIdentity}|{.spec.leaseDurationSeconds}",
        ]);
        (!h.is_empty() && !h.starts_with('|')).then_some(h)
    });
    assert!(holder.ends_with("|15"), "{holder}");

    let pods = [
        pod("needs-2cpu", "2", ""),
        pod("ssd", "100m", "  nodeSelector: {disk: ssd}"),
        pod(
            "tolerant",
            "100m",
            "  nodeSelector: {gpu: \"true\"}\n  tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]",
        ),
        pod(
            "affine",
            "100m",
            "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions: [{key: disk, operator: In, values: [hdd]}]",
        ),
        pod("huge", "6", ""),
        pod(
            "gated",
            "100m",
            "  schedulingGates: [{name: example.com/wait}]\n  nodeSelector: {disk: ssd}",
        ),
        pod("foreign", "100m", "  schedulerName: my-scheduler"),
    ];
    k.ok_stdin(&["apply", "-f", "-"], &pods.join("---\n"));

    // Each pod on the only node that fits it.
    assert_eq!(bound(&k, "needs-2cpu"), "big");
    assert_eq!(bound(&k, "ssd"), "big");
    assert_eq!(bound(&k, "tolerant"), "tainted");
    assert_eq!(bound(&k, "affine"), "small");

    // The pod that fits nowhere: its condition and event say why, as upstream words it.
    let why = "0/6 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
               1 node(s) were unschedulable, 4 Insufficient cpu.";
    let condition = eventually("huge is marked unschedulable", || {
        let c = k.ok(&[
            "get",
            "pod",
            "huge",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status}|{.status.conditions[?(@.type==\"PodScheduled\")].reason}|{.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ]);
        c.starts_with("False|Unschedulable|").then_some(c)
    });
    assert_eq!(condition, format!("False|Unschedulable|{why}"));
    for kubectl in [&k, &k133] {
        let described = eventually("describe shows FailedScheduling", || {
            let d = kubectl.ok(&["describe", "pod", "huge"]);
            d.contains("FailedScheduling").then_some(d)
        });
        let line = described
            .lines()
            .find(|l| l.contains("FailedScheduling"))
            .unwrap()
            .to_string();
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], "Warning", "{line}");
        assert!(cells.contains(&"default-scheduler"), "{line}");
        assert!(line.trim_end().ends_with(why), "{line}");
        let condition = described
            .lines()
            .find(|l| l.trim_start().starts_with("PodScheduled"))
            .unwrap_or_else(|| panic!("{described}"));
        assert_eq!(
            condition.split_whitespace().collect::<Vec<_>>(),
            ["PodScheduled", "False"],
            "{described}"
        );
    }

    // A node that fits arrives: the pod is scheduled there.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &node("roomy", "8", "16Gi", "", "  {}"),
    );
    assert_eq!(bound(&k, "huge"), "roomy");

    // Scheduling gates keep a pod back until they are removed.
    let gated = k.ok(&["get", "pod", "gated", "--no-headers"]);
    assert!(gated.contains("SchedulingGated"), "{gated}");
    assert_eq!(node_of(&k, "gated"), "");
    k.ok(&[
        "patch",
        "pod",
        "gated",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/schedulingGates"}]"#,
    ]);
    assert_eq!(bound(&k, "gated"), "big");

    // LeastAllocated (default profile) spreads over equal nodes; MostAllocated (the `packer`
    // profile) packs them.
    let spread: Vec<String> = (0..4)
        .map(|i| {
            pod(
                &format!("spread-{i}"),
                "250m",
                "  nodeSelector: {pool: even}",
            )
        })
        .collect();
    k.ok_stdin(&["apply", "-f", "-"], &spread.join("---\n"));
    let mut on: Vec<String> = (0..4).map(|i| bound(&k, &format!("spread-{i}"))).collect();
    on.sort();
    assert_eq!(on, ["even-a", "even-a", "even-b", "even-b"]);
    let packed: Vec<String> = (0..3)
        .map(|i| {
            pod(
                &format!("packed-{i}"),
                "250m",
                "  schedulerName: packer\n  nodeSelector: {pool: even}",
            )
        })
        .collect();
    k.ok_stdin(&["apply", "-f", "-"], &packed.join("---\n"));
    let on: Vec<String> = (0..3).map(|i| bound(&k, &format!("packed-{i}"))).collect();
    assert!(on.iter().all(|n| *n == on[0]), "{on:?}");

    // A pod for another scheduler is left alone: no node, no condition, no event.
    let foreign = k.ok(&[
        "get",
        "pod",
        "foreign",
        "-o",
        "jsonpath={.spec.nodeName}|{.status.conditions}",
    ]);
    assert_eq!(foreign, "|");
    let foreign_events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=foreign",
        "--no-headers",
    ]);
    assert!(foreign_events.trim().is_empty(), "{foreign_events}");

    // `kubectl get events` shows the bindings.
    for kubectl in [&k, &k133] {
        let events = eventually("the Scheduled events are listed", || {
            let e = kubectl.ok(&["get", "events"]);
            (e.contains("Successfully assigned default/huge to roomy")
                && e.contains("Successfully assigned default/packed-2 to"))
            .then_some(e)
        });
        let line = events
            .lines()
            .find(|l| l.contains("Successfully assigned default/needs-2cpu to big"))
            .unwrap_or_else(|| panic!("{events}"));
        assert!(line.contains("Normal"), "{line}");
        assert!(line.contains("Scheduled"), "{line}");
        assert!(line.contains("pod/needs-2cpu"), "{line}");
    }
    let reporters = k.ok(&[
        "get",
        "events.v1.events.k8s.io",
        "-o",
        r#"jsonpath={range .items[?(@.reason=="Scheduled")]}{.regarding.name}|{.reportingController}|{.action}{"\n"}{end}"#,
    ]);
    assert!(
        reporters
            .lines()
            .any(|l| l == "huge|default-scheduler|Binding"),
        "{reporters}"
    );
    assert!(
        reporters.lines().any(|l| l == "packed-0|packer|Binding"),
        "{reporters}"
    );

    // /healthz and /metrics.
    assert_eq!(
        get(&format!("https://127.0.0.1:{port}/healthz")).unwrap(),
        "ok"
    );
    let metrics = get(&format!("https://127.0.0.1:{port}/metrics")).unwrap();
    for line in [
        "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"}",
        "scheduler_schedule_attempts_total{profile=\"packer\",result=\"scheduled\"} 3",
        "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"unschedulable\"}",
        "# TYPE scheduler_scheduling_attempt_duration_seconds histogram",
        "scheduler_pending_pods{queue=\"active\"} 0",
        "leader_election_master_status{name=\"kube-scheduler\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}
