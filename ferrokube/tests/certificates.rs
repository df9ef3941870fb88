//! The CSR signing controller inside `ferrokube up`: a client certificate request approved
//! with `kubectl certificate approve` gets a certificate signed by the cluster CA that the
//! apiserver accepts; a request the signer's rules refuse gets the `Failed` condition.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use base64::Engine;
use common::{Cluster, kubectls};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A key and a certificate request for `subject` made with openssl, in `dir`.
fn request(dir: &Path, name: &str, subject: &str) -> String {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", subject])
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap())
}

fn manifest(name: &str, request: &str, usages: &str) -> String {
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 86400\n  usages: [{usages}]\n"
    )
}

#[test]
fn approved_requests_are_signed_by_the_cluster_ca() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let alice = request(dir.path(), "alice", "/CN=alice/O=devs");
    k.ok_stdin(
        &["apply", "-f", "-"],
        &manifest("alice", &alice, "client auth"),
    );
    // Not approved yet: nothing is issued.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        k.ok(&[
            "get",
            "csr",
            "alice",
            "-o",
            "jsonpath={.status.certificate}"
        ]),
        ""
    );
    k.ok(&["certificate", "approve", "alice"]);
    let issued = common::eventually("the certificate", Duration::from_secs(30), || {
        let out = k.ok(&[
            "get",
            "csr",
            "alice",
            "-o",
            "jsonpath={.status.certificate}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    let pem = base64::engine::general_purpose::STANDARD
        .decode(issued)
        .unwrap();
    let cert = dir.path().join("alice.crt");
    std::fs::write(&cert, &pem).unwrap();
    let ca = cluster.kubeconfig().with_file_name("pki").join("ca.crt");
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&ca)
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "extendedKeyUsage",
            "-in",
        ])
        .arg(&cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("CN = alice") || text.contains("CN=alice"),
        "{text}"
    );
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    let rows = common::table(&k.ok(&["get", "csr", "alice"]));
    assert_eq!(rows[1].last().unwrap(), "Approved,Issued", "{rows:?}");

    // The apiserver takes the new certificate.
    let server = k.ok(&[
        "config",
        "view",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    let as_alice = Command::new(bins.last().unwrap())
        .args(["--server", &server, "--certificate-authority"])
        .arg(&ca)
        .arg("--client-certificate")
        .arg(&cert)
        .arg("--client-key")
        .arg(dir.path().join("alice.key"))
        .args(["get", "namespace", "default", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&as_alice.stdout).trim(),
        "namespace/default",
        "{}",
        String::from_utf8_lossy(&as_alice.stderr)
    );

    // A client signer refuses a serving usage.
    let bob = request(dir.path(), "bob", "/CN=bob");
    k.ok_stdin(
        &["apply", "-f", "-"],
        &manifest("bob", &bob, "client auth, server auth"),
    );
    k.ok(&["certificate", "approve", "bob"]);
    let failed = common::eventually("the Failed condition", Duration::from_secs(30), || {
        let out = k.ok(&[
            "get",
            "csr",
            "bob",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Failed\")].message}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(failed, "invalid usage for client certificate: server auth");
    assert_eq!(
        k.ok(&["get", "csr", "bob", "-o", "jsonpath={.status.certificate}"]),
        ""
    );
}

/// The CSR cleaner deletes a request denied more than an hour ago and keeps one just denied
/// and one just issued.
#[test]
fn the_cleaner_deletes_requests_answered_long_ago() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.first().unwrap());
    let dir = tempfile::tempdir().unwrap();
    for name in ["old", "fresh", "issued"] {
        let req = request(dir.path(), name, &format!("/CN={name}"));
        k.ok_stdin(&["apply", "-f", "-"], &manifest(name, &req, "client auth"));
    }
    k.ok(&["certificate", "deny", "fresh"]);
    k.ok(&["certificate", "approve", "issued"]);
    // Denied two hours ago, as a client writing the approval subresource may record it.
    let mut old: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "csr", "old", "-o", "json"])).unwrap();
    let two_hours_ago =
        k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(2);
    old["status"] = serde_json::json!({"conditions": [{
        "type": "Denied",
        "status": "True",
        "reason": "Test",
        "message": "denied long ago",
        "lastUpdateTime": two_hours_ago.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }]});
    let file = dir.path().join("old.json");
    std::fs::write(&file, old.to_string()).unwrap();
    k.ok(&[
        "replace",
        "--raw",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/old/approval",
        "-f",
        file.to_str().unwrap(),
    ]);
    common::eventually(
        "the old request's deletion",
        Duration::from_secs(30),
        || {
            let out = k.run(&["get", "csr", "old"]);
            out.stderr.contains("NotFound").then_some(())
        },
    );
    common::eventually("the certificate", Duration::from_secs(30), || {
        let out = k.ok(&[
            "get",
            "csr",
            "issued",
            "-o",
            "jsonpath={.status.certificate}",
        ]);
        (!out.is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let names = k.ok(&["get", "csr", "-o", "name"]);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        [
            "certificatesigningrequest.certificates.k8s.io/fresh",
            "certificatesigningrequest.certificates.k8s.io/issued"
        ],
        "{names}"
    );
}
