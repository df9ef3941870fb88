//! The statefulset controller inside `ferrokube up`, driven with kubectl: pods `web-0..2`
//! created one at a time as each becomes ready, a claim per pod from the claim template,
//! scale-down from the highest ordinal keeping the claims, a partitioned rolling update, the
//! claims' owners following `persistentVolumeClaimRetentionPolicy` (deleted with condemned pods
//! under `whenScaled: Delete`, with the set under `whenDeleted: Delete`) and a pod's identity
//! label restored in place. No kubelet runs: the test writes pod status.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls, table};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(60), f)
}

const SET: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - {name: c, image: "nginx:1"}
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

/// The set's pods that are not being deleted, by name, with their revision label.
fn pods(k: &Kubectl) -> Vec<(String, String)> {
    let out = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.labels.controller-revision-hash} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    let mut out: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            (parts.len() >= 2 && parts.get(2).is_none_or(|d| d.is_empty()))
                .then(|| (parts[0].to_string(), parts[1].to_string()))
        })
        .collect();
    out.sort();
    out
}

fn names(k: &Kubectl) -> Vec<String> {
    pods(k).into_iter().map(|(n, _)| n).collect()
}

fn make_ready(k: &Kubectl, pod: &str) {
    k.ok(&[
        "patch",
        "pod",
        pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
    ]);
}

/// Waits for the pods of `want` after the first `ready` (which are ready already) to come one
/// at a time, making each ready in turn.
fn grow_to(k: &Kubectl, want: &[&str], ready: usize) {
    for n in ready + 1..=want.len() {
        let expected: Vec<String> = want[..n].iter().map(|s| s.to_string()).collect();
        eventually(&format!("pods {expected:?}"), || {
            (names(k) == expected).then_some(())
        });
        // The next pod waits for this one.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            names(k),
            expected,
            "an ordered set creates one pod at a time"
        );
        make_ready(k, want[n - 1]);
    }
}

#[test]
fn a_statefulset_creates_scales_and_updates_in_order() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok_stdin(&["apply", "-f", "-"], SET);
    grow_to(&k, &["web-0", "web-1", "web-2"], 0);
    eventually("READY 3/3", || {
        let rows = table(&k.ok(&["get", "sts", "web"]));
        (rows[1][1] == "3/3").then_some(())
    });
    let identity = k.ok(&[
        "get",
        "pod",
        "web-1",
        "-o",
        "jsonpath={.spec.hostname} {.spec.subdomain} {.metadata.labels.apps\\.kubernetes\\.io/pod-index} {.spec.volumes[0].persistentVolumeClaim.claimName}",
    ]);
    assert_eq!(identity, "web-1 nginx 1 www-web-1");
    let claims = k.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(claims, "www-web-0 www-web-1 www-web-2");

    // Scaling down removes the highest ordinals and keeps their claims.
    k.ok(&["scale", "sts", "web", "--replicas=1"]);
    eventually("only web-0 left", || (names(&k) == ["web-0"]).then_some(()));
    let claims = k.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(claims, "www-web-0 www-web-1 www-web-2");
    k.ok(&["scale", "sts", "web", "--replicas=3"]);
    grow_to(&k, &["web-0", "web-1", "web-2"], 1);

    // A partitioned update replaces the pods from the highest ordinal down to the partition.
    k.ok(&[
        "patch",
        "sts",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":1}},"template":{"spec":{"containers":[{"name":"c","image":"nginx:2"}]}}}}"#,
    ]);
    let (old, new) = eventually("both revisions in the status", || {
        let out = k.ok(&[
            "get",
            "sts",
            "web",
            "-o",
            "jsonpath={.status.currentRevision} {.status.updateRevision}",
        ]);
        let parts: Vec<&str> = out.split(' ').collect();
        (parts.len() == 2 && parts[0] != parts[1] && !parts[1].is_empty())
            .then(|| (parts[0].to_string(), parts[1].to_string()))
    });
    for pod in ["web-2", "web-1"] {
        eventually(&format!("{pod} updated"), || {
            pods(&k)
                .iter()
                .any(|(n, r)| n == pod && *r == new)
                .then_some(())
        });
        make_ready(&k, pod);
    }
    k.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(1));
    let now = pods(&k);
    assert_eq!(
        now,
        [
            ("web-0".to_string(), old.clone()),
            ("web-1".to_string(), new.clone()),
            ("web-2".to_string(), new.clone())
        ],
        "the pod below the partition keeps its revision"
    );
    let revisions = k.ok(&["get", "controllerrevisions", "-o", "name"]);
    assert_eq!(revisions.lines().count(), 2, "{revisions}");
    let described = k.ok(&["describe", "sts", "web"]);
    assert!(
        described.contains("create Pod web-0 in StatefulSet web successful"),
        "{described}"
    );
    assert!(
        described.contains("create Claim www-web-0 Pod web-0 in StatefulSet web success"),
        "{described}"
    );
}

/// The claims that are not being deleted, by name, with their owners' kinds and controller
/// flags (`StatefulSet:true`).
fn claims(k: &Kubectl) -> Vec<(String, String)> {
    let out = k.ok(&[
        "get",
        "pvc",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {range .metadata.ownerReferences[*]}{.kind}:{.controller},{end}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            (parts.len() >= 3 && parts[1].is_empty()).then(|| {
                (
                    parts[0].to_string(),
                    parts[2].trim_end_matches(',').to_string(),
                )
            })
        })
        .collect()
}

fn claims_are(k: &Kubectl, what: &str, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, o)| (n.to_string(), o.to_string()))
        .collect();
    eventually(what, || (claims(k) == want).then_some(()));
}

#[test]
fn claims_follow_the_retention_policy_and_pods_keep_their_identity() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    let set = SET.replace(
        "  replicas: 3\n",
        "  replicas: 3\n  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Delete}\n",
    );
    k.ok_stdin(&["apply", "-f", "-"], &set);
    grow_to(&k, &["web-0", "web-1", "web-2"], 0);
    // Claims of pods in range have no owner while the set is kept on deletion.
    claims_are(
        &k,
        "three claims without owners",
        &[("www-web-0", ""), ("www-web-1", ""), ("www-web-2", "")],
    );

    // whenScaled: Delete: the claims of the removed ordinals go with their pods.
    k.ok(&["scale", "sts", "web", "--replicas=1"]);
    eventually("only web-0 left", || (names(&k) == ["web-0"]).then_some(()));
    eventually("the claims of web-1 and web-2 deleted", || {
        let all = k.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
        (all == "www-web-0").then_some(())
    });

    // A changed policy moves the owners of the existing claims: whenDeleted: Delete puts
    // the set in control.
    k.ok(&[
        "patch",
        "sts",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete","whenScaled":"Retain"}}}"#,
    ]);
    claims_are(
        &k,
        "the set controlling www-web-0",
        &[("www-web-0", "StatefulSet:true")],
    );

    // whenScaled: Retain keeps the claims of removed ordinals (still owned by the set).
    k.ok(&["scale", "sts", "web", "--replicas=2"]);
    grow_to(&k, &["web-0", "web-1"], 1);
    claims_are(
        &k,
        "two claims controlled by the set",
        &[
            ("www-web-0", "StatefulSet:true"),
            ("www-web-1", "StatefulSet:true"),
        ],
    );
    k.ok(&["scale", "sts", "web", "--replicas=1"]);
    eventually("only web-0 left", || (names(&k) == ["web-0"]).then_some(()));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        claims(&k),
        [
            ("www-web-0".to_string(), "StatefulSet:true".to_string()),
            ("www-web-1".to_string(), "StatefulSet:true".to_string())
        ],
        "whenScaled: Retain keeps the claim"
    );

    // A pod that lost its identity label gets it back in place.
    let uid = k.ok(&["get", "pod", "web-0", "-o", "jsonpath={.metadata.uid}"]);
    k.ok(&[
        "label",
        "pod",
        "web-0",
        "statefulset.kubernetes.io/pod-name-",
    ]);
    eventually("the pod-name label back", || {
        let label = k.ok(&[
            "get",
            "pod",
            "web-0",
            "-o",
            "jsonpath={.metadata.labels.statefulset\\.kubernetes\\.io/pod-name} {.metadata.uid}",
        ]);
        (label == format!("web-0 {uid}")).then_some(())
    });
    let described = k.ok(&["describe", "sts", "web"]);
    assert!(
        described.contains("update Pod web-0 in StatefulSet web successful"),
        "{described}"
    );

    // Deleting the set takes the claims it controls along.
    cluster.kubectl(&bins[0]).ok(&["delete", "sts", "web"]);
    eventually("the claims deleted with the set", || {
        let all = k.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
        all.is_empty().then_some(())
    });
}
