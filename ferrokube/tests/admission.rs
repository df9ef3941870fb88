//! The smaller built-in admission plugins inside `ferrokube up`, driven with kubectl: what
//! DefaultTolerationSeconds, TaintNodesByCondition, StorageObjectInUseProtection and
//! DefaultIngressClass add to new objects, and PersistentVolumeClaimResize's refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};
use serde_json::{Value, json};
use std::time::Duration;

fn created(k: &common::Kubectl, manifest: &str) -> Value {
    serde_json::from_str(&k.ok_stdin(&["create", "-o", "json", "-f", "-"], manifest)).unwrap()
}

#[test]
fn new_objects_get_what_admission_adds() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());

    let pod = created(
        &k,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n  tolerations:\n  - key: node.kubernetes.io/unreachable\n    operator: Exists\n    effect: NoExecute\n    tolerationSeconds: 10\n",
    );
    assert_eq!(
        pod["spec"]["tolerations"],
        json!([
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ])
    );

    let node = created(&k, "apiVersion: v1\nkind: Node\nmetadata:\n  name: fresh\n");
    assert_eq!(
        node["spec"]["taints"],
        json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}])
    );

    let claim = created(
        &k,
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  storageClassName: \"\"\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
    );
    assert_eq!(
        claim["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    let volume = created(
        &k,
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: disk\nspec:\n  capacity:\n    storage: 1Gi\n  accessModes: [ReadWriteOnce]\n  hostPath:\n    path: /tmp/disk\n",
    );
    assert_eq!(
        volume["metadata"]["finalizers"],
        json!(["kubernetes.io/pv-protection"])
    );

    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: house\n  annotations:\n    ingressclass.kubernetes.io/is-default-class: \"true\"\nspec:\n  controller: example.com/ingress\n",
    );
    let ingress = created(
        &k,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  defaultBackend:\n    service:\n      name: web\n      port:\n        number: 80\n",
    );
    assert_eq!(ingress["spec"]["ingressClassName"], "house");
}

#[test]
fn only_bound_claims_of_expandable_classes_grow() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    for (class, expandable) in [("fixed", false), ("elastic", true)] {
        k.ok_stdin(
            &["apply", "-f", "-"],
            &format!(
                "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {class}\nprovisioner: example.com/disks\nallowVolumeExpansion: {expandable}\n"
            ),
        );
        k.ok_stdin(
            &["apply", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {class}\nspec:\n  storageClassName: {class}\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n"
            ),
        );
        // A volume set aside for the claim, which the binder binds it to.
        k.ok_stdin(
            &["apply", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: {class}\nspec:\n  storageClassName: {class}\n  capacity:\n    storage: 1Gi\n  accessModes: [ReadWriteOnce]\n  hostPath:\n    path: /tmp/{class}\n  claimRef:\n    namespace: default\n    name: {class}\n"
            ),
        );
        common::eventually("the claim is bound", Duration::from_secs(30), || {
            let phase = k.ok(&["get", "pvc", class, "-o", "jsonpath={.status.phase}"]);
            (phase == "Bound").then_some(())
        });
    }
    let grow = [
        "--type=merge",
        "-p",
        "{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"2Gi\"}}}}",
    ];
    let refused = k.fails(&[&["patch", "pvc", "fixed"][..], &grow[..]].concat());
    assert!(
        refused.contains(
            "persistentvolumeclaims \"fixed\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
        ),
        "{refused}"
    );
    k.ok(&[&["patch", "pvc", "elastic"][..], &grow[..]].concat());
    assert_eq!(
        k.ok(&[
            "get",
            "pvc",
            "elastic",
            "-o",
            "jsonpath={.spec.resources.requests.storage}"
        ]),
        "2Gi"
    );
}

/// NodeRestriction: a kubelet changes only its own Node, never its taints or the labels
/// reserved to the cluster, and creates only its own mirror pods, Lease and CSINode.
#[test]
fn kubelets_change_only_what_is_theirs() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    // The Node authorizer lets kubelets write nodes, mirror pods and leases: admission is
    // what stops them.
    for node in ["n1", "n2"] {
        k.ok_stdin(
            &["apply", "-f", "-"],
            &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n"),
        );
    }
    let as_n1 = ["--as=system:node:n1", "--as-group=system:nodes"];
    fn run<'a>(args: &[&'a str], as_n1: &[&'a str]) -> Vec<&'a str> {
        [args, as_n1].concat()
    }
    let run = |args: &[&'static str]| run(args, &as_n1);

    // kubectl reads a Node before changing it, which the Node authorizer refuses for another
    // node's; a create goes straight to admission.
    let refused = k.run_stdin(
        &run(&["create", "-f", "-"]),
        Some("apiVersion: v1\nkind: Node\nmetadata:\n  name: n3\n"),
    );
    assert!(
        refused.stderr.contains(
            "nodes \"n3\" is forbidden: node \"n1\" is not allowed to modify node \"n3\""
        ),
        "{}",
        refused.stderr
    );
    let refused = k.fails(&run(&[
        "label",
        "node",
        "n1",
        "node-role.kubernetes.io/master=",
    ]));
    assert!(
        refused.contains("is not allowed to modify labels: node-role.kubernetes.io/master"),
        "{refused}"
    );
    k.ok(&run(&[
        "label",
        "node",
        "n1",
        "example.com/team=a",
        "topology.kubernetes.io/zone=z1",
    ]));
    let refused = k.fails(&run(&["taint", "node", "n1", "k=v:NoSchedule"]));
    assert!(
        refused.contains("node \"n1\" is not allowed to modify taints"),
        "{refused}"
    );
    let refused = k.fails(&run(&["run", "p", "--image=nginx"]));
    assert!(
        refused.contains(
            "pod does not have \"kubernetes.io/config.mirror\" annotation, node \"n1\" can only create mirror pods"
        ),
        "{refused}"
    );
    let refused = k.run_stdin(
        &run(&["create", "-f", "-"]),
        Some("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: n2\n  namespace: kube-node-lease\n"),
    );
    assert!(
        refused
            .stderr
            .contains("can only access node lease with the same name as the requesting node"),
        "{}",
        refused.stderr
    );
    let csi_node = |name: &str| {
        format!(
            "apiVersion: storage.k8s.io/v1\nkind: CSINode\nmetadata:\n  name: {name}\nspec:\n  drivers: []\n"
        )
    };
    let refused = k.run_stdin(&run(&["create", "-f", "-"]), Some(&csi_node("n2")));
    assert!(
        refused
            .stderr
            .contains("can only access CSINode with the same name as the requesting node"),
        "{}",
        refused.stderr
    );
    k.ok_stdin(&run(&["create", "-f", "-"]), &csi_node("n1"));

    // Evictions pass admission too: a kubelet evicts only pods bound to it, and that
    // eviction's own writes are not judged as the kubelet's.
    for node in ["n1", "n2"] {
        k.ok_stdin(
            &["create", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: on-{node}\nspec:\n  nodeName: {node}\n  containers:\n  - name: c\n    image: nginx\n"
            ),
        );
    }
    let evict = |pod: &str| {
        let path = format!("/api/v1/namespaces/default/pods/{pod}/eviction");
        k.run_stdin(
            &[&["create", "--raw", &path, "-f", "-"][..], &as_n1].concat(),
            Some(&format!(
                "{{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{{\"name\":\"{pod}\"}}}}"
            )),
        )
    };
    let refused = evict("on-n2");
    assert!(
        refused
            .stderr
            .contains("node n1 can only evict pods with spec.nodeName set to itself"),
        "{}",
        refused.stderr
    );
    k.ok(&["get", "pod", "on-n2"]);
    let evicted = evict("on-n1");
    assert!(evicted.ok, "{}", evicted.stderr);
    let gone = k.run(&[
        "get",
        "pod",
        "on-n1",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!gone.ok || !gone.stdout.is_empty(), "{}", gone.stdout);
}
