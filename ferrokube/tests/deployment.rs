//! The deployment controller inside `ferrokube up`, driven with both kubectl binaries:
//! rollouts within the surge bounds, `kubectl rollout status|history|undo|pause|resume|restart`,
//! `kubectl scale`, `kubectl describe` events, the Recreate strategy, the progress deadline,
//! and deletion taking the ReplicaSets and pods along. No kubelet runs: the test marks pods
//! Running and Ready through the status subresource, as a kubelet would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls, table};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(40), f)
}

/// Marks every Pending pod of the namespace Running and Ready.
fn ready_all(k: &Kubectl, ns: &str) -> usize {
    let out = k.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "--field-selector=status.phase=Pending",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
    ]);
    let mut n = 0;
    for pod in out.lines().filter(|l| !l.is_empty()) {
        let r = k.run(&[
            "patch",
            "pod",
            pod,
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
        ]);
        // A pod deleted meanwhile is fine.
        n += usize::from(r.ok);
    }
    n
}

/// `(name, desired, revision)` of each ReplicaSet of the namespace, oldest revision first.
fn replicasets(k: &Kubectl, ns: &str) -> Vec<(String, i32, i32)> {
    let out = k.ok(&[
        "get",
        "rs",
        "-n",
        ns,
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.spec.replicas} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}{\"\\n\"}{end}",
    ]);
    let mut sets: Vec<(String, i32, i32)> = out
        .lines()
        .filter_map(|l| {
            let mut p = l.split(' ');
            Some((
                p.next()?.to_string(),
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
            ))
        })
        .collect();
    sets.sort_by_key(|s| s.2);
    sets
}

/// Drives a rollout to its end, marking pods ready one round at a time and checking the
/// RollingUpdate bounds on the way: never more than `max_total` pods asked for.
fn roll(k: &Kubectl, ns: &str, max_total: i32) {
    eventually("the rollout completes", || {
        let total: i32 = replicasets(k, ns).iter().map(|s| s.1).sum();
        assert!(
            total <= max_total,
            "{total} replicas exceed the surge bound {max_total}"
        );
        ready_all(k, ns);
        let r = k.run(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            ns,
            "--watch=false",
        ]);
        (r.ok && r.stdout.contains("successfully rolled out")).then_some(())
    });
}

#[test]
fn deployments_roll_out_through_replicasets() {
    let cluster = Cluster::up();
    let bins = kubectls();
    for (i, bin) in bins.iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("deploy-{i}");
        k.ok(&["create", "namespace", &ns]);
        rolling(&k, &ns);
    }
    let k = cluster.kubectl(&bins[1]);
    k.ok(&["create", "namespace", "recreate"]);
    recreate(&k, "recreate");
    k.ok(&["create", "namespace", "deadline"]);
    deadline(&k, "deadline");
}

fn rolling(k: &Kubectl, ns: &str) {
    k.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        ns,
        "--image=nginx:1",
        "--replicas=4",
    ]);
    // 25% surge of 4 is 1 pod over; 25% unavailable is 1 pod under.
    roll(k, ns, 5);
    let sets = replicasets(k, ns);
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert!(sets[0].0.starts_with("web-"), "{sets:?}");
    let out = k.ok(&["get", "deployment", "web", "-n", ns]);
    assert_eq!(table(&out)[1][..4], ["web", "4/4", "4", "4"], "{out}");

    // A new image rolls out through a second ReplicaSet.
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:2", "-n", ns]);
    roll(k, ns, 5);
    let sets = replicasets(k, ns);
    assert_eq!(
        sets.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
        vec![(0, 1), (4, 2)],
        "{sets:?}"
    );
    let described = k.ok(&["describe", "deployment", "web", "-n", ns]);
    for line in [
        &format!("Scaled up replica set {} to 4", sets[0].0),
        &format!("Scaled up replica set {} to 1", sets[1].0),
        &format!("Scaled down replica set {} from 4 to 3", sets[0].0),
        "Available      True    MinimumReplicasAvailable",
        "Progressing    True    NewReplicaSetAvailable",
        &format!("NewReplicaSet:   {} (4/4 replicas created)", sets[1].0),
    ] {
        assert!(described.contains(line), "{line:?} in:\n{described}");
    }
    let history = k.ok(&["rollout", "history", "deployment/web", "-n", ns]);
    assert!(
        history.contains("1         <none>") && history.contains("2         <none>"),
        "{history}"
    );

    // Undo brings revision 1's ReplicaSet back as revision 3.
    k.ok(&["rollout", "undo", "deployment/web", "-n", ns]);
    roll(k, ns, 5);
    let sets = replicasets(k, ns);
    assert_eq!(
        sets.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
        vec![(0, 2), (4, 3)]
    );
    let image = k.ok(&[
        "get",
        "deployment",
        "web",
        "-n",
        ns,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "nginx:1");
    let history = k.ok(&[
        "get",
        "rs",
        &sets[1].0,
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision-history}",
    ]);
    assert_eq!(history, "1");

    // Paused, a template change waits; resumed, it rolls out.
    k.ok(&["rollout", "pause", "deployment/web", "-n", ns]);
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:3", "-n", ns]);
    eventually("the paused condition shows", || {
        let reason = k.ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            ns,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
        ]);
        (reason == "DeploymentPaused").then_some(())
    });
    assert_eq!(replicasets(k, ns).len(), 2);
    k.ok(&["rollout", "resume", "deployment/web", "-n", ns]);
    roll(k, ns, 5);
    assert_eq!(replicasets(k, ns).len(), 3);

    // restart rolls the same template out again; scale resizes the new ReplicaSet.
    k.ok(&["rollout", "restart", "deployment/web", "-n", ns]);
    roll(k, ns, 5);
    assert_eq!(replicasets(k, ns).len(), 4);
    k.ok(&["scale", "deployment/web", "-n", ns, "--replicas=6"]);
    roll(k, ns, 8);
    assert_eq!(replicasets(k, ns).last().unwrap().1, 6);

    // Deleting the Deployment takes its ReplicaSets and pods along.
    k.ok(&["delete", "deployment", "web", "-n", ns]);
    eventually("the ReplicaSets and pods are gone", || {
        let rs = k.ok(&["get", "rs,pods", "-n", ns, "-o", "name"]);
        rs.trim().is_empty().then_some(())
    });
}

const RECREATE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  strategy:
    type: Recreate
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1
"#;

fn recreate(k: &Kubectl, ns: &str) {
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], RECREATE);
    roll(k, ns, 2);
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:2", "-n", ns]);
    // Old pods go first; the new ReplicaSet starts at the full count.
    roll(k, ns, 2);
    let sets = replicasets(k, ns);
    assert_eq!(
        sets.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
        vec![(0, 1), (2, 2)]
    );
    let described = k.ok(&["describe", "deployment", "web", "-n", ns]);
    assert!(
        described.contains(&format!(
            "Scaled down replica set {} from 2 to 0",
            sets[0].0
        )) && described.contains(&format!("Scaled up replica set {} to 2", sets[1].0)),
        "{described}"
    );
}

fn deadline(k: &Kubectl, ns: &str) {
    k.ok(&[
        "create",
        "deployment",
        "slow",
        "-n",
        ns,
        "--image=nginx",
        "--replicas=1",
    ]);
    k.ok(&[
        "patch",
        "deployment",
        "slow",
        "-n",
        ns,
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":2}}"#,
    ]);
    // Its pod never becomes ready: the rollout times out.
    eventually("the progress deadline is exceeded", || {
        let reason = k.ok(&[
            "get",
            "deployment",
            "slow",
            "-n",
            ns,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
        ]);
        (reason == "ProgressDeadlineExceeded").then_some(())
    });
    let r = k.run(&["rollout", "status", "deployment/slow", "-n", ns]);
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("deployment \"slow\" exceeded its progress deadline"),
        "{}",
        r.stderr
    );
}
