//! The disruption controller inside `ferrokube up`, read through both kubectl binaries: `kubectl
//! get pdb` shows the allowed disruptions for an integer `minAvailable` over bare pods, a
//! percentage `minAvailable` over a ReplicaSet's pods, a `maxUnavailable` over a Deployment's
//! and over a custom resource's (through its `scale` subresource), and the numbers follow pods
//! turning ready and unready, being deleted and being rescaled. `disruptedPods` entries keep
//! pods from counting as healthy until they time out; pods without a controller under a
//! percentage get upstream's warning; a pod whose controller has no scale fails the budget
//! safe. No kubelet runs: the test writes pod status.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls, table};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(30), f)
}

const BARE_PODS: &str = r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: plain
spec:
  minAvailable: 2
  selector:
    matchLabels:
      app: plain
---
apiVersion: v1
kind: Pod
metadata:
  name: plain-1
  labels: {app: plain}
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata:
  name: plain-2
  labels: {app: plain}
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata:
  name: plain-3
  labels: {app: plain}
spec:
  containers: [{name: c, image: nginx}]
"#;

const REPLICA_SET: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs
spec:
  replicas: 4
  selector:
    matchLabels: {app: rs}
  template:
    metadata:
      labels: {app: rs}
    spec:
      containers: [{name: c, image: nginx}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: half
spec:
  minAvailable: 50%
  selector:
    matchLabels: {app: rs}
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers: [{name: c, image: nginx}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: quarter
spec:
  maxUnavailable: 25%
  selector:
    matchLabels: {app: web}
"#;

fn set_ready(k: &Kubectl, ns: &str, pod: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
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
            r#"{{"status":{{"phase":"Running","conditions":[{{"type":"Ready","status":"{status}","lastTransitionTime":"2026-01-01T00:00:00Z"}}]}}}}"#
        ),
    ]);
}

/// The names of the pods labeled `app=<app>` that are not being deleted.
fn pods(k: &Kubectl, ns: &str, app: &str) -> Vec<String> {
    let out = k.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let (name, deleting) = l.split_once(' ').unwrap_or((l, ""));
            deleting.trim().is_empty().then(|| name.to_string())
        })
        .collect();
    names.sort();
    names
}

/// The budget's `kubectl get pdb` row, without its age.
fn row(k: &Kubectl, ns: &str, name: &str) -> Vec<String> {
    let rows = table(&k.ok(&["get", "pdb", name, "-n", ns]));
    assert_eq!(
        rows[0],
        [
            "NAME",
            "MIN AVAILABLE",
            "MAX UNAVAILABLE",
            "ALLOWED DISRUPTIONS",
            "AGE"
        ]
    );
    rows[1][..4].to_vec()
}

fn wait_row(k: &Kubectl, ns: &str, name: &str, want: [&str; 4]) {
    eventually(&format!("{name} reads {want:?}"), || {
        (row(k, ns, name) == want).then_some(())
    });
}

/// `expectedPods desiredHealthy currentHealthy disruptionsAllowed` and the condition's reason.
fn counts(k: &Kubectl, ns: &str, name: &str) -> String {
    k.ok(&[
        "get",
        "pdb",
        name,
        "-n",
        ns,
        "-o",
        "jsonpath={.status.expectedPods} {.status.desiredHealthy} {.status.currentHealthy} {.status.disruptionsAllowed} {.status.conditions[?(@.type==\"DisruptionAllowed\")].reason}",
    ])
}

fn wait_counts(k: &Kubectl, ns: &str, name: &str, want: &str) {
    eventually(&format!("{name} counts {want:?}"), || {
        (counts(k, ns, name) == want).then_some(())
    });
}

#[test]
fn budgets_report_allowed_disruptions() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("pdb-{i}");
        k.ok(&["create", "namespace", &ns]);
        integer_min_available(&k, &ns);
        percentage_over_a_replicaset(&k, &ns);
        max_unavailable_over_a_deployment(&k, &ns);
        max_unavailable_over_a_custom_scale(&k, &ns);
        disrupted_pods(&k, &ns);
        unmanaged_and_unscalable_pods(&k, &ns);
    }
}

fn integer_min_available(k: &Kubectl, ns: &str) {
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], BARE_PODS);
    // None ready yet.
    wait_counts(k, ns, "plain", "3 2 0 0 InsufficientPods");
    wait_row(k, ns, "plain", ["plain", "2", "N/A", "0"]);
    for pod in ["plain-1", "plain-2", "plain-3"] {
        set_ready(k, ns, pod, true);
    }
    wait_row(k, ns, "plain", ["plain", "2", "N/A", "1"]);
    wait_counts(k, ns, "plain", "3 2 3 1 SufficientPods");
    let generation = k.ok(&[
        "get",
        "pdb",
        "plain",
        "-n",
        ns,
        "-o",
        "jsonpath={.status.observedGeneration}/{.metadata.generation}",
    ]);
    assert_eq!(generation, "1/1");

    // One turns unready, then ready again.
    set_ready(k, ns, "plain-2", false);
    wait_row(k, ns, "plain", ["plain", "2", "N/A", "0"]);
    set_ready(k, ns, "plain-2", true);
    wait_row(k, ns, "plain", ["plain", "2", "N/A", "1"]);

    // The budget is raised: nothing may go, and the new generation is observed.
    k.ok(&[
        "patch",
        "pdb",
        "plain",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"minAvailable":3}}"#,
    ]);
    wait_row(k, ns, "plain", ["plain", "3", "N/A", "0"]);
    k.ok(&[
        "patch",
        "pdb",
        "plain",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"minAvailable":2}}"#,
    ]);
    wait_row(k, ns, "plain", ["plain", "2", "N/A", "1"]);

    let described = k.ok(&["describe", "pdb", "plain", "-n", ns]);
    for line in [
        "Min available:  2",
        "Selector:       app=plain",
        "Allowed disruptions:  1",
        "Current:              3",
        "Desired:              2",
        "Total:                3",
    ] {
        assert!(described.contains(line), "{line:?} in:\n{described}");
    }
}

fn percentage_over_a_replicaset(k: &Kubectl, ns: &str) {
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], REPLICA_SET);
    let created = eventually("the ReplicaSet has four pods", || {
        let p = pods(k, ns, "rs");
        (p.len() == 4).then_some(p)
    });
    // Expected from the ReplicaSet's scale, 50% of 4 must stay.
    wait_counts(k, ns, "half", "4 2 0 0 InsufficientPods");
    for pod in &created[..2] {
        set_ready(k, ns, pod, true);
    }
    wait_counts(k, ns, "half", "4 2 2 0 InsufficientPods");
    for pod in &created[2..] {
        set_ready(k, ns, pod, true);
    }
    wait_row(k, ns, "half", ["half", "50%", "N/A", "2"]);

    // Scaled to 5: 50% rounds up to 3; the new pod is not ready.
    k.ok(&["scale", "rs", "rs", "-n", ns, "--replicas=5"]);
    wait_counts(k, ns, "half", "5 3 4 1 SufficientPods");
    wait_row(k, ns, "half", ["half", "50%", "N/A", "1"]);
}

fn max_unavailable_over_a_deployment(k: &Kubectl, ns: &str) {
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], DEPLOYMENT);
    let created = eventually("the Deployment has four pods", || {
        let p = pods(k, ns, "web");
        (p.len() == 4).then_some(p)
    });
    wait_counts(k, ns, "quarter", "4 3 0 0 InsufficientPods");
    for pod in &created {
        set_ready(k, ns, pod, true);
    }
    wait_row(k, ns, "quarter", ["quarter", "N/A", "25%", "1"]);

    // A deleted pod is replaced by one that is not ready yet.
    k.ok(&["delete", "pod", &created[0], "-n", ns, "--wait=false"]);
    wait_counts(k, ns, "quarter", "4 3 3 0 InsufficientPods");
    wait_row(k, ns, "quarter", ["quarter", "N/A", "25%", "0"]);

    // Scaled to 8: 25% of 8 may be unavailable, 6 must stay; 3 are ready.
    k.ok(&["scale", "deployment", "web", "-n", ns, "--replicas=8"]);
    wait_counts(k, ns, "quarter", "8 6 3 0 InsufficientPods");
    for pod in pods(k, ns, "web") {
        set_ready(k, ns, &pod, true);
    }
    wait_row(k, ns, "quarter", ["quarter", "N/A", "25%", "2"]);
}

const SCALER_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: scalers.example.com
spec:
  group: example.com
  names: {kind: Scaler, plural: scalers, singular: scaler, listKind: ScalerList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {replicas: {type: integer}}}
          status: {type: object, properties: {replicas: {type: integer}}}
    subresources:
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
"#;

/// Pods controlled by a custom resource count against its `scale` subresource.
fn max_unavailable_over_a_custom_scale(k: &Kubectl, ns: &str) {
    k.ok_stdin(&["apply", "-f", "-"], SCALER_CRD);
    k.ok(&[
        "wait",
        "--for=condition=established",
        "crd/scalers.example.com",
        "--timeout=30s",
    ]);
    k.ok_stdin(
        &["apply", "-n", ns, "-f", "-"],
        "apiVersion: example.com/v1\nkind: Scaler\nmetadata: {name: s}\nspec: {replicas: 4}\n",
    );
    let uid = k.ok(&[
        "get",
        "scaler",
        "s",
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    for i in 1..=3 {
        k.ok_stdin(
            &["apply", "-n", ns, "-f", "-"],
            &format!(
                r#"
apiVersion: v1
kind: Pod
metadata:
  name: scaled-{i}
  labels: {{app: scaled}}
  ownerReferences:
  - {{apiVersion: example.com/v1, kind: Scaler, name: s, uid: {uid}, controller: true}}
spec:
  containers: [{{name: c, image: nginx}}]
"#
            ),
        );
        set_ready(k, ns, &format!("scaled-{i}"), true);
    }
    k.ok_stdin(
        &["apply", "-n", ns, "-f", "-"],
        r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: scaled
spec:
  maxUnavailable: 50%
  selector:
    matchLabels: {app: scaled}
"#,
    );
    // Expected from the Scaler's spec.replicas (4), not from the three pods.
    wait_counts(k, ns, "scaled", "4 2 3 1 SufficientPods");
    wait_row(k, ns, "scaled", ["scaled", "N/A", "50%", "1"]);
}

fn disrupted_pods(k: &Kubectl, ns: &str) {
    let now = k8s_openapi::jiff::Timestamp::now();
    let stamp = |secs_ago: i64| {
        k8s_openapi::jiff::Timestamp::from_second(now.as_second() - secs_ago)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    // plain-1 was just evicted, plain-2 three minutes ago (and never deleted), ghost is gone.
    k.ok(&[
        "patch",
        "pdb",
        "plain",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"status":{{"disruptedPods":{{"plain-1":"{}","plain-2":"{}","ghost":"{}"}}}}}}"#,
            stamp(0),
            stamp(180),
            stamp(0)
        ),
    ]);
    wait_counts(k, ns, "plain", "3 2 2 0 InsufficientPods");
    let kept = k.ok(&[
        "get",
        "pdb",
        "plain",
        "-n",
        ns,
        "-o",
        "jsonpath={.status.disruptedPods}",
    ]);
    assert_eq!(kept, format!(r#"{{"plain-1":"{}"}}"#, stamp(0)));
    eventually("plain-2 is reported as not deleted", || {
        let out = k.ok(&[
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            "involvedObject.name=plain-2,reason=NotDeleted",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        (out == format!("Pod was expected by PDB {ns}/{ns} to be deleted but it wasn't"))
            .then_some(())
    });

    // Its deletion drops the entry.
    k.ok(&["delete", "pod", "plain-1", "-n", ns, "--wait=false"]);
    wait_counts(k, ns, "plain", "2 2 2 0 InsufficientPods");
    let kept = k.ok(&[
        "get",
        "pdb",
        "plain",
        "-n",
        ns,
        "-o",
        "jsonpath={.status.disruptedPods}",
    ]);
    assert_eq!(kept, "");
}

fn unmanaged_and_unscalable_pods(k: &Kubectl, ns: &str) {
    // A percentage over bare pods: nothing to take the percentage of, and a warning.
    k.ok_stdin(
        &["apply", "-n", ns, "-f", "-"],
        r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: bare-percent
spec:
  minAvailable: 50%
  selector:
    matchLabels: {app: plain}
"#,
    );
    wait_counts(k, ns, "bare-percent", "0 0 2 0 InsufficientPods");
    wait_row(k, ns, "bare-percent", ["bare-percent", "50%", "N/A", "0"]);
    let described = eventually("describe shows the warning", || {
        let out = k.ok(&["describe", "pdb", "bare-percent", "-n", ns]);
        out.contains("UnmanagedPods").then_some(out)
    });
    assert!(
        described.contains(
            "controllermanager  Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:map[string]string{app: plain,},MatchExpressions:[]LabelSelectorRequirement{},}) were found to be unmanaged."
        ),
        "{described}"
    );

    // A pod controlled by an object without a scale fails the budget safe.
    k.ok(&["create", "configmap", "owner", "-n", ns]);
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
        &["apply", "-n", ns, "-f", "-"],
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: owned
  labels: {{app: owned}}
  ownerReferences:
  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}, controller: true}}
spec:
  containers: [{{name: c, image: nginx}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: unscalable
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {{app: owned}}
"#
        ),
    );
    eventually("the budget fails safe", || {
        let out = k.ok(&[
            "get",
            "pdb",
            "unscalable",
            "-n",
            ns,
            "-o",
            "jsonpath={.status.disruptionsAllowed} {.status.conditions[0].reason}: {.status.conditions[0].message}",
        ]);
        (out == "0 SyncFailed: configmaps does not implement the scale subresource").then_some(())
    });
    let events = eventually("the failure is recorded", || {
        let out = k.ok(&[
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            "involvedObject.name=unscalable",
            "-o",
            "jsonpath={.items[*].reason}: {.items[*].message}",
        ]);
        (!out.trim().starts_with(':')).then_some(out)
    });
    assert_eq!(
        events,
        "CalculateExpectedPodCountFailed: Failed to calculate the number of expected pods: configmaps does not implement the scale subresource"
    );
}

const EVICTABLE: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: evict-node}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guard}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
---
apiVersion: v1
kind: Pod
metadata: {name: guarded-1, labels: {app: guarded}}
spec: {nodeName: evict-node, containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: guarded-2, labels: {app: guarded}}
spec: {nodeName: evict-node, containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: guarded-pending, labels: {app: guarded}}
spec: {nodeName: evict-node, containers: [{name: c, image: nginx}]}
"#;

/// POSTs an Eviction of `pod` (named `body_name` in the body) through `kubectl create --raw`.
fn evict(k: &Kubectl, ns: &str, pod: &str, body_name: &str, query: &str) -> common::Run {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("eviction.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{body_name}","namespace":"{ns}"}}}}"#
        ),
    )
    .unwrap();
    k.run(&[
        "create",
        "--raw",
        &format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction{query}"),
        "-f",
        file.to_str().unwrap(),
    ])
}

/// `deletionTimestamp-is-set reason-of-DisruptionTarget` of a pod.
fn disruption(k: &Kubectl, ns: &str, pod: &str) -> String {
    k.ok(&[
        "get",
        "pod",
        pod,
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.deletionTimestamp}|{.status.conditions[?(@.type==\"DisruptionTarget\")].reason}",
    ])
}

/// The eviction API against budgets: refused with 429 while the budget allows nothing
/// (`kubectl drain` reports and retries), allowed once it does, recording the pod as disrupted
/// and marking it; pending pods go regardless; dry runs change nothing; bad requests are
/// refused.
#[test]
fn evictions_respect_budgets() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    let ns = "evict";
    k.ok(&["create", "namespace", ns]);
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], EVICTABLE);
    set_ready(&k, ns, "guarded-1", true);
    set_ready(&k, ns, "guarded-2", true);
    wait_counts(&k, ns, "guard", "3 2 2 0 InsufficientPods");

    let refused = evict(&k, ns, "guarded-1", "guarded-1", "");
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains(
            "(TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget."
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(disruption(&k, ns, "guarded-1"), "|");

    // A pending pod disrupts nothing.
    let pending = evict(&k, ns, "guarded-pending", "guarded-pending", "");
    assert!(pending.ok, "{}", pending.stderr);
    let marked = disruption(&k, ns, "guarded-pending");
    assert!(
        marked.ends_with("|EvictionByEvictionAPI") && !marked.starts_with('|'),
        "{marked}"
    );

    // kubectl drain cordons the node and keeps retrying the refused evictions.
    let drain = k.run(&[
        "drain",
        "evict-node",
        "--force",
        "--timeout=7s",
        "--pod-selector=app=guarded",
    ]);
    assert!(!drain.ok);
    assert!(
        drain.stderr.contains(
            "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."
        ),
        "{}",
        drain.stderr
    );
    assert_eq!(
        k.ok(&[
            "get",
            "node",
            "evict-node",
            "-o",
            "jsonpath={.spec.unschedulable}"
        ]),
        "true"
    );

    k.ok(&[
        "patch",
        "pdb",
        "guard",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"minAvailable":1}}"#,
    ]);
    let allowed = || {
        k.ok(&[
            "get",
            "pdb",
            "guard",
            "-n",
            ns,
            "-o",
            "jsonpath={.status.disruptionsAllowed}",
        ])
    };
    eventually("one disruption allowed", || {
        (allowed() == "1").then_some(())
    });

    let dry = evict(&k, ns, "guarded-1", "guarded-1", "?dryRun=All");
    assert!(dry.ok, "{}", dry.stderr);
    assert_eq!(disruption(&k, ns, "guarded-1"), "|");
    assert_eq!(allowed(), "1");

    let evicted = evict(&k, ns, "guarded-1", "guarded-1", "");
    assert!(evicted.ok, "{}", evicted.stderr);
    let marked = disruption(&k, ns, "guarded-1");
    assert!(
        marked.ends_with("|EvictionByEvictionAPI") && !marked.starts_with('|'),
        "{marked}"
    );
    let disrupted = k.ok(&[
        "get",
        "pdb",
        "guard",
        "-n",
        ns,
        "-o",
        "jsonpath={.status.disruptionsAllowed}",
    ]);
    assert_eq!(disrupted, "0");
    let second = evict(&k, ns, "guarded-2", "guarded-2", "");
    assert!(
        second
            .stderr
            .contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{}",
        second.stderr
    );

    // Bad requests change nothing.
    let mismatch = evict(&k, ns, "guarded-2", "guarded-1", "");
    assert!(
        mismatch
            .stderr
            .contains("(BadRequest): name in URL does not match name in Eviction object"),
        "{}",
        mismatch.stderr
    );
    let missing = evict(&k, ns, "nope", "nope", "");
    assert!(
        missing.stderr.contains(r#"pods "nope" not found"#),
        "{}",
        missing.stderr
    );
    k.ok_stdin(
        &["apply", "-n", ns, "-f", "-"],
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: second}\nspec:\n  maxUnavailable: 1\n  selector: {matchLabels: {app: guarded}}\n",
    );
    let two = evict(&k, ns, "guarded-2", "guarded-2", "");
    assert!(
        two.stderr.contains("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."),
        "{}",
        two.stderr
    );
    assert_eq!(disruption(&k, ns, "guarded-2"), "|");
}
