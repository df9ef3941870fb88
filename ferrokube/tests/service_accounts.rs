//! The ServiceAccount admission plugin inside `ferrokube up`, driven with kubectl: pods run as
//! the namespace's `default` account unless they name another, get a projected
//! `kube-api-access-*` volume with a bound token unless the pod or its account opts out, and
//! inherit the account's image pull secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};
use serde_json::Value;

fn pod(k: &common::Kubectl, ns: &str, name: &str) -> Value {
    serde_json::from_str(&k.ok(&["get", "pod", name, "-n", ns, "-o", "json"])).unwrap()
}

const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

#[test]
fn pods_get_their_account_token_volume_and_pull_secrets() {
    let cluster = Cluster::up();
    let bins = kubectls();
    for (i, bin) in bins.iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("accounts-{i}");
        k.ok(&["create", "namespace", &ns]);
        // Created at once after the namespace: admission waits for the controller to make
        // the default account, as upstream's does.
        k.ok(&["run", "plain", "-n", &ns, "--image=nginx"]);
        let plain = pod(&k, &ns, "plain");
        assert_eq!(plain["spec"]["serviceAccountName"], "default", "{plain}");
        let volumes = plain["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 1, "{plain}");
        let name = volumes[0]["name"].as_str().unwrap();
        assert!(name.starts_with("kube-api-access-"), "{name}");
        let sources = &volumes[0]["projected"]["sources"];
        assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
        assert_eq!(sources[0]["serviceAccountToken"]["path"], "token");
        assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
        assert_eq!(
            sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
            "metadata.namespace"
        );
        assert_eq!(volumes[0]["projected"]["defaultMode"], 420);
        let mount = &plain["spec"]["containers"][0]["volumeMounts"][0];
        assert_eq!(mount["name"], name);
        assert_eq!(mount["mountPath"], MOUNT_PATH);
        assert_eq!(mount["readOnly"], true);

        // An account that opts out; a pod can opt back in.
        k.ok_stdin(
            &["apply", "-n", &ns, "-f", "-"],
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: quiet\nautomountServiceAccountToken: false\nimagePullSecrets:\n- name: registry\n",
        );
        k.ok(&[
            "run",
            "quiet",
            "-n",
            &ns,
            "--image=nginx",
            "--overrides={\"spec\":{\"serviceAccountName\":\"quiet\"}}",
        ]);
        let quiet = pod(&k, &ns, "quiet");
        assert_eq!(quiet["spec"]["volumes"], Value::Null, "{quiet}");
        assert_eq!(quiet["spec"]["containers"][0]["volumeMounts"], Value::Null);
        assert_eq!(quiet["spec"]["imagePullSecrets"][0]["name"], "registry");
        k.ok(&[
            "run", "loud", "-n", &ns, "--image=nginx",
            "--overrides={\"spec\":{\"serviceAccountName\":\"quiet\",\"automountServiceAccountToken\":true}}",
        ]);
        let loud = pod(&k, &ns, "loud");
        assert_eq!(
            loud["spec"]["volumes"].as_array().unwrap().len(),
            1,
            "{loud}"
        );

        let refused = k.fails(&[
            "run",
            "lost",
            "-n",
            &ns,
            "--image=nginx",
            "--overrides={\"spec\":{\"serviceAccountName\":\"missing\"}}",
        ]);
        assert!(
            refused.contains(&format!(
                "pods \"lost\" is forbidden: error looking up service account {ns}/missing: serviceaccount \"missing\" not found"
            )),
            "{refused}"
        );
    }
}
