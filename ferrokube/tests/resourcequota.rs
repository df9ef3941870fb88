//! Resource quotas inside `ferrokube up`, driven with kubectl: `kubectl describe quota` shows
//! what the namespace uses, following creations (charged by the apiserver's admission plugin)
//! and deletions (released by the controller); creations past a quota are refused.
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

/// Waits for the controller's first measure of a quota.
fn wait_measured(k: &common::Kubectl, namespace: &str, quota: &str) {
    eventually("the quota is measured", || {
        let used = k.ok(&[
            "get",
            "quota",
            quota,
            "-n",
            namespace,
            "-o",
            "jsonpath={.status.used}",
        ]);
        (!used.is_empty()).then_some(())
    });
}

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
    // As upstream, what a quota limits cannot be created until the controller measured it.
    wait_measured(&k, "team", "compute");
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

fn used(k: &common::Kubectl, namespace: &str, quota: &str, resource: &str) -> String {
    k.ok(&[
        "get",
        "quota",
        quota,
        "-n",
        namespace,
        "-o",
        &format!("jsonpath={{.status.used.{}}}", resource.replace('.', "\\.")),
    ])
}

#[test]
fn creations_past_a_quota_are_refused_and_charged_when_admitted() {
    let cluster = Cluster::up();
    let bins = kubectls();
    for (i, bin) in bins.iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("limited-{i}");
        k.ok(&["create", "namespace", &ns]);
        k.ok(&[
            "create",
            "quota",
            "counts",
            "-n",
            &ns,
            "--hard=pods=1,services=1",
        ]);
        wait_measured(&k, &ns, "counts");

        // A server-side dry run is checked but charges nothing.
        k.ok(&[
            "run",
            "first",
            "-n",
            &ns,
            "--image=nginx",
            "--dry-run=server",
        ]);
        assert_eq!(used(&k, &ns, "counts", "pods"), "0");
        k.ok(&["run", "first", "-n", &ns, "--image=nginx"]);
        // Charged as the pod was admitted, before any controller saw it.
        assert_eq!(used(&k, &ns, "counts", "pods"), "1");
        let refused = k.fails(&["run", "second", "-n", &ns, "--image=nginx"]);
        assert!(
            refused.contains(
                "pods \"second\" is forbidden: exceeded quota: counts, requested: pods=1, used: pods=1, limited: pods=1"
            ),
            "{refused}"
        );
        k.ok(&[
            "create",
            "service",
            "clusterip",
            "one",
            "-n",
            &ns,
            "--tcp=80",
        ]);
        let refused = k.fails(&[
            "create",
            "service",
            "clusterip",
            "two",
            "-n",
            &ns,
            "--tcp=80",
        ]);
        assert!(
            refused.contains(
                "services \"two\" is forbidden: exceeded quota: counts, requested: services=1, used: services=1, limited: services=1"
            ),
            "{refused}"
        );

        // Deleting the pod gives its unit back.
        k.ok(&["delete", "pod", "first", "-n", &ns, "--wait=false"]);
        eventually("the quota releases the deleted pod", || {
            (used(&k, &ns, "counts", "pods") == "0").then_some(())
        });
        k.ok(&["run", "second", "-n", &ns, "--image=nginx"]);

        // A cpu quota requires every container to state its cpu request.
        k.ok(&[
            "create",
            "quota",
            "compute",
            "-n",
            &ns,
            "--hard=requests.cpu=1",
        ]);
        wait_measured(&k, &ns, "compute");
        k.ok(&["delete", "quota", "counts", "-n", &ns]);
        let refused = k.fails(&["run", "bare", "-n", &ns, "--image=nginx"]);
        assert!(
            refused.contains(
                "pods \"bare\" is forbidden: failed quota: compute: must specify requests.cpu for: bare"
            ),
            "{refused}"
        );
        let refused = k.fails(&[
            "run",
            "big",
            "-n",
            &ns,
            "--image=nginx",
            "--overrides={\"spec\":{\"containers\":[{\"name\":\"big\",\"image\":\"nginx\",\"resources\":{\"requests\":{\"cpu\":\"1500m\"}}}]}}",
        ]);
        assert!(
            refused.contains(
                "exceeded quota: compute, requested: requests.cpu=1500m, used: requests.cpu=0, limited: requests.cpu=1"
            ),
            "{refused}"
        );
    }
}
