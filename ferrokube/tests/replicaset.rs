//! The replicaset controller inside `ferrokube up`, driven with both kubectl binaries: pods
//! created from the template with the ReplicaSet as controller, status counts, Events in
//! `kubectl describe`, `kubectl scale` down deleting unready pods first, replacement of deleted
//! pods, and release and adoption by label. No kubelet runs: the test writes pod status.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls, table};
use std::collections::BTreeSet;
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(30), f)
}

const REPLICASET: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        tier: front
    spec:
      containers:
      - name: nginx
        image: nginx
"#;

/// Active pods labeled `app=<app>`: name -> controller (`Kind/name`, or empty).
fn pods(k: &Kubectl, ns: &str, app: &str) -> Vec<(String, String)> {
    let out = k.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}|{range .metadata.ownerReferences[?(@.controller==true)]}{.kind}/{.name}{end}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let (head, owner) = l.split_once('|')?;
            let mut parts = head.split(' ');
            let name = parts.next()?.to_string();
            // Pods being deleted no longer count.
            let deleting = parts.next().is_some_and(|d| !d.is_empty());
            (!deleting).then(|| (name, owner.to_string()))
        })
        .collect()
}

fn make_ready(k: &Kubectl, ns: &str, pod: &str) {
    k.ok(&[
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
}

fn rs_row(k: &Kubectl, ns: &str) -> Vec<String> {
    let out = k.ok(&["get", "rs", "web", "-n", ns]);
    let rows = table(&out);
    assert_eq!(rows[0], ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    rows[1][..4].to_vec()
}

#[test]
fn replicasets_keep_their_pods() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("rs-{i}");
        k.ok(&["create", "namespace", &ns]);
        scenario(&k, &ns);
    }
}

fn scenario(k: &Kubectl, ns: &str) {
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], REPLICASET);

    // Three pods from the template, each controlled by the ReplicaSet.
    let created = eventually("the ReplicaSet has three pods", || {
        let p = pods(k, ns, "web");
        (p.len() == 3).then_some(p)
    });
    for (name, owner) in &created {
        assert!(name.starts_with("web-"), "{name}");
        assert_eq!(owner, "ReplicaSet/web");
    }
    let labels = k.ok(&[
        "get",
        "pod",
        &created[0].0,
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.labels.tier}",
    ]);
    assert_eq!(labels, "front");
    eventually("the status counts three replicas", || {
        let out = k.ok(&[
            "get",
            "rs",
            "web",
            "-n",
            ns,
            "-o",
            "jsonpath={.status.replicas},{.status.fullyLabeledReplicas},{.status.observedGeneration}",
        ]);
        (out == "3,3,1").then_some(())
    });
    let described = eventually("describe shows the creations", || {
        let out = k.ok(&["describe", "rs", "web", "-n", ns]);
        (out.matches("SuccessfulCreate").count() == 3).then_some(out)
    });
    assert!(
        described.contains("replicaset-controller  Created pod: web-"),
        "{described}"
    );
    assert!(
        described.contains("Pods Status:  0 Running / 3 Waiting / 0 Succeeded / 0 Failed"),
        "{described}"
    );

    // Two pods turn ready: the status follows.
    let ready: BTreeSet<String> = created[..2].iter().map(|(n, _)| n.clone()).collect();
    for pod in &ready {
        make_ready(k, ns, pod);
    }
    eventually("two replicas are ready", || {
        (rs_row(k, ns) == ["web", "3", "3", "2"]).then_some(())
    });
    let available = k.ok(&[
        "get",
        "rs",
        "web",
        "-n",
        ns,
        "-o",
        "jsonpath={.status.availableReplicas}",
    ]);
    assert_eq!(available, "2");

    // Scaling down deletes the unready pod first.
    k.ok(&["scale", "rs", "web", "-n", ns, "--replicas=1"]);
    let left = eventually("one pod is left", || {
        let p = pods(k, ns, "web");
        (p.len() == 1).then_some(p)
    });
    assert!(
        ready.contains(&left[0].0),
        "{left:?} should be one of {ready:?}"
    );
    eventually("the status counts one replica", || {
        (rs_row(k, ns) == ["web", "1", "1", "1"]).then_some(())
    });
    eventually("describe shows the deletions", || {
        let out = k.ok(&["describe", "rs", "web", "-n", ns]);
        (out.matches("SuccessfulDelete").count() == 2 && out.contains("Deleted pod: web-"))
            .then_some(())
    });

    // A deleted pod is replaced.
    k.ok(&["delete", "pod", &left[0].0, "-n", ns]);
    let replacement = eventually("a replacement pod exists", || {
        let p = pods(k, ns, "web");
        (p.len() == 1 && p[0].0 != left[0].0).then_some(p)
    });

    // A pod relabeled out of the selector is released, and replaced.
    let released = replacement[0].0.clone();
    k.ok(&[
        "label",
        "pod",
        &released,
        "-n",
        ns,
        "app=other",
        "--overwrite",
    ]);
    eventually("the relabeled pod is released", || {
        let p = pods(k, ns, "other");
        (p == [(released.clone(), String::new())]).then_some(())
    });
    eventually("the released pod is replaced", || {
        let p = pods(k, ns, "web");
        (p.len() == 1 && p[0].0 != released && p[0].1 == "ReplicaSet/web").then_some(())
    });

    // Labeled back, the orphan is adopted, and the surplus pod goes.
    k.ok(&[
        "label",
        "pod",
        &released,
        "-n",
        ns,
        "app=web",
        "--overwrite",
    ]);
    eventually("the orphan is adopted and one pod is left", || {
        let p = pods(k, ns, "web");
        (p.len() == 1 && p[0].1 == "ReplicaSet/web").then_some(())
    });
    let owners = k.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-o",
        "jsonpath={range .items[*]}{.metadata.ownerReferences[0].name}{\"\\n\"}{end}",
    ]);
    assert!(owners.lines().all(|o| o == "web"), "{owners}");
}

const REPLICATION_CONTROLLER: &str = r#"
apiVersion: v1
kind: ReplicationController
metadata:
  name: legacy
spec:
  replicas: 2
  template:
    metadata:
      labels:
        app: legacy
    spec:
      containers:
      - name: nginx
        image: nginx
"#;

#[test]
fn replication_controllers_keep_their_pods_too() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[1]);
    k.ok_stdin(&["create", "-f", "-"], REPLICATION_CONTROLLER);
    let created = eventually("the ReplicationController has two pods", || {
        let p = pods(&k, "default", "legacy");
        (p.len() == 2).then_some(p)
    });
    for (name, owner) in &created {
        assert!(name.starts_with("legacy-"), "{name}");
        assert_eq!(owner, "ReplicationController/legacy");
    }
    eventually("describe shows the creations", || {
        let out = k.ok(&["describe", "rc", "legacy"]);
        (out.matches("replication-controller  Created pod: legacy-")
            .count()
            == 2)
            .then_some(())
    });
    k.ok(&["scale", "rc", "legacy", "--replicas=1"]);
    eventually("one pod is left and counted", || {
        let status = k.ok(&[
            "get",
            "rc",
            "legacy",
            "-o",
            "jsonpath={.status.replicas}/{.status.observedGeneration}",
        ]);
        (pods(&k, "default", "legacy").len() == 1 && status == "1/2").then_some(())
    });
}
