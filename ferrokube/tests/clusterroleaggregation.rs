//! The clusterrole aggregation controller inside `ferrokube up`, driven with both kubectl
//! binaries: an aggregating ClusterRole (upstream's `monitoring` example) gets the rules of the
//! roles its selector picks, in name order; rules set by hand are put back; relabeling or
//! deleting a picked role takes its rules out. ferrokube's apiserver creates no bootstrap
//! policy yet, so the aggregated `admin`/`edit`/`view` roles are not checked.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, eventually, kubectls};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(30);

fn aggregating(name: &str, label: &str) -> String {
    format!(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels:
      {label}: "true"
rules: [] # filled by the controller
"#
    )
}

fn picked(name: &str, label: &str, resources: &str) -> String {
    format!(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
  labels:
    {label}: "true"
rules:
- apiGroups: [""]
  resources: [{resources}]
  verbs: ["get", "list", "watch"]
"#
    )
}

/// The role as `kubectl get -o yaml` prints it.
fn role(k: &Kubectl, name: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&k.ok(&["get", "clusterrole", name, "-o", "yaml"])).unwrap()
}

/// The resources of each rule of the role, one rule per entry.
fn rule_resources(k: &Kubectl, name: &str) -> Vec<Vec<String>> {
    let role = role(k, name);
    let Some(rules) = role["rules"].as_sequence() else {
        return Vec::new();
    };
    rules
        .iter()
        .map(|r| {
            r["resources"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .collect()
}

fn wait_for_rules(k: &Kubectl, name: &str, want: &[&[&str]], what: &str) {
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
    eventually(what, SHORT, || {
        (rule_resources(k, name) == want).then_some(())
    });
}

#[test]
fn aggregated_rules_follow_the_selected_roles() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let label = format!("rbac.example.com/aggregate-to-monitoring-{i}");
        let monitoring = format!("monitoring-{i}");
        let (endpoints, nodes) = (
            format!("{monitoring}-endpoints"),
            format!("{monitoring}-nodes"),
        );
        k.ok_stdin(&["create", "-f", "-"], &aggregating(&monitoring, &label));
        // Picked roles are taken by name, whatever order they come in.
        k.ok_stdin(&["create", "-f", "-"], &picked(&nodes, &label, "nodes"));
        k.ok_stdin(
            &["create", "-f", "-"],
            &picked(&endpoints, &label, "services, endpoints, pods"),
        );
        // Not picked: the label's value differs.
        k.ok_stdin(
            &["create", "-f", "-"],
            &picked(&format!("{monitoring}-other"), &label, "secrets")
                .replace("\"true\"", "\"false\""),
        );
        let both: &[&[&str]] = &[&["services", "endpoints", "pods"], &["nodes"]];
        wait_for_rules(&k, &monitoring, both, "monitoring has both sets of rules");
        let yaml = k.ok(&["get", "clusterrole", &monitoring, "-o", "yaml"]);
        assert!(
            yaml.contains("verbs:\n  - get\n  - list\n  - watch"),
            "{yaml}"
        );
        let managers = k.ok(&[
            "get",
            "clusterrole",
            &monitoring,
            "-o",
            "jsonpath={range .metadata.managedFields[*]}{.manager} {.operation}{\"\\n\"}{end}",
        ]);
        assert!(
            managers
                .lines()
                .any(|l| l == "clusterrole-aggregation-controller Apply"),
            "{managers}"
        );

        // Rules written by hand do not last.
        k.ok(&[
            "patch",
            "clusterrole",
            &monitoring,
            "--type=merge",
            "-p",
            r#"{"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["delete"]}]}"#,
        ]);
        wait_for_rules(&k, &monitoring, both, "hand-written rules are replaced");

        // Settled: nothing is written again.
        let version = |k: &Kubectl| {
            k.ok(&[
                "get",
                "clusterrole",
                &monitoring,
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ])
        };
        let before = version(&k);
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(version(&k), before, "a settled role is not rewritten");

        k.ok(&["label", "clusterrole", &nodes, &format!("{label}-")]);
        wait_for_rules(
            &k,
            &monitoring,
            &[&["services", "endpoints", "pods"]],
            "a relabeled role's rules go",
        );
        k.ok(&["label", "clusterrole", &nodes, &format!("{label}=true")]);
        wait_for_rules(&k, &monitoring, both, "a relabeled role's rules come back");
        k.ok(&["delete", "clusterrole", &endpoints]);
        wait_for_rules(&k, &monitoring, &[&["nodes"]], "a deleted role's rules go");
        k.ok(&["delete", "clusterrole", &nodes]);
        wait_for_rules(&k, &monitoring, &[], "no role picked, no rules");
    }
}
