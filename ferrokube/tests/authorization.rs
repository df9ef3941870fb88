//! Authorization as kubectl (1.32 and 1.33) sees it: RBAC grants what Roles and bindings
//! say and nothing else (`kubectl auth can-i`, `--list`, upstream's Forbidden messages), a
//! service account token is allowed in its namespace and refused elsewhere, impersonation
//! needs the `impersonate` verb, role writes may not escalate, aggregated ClusterRoles pick
//! up newly labelled roles, and the bootstrap policy is there and reconciled on restart.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, eventually, kubectls};
use std::time::Duration;

/// `kubectl auth can-i` as its exit status says.
fn can(k: &Kubectl, args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    k.run(&all).ok
}

/// Waits until the authorizer has seen a policy change.
fn until_can(k: &Kubectl, args: &[&str]) {
    eventually(&format!("can-i {args:?}"), Duration::from_secs(10), || {
        can(k, args).then_some(())
    });
}

#[test]
fn rbac_grants_what_bindings_say() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("team-{i}");
        let jane = format!("jane-{i}");
        k.ok(&["create", "namespace", &ns]);

        assert!(!can(
            &k,
            &["list", "pods", "-n", &ns, &format!("--as={jane}")]
        ));
        let e = k.fails(&["get", "pods", "-n", &ns, &format!("--as={jane}")]);
        assert!(
            e.contains(&format!(
                "pods is forbidden: User \"{jane}\" cannot list resource \"pods\" in API group \"\" in the namespace \"{ns}\""
            )),
            "{e}"
        );

        k.ok(&[
            "create",
            "role",
            "pod-reader",
            "--verb=get,list",
            "--resource=pods",
            "-n",
            &ns,
        ]);
        k.ok(&[
            "create",
            "rolebinding",
            "jane-reads",
            "--role=pod-reader",
            &format!("--user={jane}"),
            "-n",
            &ns,
        ]);
        until_can(&k, &["list", "pods", "-n", &ns, &format!("--as={jane}")]);
        k.ok(&["get", "pods", "-n", &ns, &format!("--as={jane}")]);
        assert!(!can(
            &k,
            &["list", "pods", "-n", "default", &format!("--as={jane}")]
        ));
        assert!(!can(
            &k,
            &["delete", "pods", "-n", &ns, &format!("--as={jane}")]
        ));
        let list = k.ok(&[
            "auth",
            "can-i",
            "--list",
            "-n",
            &ns,
            &format!("--as={jane}"),
        ]);
        let pods = list
            .lines()
            .find(|l| l.starts_with("pods "))
            .unwrap_or_else(|| panic!("{list}"));
        assert!(pods.ends_with("[get list]"), "{list}");
        // Access reviews are validated as upstream.
        let r = k.run_stdin(
            &["create", "-f", "-"],
            Some("apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  resourceAttributes: {verb: get, resource: pods}\n"),
        );
        assert!(
            r.stderr.contains(
                "spec.user: Invalid value: \"\": at least one of user or group must be specified"
            ),
            "{}",
            r.stderr
        );
        let r = k.run_stdin(
            &["create", "-f", "-"],
            Some("apiVersion: authorization.k8s.io/v1\nkind: SelfSubjectAccessReview\nspec: {}\n"),
        );
        assert!(
            r.stderr.contains(
                "exactly one of nonResourceAttributes or resourceAttributes must be specified"
            ),
            "{}",
            r.stderr
        );
        // Everyone authenticated may discover the API (system:discovery, system:basic-user).
        assert!(can(&k, &["get", "/apis", &format!("--as={jane}")]));
        assert!(can(
            &k,
            &[
                "create",
                "selfsubjectaccessreviews.authorization.k8s.io",
                &format!("--as={jane}")
            ]
        ));
    }
}

/// A request without credentials (kubectl would ask for a user name, so plain HTTPS).
fn anonymous_get(cluster: &Cluster, path: &str) -> (u16, serde_json::Value) {
    let ca = std::fs::read(cluster.dir.path().join("pki/ca.crt")).unwrap();
    let url = format!("https://127.0.0.1:{}{path}", cluster.port);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap();
        let resp = client.get(url).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    })
}

#[test]
fn anonymous_requests_get_only_public_information() {
    let cluster = Cluster::up();
    let (code, status) = anonymous_get(&cluster, "/api/v1/namespaces/default/pods");
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(status["reason"], "Forbidden");
    let (code, status) = anonymous_get(&cluster, "/apis");
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        "forbidden: User \"system:anonymous\" cannot get path \"/apis\""
    );
    for path in ["/version", "/healthz", "/readyz", "/livez"] {
        assert_eq!(anonymous_get(&cluster, path).0, 200, "{path}");
    }
    // A bad token is not anonymous: 401.
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    let r = k.run_with_token("not-a-token", &["get", "pods"]);
    assert!(
        r.stderr.contains("You must be logged in to the server"),
        "{}",
        r.stderr
    );
}

#[test]
fn service_accounts_are_held_to_their_bindings() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("apps-{i}");
        k.ok(&["create", "namespace", &ns]);
        k.ok(&["create", "serviceaccount", "bot", "-n", &ns]);
        let user = format!("system:serviceaccount:{ns}:bot");
        k.ok(&[
            "create",
            "rolebinding",
            "bot-views",
            "--clusterrole=view",
            &format!("--serviceaccount={ns}:bot"),
            "-n",
            &ns,
        ]);
        k.ok(&[
            "create",
            "role",
            "role-writer",
            "--verb=create,get",
            "--resource=roles",
            "-n",
            &ns,
        ]);
        k.ok(&[
            "create",
            "rolebinding",
            "bot-writes-roles",
            "--role=role-writer",
            &format!("--serviceaccount={ns}:bot"),
            "-n",
            &ns,
        ]);
        let token = k
            .ok(&["create", "token", "bot", "-n", &ns])
            .trim()
            .to_string();
        until_can(
            &k,
            &["list", "configmaps", "-n", &ns, &format!("--as={user}")],
        );

        let r = k.run_with_token(&token, &["get", "configmaps", "-n", &ns]);
        assert!(r.ok, "{}", r.stderr);
        let r = k.run_with_token(&token, &["get", "configmaps", "-n", "default"]);
        assert!(
            r.stderr.contains(&format!(
                "configmaps is forbidden: User \"{user}\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
            )),
            "{}",
            r.stderr
        );

        // Impersonation takes the impersonate verb, which the bot lacks.
        let r = k.run_with_token(&token, &["get", "pods", "-n", &ns, "--as=admin"]);
        assert!(
            r.stderr.contains(&format!(
                "users \"admin\" is forbidden: User \"{user}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
            )),
            "{}",
            r.stderr
        );

        // The bot may write roles, but only with permissions it holds.
        let r = k.run_with_token(
            &token,
            &[
                "create",
                "role",
                "sneaky",
                "--verb=delete",
                "--resource=secrets",
                "-n",
                &ns,
            ],
        );
        assert!(!r.ok);
        assert!(
            r.stderr.contains(&format!(
                "roles.rbac.authorization.k8s.io \"sneaky\" is forbidden: user \"{user}\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:{ns}\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"delete\"]}}"
            )),
            "{}",
            r.stderr
        );
        k.fails(&["get", "role", "sneaky", "-n", &ns]);
        let r = k.run_with_token(
            &token,
            &[
                "create",
                "role",
                "reader",
                "--verb=get",
                "--resource=configmaps",
                "-n",
                &ns,
            ],
        );
        assert!(r.ok, "{}", r.stderr);
    }
}

#[test]
fn bootstrap_policy_and_aggregation() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    for (name, ask, allowed) in [
        (
            "system:kube-scheduler",
            "create pods --subresource=binding",
            true,
        ),
        ("system:kube-scheduler", "create secrets", false),
        (
            "system:serviceaccount:kube-system:deployment-controller",
            "create replicasets.apps",
            true,
        ),
        (
            "system:serviceaccount:kube-system:deployment-controller",
            "create secrets",
            false,
        ),
        (
            "system:kube-controller-manager",
            "create serviceaccounts --subresource=token",
            true,
        ),
    ] {
        let mut args: Vec<&str> = ask.split(' ').collect();
        let as_user = format!("--as={name}");
        args.extend(["-A", as_user.as_str()]);
        assert_eq!(can(&k, &args), allowed, "{name} {ask}");
    }
    let labels = k.ok(&[
        "get",
        "clusterrole",
        "cluster-admin",
        "-o",
        "jsonpath={.metadata.labels.kubernetes\\.io/bootstrapping},{.metadata.annotations.rbac\\.authorization\\.kubernetes\\.io/autoupdate}",
    ]);
    assert_eq!(labels, "rbac-defaults,true");

    // A ClusterRole labelled to aggregate into view is picked up by it.
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widget-viewer\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\nrules:\n- apiGroups: [example.com]\n  resources: [widgets]\n  verbs: [get, list]\n",
    );
    k.ok(&[
        "create",
        "clusterrolebinding",
        "ann-views",
        "--clusterrole=view",
        "--user=ann",
    ]);
    // (kubectl auth can-i would ask for a resource "widgets.example.com" in the core group,
    // as no such resource is served.)
    let review = "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  user: ann\n  resourceAttributes: {verb: list, group: example.com, resource: widgets}\n";
    eventually("view to grant widgets", Duration::from_secs(10), || {
        let r: serde_json::Value =
            serde_json::from_str(&k.ok_stdin(&["create", "-f", "-", "-o", "json"], review))
                .unwrap();
        (r["status"]["allowed"] == true).then_some(())
    });

    // A restart puts back what the policy has and keeps what an administrator opted out.
    k.ok(&["delete", "clusterrolebinding", "system:basic-user"]);
    k.ok(&[
        "annotate",
        "clusterrole",
        "system:public-info-viewer",
        "--overwrite",
        "rbac.authorization.kubernetes.io/autoupdate=false",
    ]);
    k.ok(&[
        "patch",
        "clusterrole",
        "system:public-info-viewer",
        "--type=json",
        "-p",
        "[{\"op\": \"replace\", \"path\": \"/rules\", \"value\": []}]",
    ]);
    drop(k);
    let dir = cluster.stop();
    let cluster = Cluster::up_in(dir);
    let k = cluster.kubectl(&bins[0]);
    k.ok(&["get", "clusterrolebinding", "system:basic-user"]);
    let rules = k.ok(&[
        "get",
        "clusterrole",
        "system:public-info-viewer",
        "-o",
        "jsonpath={.rules}",
    ]);
    assert!(rules.trim().is_empty() || rules.trim() == "[]", "{rules}");
}
