//! The pod garbage collector inside `ferrokube up`: a pod bound to a node that does not exist
//! is deleted after the quarantine; a pod on an existing node stays.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, eventually, kubectls};
use std::time::Duration;

const OBJECTS: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: real
---
apiVersion: v1
kind: Pod
metadata:
  name: on-real
spec:
  nodeName: real
  # No kubelet reports for the node, so it turns unreachable; the pod rides that out.
  tolerations:
  - {operator: Exists, effect: NoExecute}
  containers:
  - {name: c, image: nginx}
---
apiVersion: v1
kind: Pod
metadata:
  name: on-ghost
spec:
  nodeName: ghost
  containers:
  - {name: c, image: nginx}
"#;

#[test]
fn pods_of_nodes_that_are_gone_are_collected() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    k.ok_stdin(&["create", "-f", "-"], OBJECTS);
    // Checked every 20 s, after 40 s of quarantine.
    eventually(
        "the pod of the missing node is deleted",
        Duration::from_secs(120),
        || {
            let r = k.run(&["get", "pod", "on-ghost"]);
            (!r.ok && r.stderr.contains("NotFound")).then_some(())
        },
    );
    let kept = k.ok(&[
        "get",
        "pod",
        "on-real",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert_eq!(kept, "", "the pod on an existing node is kept");
}
