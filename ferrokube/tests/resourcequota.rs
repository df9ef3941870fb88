//! The resourcequota controller inside `ferrokube up`, driven with kubectl: `kubectl describe
//! quota` shows what the namespace uses, following creations and deletions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(30), f)
}

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: worker
spec:
  containers:
  - name: c
    image: nginx
    resources:
      requests: {cpu: 250m, memory: 64Mi}
"#;

#[test]
fn quotas_show_what_the_namespace_uses() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    k.ok(&["create", "namespace", "team"]);
    k.ok(&[
        "create",
        "quota",
        "compute",
        "-n",
        "team",
        "--hard=pods=4,requests.cpu=2,requests.memory=1Gi,configmaps=10,count/deployments.apps=3",
    ]);
    k.ok_stdin(&["apply", "-n", "team", "-f", "-"], POD);
    k.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "team",
        "--from-literal=a=b",
    ]);
    k.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "team",
        "--image=nginx",
        "--replicas=0",
    ]);
    let described = eventually("the quota counts the new objects", || {
        let out = k.ok(&["describe", "quota", "compute", "-n", "team"]);
        // kube-root-ca.crt and settings.
        let counted = out.contains("configmaps              2     10")
            && out.contains("pods                    1     4")
            && out.contains("requests.cpu            250m  2")
            && out.contains("requests.memory         64Mi  1Gi")
            && out.contains("count/deployments.apps  1     3");
        counted.then_some(out)
    });
    assert!(
        described.contains("Resource                Used  Hard"),
        "{described}"
    );

    k.ok(&["delete", "pod", "worker", "-n", "team"]);
    eventually("the quota releases the pod", || {
        let used = k.ok(&[
            "get",
            "quota",
            "compute",
            "-n",
            "team",
            "-o",
            "jsonpath={.status.used.pods}/{.status.used.requests\\.cpu}",
        ]);
        (used == "0/0").then_some(())
    });
}
