//! The daemonset controller inside `ferrokube up`, driven with both kubectl binaries: a pod per
//! fitting node (none on a node with a taint it does not tolerate), pods following nodes as
//! they come and go, status counts in `kubectl get ds`, a rolling update within
//! `maxUnavailable`, one with `maxSurge` (the new pod beside the old one, the old one gone once
//! the new one is available), and `kubectl rollout status|history|undo` over
//! ControllerRevisions. No kubelet runs: the test writes pod status.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls, table};
use std::collections::BTreeMap;
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(60), f)
}

fn nodes(names: &[&str]) -> String {
    let t = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    names
        .iter()
        .map(|name| {
            let taints = if *name == "dedicated" {
                "  taints: [{key: dedicated, value: db, effect: NoSchedule}]\n"
            } else {
                ""
            };
            format!(
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\nspec:\n{taints}status:\n  conditions:\n  - {{type: Ready, status: \"True\", lastHeartbeatTime: \"{t}\", lastTransitionTime: \"{t}\"}}\n---\n"
            )
        })
        .collect()
}

const DAEMONSET: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - {name: c, image: "busybox:1"}
"#;

/// The DaemonSet's pods that are not being deleted: name -> (node, image).
fn pods(k: &Kubectl, ns: &str) -> BTreeMap<String, (String, String)> {
    let out = k.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        "app=agent",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]} {.spec.containers[0].image} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            (parts.len() >= 3 && parts.get(3).is_none_or(|d| d.is_empty())).then(|| {
                (
                    parts[0].to_string(),
                    (parts[1].to_string(), parts[2].to_string()),
                )
            })
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
        r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
    ]);
}

#[test]
fn a_daemonset_runs_one_pod_per_fitting_node_and_rolls_updates() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let admin = cluster.kubectl(&bins[0]);
    admin.ok_stdin(
        &["apply", "-f", "-"],
        &nodes(&["n1", "n2", "n3", "dedicated"]),
    );
    let _kubelets = common::heartbeats(&cluster, &bins[0], &["n1", "n2", "n3", "dedicated", "n4"]);
    for (i, bin) in bins.iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("ds-{i}");
        k.ok(&["create", "namespace", &ns]);
        k.ok_stdin(&["apply", "-n", &ns, "-f", "-"], DAEMONSET);

        // One pod per node that fits, pinned to it; none on the tainted node.
        let first = eventually("a pod on each fitting node", || {
            let p = pods(&k, &ns);
            (p.len() == 3).then_some(p)
        });
        let mut placed: Vec<&str> = first.values().map(|(n, _)| n.as_str()).collect();
        placed.sort();
        assert_eq!(placed, ["n1", "n2", "n3"]);
        let tolerations = k.ok(&[
            "get",
            "pod",
            first.keys().next().unwrap(),
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.tolerations[*].key}",
        ]);
        assert!(
            tolerations.contains("node.kubernetes.io/unreachable"),
            "{tolerations}"
        );
        for pod in first.keys() {
            make_ready(&k, &ns, pod);
        }
        eventually("the status counts", || {
            let rows = table(&k.ok(&["get", "ds", "agent", "-n", &ns]));
            // NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE
            (rows[1][1..6] == ["3", "3", "3", "3", "3"]).then_some(())
        });

        // A rolling update replaces one node's pod at a time (maxUnavailable 1).
        k.ok(&["set", "image", "ds/agent", "-n", &ns, "c=busybox:2"]);
        let step = eventually("one pod replaced", || {
            let p = pods(&k, &ns);
            let new: Vec<_> = p.iter().filter(|(_, (_, i))| i == "busybox:2").collect();
            (new.len() == 1 && p.len() == 3).then(|| new[0].0.clone())
        });
        std::thread::sleep(Duration::from_secs(2));
        let p = pods(&k, &ns);
        let updated = p.values().filter(|(_, i)| i == "busybox:2").count();
        assert_eq!(
            updated, 1,
            "only one node at a time while the new pod is unready: {p:?}"
        );
        make_ready(&k, &ns, &step);
        for _ in 0..2 {
            let next = eventually("the next pod replaced", || {
                pods(&k, &ns)
                    .into_iter()
                    .find(|(name, (_, i))| {
                        i == "busybox:2" && {
                            let ready = k.ok(&[
                                "get",
                                "pod",
                                name,
                                "-n",
                                &ns,
                                "-o",
                                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                            ]);
                            ready != "True"
                        }
                    })
                    .map(|(name, _)| name)
            });
            make_ready(&k, &ns, &next);
        }
        k.ok(&["rollout", "status", "ds/agent", "-n", &ns, "--timeout=60s"]);
        let history = k.ok(&["rollout", "history", "ds/agent", "-n", &ns]);
        assert!(
            history.contains("1 ") && history.contains("2 "),
            "{history}"
        );
        let revisions = k.ok(&["get", "controllerrevisions", "-n", &ns, "-o", "name"]);
        assert_eq!(revisions.lines().count(), 2, "{revisions}");

        // Undo brings the first template back as revision 3.
        k.ok(&["rollout", "undo", "ds/agent", "-n", &ns]);
        eventually("the old image rolled back", || {
            let image = k.ok(&[
                "get",
                "ds",
                "agent",
                "-n",
                &ns,
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ]);
            (image == "busybox:1").then_some(())
        });
        let described = k.ok(&["describe", "ds", "agent", "-n", &ns]);
        assert!(described.contains("Created pod: agent-"), "{described}");
        assert!(described.contains("Deleted pod: agent-"), "{described}");
    }

    // A new node gets a pod; a deleted node's pod goes.
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok_stdin(&["apply", "-f", "-"], &nodes(&["n4"]));
    eventually("a pod on the new node", || {
        pods(&k, "ds-0")
            .values()
            .any(|(n, _)| n == "n4")
            .then_some(())
    });
    k.ok(&["delete", "node", "n1"]);
    eventually("the pod of the deleted node gone", || {
        (!pods(&k, "ds-0").values().any(|(n, _)| n == "n1")).then_some(())
    });
}

const SURGING: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  minReadySeconds: 3
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - {name: c, image: "busybox:1"}
"#;

/// Marks the pod running and ready since now (so `minReadySeconds` counts from now).
fn make_ready_now(k: &Kubectl, ns: &str, pod: &str) {
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    k.ok(&[
        "patch",
        "pod",
        pod,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"status":{{"phase":"Running","conditions":[{{"type":"Ready","status":"True","lastTransitionTime":"{now}"}}]}}}}"#
        ),
    ]);
}

/// The pods by node, checking that no more than one node has two pods and none has more.
fn surging(k: &Kubectl, ns: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut by_node: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (name, (node, image)) in pods(k, ns) {
        by_node.entry(node).or_default().push((name, image));
    }
    let doubled = by_node.values().filter(|p| p.len() == 2).count();
    assert!(
        doubled <= 1 && by_node.values().all(|p| p.len() <= 2),
        "maxSurge 1 allows one node with two pods: {by_node:?}"
    );
    by_node
}

#[test]
fn a_daemonset_with_max_surge_starts_new_pods_beside_the_old_ones() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok_stdin(&["apply", "-f", "-"], &nodes(&["n1", "n2"]));
    let _kubelets = common::heartbeats(&cluster, &bins[0], &["n1", "n2"]);
    let ns = "surge";
    k.ok(&["create", "namespace", ns]);
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], SURGING);
    let first = eventually("a pod on each node", || {
        let p = pods(&k, ns);
        (p.len() == 2).then_some(p)
    });
    for pod in first.keys() {
        make_ready_now(&k, ns, pod);
    }
    eventually("the status counts", || {
        let rows = table(&k.ok(&["get", "ds", "agent", "-n", ns]));
        (rows[1][1..6] == ["2", "2", "2", "2", "2"]).then_some(())
    });

    k.ok(&["set", "image", "ds/agent", "-n", ns, "c=busybox:2"]);
    let mut replaced = Vec::new();
    for round in 0..2 {
        // A new pod beside the old one on one node; the other node keeps its old pod alone.
        let (node, new_pod, old_pod) = eventually("a new pod beside an old one", || {
            surging(&k, ns).into_iter().find_map(|(node, list)| {
                let new = list.iter().find(|(_, i)| i == "busybox:2")?;
                let old = list.iter().find(|(_, i)| i == "busybox:1")?;
                Some((node, new.0.clone(), old.0.clone()))
            })
        });
        assert!(!replaced.contains(&node), "{node} surged twice");
        if round == 0 {
            // Two pods on one node: the node counts through its old pod, available and
            // not yet updated.
            eventually("the surging status counts", || {
                let rows = table(&k.ok(&["get", "ds", "agent", "-n", ns]));
                // NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE
                (rows[1][1..6] == ["2", "2", "2", "0", "2"]).then_some(())
            });
        }
        // Nothing more happens while the new pod is not ready.
        std::thread::sleep(Duration::from_secs(2));
        let now = surging(&k, ns);
        assert_eq!(now[&node].len(), 2, "{now:?}");
        assert_eq!(now.values().map(Vec::len).sum::<usize>(), 3, "{now:?}");
        // Ready, but available only after minReadySeconds: the old pod stays until then.
        make_ready_now(&k, ns, &new_pod);
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            surging(&k, ns)[&node].iter().any(|(n, _)| *n == old_pod),
            "the old pod stays until the new one is available"
        );
        eventually("the old pod gone", || {
            let now = surging(&k, ns);
            (now.get(&node).map(Vec::as_slice)
                == Some(&[(new_pod.clone(), "busybox:2".to_string())]))
            .then_some(())
        });
        replaced.push(node);
    }
    let other = cluster.kubectl(&bins[0]);
    other.ok(&["rollout", "status", "ds/agent", "-n", ns, "--timeout=60s"]);
    let rows = table(&k.ok(&["get", "ds", "agent", "-n", ns]));
    assert_eq!(rows[1][1..6], ["2", "2", "2", "2", "2"], "{rows:?}");
    let images: Vec<String> = pods(&k, ns).into_values().map(|(_, i)| i).collect();
    assert_eq!(images, ["busybox:2", "busybox:2"]);
}
