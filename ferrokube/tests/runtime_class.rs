//! The RuntimeClass admission plugin as kubectl (1.32 and 1.33) sees it: a pod naming a
//! RuntimeClass that does not exist is refused; one naming a class gets its overhead and
//! scheduling constraints; conflicts are refused with upstream's messages.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};

fn pod(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{spec}  containers:\n  - {{name: c, image: nginx}}\n"
    )
}

#[test]
fn pods_get_what_their_runtime_class_says() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let class = format!("sandboxed-{i}");
        let refused = |name: &str, spec: &str| {
            let r = k.run_stdin(&["create", "-f", "-"], Some(&pod(name, spec)));
            assert!(!r.ok, "{} should have refused {name}", k.version());
            r.stderr
        };

        let e = refused("p-missing", &format!("  runtimeClassName: {class}\n"));
        assert!(
            e.contains(&format!(
                "pods \"p-missing\" is forbidden: pod rejected: RuntimeClass \"{class}\" not found"
            )),
            "{e}"
        );

        k.ok_stdin(
            &["create", "-f", "-"],
            &format!(
                "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: {class}\nhandler: runsc\noverhead:\n  podFixed: {{cpu: 250m, memory: 64Mi}}\nscheduling:\n  nodeSelector: {{sandbox: gvisor}}\n  tolerations:\n  - {{key: sandbox, operator: Exists, effect: NoSchedule}}\n"
            ),
        );
        let name = format!("p-{i}");
        k.ok_stdin(
            &["create", "-f", "-"],
            &pod(
                &name,
                &format!("  runtimeClassName: {class}\n  nodeSelector: {{zone: a}}\n"),
            ),
        );
        let got = k.ok(&[
            "get",
            "pod",
            &name,
            "-o",
            "jsonpath={.spec.overhead.cpu},{.spec.overhead.memory},{.spec.nodeSelector.sandbox},{.spec.nodeSelector.zone},{.spec.tolerations[?(@.key==\"sandbox\")].operator}",
        ]);
        assert_eq!(got, "250m,64Mi,gvisor,a,Exists");

        let e = refused(
            "p-conflict",
            &format!("  runtimeClassName: {class}\n  nodeSelector: {{sandbox: kata}}\n"),
        );
        assert!(
            e.contains("conflict: runtimeClass.scheduling.nodeSelector[sandbox] = gvisor; pod.spec.nodeSelector[sandbox] = kata"),
            "{e}"
        );
        let e = refused(
            "p-overhead",
            &format!("  runtimeClassName: {class}\n  overhead: {{cpu: '1'}}\n"),
        );
        assert!(
            e.contains(
                "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
            ),
            "{e}"
        );
        k.fails(&["get", "pod", "p-conflict"]);
    }
}
