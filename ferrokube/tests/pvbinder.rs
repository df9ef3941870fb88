//! The PersistentVolume binder inside `ferrokube up`, driven with both kubectl binaries: a
//! claim binds the smallest volume that fits, one nothing fits stays Pending with upstream's
//! event, a volume pre-bound to a claim goes to it, and deleting a bound claim releases its
//! volume (Retain) or fails it (Delete, with no deleter for its path).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Kubectl, eventually, kubectls, table};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(30);

fn volume(
    name: &str,
    size: &str,
    path: &str,
    policy: &str,
    claim_ref: Option<(&str, &str)>,
) -> String {
    let claim_ref = claim_ref
        .map(|(ns, claim)| format!("  claimRef: {{namespace: {ns}, name: {claim}}}\n"))
        .unwrap_or_default();
    format!(
        r#"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: {name}
spec:
  capacity: {{storage: {size}}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: {policy}
  hostPath: {{path: {path}}}
{claim_ref}"#
    )
}

fn claim(name: &str, size: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {{storage: {size}}}
"#
    )
}

/// The row of `kubectl get <what>` (empty cells dropped, so only leading columns are reliable).
fn row(k: &Kubectl, what: &[&str]) -> Vec<String> {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    table(&k.ok(&args)).into_iter().nth(1).unwrap_or_default()
}

#[test]
fn claims_bind_to_matching_volumes_and_release_them() {
    let cluster = common::Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("bind-{i}");
        k.ok(&["create", "namespace", &ns]);
        let (small, big, pre) = (
            format!("pv-{i}-small"),
            format!("pv-{i}-big"),
            format!("pv-{i}-pre"),
        );
        k.ok_stdin(
            &["create", "-f", "-"],
            &volume(&small, "1Gi", "/tmp/small", "Retain", None),
        );
        k.ok_stdin(
            &["create", "-f", "-"],
            &volume(&big, "5Gi", "/tmp/big", "Retain", None),
        );
        k.ok_stdin(
            &["create", "-f", "-"],
            &volume(&pre, "1Gi", "/srv/pre", "Delete", Some((&ns, "reserved"))),
        );

        // The smallest volume that fits, not the first or the biggest.
        k.ok_stdin(&["create", "-n", &ns, "-f", "-"], &claim("data", "2Gi"));
        let bound = eventually("the claim binds", SHORT, || {
            let r = row(&k, &["pvc", "data", "-n", &ns]);
            (r.get(1).map(String::as_str) == Some("Bound")).then_some(r)
        });
        assert_eq!(bound[2..4], [big.clone(), "5Gi".to_string()], "{bound:?}");
        let pv = eventually("the volume is bound", SHORT, || {
            let r = row(&k, &["pv", &big]);
            (r.get(4).map(String::as_str) == Some("Bound")).then_some(r)
        });
        assert_eq!(pv[1], "5Gi");
        assert_eq!(pv[5], format!("{ns}/data"), "{pv:?}");
        let annotations = k.ok(&[
            "get", "pvc", "data", "-n", &ns, "-o",
            "jsonpath={.metadata.annotations.pv\\.kubernetes\\.io/bind-completed} {.metadata.annotations.pv\\.kubernetes\\.io/bound-by-controller} {.status.accessModes}",
        ]);
        assert_eq!(annotations, r#"yes yes ["ReadWriteOnce"]"#);
        let claim_uid = k.ok(&[
            "get",
            "pvc",
            "data",
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        let claim_ref = k.ok(&[
            "get", "pv", &big, "-o",
            "jsonpath={.spec.claimRef.kind} {.spec.claimRef.uid} {.metadata.annotations.pv\\.kubernetes\\.io/bound-by-controller}",
        ]);
        assert_eq!(claim_ref, format!("PersistentVolumeClaim {claim_uid} yes"));

        // Nothing is big enough: Pending, with upstream's event.
        k.ok_stdin(&["create", "-n", &ns, "-f", "-"], &claim("huge", "10Gi"));
        let event = eventually("the unbound claim is reported", SHORT, || {
            let out = k.ok(&[
                "get", "events", "-n", &ns, "--field-selector",
                "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=huge,reason=FailedBinding",
                "-o", "jsonpath={.items[0].type} {.items[0].source.component} {.items[0].message}",
            ]);
            (!out.is_empty()).then_some(out)
        });
        assert_eq!(
            event,
            "Normal persistentvolume-controller no persistent volumes available for this claim and no storage class is set"
        );
        assert_eq!(row(&k, &["pvc", "huge", "-n", &ns])[1], "Pending");

        // A volume reserved for a claim goes to it, though another fits as well.
        k.ok_stdin(&["create", "-n", &ns, "-f", "-"], &claim("reserved", "1Gi"));
        let bound = eventually("the reserved claim binds", SHORT, || {
            let r = row(&k, &["pvc", "reserved", "-n", &ns]);
            (r.get(1).map(String::as_str) == Some("Bound")).then_some(r)
        });
        assert_eq!(bound[2], pre);
        assert_eq!(row(&k, &["pv", &small])[4], "Available");

        // Deleted claims: Retain keeps the volume Released, Delete fails without a deleter.
        k.ok(&["delete", "pvc", "data", "reserved", "-n", &ns]);
        eventually("the retained volume is released", SHORT, || {
            (row(&k, &["pv", &big])[4] == "Released").then_some(())
        });
        let failed = eventually("the volume to delete fails", SHORT, || {
            let out = k.ok(&[
                "get",
                "pv",
                &pre,
                "-o",
                "jsonpath={.status.phase}: {.status.message}",
            ]);
            out.starts_with("Failed").then_some(out)
        });
        assert_eq!(
            failed,
            "Failed: host_path deleter only supports /tmp/.+ but received provided /srv/pre"
        );
    }
}
