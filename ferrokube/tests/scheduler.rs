//! `ferrokube scheduler` as a process of its own beside `ferrokube up --disable-scheduler`: pods bound to the only node that fits (resources, nodeSelector, taints and
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
    let cluster = Cluster::up_with(&["--disable-scheduler"]);
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
    // No node could hold it even empty, so preemption is no help (DefaultPreemption).
    let why = "0/6 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
               1 node(s) were unschedulable, 4 Insufficient cpu. \
               preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling..";
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

    // A finished pod holds nothing: the pod that fits only in its place goes there once it
    // has Succeeded (the scheduler watches only pods that are not finished, as upstream's).
    k.ok_stdin(&["apply", "-f", "-"], &pod("successor", "6", ""));
    eventually("successor is marked unschedulable", || {
        let c = k.ok(&[
            "get",
            "pod",
            "successor",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}",
        ]);
        (c == "Unschedulable").then_some(())
    });
    k.ok(&[
        "patch",
        "pod",
        "huge",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Succeeded"}}"#,
    ]);
    assert_eq!(bound(&k, "successor"), "roomy");

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

/// A pod of PriorityClass `class` requesting `cpu`, with extra spec lines.
fn prioritized_pod(name: &str, class: &str, cpu: &str, spec: &str) -> String {
    pod(name, cpu, &format!("  priorityClassName: {class}{spec}"))
}

/// DefaultPreemption: a node full of low-priority pods, a high-priority pod preempts one (the
/// victim gets the DisruptionTarget condition, is deleted, and a `Preempted` event), is
/// nominated to the node, keeps its room from an equal-priority pod, and is bound once the
/// victim is gone (the test finishes the deletion as the kubelet would); a pod with
/// a class with `preemptionPolicy: Never` stays Pending saying why.
#[test]
fn higher_priority_pods_preempt_lower_priority_ones() {
    let cluster = Cluster::up_with(&["--disable-scheduler"]);
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    let k133 = cluster.kubectl(&bins[1]);
    k.ok_stdin(&["apply", "-f", "-"], &node("solo", "2", "4Gi", "", "  {}"));
    let _beats = common::heartbeats(&cluster, &bins[0], &["solo"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 100
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high-never}
value: 1000
preemptionPolicy: Never
"#,
    );
    let log = cluster.dir.path().join("scheduler.log");
    let out = std::fs::File::create(&log).unwrap();
    let _scheduler = Scheduler {
        child: Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .arg("scheduler")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args(["--leader-elect=false", "--secure-port", "0"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
        log,
    };

    // The node fills up with low-priority pods.
    let lows = [
        prioritized_pod("low-1", "low", "1", ""),
        prioritized_pod("low-2", "low", "1", ""),
    ];
    k.ok_stdin(&["apply", "-f", "-"], &lows.join("---\n"));
    assert_eq!(bound(&k, "low-1"), "solo");
    assert_eq!(bound(&k, "low-2"), "solo");

    // A pod that may not preempt (its class says so) stays Pending, and says why (the double
    // period is upstream's).
    k.ok_stdin(
        &["apply", "-f", "-"],
        &prioritized_pod("never", "high-never", "1", ""),
    );
    let never_why = "0/1 nodes are available: 1 Insufficient cpu. \
                     preemption: not eligible due to preemptionPolicy=Never..";
    let message = |pod: &str| {
        k.ok(&[
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ])
    };
    eventually("never is marked unschedulable", || {
        (message("never") == never_why).then_some(())
    });

    // A high-priority pod preempts one low-priority pod and is nominated to the node.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &prioritized_pod("high", "high", "1", ""),
    );
    let nominated = eventually("high is nominated", || {
        let n = k.ok(&[
            "get",
            "pod",
            "high",
            "-o",
            "jsonpath={.status.nominatedNodeName}",
        ]);
        (!n.is_empty()).then_some(n)
    });
    assert_eq!(nominated, "solo");
    let victim = eventually("a victim is being deleted", || {
        let gone: Vec<String> = ["low-1", "low-2"]
            .into_iter()
            .filter(|p| {
                !k.ok(&[
                    "get",
                    "pod",
                    p,
                    "-o",
                    "jsonpath={.metadata.deletionTimestamp}",
                ])
                .is_empty()
            })
            .map(str::to_string)
            .collect();
        (!gone.is_empty()).then_some(gone)
    });
    assert_eq!(victim.len(), 1, "one victim is enough: {victim:?}");
    let victim = &victim[0];
    let survivor = if victim == "low-1" { "low-2" } else { "low-1" };
    let condition = k.ok(&[
        "get",
        "pod",
        victim,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"DisruptionTarget\")].status}|{.status.conditions[?(@.type==\"DisruptionTarget\")].reason}|{.status.conditions[?(@.type==\"DisruptionTarget\")].message}",
    ]);
    assert_eq!(
        condition,
        "True|PreemptionByScheduler|default-scheduler: preempting to accommodate a higher priority pod"
    );
    assert_eq!(
        message("high"),
        "0/1 nodes are available: 1 Insufficient cpu."
    );
    // No kubelet: the victim stays Terminating, and the preemptor waits for it.
    assert_eq!(node_of(&k, "high"), "");
    k.ok(&["delete", "pod", victim, "--grace-period=0", "--force"]);
    assert_eq!(bound(&k, "high"), "solo");
    // The room freed was kept for the nominated pod: the equal-priority pod that may not
    // preempt stays Pending, and the other low-priority pod stays.
    assert_eq!(node_of(&k, "never"), "");
    assert_eq!(message("never"), never_why);
    assert_eq!(node_of(&k, survivor), "solo");

    // `Preempted` on the victim, naming the preemptor's UID and the node.
    let uid = k.ok(&["get", "pod", "high", "-o", "jsonpath={.metadata.uid}"]);
    let note = format!("Preempted by pod {uid} on node solo");
    for kubectl in [&k, &k133] {
        let events = eventually("the Preempted event is listed", || {
            let e = kubectl.ok(&["get", "events"]);
            e.contains(&note).then_some(e)
        });
        let line = events.lines().find(|l| l.contains(&note)).unwrap();
        assert!(line.contains("Normal"), "{line}");
        assert!(line.contains("Preempted"), "{line}");
        assert!(line.contains(&format!("pod/{victim}")), "{line}");
    }
    let related = k.ok(&[
        "get",
        "events.v1.events.k8s.io",
        "-o",
        r#"jsonpath={range .items[?(@.reason=="Preempted")]}{.regarding.name}|{.related.name}|{.action}|{.reportingController}{"\n"}{end}"#,
    ]);
    assert_eq!(
        related.trim(),
        format!("{victim}|high|Preempting|default-scheduler")
    );
}

/// A Deployment of `replicas` pods labelled `app: <name>` requesting `cpu`, with extra pod
/// spec lines (indented by six).
fn deployment(name: &str, replicas: u32, cpu: &str, spec: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
{spec}
      containers:
      - name: c
        image: busybox
        resources: {{requests: {{cpu: "{cpu}", memory: 100Mi}}}}
"#
    )
}

/// The nodes of the pods labelled `app=<app>`, "" for pending ones.
fn nodes_of_app(k: &Kubectl, app: &str) -> Vec<String> {
    k.ok(&[
        "get",
        "pods",
        "-l",
        &format!("app={app}"),
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName}{"\n"}{end}"#,
    ])
    .lines()
    .filter_map(|l| l.split_once('=').map(|(_, n)| n.to_string()))
    .collect()
}

/// The pending pod labelled `app=<app>` once the scheduler has said why, with its message.
fn pending_with_message(k: &Kubectl, app: &str) -> (String, String) {
    eventually(&format!("a pending {app} pod says why"), || {
        let out = k.ok(&[
            "get",
            "pods",
            "-l",
            &format!("app={app}"),
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name}|{.spec.nodeName}|{.status.conditions[?(@.type=="PodScheduled")].message}{"\n"}{end}"#,
        ]);
        out.lines().find_map(|l| {
            let mut parts = l.splitn(3, '|');
            let (name, node, message) = (parts.next()?, parts.next()?, parts.next()?);
            (node.is_empty() && !message.is_empty())
                .then(|| (name.to_string(), message.to_string()))
        })
    })
}

/// PodTopologySpread, InterPodAffinity and their queueing: a Deployment spread over zones by
/// a DoNotSchedule constraint (the replica that would break maxSkew stays Pending with
/// upstream's message, and is placed once a node in the short zone appears), replicas kept on
/// distinct hostnames by required anti-affinity, and a pod with required affinity waiting for
/// the pod it must run beside, then following it to its node.
#[test]
fn pods_spread_over_zones_and_follow_or_avoid_each_other() {
    let cluster = Cluster::up_with(&["--disable-scheduler"]);
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    let k133 = cluster.kubectl(&bins[1]);
    let zone = |z: &str| format!(", topology.kubernetes.io/zone: {z}");
    let nodes = [
        node("a1", "4", "8Gi", &zone("a"), "  {}"),
        node("a2", "4", "8Gi", &zone("a"), "  {}"),
        // Room for one 600m replica only.
        node("b1", "1", "8Gi", &zone("b"), "  {}"),
    ];
    k.ok_stdin(&["apply", "-f", "-"], &nodes.join("---\n"));
    let _beats = common::heartbeats(&cluster, &bins[0], &["a1", "a2", "b1", "b2"]);
    let config = cluster.dir.path().join("scheduler.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
         leaderElection: {leaderElect: false}\npodInitialBackoffSeconds: 1\npodMaxBackoffSeconds: 2\n",
    )
    .unwrap();
    let log = cluster.dir.path().join("scheduler.log");
    let out = std::fs::File::create(&log).unwrap();
    let _scheduler = Scheduler {
        child: Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .arg("scheduler")
            .arg("--config")
            .arg(&config)
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args(["--secure-port", "0"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
        log,
    };

    // Three replicas, at most one apart between zones: zone b (one replica's room) gets one,
    // zone a two.
    let spread = "      topologySpreadConstraints:\n      - maxSkew: 1\n        topologyKey: topology.kubernetes.io/zone\n        whenUnsatisfiable: DoNotSchedule\n        labelSelector: {matchLabels: {app: spread}}\n        matchLabelKeys: [pod-template-hash]";
    k.ok_stdin(
        &["apply", "-f", "-"],
        &deployment("spread", 3, "600m", spread),
    );
    let placed = eventually("three spread replicas are bound", || {
        let n = nodes_of_app(&k, "spread");
        (n.len() == 3 && n.iter().all(|n| !n.is_empty())).then_some(n)
    });
    let in_zone = |nodes: &[String], z: char| nodes.iter().filter(|n| n.starts_with(z)).count();
    assert_eq!(
        (in_zone(&placed, 'a'), in_zone(&placed, 'b')),
        (2, 1),
        "{placed:?}"
    );

    // A fourth would make zone a three against one: it stays Pending, saying why.
    k.ok(&["scale", "deployment", "spread", "--replicas=4"]);
    let (pending, message) = pending_with_message(&k, "spread");
    let why = "0/3 nodes are available: 1 Insufficient cpu, \
               2 node(s) didn't match pod topology spread constraints.";
    assert!(message.starts_with(why), "{message}");
    for kubectl in [&k, &k133] {
        let described = kubectl.ok(&["describe", "pod", &pending]);
        assert!(described.contains("FailedScheduling"), "{described}");
        assert!(
            described.contains("didn't match pod topology spread constraints"),
            "{described}"
        );
    }
    // A second node in zone b: the node event requeues the pod, which goes there.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &node("b2", "4", "8Gi", &zone("b"), "  {}"),
    );
    assert_eq!(bound(&k, &pending), "b2");

    // Required anti-affinity: one replica per hostname; the fifth finds no node.
    let apart = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector: {matchLabels: {app: solo}}\n            topologyKey: kubernetes.io/hostname";
    k.ok_stdin(&["apply", "-f", "-"], &deployment("solo", 4, "100m", apart));
    let placed = eventually("four solo replicas are bound", || {
        let n = nodes_of_app(&k, "solo");
        (n.len() == 4 && n.iter().all(|n| !n.is_empty())).then_some(n)
    });
    let distinct: std::collections::BTreeSet<&String> = placed.iter().collect();
    assert_eq!(distinct.len(), 4, "{placed:?}");
    k.ok(&["scale", "deployment", "solo", "--replicas=5"]);
    let (_, message) = pending_with_message(&k, "solo");
    assert!(
        message.starts_with(
            "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules."
        ),
        "{message}"
    );

    // Required affinity: the client waits for a db pod, then joins it on its node.
    let client = pod(
        "client",
        "100m",
        "  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: db}}\n        topologyKey: kubernetes.io/hostname",
    );
    let client = client.replacen(
        "metadata:\n  name: client",
        "metadata:\n  name: client\n  labels: {app: client}",
        1,
    );
    k.ok_stdin(&["apply", "-f", "-"], &client);
    let (_, message) = pending_with_message(&k, "client");
    assert!(
        message.starts_with("0/4 nodes are available: 4 node(s) didn't match pod affinity rules."),
        "{message}"
    );
    let db = pod("db", "100m", "  nodeSelector: {kubernetes.io/hostname: a2}");
    let db = db.replacen(
        "metadata:\n  name: db",
        "metadata:\n  name: db\n  labels: {app: db}",
        1,
    );
    k.ok_stdin(&["apply", "-f", "-"], &db);
    assert_eq!(bound(&k, "db"), "a2");
    assert_eq!(bound(&k, "client"), "a2");
    for kubectl in [&k, &k133] {
        let wide = kubectl.ok(&["get", "pod", "client", "db", "-o", "wide"]);
        for line in wide.lines().skip(1) {
            assert!(line.contains("a2"), "{wide}");
        }
    }
}

/// A PersistentVolume (`local` on `node` with that node affinity, else `hostPath`) of 1Gi
/// with access `mode`.
fn persistent_volume(name: &str, class: &str, node: &str, mode: &str) -> String {
    let source = if node.is_empty() {
        format!("  hostPath: {{path: /tmp/{name}}}\n")
    } else {
        format!(
            "  local: {{path: /mnt/{name}}}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [{node}]}}]\n"
        )
    };
    format!(
        r#"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: {name}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [{mode}]
  storageClassName: "{class}"
{source}"#
    )
}

fn claim(name: &str, class: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
spec:
  storageClassName: "{class}"
  resources: {{requests: {{storage: 1Gi}}}}
{extra}"#
    )
}

fn pod_with_claim(name: &str, claim: &str) -> String {
    pod(
        name,
        "100m",
        &format!("  volumes:\n  - name: data\n    persistentVolumeClaim: {{claimName: {claim}}}"),
    )
}

fn claim_status(k: &Kubectl, claim: &str) -> String {
    k.ok(&[
        "get",
        "pvc",
        claim,
        "-o",
        "jsonpath={.status.phase}|{.spec.volumeName}",
    ])
}

/// The volume plugins: a pod whose claim is bound to a local volume goes to that volume's
/// node (VolumeBinding's node affinity check); a WaitForFirstConsumer claim with Available
/// local volumes on two nodes gets one picked with the pod (the scheduler writes the
/// volume's `claimRef`, the PV binder of `ferrokube up` completes the binding before the pod
/// is bound); a pod whose claim does not exist stays Pending with upstream's message; and a
/// ReadWriteOncePod claim serves one pod at a time (VolumeRestrictions).
#[test]
fn pods_with_volumes_go_where_their_volumes_are() {
    let cluster = Cluster::up_with(&["--disable-scheduler"]);
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    let k133 = cluster.kubectl(&bins[1]);
    let nodes = [
        node("vol-a", "4", "8Gi", "", "  {}"),
        node("vol-b", "4", "8Gi", "", "  {}"),
        node("vol-c", "4", "8Gi", "", "  {}"),
    ];
    k.ok_stdin(&["apply", "-f", "-"], &nodes.join("---\n"));
    let _beats = common::heartbeats(&cluster, &bins[0], &["vol-a", "vol-b", "vol-c"]);
    let config = cluster.dir.path().join("scheduler.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
         leaderElection: {leaderElect: false}\npodInitialBackoffSeconds: 1\npodMaxBackoffSeconds: 2\n",
    )
    .unwrap();
    let log = cluster.dir.path().join("scheduler.log");
    let out = std::fs::File::create(&log).unwrap();
    let _scheduler = Scheduler {
        child: Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .arg("scheduler")
            .arg("--config")
            .arg(&config)
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args(["--secure-port", "0"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
        log,
    };

    // A claim pre-bound to a local volume on vol-b: its pod waits for the binding, then
    // follows the volume.
    let objects = [
        persistent_volume("pv-b", "", "vol-b", "ReadWriteOnce"),
        claim(
            "on-b",
            "",
            "  accessModes: [ReadWriteOnce]\n  volumeName: pv-b\n",
        ),
        pod_with_claim("uses-b", "on-b"),
    ];
    k.ok_stdin(&["apply", "-f", "-"], &objects.join("---\n"));
    assert_eq!(bound(&k, "uses-b"), "vol-b");

    // WaitForFirstConsumer: local volumes on vol-a and vol-c, none on vol-b.
    let objects = [
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local-wait}\n\
         provisioner: kubernetes.io/no-provisioner\nvolumeBindingMode: WaitForFirstConsumer\n"
            .to_string(),
        persistent_volume("pv-wait-a", "local-wait", "vol-a", "ReadWriteOnce"),
        persistent_volume("pv-wait-c", "local-wait", "vol-c", "ReadWriteOnce"),
        claim("later", "local-wait", "  accessModes: [ReadWriteOnce]\n"),
    ];
    k.ok_stdin(&["apply", "-f", "-"], &objects.join("---\n"));
    // The claim waits for its pod.
    let (phase, volume) = eventually("the claim waits for a consumer", || {
        let s = claim_status(&k, "later");
        s.starts_with("Pending|").then_some(s)
    })
    .split_once('|')
    .map(|(p, v)| (p.to_string(), v.to_string()))
    .unwrap();
    assert_eq!((phase.as_str(), volume.as_str()), ("Pending", ""));
    k.ok_stdin(&["apply", "-f", "-"], &pod_with_claim("waiter", "later"));
    let node = bound(&k, "waiter");
    assert!(node == "vol-a" || node == "vol-c", "{node}");
    let picked = format!("pv-wait-{}", &node[4..]);
    // Bound before the pod was: the scheduler waited for the PV binder.
    assert_eq!(claim_status(&k, "later"), format!("Bound|{picked}"));
    let claim_ref = k.ok(&[
        "get",
        "pv",
        &picked,
        "-o",
        "jsonpath={.spec.claimRef.namespace}/{.spec.claimRef.name}",
    ]);
    assert_eq!(claim_ref, "default/later");
    let other = if picked == "pv-wait-a" {
        "pv-wait-c"
    } else {
        "pv-wait-a"
    };
    let free = k.ok(&[
        "get",
        "pv",
        other,
        "-o",
        "jsonpath={.status.phase}|{.spec.claimRef}",
    ]);
    assert_eq!(free, "Available|");

    // A claim that does not exist: Pending, upstream's words.
    k.ok_stdin(&["apply", "-f", "-"], &pod_with_claim("no-claim", "absent"));
    let why = "0/3 nodes are available: persistentvolumeclaim \"absent\" not found.";
    let message = eventually("no-claim is marked unschedulable", || {
        let m = k.ok(&[
            "get",
            "pod",
            "no-claim",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ]);
        (!m.is_empty()).then_some(m)
    });
    assert!(message.starts_with(why), "{message}");
    for kubectl in [&k, &k133] {
        let described = eventually("describe shows FailedScheduling", || {
            let d = kubectl.ok(&["describe", "pod", "no-claim"]);
            d.contains("FailedScheduling").then_some(d)
        });
        assert!(described.contains(why), "{described}");
    }

    // ReadWriteOncePod: the second pod of the claim waits until the first is gone.
    let objects = [
        persistent_volume("pv-solo", "", "", "ReadWriteOncePod"),
        claim(
            "solo",
            "",
            "  accessModes: [ReadWriteOncePod]\n  volumeName: pv-solo\n",
        ),
        pod_with_claim("solo-1", "solo"),
    ];
    k.ok_stdin(&["apply", "-f", "-"], &objects.join("---\n"));
    bound(&k, "solo-1");
    k.ok_stdin(&["apply", "-f", "-"], &pod_with_claim("solo-2", "solo"));
    let why = "0/3 nodes are available: 3 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode.";
    let message = eventually("solo-2 is marked unschedulable", || {
        let m = k.ok(&[
            "get",
            "pod",
            "solo-2",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ]);
        (!m.is_empty()).then_some(m)
    });
    assert!(message.starts_with(why), "{message}");
    k.ok(&["delete", "pod", "solo-1", "--grace-period=0", "--force"]);
    bound(&k, "solo-2");
}
