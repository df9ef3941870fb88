//! The bootstrap token controllers inside `ferrokube up` (which runs them, as kubeadm does):
//! `kube-public/cluster-info` is signed with each signing token and unsigned when the token
//! goes, and an expired token is deleted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};
use std::time::Duration;

fn token(id: &str, expiration: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bootstrap-token-{id}\n  namespace: kube-system\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: {id}\n  token-secret: 0123456789abcdef\n  usage-bootstrap-signing: \"true\"\n  usage-bootstrap-authentication: \"true\"\n  expiration: \"{expiration}\"\n"
    )
}

#[test]
fn cluster_info_is_signed_and_expired_tokens_go() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    k.ok(&[
        "create",
        "configmap",
        "cluster-info",
        "-n",
        "kube-public",
        "--from-literal=kubeconfig=apiVersion: v1\nkind: Config\n",
    ]);
    let later = (k8s_openapi::jiff::Timestamp::now()
        + k8s_openapi::jiff::SignedDuration::from_hours(1))
    .strftime("%Y-%m-%dT%H:%M:%SZ")
    .to_string();
    let soon = (k8s_openapi::jiff::Timestamp::now()
        + k8s_openapi::jiff::SignedDuration::from_secs(3))
    .strftime("%Y-%m-%dT%H:%M:%SZ")
    .to_string();
    k.ok_stdin(&["apply", "-f", "-"], &token("abcdef", &later));
    let signature = common::eventually("the signature", Duration::from_secs(30), || {
        let out = k.ok(&[
            "get",
            "configmap",
            "cluster-info",
            "-n",
            "kube-public",
            "-o",
            "jsonpath={.data.jws-kubeconfig-abcdef}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    // A detached JWS: header, empty payload, signature.
    let parts: Vec<&str> = signature.split('.').collect();
    assert_eq!(parts.len(), 3, "{signature}");
    assert!(parts[1].is_empty(), "{signature}");

    // A token that expires is deleted, and its signature goes with it.
    k.ok_stdin(&["apply", "-f", "-"], &token("short0", &soon));
    common::eventually("short0 signs", Duration::from_secs(30), || {
        let out = k.ok(&[
            "get",
            "configmap",
            "cluster-info",
            "-n",
            "kube-public",
            "-o",
            "jsonpath={.data}",
        ]);
        out.contains("jws-kubeconfig-short0").then_some(())
    });
    common::eventually("the expired token deleted", Duration::from_secs(30), || {
        let r = k.run(&[
            "get",
            "secret",
            "bootstrap-token-short0",
            "-n",
            "kube-system",
        ]);
        (!r.ok && r.stderr.contains("NotFound")).then_some(())
    });
    common::eventually("its signature removed", Duration::from_secs(30), || {
        let out = k.ok(&[
            "get",
            "configmap",
            "cluster-info",
            "-n",
            "kube-public",
            "-o",
            "jsonpath={.data}",
        ]);
        (!out.contains("jws-kubeconfig-short0") && out.contains("jws-kubeconfig-abcdef"))
            .then_some(())
    });
}
