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

    // The apiserver takes the new certificate: alice is who it says (RBAC grants her
    // nothing more).
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
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&as_alice.stdout).trim(),
        "alice",
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

fn kubelet_manifest(name: &str, request: &str) -> String {
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client-kubelet\n  usages: [digital signature, client auth]\n"
    )
}

/// TLS bootstrap as kubeadm sets it up: a bootstrap token whose group may create node
/// client requests gets them approved (`AutoApproved`) and signed; a user without that
/// permission, or a request that is not a node's, waits for a human.
#[test]
fn kubelet_client_requests_are_approved_after_a_subject_access_review() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let group = "system:bootstrappers:kubeadm:default-node-token";
    k.ok(&[
        "create",
        "secret",
        "generic",
        "bootstrap-token-abcdef",
        "-n",
        "kube-system",
        "--type=bootstrap.kubernetes.io/token",
        "--from-literal=token-id=abcdef",
        "--from-literal=token-secret=0123456789abcdef",
        "--from-literal=usage-bootstrap-authentication=true",
        &format!("--from-literal=auth-extra-groups={group}"),
    ]);
    for (binding, role) in [
        ("kubeadm:kubelet-bootstrap", "system:node-bootstrapper"),
        (
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        ),
    ] {
        k.ok(&[
            "create",
            "clusterrolebinding",
            binding,
            &format!("--clusterrole={role}"),
            &format!("--group={group}"),
        ]);
    }
    k.ok(&[
        "create",
        "clusterrolebinding",
        "jane-requests",
        "--clusterrole=system:node-bootstrapper",
        "--user=jane",
    ]);

    // The node's request, sent with the bootstrap token only.
    let node = request(
        dir.path(),
        "node",
        "/O=system:nodes/CN=system:node:worker-1",
    );
    let ca = cluster.dir.path().join("pki/ca.crt");
    let create_as_token = |manifest: &str| {
        let r = k.run_stdin(
            &[
                "--kubeconfig=/dev/null",
                &format!("--server=https://127.0.0.1:{}", cluster.port),
                &format!("--certificate-authority={}", ca.display()),
                "--token=abcdef.0123456789abcdef",
                "create",
                "-f",
                "-",
            ],
            Some(manifest),
        );
        assert!(r.ok, "{}", r.stderr);
    };
    common::eventually("the token to be allowed", Duration::from_secs(10), || {
        k.run(&[
            "auth",
            "can-i",
            "create",
            "certificatesigningrequests",
            "--as=system:bootstrap:abcdef",
            &format!("--as-group={group}"),
            "--as-group=system:bootstrappers",
        ])
        .ok
        .then_some(())
    });
    create_as_token(&kubelet_manifest("node-worker-1", &node));
    // jane may ask, but not have node certificates approved; alice's is no node's.
    let other = request(
        dir.path(),
        "other",
        "/O=system:nodes/CN=system:node:worker-2",
    );
    k.ok_stdin(
        &["create", "-f", "-", "--as=jane"],
        &kubelet_manifest("node-worker-2", &other),
    );
    let alice = request(dir.path(), "alice2", "/CN=alice");
    create_as_token(&kubelet_manifest("not-a-node", &alice));

    let condition = |name: &str| {
        k.ok(&[
            "get",
            "csr",
            name,
            "-o",
            "jsonpath={.status.conditions[0].type}/{.status.conditions[0].reason}/{.status.conditions[0].message}",
        ])
    };
    common::eventually(
        "node-worker-1 to be approved",
        Duration::from_secs(30),
        || {
            let rows = common::table(&k.ok(&["get", "csr", "node-worker-1"]));
            (rows[1].last().unwrap() == "Approved,Issued").then_some(())
        },
    );
    assert_eq!(
        condition("node-worker-1"),
        "Approved/AutoApproved/Auto approving kubelet client certificate after SubjectAccessReview."
    );
    let requestor = k.ok(&[
        "get",
        "csr",
        "node-worker-1",
        "-o",
        "jsonpath={.spec.username}",
    ]);
    assert_eq!(requestor, "system:bootstrap:abcdef");
    std::thread::sleep(Duration::from_secs(2));
    for name in ["node-worker-2", "not-a-node"] {
        assert_eq!(condition(name), "//", "{name} should wait for a human");
    }
}

/// The certificate admission plugins: no `system:masters` certificates from the client
/// signer, and approving needs the `approve` verb on the signer, not just the subresource.
#[test]
fn signers_are_guarded_by_admission() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let root = request(dir.path(), "root", "/CN=root/O=system:masters");
    let refused = k
        .run_stdin(
            &["apply", "-f", "-"],
            Some(&manifest("root", &root, "client auth")),
        )
        .stderr;
    assert!(
        refused.contains(
            "certificatesigningrequests.certificates.k8s.io \"root\" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
        ),
        "{refused}"
    );

    let bob = request(dir.path(), "bob", "/CN=bob/O=devs");
    k.ok_stdin(&["apply", "-f", "-"], &manifest("bob", &bob, "client auth"));
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: csr-updater\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests, certificatesigningrequests/approval]\n  verbs: [get, list, update]\n",
    );
    k.ok(&[
        "create",
        "clusterrolebinding",
        "jane-updates-csrs",
        "--clusterrole=csr-updater",
        "--user=jane",
    ]);
    let refused = k.fails(&["certificate", "approve", "bob", "--as=jane"]);
    assert!(
        refused.contains(
            "certificatesigningrequests.certificates.k8s.io \"bob\" is forbidden: user not permitted to approve requests with signerName \"kubernetes.io/kube-apiserver-client\""
        ),
        "{refused}"
    );
    // The signer's domain wildcard is enough.
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: approver\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [signers]\n  resourceNames: [kubernetes.io/*]\n  verbs: [approve]\n",
    );
    k.ok(&[
        "create",
        "clusterrolebinding",
        "jane-approves",
        "--clusterrole=approver",
        "--user=jane",
    ]);
    k.ok(&["certificate", "approve", "bob", "--as=jane"]);
}

/// NodeRestriction: a kubelet asks the node signers only for certificates naming itself;
/// requests to other signers are the signer's to judge.
#[test]
fn kubelets_request_only_their_own_node_certificates() {
    let cluster = Cluster::up();
    let dir = tempfile::tempdir().unwrap();
    let other = request(dir.path(), "other", "/CN=system:node:n2/O=system:nodes");
    let own = request(dir.path(), "own", "/CN=system:node:n1/O=system:nodes");
    let serving = request(dir.path(), "serving", "/CN=system:node:n2/O=system:nodes");
    let bob = request(dir.path(), "bob", "/CN=bob");
    for bin in kubectls() {
        let k = cluster.kubectl(&bin);
        let as_n1 = ["--as=system:node:n1", "--as-group=system:nodes"];
        let create = |manifest: String| {
            k.run_stdin(
                &[&["create", "-f", "-"][..], &as_n1].concat(),
                Some(&manifest),
            )
        };
        let refused = create(kubelet_manifest("n2-client", &other));
        assert!(
            refused.stderr.contains(
                "certificatesigningrequests.certificates.k8s.io \"n2-client\" is forbidden: can only create a node CSR with CN=system:node:n1"
            ),
            "{}",
            refused.stderr
        );
        let refused = create(kubelet_manifest("n2-serving", &serving).replace(
            "kube-apiserver-client-kubelet\n  usages: [digital signature, client auth]",
            "kubelet-serving\n  usages: [digital signature, server auth]",
        ));
        assert!(
            refused
                .stderr
                .contains("can only create a node CSR with CN=system:node:n1"),
            "{}",
            refused.stderr
        );
        let names = k.ok(&["get", "csr", "-o", "name"]);
        assert!(!names.contains("n2-"), "{names}");

        let created = create(kubelet_manifest("n1-client", &own));
        assert!(created.ok, "{}", created.stderr);
        let created = create(manifest("bob", &bob, "client auth"));
        assert!(created.ok, "{}", created.stderr);
        k.ok(&["delete", "csr", "n1-client", "bob"]);
    }
}
