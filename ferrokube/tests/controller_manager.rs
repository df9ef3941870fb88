//! `ferrokube controller-manager` as a process of its own beside `ferrokube up`: leader election
//! on the `kube-controller-manager` Lease (the in-process manager of `up` holds it, so a second
//! manager waits), the HTTPS `/healthz` and `/metrics` endpoints, and controllers whose
//! flags the in-process manager cannot take (the legacy token cleaner's clean-up period).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, free_port, kubectls};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(30), f)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

#[test]
fn a_second_manager_waits_for_the_lease_and_serves_health_and_metrics() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    // The manager inside `ferrokube up` leads.
    let holder = eventually("the lease is held", || {
        let h = k.ok(&[
            "get",
            "lease",
            "kube-controller-manager",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.spec.holderIdentity}|{.spec.leaseDurationSeconds}",
        ]);
        (!h.starts_with('|')).then_some(h)
    });
    assert!(holder.ends_with("|15"), "{holder}");
    eventually("the election is recorded as an event", || {
        let events = k.ok(&["get", "events", "-n", "kube-system"]);
        (events.contains("LeaderElection") && events.contains("became leader")).then_some(())
    });

    let port = free_port();
    let log = std::fs::File::create(cluster.dir.path().join("cm.log")).unwrap();
    let _second = Killed(
        Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .arg("controller-manager")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args([
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                &port.to_string(),
            ])
            .args(["--leader-elect-retry-period", "1s"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let health = eventually("/healthz answers", || {
        get(&format!("https://127.0.0.1:{port}/healthz"))
    });
    assert_eq!(health, "ok");
    let metrics = eventually("/metrics shows the election", || {
        get(&format!("https://127.0.0.1:{port}/metrics")).filter(|m| {
            m.contains("leader_election_master_status{name=\"kube-controller-manager\"}")
        })
    });
    // It does not lead while `up` renews the lease.
    std::thread::sleep(Duration::from_secs(3));
    let metrics_later = get(&format!("https://127.0.0.1:{port}/metrics")).unwrap();
    assert!(
        metrics_later.contains("leader_election_master_status{name=\"kube-controller-manager\"} 0"),
        "{metrics}\n{metrics_later}"
    );
    assert!(
        metrics_later.contains("# TYPE workqueue_depth gauge"),
        "{metrics_later}"
    );
    let still = k.ok(&[
        "get",
        "lease",
        "kube-controller-manager",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.spec.holderIdentity}|{.spec.leaseDurationSeconds}",
    ]);
    assert_eq!(still, holder);
    assert_eq!(
        get(&format!("https://127.0.0.1:{port}/nope")).unwrap(),
        "404 page not found\n"
    );
}

const TOKENS: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot}
secrets: [{name: unused}, {name: long-invalid}, {name: mounted}, {name: used-today}]
---
apiVersion: v1
kind: Secret
metadata:
  name: unused
  annotations: {kubernetes.io/service-account.name: robot}
type: kubernetes.io/service-account-token
---
apiVersion: v1
kind: Secret
metadata:
  name: long-invalid
  annotations: {kubernetes.io/service-account.name: robot}
  labels: {kubernetes.io/legacy-token-invalid-since: "2020-01-01"}
type: kubernetes.io/service-account-token
---
apiVersion: v1
kind: Secret
metadata:
  name: mounted
  annotations: {kubernetes.io/service-account.name: robot}
type: kubernetes.io/service-account-token
---
apiVersion: v1
kind: Secret
metadata:
  name: used-today
  annotations: {kubernetes.io/service-account.name: robot}
  labels: {kubernetes.io/legacy-token-last-used: "TODAY"}
type: kubernetes.io/service-account-token
---
apiVersion: v1
kind: Secret
metadata:
  name: unlisted
  annotations: {kubernetes.io/service-account.name: robot}
type: kubernetes.io/service-account-token
---
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  containers: [{name: c, image: busybox}]
  volumes: [{name: token, secret: {secretName: mounted}}]
"#;

/// The legacy token cleaner, with a clean-up period of two seconds: tokens of a
/// ServiceAccount nobody used or mounted are labelled invalid, those invalid for the period
/// are deleted, and nothing happens before the apiserver has tracked usage for the period.
#[test]
fn legacy_tokens_unused_for_the_period_are_invalidated_then_deleted() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    let today = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%d")
        .to_string();
    // The apiserver began tracking today.
    let since = k.ok(&[
        "get",
        "configmap",
        "kube-apiserver-legacy-service-account-token-tracking",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.data.since}",
    ]);
    assert_eq!(since, today);
    k.ok_stdin(&["apply", "-f", "-"], &TOKENS.replace("TODAY", &today));
    // Older than the period.
    std::thread::sleep(Duration::from_secs(3));
    let manager = |log: &str| {
        let port = free_port();
        let log = std::fs::File::create(cluster.dir.path().join(log)).unwrap();
        Killed(
            Command::new(env!("CARGO_BIN_EXE_ferrokube"))
                .arg("controller-manager")
                .arg("--kubeconfig")
                .arg(cluster.kubeconfig())
                .args([
                    "--bind-address",
                    "127.0.0.1",
                    "--secure-port",
                    &port.to_string(),
                ])
                .args(["--leader-elect=false"])
                .args([
                    "--controllers",
                    "legacy-serviceaccount-token-cleaner-controller",
                ])
                .args(["--legacy-service-account-token-clean-up-period", "2s"])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let labels = || {
        k.ok(&[
            "get",
            "secrets",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.kubernetes\.io/legacy-token-invalid-since}{" "}{end}"#,
        ])
    };
    // Tracking began today: a whole period has not passed since the end of today.
    let first = manager("cm-early.log");
    eventually("the first manager's cleaner to start", || {
        let log = std::fs::read_to_string(cluster.dir.path().join("cm-early.log")).ok()?;
        log.contains("Starting legacy-serviceaccount-token-cleaner-controller")
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    drop(first);
    assert_eq!(
        labels().trim(),
        "long-invalid=2020-01-01 mounted= unlisted= unused= used-today=",
    );

    k.ok(&[
        "patch",
        "configmap",
        "kube-apiserver-legacy-service-account-token-tracking",
        "-n",
        "kube-system",
        "--type=merge",
        "-p",
        r#"{"data":{"since":"2020-01-01"}}"#,
    ]);
    let _second = manager("cm.log");
    let after = eventually("the cleaner's pass", || {
        let now = labels();
        now.contains(&format!("unused={today}")).then_some(now)
    });
    assert_eq!(
        after.trim(),
        format!("mounted= unlisted= unused={today} used-today="),
        "long-invalid is deleted, the others kept"
    );
}
