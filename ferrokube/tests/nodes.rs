//! The node controllers inside `ferrokube up`: node IPAM giving each node a pod CIDR, node
//! lifecycle marking a node whose Lease stops being renewed Unknown and tainting it, its pods
//! marked not ready, the taint eviction controller deleting the pods that do not tolerate the
//! taint, recovery lifting the taints, and cordoning adding the unschedulable taint. No kubelet
//! runs: the test plays the kubelets, renewing Leases and writing statuses.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls};
use std::time::Duration;

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

fn node(name: &str) -> String {
    let t = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    format!(
        r#"
apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels: {{kubernetes.io/os: linux, kubernetes.io/arch: amd64}}
status:
  conditions:
  - {{type: Ready, status: "True", reason: KubeletReady, message: ready, lastHeartbeatTime: "{t}", lastTransitionTime: "{t}"}}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: {name}
  namespace: kube-node-lease
spec:
  holderIdentity: {name}
  leaseDurationSeconds: 40
  renewTime: "{}"
"#,
        now()
    )
}

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: tolerant
spec:
  nodeName: silent
  tolerations:
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 3600}
  containers:
  - {name: c, image: busybox}
---
apiVersion: v1
kind: Pod
metadata:
  name: intolerant
spec:
  nodeName: silent
  # Without it, DefaultTolerationSeconds admission would let the pod stay five minutes.
  tolerations:
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 0}
  containers:
  - {name: c, image: busybox}
"#;

fn renew(k: &Kubectl, node: &str) {
    k.ok(&[
        "patch",
        "lease",
        node,
        "-n",
        "kube-node-lease",
        "--type=merge",
        "-p",
        &format!(r#"{{"spec":{{"renewTime":"{}"}}}}"#, now()),
    ]);
}

fn jsonpath(k: &Kubectl, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let format = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &format]);
    k.ok(&args)
}

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(150), f)
}

#[test]
fn a_silent_node_is_tainted_and_its_intolerant_pods_evicted() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok_stdin(
        &["apply", "-f", "-"],
        &(node("alive") + "---" + &node("silent")),
    );
    k.ok_stdin(&["apply", "-f", "-"], PODS);
    for pod in ["tolerant", "intolerant"] {
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

    // Node IPAM: a /24 of the cluster CIDR each.
    let cidrs = eventually("pod CIDRs for both nodes", || {
        let out = jsonpath(&k, &["nodes"], "{.items[*].spec.podCIDR}");
        let cidrs: Vec<String> = out.split_whitespace().map(String::from).collect();
        (cidrs.len() == 2).then_some(cidrs)
    });
    assert_ne!(cidrs[0], cidrs[1]);
    assert!(
        cidrs
            .iter()
            .all(|c| c.starts_with("10.244.") && c.ends_with(".0/24")),
        "{cidrs:?}"
    );
    let beta = jsonpath(
        &k,
        &["node", "alive"],
        "{.metadata.labels.beta\\.kubernetes\\.io/os}",
    );
    assert_eq!(beta, "linux");
    // The TTL controller: a small cluster's kubelets use their own cache TTL.
    let ttl = eventually("the TTL annotation", || {
        let out = jsonpath(
            &k,
            &["nodes"],
            "{.items[*].metadata.annotations.node\\.alpha\\.kubernetes\\.io/ttl}",
        );
        (out.split_whitespace().count() == 2).then_some(out)
    });
    assert_eq!(ttl, "0 0");

    // One kubelet keeps renewing its Lease; the other has gone quiet.
    let heartbeat = common::heartbeats(&cluster, bins.last().unwrap(), &["alive"]);

    let ready = eventually("the silent node's Ready condition Unknown", || {
        let out = jsonpath(
            &k,
            &["node", "silent"],
            "{.status.conditions[?(@.type==\"Ready\")].status}|{.status.conditions[?(@.type==\"Ready\")].reason}|{.status.conditions[?(@.type==\"Ready\")].message}",
        );
        out.starts_with("Unknown|").then_some(out)
    });
    assert_eq!(
        ready,
        "Unknown|NodeStatusUnknown|Kubelet stopped posting node status."
    );
    let taints = eventually("the unreachable taints", || {
        let out = jsonpath(
            &k,
            &["node", "silent"],
            "{range .spec.taints[*]}{.key}:{.effect} {end}",
        );
        (out.contains("node.kubernetes.io/unreachable:NoExecute")
            && out.contains("node.kubernetes.io/unreachable:NoSchedule"))
        .then_some(out)
    });
    assert!(!taints.contains("not-ready"), "{taints}");
    assert_eq!(
        jsonpath(&k, &["node", "alive"], "{.spec.taints}"),
        "",
        "the renewing node stays untainted"
    );
    assert_eq!(
        jsonpath(
            &k,
            &["node", "alive"],
            "{.status.conditions[?(@.type==\"Ready\")].status}"
        ),
        "True"
    );

    // Its pods are marked not ready; the one not tolerating the taint is evicted.
    eventually("the tolerant pod marked not ready", || {
        let out = jsonpath(
            &k,
            &["pod", "tolerant"],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        );
        (out == "False").then_some(())
    });
    let evicted = eventually("the intolerant pod being deleted", || {
        let out = jsonpath(
            &k,
            &["pod", "intolerant"],
            "{.metadata.deletionTimestamp}|{.status.conditions[?(@.type==\"DisruptionTarget\")].reason}",
        );
        (!out.starts_with('|')).then_some(out)
    });
    assert!(evicted.ends_with("|DeletionByTaintManager"), "{evicted}");
    assert_eq!(
        jsonpath(&k, &["pod", "tolerant"], "{.metadata.deletionTimestamp}"),
        ""
    );
    let events = k.ok(&["get", "events", "-A"]);
    assert!(
        events.contains("Marking for deletion Pod default/intolerant"),
        "{events}"
    );
    assert!(
        events.contains("Node silent status is now: NodeNotReady"),
        "{events}"
    );
    assert!(
        events.contains("Registered Node silent in Controller"),
        "{events}"
    );

    // The kubelet comes back: the taints go.
    renew(&k, "silent");
    let t = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    k.ok(&[
        "patch",
        "node",
        "silent",
        "--subresource=status",
        "--type=strategic",
        "-p",
        &format!(
            r#"{{"status":{{"conditions":[{{"type":"Ready","status":"True","reason":"KubeletReady","message":"ready","lastHeartbeatTime":"{t}","lastTransitionTime":"{t}"}}]}}}}"#
        ),
    ]);
    eventually("the taints lifted", || {
        let out = jsonpath(&k, &["node", "silent"], "{.spec.taints}");
        out.is_empty().then_some(())
    });

    // Cordoning adds the unschedulable taint, uncordoning lifts it.
    k.ok(&["cordon", "alive"]);
    eventually("the unschedulable taint", || {
        let out = jsonpath(&k, &["node", "alive"], "{.spec.taints[*].key}");
        (out == "node.kubernetes.io/unschedulable").then_some(())
    });
    k.ok(&["uncordon", "alive"]);
    eventually("the unschedulable taint lifted", || {
        jsonpath(&k, &["node", "alive"], "{.spec.taints}")
            .is_empty()
            .then_some(())
    });
    drop(heartbeat);
}
