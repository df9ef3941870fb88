//! The volume controllers inside `ferrokube up`, driven with both kubectl binaries: a pod's
//! generic ephemeral volume gets its claim (owned by the pod, gone with it), a claim of that name
//! the pod does not own is reported, a claim in use stays Terminating until its pod goes, and a
//! volume stays Terminating while it is Bound to a claim.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, eventually, kubectls};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(30);

/// How long a protected object is watched to make sure it does not go.
const HOLD: Duration = Duration::from_secs(3);

const PVC_FINALIZER: &str = "kubernetes.io/pvc-protection";
const PV_FINALIZER: &str = "kubernetes.io/pv-protection";

fn ephemeral_pod(name: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - {{name: c, image: nginx}}
  volumes:
  - name: scratch
    ephemeral:
      volumeClaimTemplate:
        metadata:
          labels: {{tier: cache}}
          annotations: {{note: from-template}}
        spec:
          accessModes: [ReadWriteOnce]
          resources:
            requests: {{storage: 1Gi}}
"#
    )
}

fn claim(name: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {{storage: 1Gi}}
"#
    )
}

/// A pod bound to `node` by hand (no scheduler runs) that mounts `claim`. The node never
/// reports, so it turns unreachable; the pod rides that out.
fn pod_using(name: &str, node: &str, claim: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeName: {node}
  tolerations:
  - {{operator: Exists, effect: NoExecute}}
  containers:
  - {{name: c, image: nginx}}
  volumes:
  - name: data
    persistentVolumeClaim: {{claimName: {claim}}}
"#
    )
}

fn volume(name: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: {name}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  hostPath: {{path: /tmp/{name}}}
"#
    )
}

fn exists(k: &Kubectl, args: &[&str]) -> bool {
    let r = k.run(args);
    if !r.ok {
        assert!(r.stderr.contains("NotFound"), "{args:?}: {}", r.stderr);
    }
    r.ok
}

fn jsonpath(k: &Kubectl, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let path = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &path]);
    k.ok(&args)
}

/// Waits until the object has `finalizer`.
fn protected(k: &Kubectl, what: &[&str], finalizer: &str) {
    eventually(&format!("{what:?} has {finalizer}"), SHORT, || {
        jsonpath(k, what, "{.metadata.finalizers}")
            .contains(finalizer)
            .then_some(())
    });
}

/// Checks for [`HOLD`] that the object stays, marked for deletion.
fn stays_terminating(k: &Kubectl, what: &[&str]) {
    let until = std::time::Instant::now() + HOLD;
    while std::time::Instant::now() < until {
        let deleted_at = jsonpath(k, what, "{.metadata.deletionTimestamp}");
        assert!(!deleted_at.is_empty(), "{what:?} is not being deleted");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn gone(k: &Kubectl, what: &[&str], why: &str) {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    eventually(why, SHORT, || (!exists(k, &args)).then_some(()));
}

#[test]
fn volume_controllers_create_and_protect_claims_and_volumes() {
    let cluster = Cluster::up();
    let bins = kubectls();
    // The node the claim's user is bound to; pods of a missing node would be collected.
    cluster.kubectl(&bins[0]).ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: disk\n",
    );
    for (i, bin) in bins.iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("vol-{i}");
        k.ok(&["create", "namespace", &ns]);
        ephemeral_volumes(&k, &ns);
        claim_protection(&k, &ns);
        volume_protection(&k, &ns, &format!("pv-{i}"));
    }
}

fn ephemeral_volumes(k: &Kubectl, ns: &str) {
    k.ok_stdin(&["create", "-n", ns, "-f", "-"], &ephemeral_pod("web"));
    let pod_uid = jsonpath(k, &["pod", "web", "-n", ns], "{.metadata.uid}");
    let pvc = ["pvc", "web-scratch", "-n", ns];
    let owner = eventually("the ephemeral volume has its claim", SHORT, || {
        let r = k.run(&[
            "get",
            "pvc",
            "web-scratch",
            "-n",
            ns,
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].uid} {.metadata.ownerReferences[0].controller} {.metadata.ownerReferences[0].blockOwnerDeletion}",
        ]);
        r.ok.then_some(r.stdout)
    });
    assert_eq!(owner, format!("Pod/web {pod_uid} true true"));
    assert_eq!(
        jsonpath(
            k,
            &pvc,
            "{.metadata.labels.tier} {.metadata.annotations.note} {.spec.resources.requests.storage}"
        ),
        "cache from-template 1Gi"
    );
    protected(k, &pvc, PVC_FINALIZER);

    // A claim of the volume's name made by someone else is not the pod's to use.
    k.ok_stdin(&["create", "-n", ns, "-f", "-"], &claim("clash-scratch"));
    k.ok_stdin(&["create", "-n", ns, "-f", "-"], &ephemeral_pod("clash"));
    let message = eventually("the clash is reported on the pod", SHORT, || {
        let out = k.ok(&[
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            "involvedObject.kind=Pod,involvedObject.name=clash,reason=FailedBinding",
            "-o",
            "jsonpath={.items[0].type} {.items[0].source.component} {.items[0].message}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(
        message,
        format!(
            "Warning ephemeral_volume ephemeral volume scratch: PVC {ns}/clash-scratch was not \
             created for pod {ns}/clash (pod is not owner)"
        )
    );
    assert_eq!(
        jsonpath(
            k,
            &["pvc", "clash-scratch", "-n", ns],
            "{.metadata.ownerReferences}"
        ),
        "",
        "the claim is left alone"
    );

    // The pod was never scheduled, so it goes at once; the collector takes its claim along,
    // and the claim protection lets it go as no pod uses it.
    k.ok(&["delete", "pod", "web", "-n", ns]);
    gone(k, &pvc, "the claim goes with its pod");
}

fn claim_protection(k: &Kubectl, ns: &str) {
    k.ok_stdin(&["create", "-n", ns, "-f", "-"], &claim("data"));
    let pvc = ["pvc", "data", "-n", ns];
    protected(k, &pvc, PVC_FINALIZER);
    k.ok_stdin(
        &["create", "-n", ns, "-f", "-"],
        &pod_using("user", "disk", "data"),
    );
    k.ok(&["delete", "pvc", "data", "-n", ns, "--wait=false"]);
    stays_terminating(k, &pvc);
    let listed = k.ok(&["get", "pvc", "data", "-n", ns]);
    assert!(listed.contains("Terminating"), "{listed}");

    // No kubelet runs to finish the pod gracefully: force it.
    k.ok(&[
        "delete",
        "pod",
        "user",
        "-n",
        ns,
        "--grace-period=0",
        "--force",
    ]);
    gone(k, &pvc, "the claim goes once its pod is gone");
}

fn volume_protection(k: &Kubectl, ns: &str, name: &str) {
    // Its own class keeps the namespace's other claims off it.
    let pv = volume(name).replace("spec:\n", &format!("spec:\n  storageClassName: {name}\n"));
    k.ok_stdin(&["create", "-f", "-"], &pv);
    let pv = ["pv", name];
    protected(k, &pv, PV_FINALIZER);
    let holder =
        claim("holder").replace("spec:\n", &format!("spec:\n  storageClassName: {name}\n"));
    k.ok_stdin(&["create", "-n", ns, "-f", "-"], &holder);
    eventually("the volume binds", SHORT, || {
        (jsonpath(k, &pv, "{.status.phase}") == "Bound").then_some(())
    });
    k.ok(&["delete", "pv", name, "--wait=false"]);
    stays_terminating(k, &pv);
    // Released once its claim is gone, and then free to go.
    k.ok(&["delete", "pvc", "holder", "-n", ns]);
    gone(k, &pv, "the volume goes once it is not bound");
}
