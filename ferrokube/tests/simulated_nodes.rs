//! Simulated nodes (`ferrokube simulate-nodes`, `ferrokube up --simulated-nodes`): Nodes
//! registered Ready with a kubelet's columns, Leases renewed so the node lifecycle controller
//! keeps them Ready past its grace period, pods bound to them Running and Ready (one bound by
//! `spec.nodeName`, a Deployment's bound by the scheduler `up` runs), and deleted pods
//! finished at once. Driven by both kubectls.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls, table};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(30), f)
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kubectl get nodes` once `n` nodes are Ready: the rows.
fn ready_nodes(k: &Kubectl, n: usize) -> Vec<Vec<String>> {
    eventually(&format!("{n} nodes are Ready"), || {
        let rows = table(&k.ok(&["get", "nodes"]));
        let ready = rows.iter().skip(1).filter(|r| r[1] == "Ready").count();
        (rows.len() == n + 1 && ready == n).then_some(rows)
    })
}

fn renew_time(k: &Kubectl, node: &str) -> String {
    k.ok(&[
        "get",
        "lease",
        node,
        "-n",
        "kube-node-lease",
        "-o",
        "jsonpath={.spec.renewTime}",
    ])
}

fn pod(name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: single}}}}\nspec:\n  \
         nodeName: {node}\n  restartPolicy: Never\n  initContainers: [{{name: init, image: busybox}}]\n  \
         containers: [{{name: main, image: busybox, command: [sleep, '3600']}}]\n"
    )
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"#;

/// How many of the Deployment's pods the scheduler has bound.
fn bound(k: &Kubectl) -> usize {
    let out = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|n| n.starts_with("sim-"))
        })
        .count()
}

#[test]
fn simulate_nodes_plays_the_kubelets_of_its_nodes() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let log = std::fs::File::create(cluster.dir.path().join("simulator.log")).unwrap();
    let _simulator = Killed(
        Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .arg("simulate-nodes")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args(["--nodes", "3"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let k = cluster.kubectl(&bins[1]);
    ready_nodes(&k, 3);
    let registered = Instant::now();
    let first_renewals: Vec<String> = ["sim-0", "sim-1", "sim-2"]
        .iter()
        .map(|n| renew_time(&k, n))
        .collect();

    for bin in &bins {
        let k = cluster.kubectl(bin);
        let v = k.version();
        let rows = ready_nodes(&k, 3);
        assert_eq!(
            rows[0],
            ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
            "{v}"
        );
        for (i, row) in rows.iter().skip(1).enumerate() {
            assert_eq!(row[0], format!("sim-{i}"), "{v}");
            assert_eq!(row[2], "<none>", "{v}");
            assert!(row[4].starts_with("v1.33."), "{v}: {row:?}");
        }
        let wide = table(&k.ok(&["get", "nodes", "-o", "wide"]));
        assert_eq!(
            wide[0],
            [
                "NAME",
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME"
            ],
            "{v}"
        );
        assert_eq!(wide[1][5], "10.250.0.1", "{v}");
        assert_eq!(wide[3][5], "10.250.0.3", "{v}");
        assert!(wide[1][9].starts_with("simulated://"), "{v}: {:?}", wide[1]);
        let labels = k.ok(&["get", "node", "sim-1", "--show-labels", "--no-headers"]);
        for label in [
            "kubernetes.io/hostname=sim-1",
            "kubernetes.io/os=linux",
            "kubernetes.io/arch=amd64",
            "type=simulated",
        ] {
            assert!(labels.contains(label), "{v}: {labels}");
        }
        let capacity = k.ok(&[
            "get",
            "node",
            "sim-2",
            "-o",
            "jsonpath={.status.capacity.cpu} {.status.allocatable.memory} {.status.capacity.pods}",
        ]);
        assert_eq!(capacity, "32 256Gi 110", "{v}");
        let leases = table(&k.ok(&["get", "leases", "-n", "kube-node-lease"]));
        assert_eq!(leases[0], ["NAME", "HOLDER", "AGE"], "{v}");
        assert_eq!(leases[1][..2], ["sim-0", "sim-0"], "{v}");
        assert_eq!(leases.len(), 4, "{v}: {leases:?}");

        // A pod bound by spec.nodeName runs on its node.
        let name = format!("p-{}", v.replace('.', "-").replace("kubectl-", ""));
        k.ok_stdin(&["apply", "-f", "-"], &pod(&name, "sim-0"));
        k.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{name}"),
            "--timeout=30s",
        ]);
        let rows = table(&k.ok(&["get", "pod", &name, "-o", "wide"]));
        assert_eq!(
            rows[0],
            [
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED NODE",
                "READINESS GATES"
            ],
            "{v}"
        );
        let row = &rows[1];
        assert_eq!(row[1..4], ["1/1", "Running", "0"], "{v}: {row:?}");
        let cidr = k.ok(&["get", "node", "sim-0", "-o", "jsonpath={.spec.podCIDR}"]);
        let prefix = cidr.trim_end_matches("0/24");
        assert!(
            !cidr.is_empty() && row[5].starts_with(prefix),
            "{v}: {row:?} not in {cidr}"
        );
        assert_eq!(row[6], "sim-0", "{v}");
        let statuses = k.ok(&[
            "get",
            "pod",
            &name,
            "-o",
            "jsonpath={.status.hostIP} {.status.initContainerStatuses[0].state.terminated.reason} \
             {.status.containerStatuses[0].image} {.status.containerStatuses[0].started}",
        ]);
        assert_eq!(statuses, "10.250.0.1 Completed busybox true", "{v}");

        // Deleting it completes at once: the simulated kubelet finishes the pod.
        let started = Instant::now();
        k.ok(&["delete", "pod", &name, "--timeout=20s"]);
        assert!(started.elapsed() < Duration::from_secs(10), "{v}");
        let gone = k.run(&["get", "pod", &name]);
        assert!(
            !gone.ok && gone.stderr.contains("NotFound"),
            "{v}: {gone:?}"
        );
    }

    // A Deployment rolls out once its pods are bound (no scheduler runs in `up` yet).
    let k = cluster.kubectl(&bins[1]);
    k.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    eventually("the scheduler binds the Deployment's pods", || {
        (bound(&k) == 3).then_some(())
    });
    let holder = k.ok(&[
        "get",
        "lease",
        "kube-scheduler",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert!(holder.ends_with("_ferrokube-up"), "{holder}");
    for bin in &bins {
        let k = cluster.kubectl(bin);
        let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
        assert!(
            out.contains("deployment \"web\" successfully rolled out"),
            "{}: {out}",
            k.version()
        );
    }
    let nodes = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let mut nodes: Vec<&str> = nodes.split_whitespace().collect();
    nodes.sort();
    assert_eq!(nodes, ["sim-0", "sim-1", "sim-2"]);
    let ips = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].status.podIP}",
    ]);
    let mut ips: Vec<&str> = ips.split_whitespace().collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "distinct pod IPs: {ips:?}");

    // The Leases are renewed every 10 s; the node lifecycle controller (50 s grace period)
    // keeps the nodes Ready and untainted past its grace period.
    eventually("every Lease is renewed", || {
        let now: Vec<String> = ["sim-0", "sim-1", "sim-2"]
            .iter()
            .map(|n| renew_time(&k, n))
            .collect();
        now.iter()
            .zip(&first_renewals)
            .all(|(a, b)| a > b)
            .then_some(())
    });
    let past_grace = Duration::from_secs(55);
    if let Some(rest) = past_grace.checked_sub(registered.elapsed()) {
        std::thread::sleep(rest);
    }
    let rows = ready_nodes(&k, 3);
    let taints = k.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.spec.taints}{\"\\n\"}{end}",
    ]);
    assert_eq!(taints, "sim-0=\nsim-1=\nsim-2=\n", "{rows:?}");
    let renewed = renew_time(&k, "sim-1");
    assert!(
        renewed > first_renewals[1],
        "{renewed} after {}",
        first_renewals[1]
    );
}

#[test]
fn up_runs_simulated_nodes_in_process() {
    let cluster = Cluster::up_with(&["--simulated-nodes", "2"]);
    let banner = std::fs::read_to_string(cluster.dir.path().join("up.log")).unwrap();
    assert!(
        banner.contains("2 simulated nodes run in this process (sim-0 to sim-1)."),
        "{banner}"
    );
    assert!(
        cluster
            .dir
            .path()
            .join("node-simulator.kubeconfig")
            .exists()
    );
    let bins = kubectls();
    for bin in &bins {
        let k = cluster.kubectl(bin);
        let rows = ready_nodes(&k, 2);
        assert_eq!(rows[1][0], "sim-0");
        assert_eq!(rows[2][0], "sim-1");
    }
    let k = cluster.kubectl(&bins[0]);
    let holder = k.ok(&[
        "get",
        "lease",
        "sim-1",
        "-n",
        "kube-node-lease",
        "-o",
        "jsonpath={.spec.holderIdentity}/{.spec.leaseDurationSeconds}",
    ]);
    assert_eq!(holder, "sim-1/40");
    k.ok_stdin(&["apply", "-f", "-"], &pod("solo", "sim-1"));
    k.ok(&["wait", "--for=condition=Ready", "pod/solo", "--timeout=30s"]);
    let row = &table(&k.ok(&["get", "pod", "solo", "-o", "wide"]))[1];
    assert_eq!(row[2], "Running");
    assert_eq!(row[6], "sim-1");
    k.ok(&["delete", "pod", "solo", "--timeout=20s"]);
}
