//! The Node authorizer inside `ferrokube up`, driven with kubectl as kubelets
//! (`system:node:<name>` in `system:nodes`): a node reads the secrets and config maps its pods
//! use and no others, its own Node, its pods by `spec.nodeName`; what it may read follows pods
//! as they come and go; refusals read as upstream's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};
use std::time::Duration;

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  nodeName: n1
  containers:
  - name: c
    image: nginx
    envFrom:
    - configMapRef:
        name: settings
  volumes:
  - name: s
    secret:
      secretName: creds
  - name: d
    persistentVolumeClaim:
      claimName: data
";

const CLAIM: &str = "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: default
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
";

#[test]
fn kubelets_read_only_what_their_pods_need() {
    let cluster = Cluster::up();
    for bin in kubectls() {
        let k = cluster.kubectl(&bin);
        // No kubelet confirms a graceful deletion here: delete at once.
        let _ = k.run(&["delete", "pod", "web", "--force", "--grace-period=0"]);
        for node in ["n1", "n2"] {
            k.ok_stdin(
                &["apply", "-f", "-"],
                &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n"),
            );
        }
        for secret in ["creds", "unrelated"] {
            let _ = k.run(&["create", "secret", "generic", secret, "--from-literal=a=b"]);
        }
        let _ = k.run(&["create", "configmap", "settings", "--from-literal=a=b"]);
        k.ok_stdin(&["apply", "-f", "-"], CLAIM);
        k.ok_stdin(&["create", "-f", "-"], POD);
        let as_node = |node: &str, args: &[&str]| {
            let user = format!("--as=system:node:{node}");
            let mut all = args.to_vec();
            all.extend([user.as_str(), "--as-group=system:nodes"]);
            k.run(&all)
        };
        let refused = |node: &str, args: &[&str], why: &str| {
            let r = as_node(node, args);
            assert!(!r.ok && r.stderr.contains(why), "{args:?}: {}", r.stderr);
        };

        // What web uses, once the authorizer's graph has seen it.
        common::eventually("n1 to read web's secret", Duration::from_secs(10), || {
            as_node("n1", &["get", "secret", "creds"]).ok.then_some(())
        });
        let ok = as_node("n1", &["get", "configmap", "settings", "-o", "name"]);
        assert!(ok.ok, "{}", ok.stderr);
        assert_eq!(ok.stdout.trim(), "configmap/settings");
        refused(
            "n1",
            &["get", "secret", "unrelated"],
            "secrets \"unrelated\" is forbidden: User \"system:node:n1\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node 'n1' and this object",
        );
        refused(
            "n2",
            &["get", "secret", "creds"],
            "no relationship found between node 'n2' and this object",
        );

        // Pods by node, its own Node only.
        let pods = as_node(
            "n1",
            &[
                "get",
                "pods",
                "-A",
                "--field-selector=spec.nodeName=n1",
                "-o",
                "name",
            ],
        );
        assert!(pods.ok, "{}", pods.stderr);
        assert_eq!(pods.stdout.trim(), "pod/web");
        refused(
            "n1",
            &["get", "pods", "-A"],
            "can only list/watch pods with spec.nodeName field selector",
        );
        let own = as_node("n1", &["get", "node", "n1", "-o", "name"]);
        assert!(own.ok, "{}", own.stderr);
        refused(
            "n1",
            &["get", "node", "n2"],
            "nodes \"n2\" is forbidden: User \"system:node:n1\" cannot get resource \"nodes\" in API group \"\" at the cluster scope: node 'n1' cannot read 'n2', only its own Node object",
        );
        refused(
            "n1",
            &["get", "nodes"],
            "node 'n1' cannot read all nodes, only its own Node object",
        );
        // A watch of one Node by name is a request for that name.
        let watch = as_node(
            "n1",
            &[
                "get",
                "nodes",
                "--field-selector=metadata.name=n1",
                "-o",
                "name",
            ],
        );
        assert!(watch.ok, "{}", watch.stderr);
        assert_eq!(watch.stdout.trim(), "node/n1");
        let can = as_node("n1", &["auth", "can-i", "get", "secret/creds"]);
        assert_eq!(can.stdout.trim(), "yes");

        // Tokens for the pods' account, bound to one of the node's pods (NodeRestriction).
        refused(
            "n1",
            &["create", "token", "default"],
            "node requested token not bound to a pod",
        );
        let uid = k.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"]);
        let uid_flag = format!("--bound-object-uid={uid}");
        let bound = [
            "create",
            "token",
            "default",
            "--bound-object-kind=Pod",
            "--bound-object-name=web",
            uid_flag.as_str(),
        ];
        let token = as_node("n1", &bound);
        assert!(token.ok, "{}", token.stderr);
        assert_eq!(token.stdout.trim().split('.').count(), 3, "a JWT");
        refused(
            "n2",
            &bound,
            "no relationship found between node 'n2' and this object",
        );

        // The claim's status: capacity and conditions only (NodeRestriction). kubectl's patch
        // reads the status first, which nodes may not; a PUT goes straight there.
        let status_path = "/api/v1/namespaces/default/persistentvolumeclaims/data/status";
        let put_status = |node: &str, status: serde_json::Value| {
            let mut claim: serde_json::Value =
                serde_json::from_str(&k.ok(&["get", "pvc", "data", "-o", "json"])).unwrap();
            claim["status"] = status;
            let user = format!("--as=system:node:{node}");
            k.run_stdin(
                &[
                    "replace",
                    "--raw",
                    status_path,
                    "-f",
                    "-",
                    &user,
                    "--as-group=system:nodes",
                ],
                Some(&claim.to_string()),
            )
        };
        let grown = put_status(
            "n1",
            serde_json::json!({"phase": "Pending", "capacity": {"storage": "2Gi"}}),
        );
        assert!(grown.ok, "{}", grown.stderr);
        // The written claim (the volume binder clears an unbound claim's capacity soon after).
        let written: serde_json::Value = serde_json::from_str(&grown.stdout).unwrap();
        assert_eq!(written["status"]["capacity"]["storage"], "2Gi");
        let lost = put_status("n1", serde_json::json!({"phase": "Lost"}));
        assert!(
            lost.stderr.contains(
                "node \"n1\" is not allowed to update fields other than status.quantity and status.conditions: status.phase"
            ),
            "{}",
            lost.stderr
        );
        let other = put_status("n2", serde_json::json!({"phase": "Pending"}));
        assert!(
            other
                .stderr
                .contains("no relationship found between node 'n2' and this object"),
            "{}",
            other.stderr
        );

        // Without the pod, its secret is no longer n1's.
        k.ok(&["delete", "pod", "web", "--force", "--grace-period=0"]);
        common::eventually("n1 to lose web's secret", Duration::from_secs(10), || {
            let r = as_node("n1", &["get", "secret", "creds"]);
            (!r.ok && r.stderr.contains("no relationship found")).then_some(())
        });
    }
}
