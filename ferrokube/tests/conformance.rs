//! End to end: `ferrokube up` on a free port with a throwaway state directory, then
//! `ferrokube conformance` focused on the cases today's apiserver passes, which must all pass;
//! and `ferrokube up --simulated-nodes 2` with the rung `c` scheduling cases, which run their
//! pods on simulated nodes. Needs `etcd` on PATH, like `ferrokube up` itself.

// The helpers below are test code too; clippy only exempts `#[test]` functions themselves.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrokube");

/// A sample of the passing cases: API-only ones, and quick ones that need the controllers of
/// `ferrokube up` (garbage collector, deployment, replicaset, replication, endpoints,
/// EndpointSlice, resourcequota, disruption, namespace and root CA publisher controllers).
/// Kept short of the watch case that spends a minute proving the absence of events, to keep
/// this test under a minute.
const PASSING_TODAY: &[&str] = &[
    "[sig-api-machinery] server version should find the server version [Conformance]",
    "[sig-api-machinery] Watchers should be able to start watching from a specific resource version [Conformance]",
    "[sig-api-machinery] Watchers should be able to restart watching from the last resource version observed by the previous watch [Conformance]",
    "[sig-api-machinery] Watchers should observe an object deletion if it stops meeting the requirements of the selector [Conformance]",
    "[sig-api-machinery] Watchers should receive events on concurrent watches in same order [Conformance]",
    "[sig-api-machinery] Namespaces [Serial] should apply changes to a namespace status [Conformance]",
    "[sig-api-machinery] Namespaces [Serial] should apply an update to a Namespace [Conformance]",
    "[sig-api-machinery] Namespaces [Serial] should apply a finalizer to a Namespace [Conformance]",
    "[sig-node] ConfigMap should fail to create ConfigMap with empty key [Conformance]",
    "[sig-storage] ConfigMap should be immutable if `immutable` field is set [Conformance]",
    "[sig-api-machinery] Garbage collector should delete RS created by deployment when not orphaning [Conformance]",
    "[sig-api-machinery] Garbage collector should orphan RS created by deployment when deleteOptions.PropagationPolicy is Orphan [Conformance]",
    "[sig-apps] ReplicationController should get and update a ReplicationController scale [Conformance]",
    "[sig-apps] DisruptionController should create a PodDisruptionBudget [Conformance]",
    "[sig-apps] DisruptionController Listing PodDisruptionBudgets for all namespaces should list and delete a collection of PodDisruptionBudgets [Conformance]",
    "[sig-network] EndpointSlice should create and delete Endpoints and EndpointSlices for a Service with a selector specified [Conformance]",
    "[sig-network] EndpointSliceMirroring should mirror a custom Endpoints resource through create update and delete [Conformance]",
    "[sig-api-machinery] ResourceQuota should apply changes to a resourcequota status [Conformance]",
    "[sig-api-machinery] Namespaces [Serial] should ensure that all services are removed when a namespace is deleted [Conformance]",
    "[sig-auth] ServiceAccounts should guarantee kube-root-ca.crt exist in any namespace [Conformance]",
    "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should validate against a Deployment [Conformance]",
    "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should allow expressions to refer variables. [Conformance]",
];

/// Stops `ferrokube up` (and through it, etcd) when the test ends, however it ends.
struct Cluster(Child);

impl Drop for Cluster {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

fn start_cluster(dir: &Path) -> Cluster {
    let log = std::fs::File::create(dir.join("up.log")).expect("creating the log file");
    let child = Command::new(BIN)
        .args(["up", "--bind-address", "127.0.0.1", "--port"])
        .arg(free_port().to_string())
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting ferrokube up");
    let mut cluster = Cluster(child);
    // admin.kubeconfig is written once the apiserver is ready.
    let kubeconfig = dir.join("state/admin.kubeconfig");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !kubeconfig.exists() {
        if let Ok(Some(status)) = cluster.0.try_wait() {
            let log = std::fs::read_to_string(dir.join("up.log")).unwrap_or_default();
            panic!("ferrokube up exited with {status}:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "ferrokube up did not get ready in 60s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster
}

#[test]
fn cases_that_pass_today_pass() {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let _cluster = start_cluster(dir.path());
    let junit = dir.path().join("junit.xml");

    let mut cmd = Command::new(BIN);
    cmd.arg("conformance")
        .arg("--kubeconfig")
        .arg(dir.path().join("state/admin.kubeconfig"))
        // No controllers yet make the default ServiceAccount or kube-root-ca.crt.
        .arg("--no-verify-service-account")
        .args(["--parallel", "4", "--case-timeout", "45"])
        .arg("--junit")
        .arg(&junit)
        .env("RUST_BACKTRACE", "0");
    for name in PASSING_TODAY {
        cmd.arg("--focus").arg(format!("^{}$", regex_escape(name)));
    }
    let started = Instant::now();
    let out = cmd.output().expect("running ferrokube conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "conformance failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(&format!("Ran {} of ", PASSING_TODAY.len())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "SUCCESS! -- {} Passed | 0 Failed",
            PASSING_TODAY.len()
        )),
        "{stdout}"
    );
    for name in PASSING_TODAY {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("• [PASSED]") && l.ends_with(name)),
            "{name} did not pass:\n{stdout}"
        );
    }
    assert!(stdout.contains("Coverage of the 419 upstream v1.33 [Conformance] tests:"));
    let xml = std::fs::read_to_string(&junit).expect("reading the JUnit report");
    assert!(xml.contains("failures=\"0\""), "{xml}");
    assert!(
        xml.contains("classname=\"sig-api-machinery\" name=\"[sig-api-machinery] server version should find the server version [Conformance]\""),
        "{xml}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the focused run took {:?}",
        started.elapsed()
    );
}

/// The rung `c` `[sig-scheduling]` cases: the scheduler's predicates and preemption, with
/// pods that run on simulated nodes (all `[Serial]`: they run one at a time).
const SCHEDULING_ON_SIMULATED_NODES: &[&str] = &[
    "[sig-scheduling] SchedulerPredicates [Serial] validates resource limits of pods that are allowed to run [Conformance]",
    "[sig-scheduling] SchedulerPredicates [Serial] validates that NodeSelector is respected if not matching [Conformance]",
    "[sig-scheduling] SchedulerPredicates [Serial] validates that NodeSelector is respected if matching [Conformance]",
    "[sig-scheduling] SchedulerPredicates [Serial] validates that there exists conflict between pods with same hostPort and protocol but one using 0.0.0.0 hostIP [Conformance]",
    "[sig-scheduling] SchedulerPreemption [Serial] validates basic preemption works [Conformance]",
    "[sig-scheduling] SchedulerPreemption [Serial] validates lower priority pod preemption by critical pod [Conformance]",
    "[sig-scheduling] SchedulerPreemption [Serial] validates pod disruption condition is added to the preempted pod [Conformance]",
    "[sig-scheduling] SchedulerPreemption [Serial] PreemptionExecutionPath runs ReplicaSets to verify preemption running path [Conformance]",
    "[sig-scheduling] SchedulerPreemption [Serial] PriorityClass endpoints verify PriorityClass endpoints can be operated with different HTTP methods [Conformance]",
];

#[test]
fn scheduling_cases_pass_on_simulated_nodes() {
    let cluster = common::Cluster::up_with(&["--simulated-nodes", "2"]);
    let mut cmd = Command::new(BIN);
    cmd.arg("conformance")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(["--parallel", "4", "--case-timeout", "120"])
        .env("RUST_BACKTRACE", "0");
    for name in SCHEDULING_ON_SIMULATED_NODES {
        cmd.arg("--focus").arg(format!("^{}$", regex_escape(name)));
    }
    let started = Instant::now();
    let out = cmd.output().expect("running ferrokube conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let n = SCHEDULING_ON_SIMULATED_NODES.len();
    assert!(
        out.status.success(),
        "conformance failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(&format!("SUCCESS! -- {n} Passed | 0 Failed")),
        "{stdout}"
    );
    for name in SCHEDULING_ON_SIMULATED_NODES {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("• [PASSED]") && l.ends_with(name)),
            "{name} did not pass:\n{stdout}"
        );
    }
    // About a minute on two shared cores; the bound keeps a slow case from creeping in.
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "the scheduling cases took {:?}",
        started.elapsed()
    );
}

/// Escapes regex metacharacters so a full test name matches only itself.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
