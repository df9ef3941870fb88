//! `ferrokube controller-manager` as a process of its own beside `ferrokube up`: leader election
//! on the `kube-controller-manager` Lease (the in-process manager of `up` holds it, so a second
//! manager waits), and the HTTPS `/healthz` and `/metrics` endpoints.
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
