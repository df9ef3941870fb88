//! The LimitRanger admission plugin as kubectl (1.32 and 1.33) sees it: a namespace's
//! LimitRange fills in the requests and limits a new pod leaves out (and says so in the
//! `kubernetes.io/limit-ranger` annotation), and refuses pods and claims outside its bounds
//! with upstream's messages.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};

const LIMITS: &str = "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: bounds\nspec:\n  limits:\n  - type: Container\n    min: {cpu: 50m, memory: 100Mi}\n    max: {cpu: 500m, memory: 500Mi}\n    default: {cpu: 500m, memory: 500Mi}\n    defaultRequest: {cpu: 100m, memory: 200Mi}\n  - type: PersistentVolumeClaim\n    max: {storage: 5Gi}\n";

fn pod(name: &str, resources: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: app\n    image: nginx\n    resources: {resources}\n"
    )
}

#[test]
fn limit_ranges_default_and_bound_resources() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("bounded-{i}");
        k.ok(&["create", "namespace", &ns]);
        k.ok_stdin(&["create", "-n", &ns, "-f", "-"], LIMITS);

        k.ok_stdin(&["create", "-n", &ns, "-f", "-"], &pod("plain", "{}"));
        let got = k.ok(&[
            "get",
            "pod",
            "plain",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.containers[0].resources.requests.cpu},{.spec.containers[0].resources.requests.memory},{.spec.containers[0].resources.limits.cpu},{.spec.containers[0].resources.limits.memory}",
        ]);
        assert_eq!(got, "100m,200Mi,500m,500Mi");
        let note = k.ok(&[
            "get",
            "pod",
            "plain",
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.annotations.kubernetes\\.io/limit-ranger}",
        ]);
        assert_eq!(
            note,
            "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"
        );

        let r = k.run_stdin(
            &["create", "-n", &ns, "-f", "-"],
            Some(&pod("big", "{limits: {cpu: 600m}}")),
        );
        assert!(!r.ok);
        assert!(
            r.stderr.contains(
                "pods \"big\" is forbidden: maximum cpu usage per Container is 500m, but limit is 600m"
            ),
            "{}",
            r.stderr
        );
        let r = k.run_stdin(
            &["create", "-n", &ns, "-f", "-"],
            Some(&pod("small", "{requests: {cpu: 10m}}")),
        );
        assert!(
            r.stderr.contains(
                "pods \"small\" is forbidden: minimum cpu usage per Container is 50m, but request is 10m"
            ),
            "{}",
            r.stderr
        );
        let r = k.run_stdin(
            &["create", "-n", &ns, "-f", "-"],
            Some("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: huge\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 10Gi}\n"),
        );
        assert!(
            r.stderr.contains(
                "persistentvolumeclaims \"huge\" is forbidden: maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi"
            ),
            "{}",
            r.stderr
        );
        // Elsewhere nothing is bounded.
        k.ok_stdin(
            &["create", "-f", "-"],
            &pod(&format!("free-{i}"), "{limits: {cpu: '4'}}"),
        );
    }
}
