//! Authentication as kubectl (1.32 and 1.33) sees it: `kubectl create token` tokens that
//! authenticate as their service account (`kubectl auth whoami`) until the account or the
//! pod they are bound to is gone; tampered tokens and tokens for other audiences refused;
//! TokenReview; the OpenID discovery documents naming the key that signed the tokens;
//! bootstrap tokens; impersonation with `--as`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use base64::Engine;
use common::{Cluster, Kubectl, kubectls};
use serde_json::Value;
use std::time::Duration;

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn whoami(k: &Kubectl, token: &str) -> Value {
    let r = k.run_with_token(token, &["auth", "whoami", "-o", "json"]);
    assert!(r.ok, "{} whoami failed: {}", k.version(), r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn refused(k: &Kubectl, token: &str) {
    let r = k.run_with_token(token, &["get", "configmaps"]);
    assert!(!r.ok, "{}: the token should be refused", k.version());
    assert!(
        r.stderr.contains("You must be logged in to the server"),
        "{}: {}",
        k.version(),
        r.stderr
    );
}

/// The token stops working once the server's ten-second cache of accepted tokens (upstream's
/// too) lets go of it.
fn refused_soon(k: &Kubectl, token: &str) {
    common::eventually("the token to be refused", Duration::from_secs(20), || {
        let r = k.run_with_token(token, &["get", "configmaps"]);
        r.stderr
            .contains("You must be logged in to the server")
            .then_some(())
    });
}

fn claims(token: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&b).unwrap()
    };
    (part(0), part(1))
}

#[test]
fn service_account_tokens_authenticate_their_account() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let sa = format!("robot-{i}");
        k.ok(&["create", "serviceaccount", &sa]);
        let token = k.ok(&["create", "token", &sa]).trim().to_string();

        let (header, c) = claims(&token);
        assert_eq!(c["iss"], ISSUER);
        assert_eq!(c["aud"], serde_json::json!([ISSUER]));
        assert_eq!(c["sub"], format!("system:serviceaccount:default:{sa}"));
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            3600
        );
        assert_eq!(header["alg"], "ES256");

        let me = whoami(&k, &token);
        let info = &me["status"]["userInfo"];
        assert_eq!(
            info["username"],
            format!("system:serviceaccount:default:{sa}")
        );
        assert_eq!(
            info["groups"],
            serde_json::json!([
                "system:serviceaccounts",
                "system:serviceaccounts:default",
                "system:authenticated"
            ])
        );
        let uid = k.ok(&["get", "sa", &sa, "-o", "jsonpath={.metadata.uid}"]);
        assert_eq!(info["uid"], uid);
        let jti = c["jti"].as_str().unwrap();
        assert_eq!(
            info["extra"]["authentication.kubernetes.io/credential-id"],
            serde_json::json!([format!("JTI={jti}")])
        );

        // A changed signature, and a token for someone else's audience, are refused.
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        refused(&k, &tampered);
        let vault = k
            .ok(&["create", "token", &sa, "--audience=vault", "--duration=20m"])
            .trim()
            .to_string();
        assert_eq!(claims(&vault).1["aud"], serde_json::json!(["vault"]));
        refused(&k, &vault);

        // TokenReview answers for the audiences asked about.
        let review = |token: &str, audiences: &str| -> Value {
            let manifest = format!(
                "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {token}\n  audiences: {audiences}\n"
            );
            serde_json::from_str(&k.ok_stdin(&["create", "-f", "-", "-o", "json"], &manifest))
                .unwrap()
        };
        let r = review(&vault, "[vault]");
        assert_eq!(r["status"]["authenticated"], true, "{r}");
        assert_eq!(r["status"]["audiences"], serde_json::json!(["vault"]));
        assert_eq!(
            r["status"]["user"]["username"],
            format!("system:serviceaccount:default:{sa}")
        );
        let r = review(&vault, "[]");
        assert_ne!(r["status"]["authenticated"], true, "{r}");
        assert!(r["status"]["error"].as_str().unwrap().contains("audiences"));

        // Errors as upstream words them.
        let e = k.fails(&["create", "token", &sa, "--duration=1m"]);
        assert!(
            e.contains("spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"),
            "{e}"
        );
        let e = k.fails(&["create", "token", "nobody"]);
        assert!(e.contains("serviceaccounts \"nobody\" not found"), "{e}");

        // A pod-bound token carries the pod and dies with it.
        let pod = format!("p-{i}");
        k.ok_stdin(
            &["create", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n  serviceAccountName: {sa}\n  containers:\n  - {{name: c, image: nginx}}\n"
            ),
        );
        let bound = k
            .ok(&[
                "create",
                "token",
                &sa,
                "--bound-object-kind=Pod",
                &format!("--bound-object-name={pod}"),
            ])
            .trim()
            .to_string();
        let info = whoami(&k, &bound)["status"]["userInfo"].clone();
        assert_eq!(
            info["extra"]["authentication.kubernetes.io/pod-name"],
            serde_json::json!([pod])
        );
        let e = k.fails(&[
            "create",
            "token",
            "default",
            "--bound-object-kind=Pod",
            &format!("--bound-object-name={pod}"),
        ]);
        assert!(
            e.contains("cannot bind token for serviceaccount \"default\" to pod running with different serviceaccount name."),
            "{e}"
        );
        k.ok(&["delete", "pod", &pod, "--grace-period=0", "--force"]);
        refused_soon(&k, &bound);

        // The token dies with its service account.
        k.ok(&["delete", "serviceaccount", &sa]);
        refused_soon(&k, &token);
    }
}

#[test]
fn openid_discovery_names_the_signing_key() {
    let cluster = Cluster::up();
    for bin in kubectls() {
        let k = cluster.kubectl(&bin);
        let config: Value =
            serde_json::from_str(&k.ok(&["get", "--raw", "/.well-known/openid-configuration"]))
                .unwrap();
        assert_eq!(config["issuer"], ISSUER);
        assert!(
            config["jwks_uri"]
                .as_str()
                .unwrap()
                .ends_with("/openid/v1/jwks"),
            "{config}"
        );
        assert_eq!(
            config["id_token_signing_alg_values_supported"],
            serde_json::json!(["ES256"])
        );
        assert_eq!(
            config["response_types_supported"],
            serde_json::json!(["id_token"])
        );
        let jwks: Value =
            serde_json::from_str(&k.ok(&["get", "--raw", "/openid/v1/jwks"])).unwrap();
        let token = k.ok(&["create", "token", "default", "-n", "kube-system"]);
        let kid = claims(token.trim()).0["kid"].clone();
        let key = &jwks["keys"][0];
        assert_eq!(key["kid"], kid);
        assert_eq!(
            (key["kty"].as_str(), key["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        assert_eq!(key["use"], "sig");
    }
}

#[test]
fn bootstrap_tokens_and_impersonation() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let id = format!("abcde{i}");
        k.ok(&[
            "create",
            "secret",
            "generic",
            &format!("bootstrap-token-{id}"),
            "-n",
            "kube-system",
            "--type=bootstrap.kubernetes.io/token",
            &format!("--from-literal=token-id={id}"),
            "--from-literal=token-secret=0123456789abcdef",
            "--from-literal=usage-bootstrap-authentication=true",
            "--from-literal=auth-extra-groups=system:bootstrappers:kubeadm:default-node-token",
        ]);
        let info = whoami(&k, &format!("{id}.0123456789abcdef"))["status"]["userInfo"].clone();
        assert_eq!(info["username"], format!("system:bootstrap:{id}"));
        assert_eq!(
            info["groups"],
            serde_json::json!([
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token",
                "system:authenticated"
            ])
        );
        refused(&k, &format!("{id}.0123456789abcdee"));

        let me: Value = serde_json::from_str(&k.ok(&[
            "auth",
            "whoami",
            "--as=jane",
            "--as-group=devs",
            "-o",
            "json",
        ]))
        .unwrap();
        assert_eq!(me["status"]["userInfo"]["username"], "jane");
        assert_eq!(
            me["status"]["userInfo"]["groups"],
            serde_json::json!(["devs", "system:authenticated"])
        );
        let me: Value = serde_json::from_str(&k.ok(&[
            "auth",
            "whoami",
            "--as=system:serviceaccount:team:bot",
            "-o",
            "json",
        ]))
        .unwrap();
        assert_eq!(
            me["status"]["userInfo"]["groups"],
            serde_json::json!([
                "system:serviceaccounts",
                "system:serviceaccounts:team",
                "system:authenticated"
            ])
        );
    }
}

/// Legacy tokens, as the token controller writes them into Secrets of type
/// `kubernetes.io/service-account-token` (signed with the service account key, issuer
/// `kubernetes/serviceaccount`): they authenticate while their Secret holds them, the day of
/// use is recorded on the Secret, and a Secret the legacy token cleaner marked stops them.
#[test]
fn legacy_secret_tokens_authenticate_while_their_secret_holds_them() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok(&["create", "serviceaccount", "legacy"]);
    let uid = k.ok(&[
        "get",
        "serviceaccount",
        "legacy",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let key =
        apiserver::authn::keys::SigningKey::load(&cluster.dir.path().join("pki/sa.key")).unwrap();
    let token = apiserver::authn::jwt::sign(
        &key,
        &serde_json::json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "default",
            "kubernetes.io/serviceaccount/secret.name": "legacy-token",
            "kubernetes.io/serviceaccount/service-account.name": "legacy",
            "kubernetes.io/serviceaccount/service-account.uid": uid,
            "sub": "system:serviceaccount:default:legacy",
        }),
    )
    .unwrap();
    let secret = |data: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: legacy-token\n  annotations:\n    kubernetes.io/service-account.name: legacy\ntype: kubernetes.io/service-account-token\ndata:\n  token: {}\n",
            base64::engine::general_purpose::STANDARD.encode(data)
        )
    };
    // A Secret holding another token does not vouch for this one.
    k.ok_stdin(&["apply", "-f", "-"], &secret("something else"));
    refused(&k, &token);
    k.ok_stdin(&["apply", "-f", "-"], &secret(&token));
    for bin in &bins {
        let k = cluster.kubectl(bin);
        let who = whoami(&k, &token);
        assert_eq!(
            who["status"]["userInfo"]["username"],
            "system:serviceaccount:default:legacy"
        );
        assert_eq!(who["status"]["userInfo"]["uid"], uid.as_str());
    }
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    common::eventually(
        "the day of use on the Secret",
        Duration::from_secs(10),
        || {
            let used = k.ok(&[
                "get",
                "secret",
                "legacy-token",
                "-o",
                "jsonpath={.metadata.labels.kubernetes\\.io/legacy-token-last-used}",
            ]);
            (used == today).then_some(())
        },
    );
    // Marked invalid: TokenReview says why.
    k.ok(&[
        "label",
        "secret",
        "legacy-token",
        "kubernetes.io/legacy-token-invalid-since=2026-01-01",
    ]);
    common::eventually(
        "the marked token to be refused",
        Duration::from_secs(20),
        || {
            let review = k.ok_stdin(
            &["create", "-o", "json", "-f", "-"],
            &format!("apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {token}\n"),
        );
            let review: Value = serde_json::from_str(&review).unwrap();
            (review["status"]["authenticated"] != true).then_some(review)
        },
    );
    let review = k.ok_stdin(
        &["create", "-o", "json", "-f", "-"],
        &format!(
            "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {token}\n"
        ),
    );
    let review: Value = serde_json::from_str(&review).unwrap();
    assert!(
        review["status"]["error"].as_str().unwrap_or_default().contains(
            "the token in secret default/legacy-token for service account default/legacy has been marked invalid"
        ),
        "{review}"
    );
}

/// The token controller fills a `kubernetes.io/service-account-token` Secret with a legacy
/// token for its account (with the CA and namespace), which authenticates as that account;
/// the Secret goes with its account.
#[test]
fn the_token_controller_fills_token_secrets() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok(&["create", "serviceaccount", "builder"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: builder-token\n  annotations:\n    kubernetes.io/service-account.name: builder\ntype: kubernetes.io/service-account-token\n",
    );
    let token = common::eventually("the token in the Secret", Duration::from_secs(20), || {
        let encoded = k.ok(&[
            "get",
            "secret",
            "builder-token",
            "-o",
            "jsonpath={.data.token}",
        ]);
        (!encoded.is_empty()).then(|| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap(),
            )
            .unwrap()
        })
    });
    let uid = k.ok(&[
        "get",
        "serviceaccount",
        "builder",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let recorded = k.ok(&[
        "get",
        "secret",
        "builder-token",
        "-o",
        "jsonpath={.metadata.annotations.kubernetes\\.io/service-account\\.uid}",
    ]);
    assert_eq!(recorded, uid);
    let namespace = k.ok(&[
        "get",
        "secret",
        "builder-token",
        "-o",
        "jsonpath={.data.namespace}",
    ]);
    assert_eq!(
        namespace,
        base64::engine::general_purpose::STANDARD.encode("default")
    );
    for bin in &bins {
        let who = whoami(&cluster.kubectl(bin), &token);
        assert_eq!(
            who["status"]["userInfo"]["username"],
            "system:serviceaccount:default:builder"
        );
    }
    k.ok(&["delete", "serviceaccount", "builder"]);
    common::eventually(
        "the Secret to go with its account",
        Duration::from_secs(20),
        || (!k.run(&["get", "secret", "builder-token"]).ok).then_some(()),
    );
    refused_soon(&k, &token);
}
