//! The DefaultStorageClass admission plugin as kubectl (1.32 and 1.33) sees it: a claim that
//! names no class gets the default one (the newest when there are several); a claim with an
//! empty class keeps it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};

fn class(name: &str, default: bool) -> String {
    format!(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {name}\n  annotations:\n    storageclass.kubernetes.io/is-default-class: \"{default}\"\nprovisioner: example.com/none\n"
    )
}

fn claim(name: &str, class: Option<&str>) -> String {
    let class = class
        .map(|c| format!("  storageClassName: \"{c}\"\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n{class}  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {{storage: 1Gi}}\n"
    )
}

#[test]
fn claims_without_a_class_get_the_default() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    let class_of = |name: &str| {
        k.ok(&[
            "get",
            "pvc",
            name,
            "-o",
            "jsonpath={.spec.storageClassName}",
        ])
    };
    k.ok_stdin(&["create", "-f", "-"], &claim("before", None));
    assert_eq!(class_of("before"), "");

    k.ok_stdin(&["create", "-f", "-"], &class("slow", false));
    k.ok_stdin(&["create", "-f", "-"], &class("standard", true));
    for (i, bin) in bins.iter().enumerate() {
        let k = cluster.kubectl(bin);
        let name = format!("data-{i}");
        k.ok_stdin(&["create", "-f", "-"], &claim(&name, None));
        assert_eq!(
            k.ok(&[
                "get",
                "pvc",
                &name,
                "-o",
                "jsonpath={.spec.storageClassName}"
            ]),
            "standard"
        );
        let none = format!("none-{i}");
        k.ok_stdin(&["create", "-f", "-"], &claim(&none, Some("")));
        assert_eq!(
            k.ok(&[
                "get",
                "pvc",
                &none,
                "-o",
                "jsonpath={.spec.storageClassName}"
            ]),
            ""
        );
        let chosen = format!("slow-{i}");
        k.ok_stdin(&["create", "-f", "-"], &claim(&chosen, Some("slow")));
        assert_eq!(
            k.ok(&[
                "get",
                "pvc",
                &chosen,
                "-o",
                "jsonpath={.spec.storageClassName}"
            ]),
            "slow"
        );
    }
}
