//! End-to-end: `ferrokube up` driven by the real kubectl 1.32 and 1.33, checking what a user
//! sees.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, table};
use serde_json::Value;

fn cm_yaml(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra}data:\n  mode: prod\n"
    )
}

#[test]
fn namespaces_discovery_and_output_formats() {
    let cluster = Cluster::up();
    for bin in common::kubectls() {
        let k = cluster.kubectl(&bin);
        let rows = table(&k.ok(&["get", "namespaces"]));
        assert_eq!(rows[0], ["NAME", "STATUS", "AGE"]);
        let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            names,
            ["default", "kube-node-lease", "kube-public", "kube-system"]
        );
        assert!(rows[1..].iter().all(|r| r[1] == "Active"));
        assert_eq!(
            k.ok(&["get", "ns", "default", "-o", "jsonpath={.status.phase}"]),
            "Active"
        );
        let labels = k.ok(&["get", "ns", "kube-system", "--show-labels"]);
        assert!(
            labels.contains("kubernetes.io/metadata.name=kube-system"),
            "{labels}"
        );

        let versions = k.ok(&["api-versions"]);
        assert!(versions.lines().any(|l| l == "v1"), "{versions}");
        let resources = table(&k.ok(&["api-resources"]));
        assert_eq!(
            resources[0],
            ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
        );
        assert!(resources.contains(&vec![
            "configmaps".into(),
            "cm".into(),
            "v1".into(),
            "true".into(),
            "ConfigMap".into()
        ]));
        assert!(resources.contains(&vec![
            "namespaces".into(),
            "ns".into(),
            "v1".into(),
            "false".into(),
            "Namespace".into()
        ]));
        let apiservices = table(&k.ok(&["get", "apiservices"]));
        assert_eq!(apiservices[0], ["NAME", "SERVICE", "AVAILABLE", "AGE"]);
        assert_eq!(apiservices[1][..3], ["v1.", "Local", "True"]);
        assert!(
            apiservices
                .iter()
                .any(|r| r[..3] == ["v2.autoscaling", "Local", "True"]),
            "{apiservices:?}"
        );
        let cs = k.run(&["get", "componentstatuses"]);
        assert!(cs.ok, "{}", cs.stderr);
        assert!(
            cs.stderr
                .contains("Warning: v1 ComponentStatus is deprecated in v1.19+"),
            "{}",
            cs.stderr
        );
        let rows = table(&cs.stdout);
        assert_eq!(rows[0], ["NAME", "STATUS", "MESSAGE", "ERROR"]);
        assert!(
            rows.contains(&vec!["etcd-0".to_string(), "Healthy".into(), "ok".into()]),
            "{rows:?}"
        );
        let version = k.ok(&["version", "-o", "json"]);
        let v: Value = serde_json::from_str(&version).unwrap();
        assert_eq!(v["serverVersion"]["minor"], "33");
    }
}

#[test]
fn configmap_lifecycle_and_errors() {
    let cluster = Cluster::up();
    for bin in common::kubectls() {
        let k = cluster.kubectl(&bin);
        let name = format!("app-{}", k.version().replace('.', "-"));
        let n = name.as_str();
        assert_eq!(
            k.ok_stdin(&["create", "-f", "-"], &cm_yaml(n, "")).trim(),
            format!("configmap/{n} created")
        );

        let err = k.run_stdin(&["create", "-f", "-"], Some(&cm_yaml(n, "")));
        assert!(!err.ok);
        assert_eq!(
            err.stderr.trim(),
            format!(
                "Error from server (AlreadyExists): error when creating \"STDIN\": configmaps \"{n}\" already exists"
            )
        );

        let yaml = k.ok(&["get", "cm", n, "-o", "yaml"]);
        assert!(yaml.contains("data:\n  mode: prod\n"), "{yaml}");
        assert!(
            yaml.contains(&format!("  name: {n}\n  namespace: default\n")),
            "{yaml}"
        );
        let json: Value = serde_json::from_str(&k.ok(&["get", "cm", n, "-o", "json"])).unwrap();
        assert_eq!(json["data"]["mode"], "prod");
        assert_eq!(
            k.ok(&["get", "cm", n, "-o", "jsonpath={.data.mode}"]),
            "prod"
        );
        let cc = table(&k.ok(&[
            "get",
            "cm",
            n,
            "-o",
            "custom-columns=NAME:.metadata.name,MODE:.data.mode",
        ]));
        assert_eq!(
            cc,
            vec![
                vec!["NAME".to_string(), "MODE".into()],
                vec![n.to_string(), "prod".into()]
            ]
        );
        let wide = table(&k.ok(&["get", "cm", n, "-o", "wide"]));
        assert_eq!(wide[0], ["NAME", "DATA", "AGE"]);
        assert_eq!(wide[1][..2], [n.to_string(), "1".into()]);

        assert_eq!(
            k.ok(&["label", "cm", n, "tier=web"]).trim(),
            format!("configmap/{n} labeled")
        );
        assert_eq!(
            k.ok(&["annotate", "cm", n, "note=hi"]).trim(),
            format!("configmap/{n} annotated")
        );
        let selected = k.ok(&["get", "cm", "-l", "tier=web", "-o", "name"]);
        assert!(
            selected.lines().any(|l| l == format!("configmap/{n}")),
            "{selected}"
        );
        assert_eq!(
            k.ok(&[
                "patch",
                "cm",
                n,
                "--type=merge",
                "-p",
                r#"{"data":{"extra":"1"}}"#
            ])
            .trim(),
            format!("configmap/{n} patched")
        );
        k.ok(&[
            "patch",
            "cm",
            n,
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/data/mode","value":"dev"}]"#,
        ]);
        assert_eq!(
            k.ok(&["get", "cm", n, "-o", "jsonpath={.data.mode},{.data.extra}"]),
            "dev,1"
        );

        // A replace from a stale read conflicts; a fresh one goes through.
        let stale = k.ok(&["get", "cm", n, "-o", "yaml"]);
        k.ok(&["label", "cm", n, "bump=1"]);
        let r = k.run_stdin(&["replace", "-f", "-"], Some(&stale));
        assert!(!r.ok);
        assert_eq!(
            r.stderr.trim(),
            format!(
                "Error from server (Conflict): error when replacing \"STDIN\": Operation cannot be fulfilled on configmaps \"{n}\": the object has been modified; please apply your changes to the latest version and try again"
            )
        );
        assert_eq!(
            k.ok_stdin(&["replace", "-f", "-"], &cm_yaml(n, "")).trim(),
            format!("configmap/{n} replaced")
        );

        let r = k.run_stdin(&["create", "-f", "-"], Some(&cm_yaml("Bad_Name", "")));
        assert!(!r.ok);
        assert!(
            r.stderr.starts_with("The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"),
            "{}",
            r.stderr
        );
        let r = k.run_stdin(
            &["create", "-f", "-"],
            Some(&cm_yaml("strict", "  bogus: 1\n")),
        );
        assert!(
            r.stderr
                .contains("strict decoding error: unknown field \"metadata.bogus\""),
            "{}",
            r.stderr
        );

        assert_eq!(
            k.ok(&["delete", "cm", n]).trim(),
            format!("configmap \"{n}\" deleted")
        );
        assert_eq!(
            k.fails(&["get", "cm", n]).trim(),
            format!("Error from server (NotFound): configmaps \"{n}\" not found")
        );
    }
}

#[test]
fn watch_and_chunked_lists() {
    let cluster = Cluster::up();
    for bin in common::kubectls() {
        let k = cluster.kubectl(&bin);
        let ns = format!("w-{}", k.version().replace('.', "-"));
        k.ok_stdin(
            &["create", "-f", "-"],
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        );
        for i in 0..5 {
            k.ok_stdin(
                &["create", "-n", &ns, "-f", "-"],
                &cm_yaml(&format!("c{i}"), ""),
            );
        }
        let chunked = table(&k.ok(&["get", "cm", "-n", &ns, "--chunk-size=2"]));
        // Every namespace also holds the cluster CA, published by the controller manager.
        let names: Vec<&str> = chunked[1..]
            .iter()
            .map(|r| r[0].as_str())
            .filter(|n| *n != "kube-root-ca.crt")
            .collect();
        assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);

        let mut watch = k
            .command(&["get", "cm", "-n", &ns, "-w", "--request-timeout=20s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        k.ok_stdin(&["create", "-n", &ns, "-f", "-"], &cm_yaml("late", ""));
        k.ok(&["delete", "cm", "-n", &ns, "c0"]);
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let _ = watch.kill();
        let out = watch.wait_with_output().unwrap();
        let rows = table(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(rows[0], ["NAME", "DATA", "AGE"]);
        let names: Vec<&str> = rows[1..]
            .iter()
            .map(|r| r[0].as_str())
            .filter(|n| *n != "kube-root-ca.crt")
            .collect();
        assert_eq!(
            names,
            ["c0", "c1", "c2", "c3", "c4", "late", "c0"],
            "{rows:?}"
        );
    }
}

#[test]
fn restart_keeps_data() {
    let cluster = Cluster::up();
    let bins = common::kubectls();
    let k = cluster.kubectl(&bins[0]);
    k.ok_stdin(&["create", "-f", "-"], &cm_yaml("survivor", ""));
    let dir = cluster.stop();
    let cluster = Cluster::up_in(dir);
    let k = cluster.kubectl(&bins[1]);
    assert_eq!(
        k.ok(&["get", "cm", "survivor", "-o", "jsonpath={.data.mode}"]),
        "prod"
    );
}

#[test]
fn secrets_deployments_and_services() {
    let cluster = Cluster::up();
    for bin in common::kubectls() {
        let k = cluster.kubectl(&bin);
        let v = k.version().replace('.', "-");

        // Secrets: imperative create (a protobuf body), data base64 encoded, type column.
        let s = format!("s-{v}");
        assert_eq!(
            k.ok(&[
                "create",
                "secret",
                "generic",
                &s,
                "--from-literal=user=admin"
            ])
            .trim(),
            format!("secret/{s} created")
        );
        assert_eq!(
            k.ok(&["get", "secret", &s, "-o", "jsonpath={.data.user}"]),
            "YWRtaW4="
        );
        let rows = table(&k.ok(&["get", "secret", &s]));
        assert_eq!(rows[0], ["NAME", "TYPE", "DATA", "AGE"]);
        assert_eq!(rows[1][..3], [s.clone(), "Opaque".into(), "1".into()]);
        k.ok(&["label", "secret", &s, "tier=db"]);
        k.ok(&[
            "patch",
            "secret",
            &s,
            "--type=merge",
            "-p",
            r#"{"stringData":{"pass":"x"}}"#,
        ]);
        assert_eq!(
            k.ok(&["get", "secret", &s, "-o", "jsonpath={.data.pass}"]),
            "eA=="
        );

        // Deployments: defaults, scale through the scale subresource, printing.
        let d = format!("d-{v}");
        assert_eq!(
            k.ok(&[
                "create",
                "deployment",
                &d,
                "--image=nginx:1.25",
                "--replicas=0"
            ])
            .trim(),
            format!("deployment.apps/{d} created")
        );
        assert_eq!(
            k.ok(&[
                "get",
                "deploy",
                &d,
                "-o",
                "jsonpath={.spec.replicas} {.spec.strategy.type} {.spec.revisionHistoryLimit}"
            ]),
            "0 RollingUpdate 10"
        );
        k.ok(&["scale", "deploy", &d, "--replicas=3"]);
        assert_eq!(
            k.ok(&[
                "get",
                "deploy",
                &d,
                "-o",
                "jsonpath={.spec.replicas} {.metadata.generation}"
            ]),
            "3 2"
        );
        let rows = table(&k.ok(&["get", "deploy", &d, "-o", "wide"]));
        assert_eq!(
            rows[0],
            [
                "NAME",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR"
            ]
        );
        assert_eq!(rows[1][1], "0/3");
        let r = k.run(&["create", "deployment", &d, "--image=nginx"]);
        assert_eq!(
            r.stderr.trim(),
            format!("error: failed to create deployment: deployments.apps \"{d}\" already exists")
        );

        // Services: a ClusterIP from the range, a NodePort from the port range.
        let c = format!("c-{v}");
        k.ok(&["create", "service", "clusterip", &c, "--tcp=80:8080"]);
        let ip = k.ok(&["get", "svc", &c, "-o", "jsonpath={.spec.clusterIP}"]);
        assert!(ip.starts_with("10.0.0.") && ip != "10.0.0.1", "{ip}");
        let n = format!("n-{v}");
        k.ok(&["create", "service", "nodeport", &n, "--tcp=80:8080"]);
        let port: u16 = k
            .ok(&["get", "svc", &n, "-o", "jsonpath={.spec.ports[0].nodePort}"])
            .parse()
            .unwrap();
        assert!((30000..=32767).contains(&port), "{port}");
        let rows = table(&k.ok(&["get", "svc", &n]));
        assert_eq!(
            rows[0],
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE"
            ]
        );
        assert_eq!(rows[1][1], "NodePort");
        assert_eq!(rows[1][3], "<none>");
        assert_eq!(rows[1][4], format!("80:{port}/TCP"));
        // The same port again is refused.
        let taken = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: t-{v}\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: {port}\n"
        );
        let r = k.run_stdin(&["create", "-f", "-"], Some(&taken));
        assert!(
            r.stderr.contains(&format!(
                "spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated"
            )),
            "{}",
            r.stderr
        );
        k.ok(&["delete", "svc", &c, &n]);
        assert!(k.fails(&["get", "svc", &n]).contains("not found"));
    }
}

#[test]
fn deleting_a_namespace_deletes_its_contents() {
    let cluster = Cluster::up();
    for bin in common::kubectls() {
        let k = cluster.kubectl(&bin);
        let ns = format!("gone-{}", k.version().replace('.', "-"));
        k.ok(&["create", "namespace", &ns]);
        k.ok(&["create", "configmap", "a", "-n", &ns, "--from-literal=k=v"]);
        k.ok(&[
            "create",
            "secret",
            "generic",
            "b",
            "-n",
            &ns,
            "--from-literal=k=v",
        ]);
        k.ok(&["create", "deployment", "c", "-n", &ns, "--image=nginx"]);
        // kubectl waits for the namespace to be gone before it returns.
        assert_eq!(
            k.ok(&["delete", "namespace", &ns, "--timeout=60s"]).trim(),
            format!("namespace \"{ns}\" deleted")
        );
        assert_eq!(
            k.fails(&["get", "namespace", &ns]).trim(),
            format!("Error from server (NotFound): namespaces \"{ns}\" not found")
        );
        let r = k.run(&["get", "configmaps", "-n", &ns, "-o", "name"]);
        assert_eq!(r.stdout.trim(), "", "{}", r.stderr);
    }
}
