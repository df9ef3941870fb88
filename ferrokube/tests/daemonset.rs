//! The daemonset controller inside `ferrokube up`, driven with both kubectl binaries: a pod per
//! fitting node (none on a node with a taint it does not tolerate), pods following nodes as
//! they come and go, status counts in `kubectl get ds`, a rolling update within
//! `maxUnavailable`, and `kubectl rollout status|history|undo` over ControllerRevisions. No
//! kubelet runs: the test writes pod status.
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
