//! The garbage collector inside `ferrokube up`, driven with both kubectl binaries: `kubectl
//! delete` of a ReplicaSet with `--cascade=background|orphan|foreground`, objects whose owner
//! never existed, owners of another kind, and custom resources as dependents.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, eventually, kubectls};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(30);

fn replicaset(name: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: c
        image: nginx
"#
    )
}

/// `name owners deletionTimestamp` of each pod labeled `app=<app>`.
fn pods(k: &Kubectl, ns: &str, app: &str) -> Vec<String> {
    let out = k.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[*].name} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_string).collect()
}

fn exists(k: &Kubectl, args: &[&str]) -> bool {
    let r = k.run(args);
    if !r.ok {
        assert!(r.stderr.contains("NotFound"), "{args:?}: {}", r.stderr);
    }
    r.ok
}

fn create_rs(k: &Kubectl, ns: &str, name: &str, replicas: u32) -> Vec<String> {
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], &replicaset(name, replicas));
    eventually(&format!("{name} has its pods"), SHORT, || {
        let p = pods(k, ns, name);
        (p.len() == replicas as usize).then_some(p)
    })
}

#[test]
fn owners_take_their_dependents_along_or_leave_them() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("gc-{i}");
        k.ok(&["create", "namespace", &ns]);
        cascades(&k, &ns);
        references(&k, &ns);
    }
    custom_resources(&cluster.kubectl(&kubectls()[0]));
}

fn cascades(k: &Kubectl, ns: &str) {
    // Background (kubectl's default): the ReplicaSet goes at once, its pods after it.
    create_rs(k, ns, "bg", 2);
    k.ok(&["delete", "rs", "bg", "-n", ns]);
    eventually("the pods of bg are deleted", SHORT, || {
        pods(k, ns, "bg").is_empty().then_some(())
    });

    // Orphan: the pods stay, without the owner reference.
    create_rs(k, ns, "orphan", 2);
    k.ok(&["delete", "rs", "orphan", "-n", ns, "--cascade=orphan"]);
    assert!(!exists(k, &["get", "rs", "orphan", "-n", ns]));
    let left = pods(k, ns, "orphan");
    assert_eq!(left.len(), 2, "{left:?}");
    for p in &left {
        assert_eq!(p.split(' ').nth(1), Some(""), "{p} should have no owner");
    }
    k.ok(&["delete", "pods", "-n", ns, "-l", "app=orphan"]);

    // Foreground: the ReplicaSet waits, marked, until its pods are gone.
    let created = create_rs(k, ns, "fg", 1);
    let pod = created[0].split(' ').next().unwrap().to_string();
    k.ok(&[
        "patch",
        "pod",
        &pod,
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    k.ok(&[
        "delete",
        "rs",
        "fg",
        "-n",
        ns,
        "--cascade=foreground",
        "--wait=false",
    ]);
    eventually("the pod of fg is being deleted", SHORT, || {
        let p = pods(k, ns, "fg");
        (p.len() == 1 && !p[0].ends_with(' ')).then_some(())
    });
    let rs = k.ok(&[
        "get",
        "rs",
        "fg",
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}",
    ]);
    assert!(rs.starts_with(r#"["foregroundDeletion"] 20"#), "{rs}");
    k.ok(&[
        "patch",
        "pod",
        &pod,
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    eventually("fg is deleted after its pod", SHORT, || {
        (!exists(k, &["get", "rs", "fg", "-n", ns])).then_some(())
    });
}

fn config_map_owned_by(name: &str, owner: &str, uid: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: {owner}
    uid: {uid}
data:
  k: v
"#
    )
}

fn references(k: &Kubectl, ns: &str) {
    // An owner that never existed: the dependent is collected.
    k.ok_stdin(
        &["create", "-n", ns, "-f", "-"],
        &config_map_owned_by("dangling", "ghost", "8a3c0c4e-0000-4000-8000-000000000001"),
    );
    eventually("the dependent of a missing owner is deleted", SHORT, || {
        (!exists(k, &["get", "configmap", "dangling", "-n", ns])).then_some(())
    });

    // A live owner keeps its dependent; deleting the owner takes the dependent along.
    k.ok(&[
        "create",
        "configmap",
        "owner",
        "-n",
        ns,
        "--from-literal=a=b",
    ]);
    let uid = k.ok(&[
        "get",
        "configmap",
        "owner",
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    k.ok_stdin(
        &["create", "-n", ns, "-f", "-"],
        &config_map_owned_by("dependent", "owner", &uid),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(exists(k, &["get", "configmap", "dependent", "-n", ns]));
    k.ok(&["delete", "configmap", "owner", "-n", ns]);
    eventually("the dependent follows its owner", SHORT, || {
        (!exists(k, &["get", "configmap", "dependent", "-n", ns])).then_some(())
    });
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

fn custom_resources(k: &Kubectl) {
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=30s",
    ]);
    k.ok(&["create", "configmap", "cr-owner", "--from-literal=a=b"]);
    let uid = k.ok(&[
        "get",
        "configmap",
        "cr-owner",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let widget = format!(
        r#"
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: cr-owner
    uid: {uid}
"#
    );
    k.ok_stdin(&["create", "-f", "-"], &widget);
    k.ok(&["delete", "configmap", "cr-owner"]);
    // The collector finds new resources through discovery every 30 seconds.
    eventually(
        "the custom resource follows its owner",
        Duration::from_secs(75),
        || (!exists(k, &["get", "widgets", "w"])).then_some(()),
    );
}
