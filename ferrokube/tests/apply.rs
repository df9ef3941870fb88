//! End-to-end: kubectl's client-side `apply`, strategic merge `patch`, `diff` and `edit`
//! (1.32 and 1.33) against schema-driven strategic merge patch.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Cluster;
use serde_json::Value;

fn deployment(ns: &str, image: &str, env_a: &str, labels: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels:
{labels}spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: app
        image: {image}
        env:
        - name: A
          value: \"{env_a}\"
"
    )
}

fn get(k: &common::Kubectl<'_>, ns: &str) -> Value {
    serde_json::from_str(&k.ok(&["get", "deployment", "web", "-n", ns, "-o", "json"])).unwrap()
}

fn env(d: &Value, container: usize) -> Vec<(String, String)> {
    d["spec"]["template"]["spec"]["containers"][container]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn client_side_apply_patch_diff_and_edit() {
    let cluster = Cluster::up();
    for (i, bin) in common::kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("apply-{i}");
        k.ok(&["create", "namespace", &ns]);
        let v1 = deployment(&ns, "nginx:1", "1", "    tier: web\n    team: a\n");
        let out = k.ok_stdin(&["apply", "-f", "-"], &v1);
        assert_eq!(out.trim(), "deployment.apps/web created");
        let d = get(&k, &ns);
        assert!(
            d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .is_string(),
            "{d}"
        );

        let out = k.ok_stdin(&["apply", "-f", "-"], &v1);
        assert_eq!(out.trim(), "deployment.apps/web unchanged");

        // Another writer adds an env var to the same container: merged by name.
        let out = k.ok(&[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"OTHER","value":"x"}]}]}}}}"#,
        ]);
        assert_eq!(out.trim(), "deployment.apps/web patched");
        assert_eq!(env(&get(&k, &ns), 0), [pair("A", "1"), pair("OTHER", "x")]);

        // The three-way merge: our changes land, the other writer's env var stays, and the
        // label we stopped applying goes.
        let v2 = deployment(&ns, "nginx:2", "2", "    tier: web\n");
        let diff = k.run_stdin(&["diff", "-f", "-"], Some(&v2));
        assert!(!diff.ok, "diff exits 1 when something changes: {diff:?}");
        assert!(
            diff.stdout.contains("+        image: nginx:2"),
            "{}",
            diff.stdout
        );
        assert!(diff.stdout.contains("-    team: a"), "{}", diff.stdout);
        assert_eq!(
            get(&k, &ns)["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1",
            "diff changes nothing"
        );
        let out = k.ok_stdin(&["apply", "-f", "-"], &v2);
        assert_eq!(out.trim(), "deployment.apps/web configured");
        let d = get(&k, &ns);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        assert_eq!(env(&d, 0), [pair("A", "2"), pair("OTHER", "x")]);
        assert_eq!(d["metadata"]["labels"], serde_json::json!({"tier": "web"}));
        let diff = k.run_stdin(&["diff", "-f", "-"], Some(&v2));
        assert!(diff.ok, "no changes, exit 0: {diff:?}");
        assert_eq!(diff.stdout, "");

        // A second container through a strategic merge patch appends by name.
        k.ok(&[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type=strategic",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}"#,
        ]);
        let d = get(&k, &ns);
        let names: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "sidecar"]);

        let mut edit = k.command(&["edit", "deployment", "web", "-n", &ns]);
        edit.env("EDITOR", "sed -i s/replicas:\\ 1/replicas:\\ 3/");
        let out = edit.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "deployment.apps/web edited"
        );
        assert_eq!(get(&k, &ns)["spec"]["replicas"], 3);

        // Bad strategic patches change nothing and answer as upstream.
        let bad = k.run(&[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#,
        ]);
        assert!(!bad.ok);
        assert!(
            bad.stderr
                .contains("does not contain declared merge key: name"),
            "{}",
            bad.stderr
        );
        assert_eq!(
            get(&k, &ns)["metadata"]["generation"],
            d["metadata"]["generation"].as_i64().unwrap() + 1
        );
    }
}

/// The deployment with its managedFields (kubectl hides them unless asked).
fn get_managed(k: &common::Kubectl<'_>, ns: &str) -> Value {
    let out = k.ok(&[
        "get",
        "deployment",
        "web",
        "-n",
        ns,
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    serde_json::from_str(&out).unwrap()
}

fn fields_of<'v>(d: &'v Value, manager: &str) -> &'v Value {
    &d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == manager)
        .unwrap_or_else(|| panic!("no managedFields entry for {manager}: {d}"))["fieldsV1"]
}

#[test]
fn server_side_apply_conflicts_force_and_removal() {
    let cluster = Cluster::up();
    for (i, bin) in common::kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("ssa-{i}");
        k.ok(&["create", "namespace", &ns]);
        let full = deployment(&ns, "nginx:1", "1", "    tier: web\n    team: a\n");
        let out = k.ok_stdin(&["apply", "--server-side", "-f", "-"], &full);
        assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
        let d = get_managed(&k, &ns);
        let mine = fields_of(&d, "kubectl");
        let entry = d["metadata"]["managedFields"][0].clone();
        assert_eq!(entry["operation"], "Apply");
        assert!(mine["f:spec"]["f:replicas"].is_object(), "{mine}");
        assert!(
            mine["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"]
                .is_object(),
            "{mine}"
        );
        // The deployment controller writes status after the apply; wait until it is done so
        // the resourceVersion below moves only if the no-op apply writes.
        let mut rv = d["metadata"]["resourceVersion"].clone();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let now = get(&k, &ns)["metadata"]["resourceVersion"].clone();
            if now == rv {
                break;
            }
            rv = now;
        }
        k.ok_stdin(&["apply", "--server-side", "-f", "-"], &full);
        assert_eq!(
            get(&k, &ns)["metadata"]["resourceVersion"],
            rv,
            "a no-op apply writes nothing"
        );

        // A second manager that wants another replica count conflicts...
        let scale = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 3\n"
        );
        let r = k.run_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager=scaler",
                "-f",
                "-",
            ],
            Some(&scale),
        );
        assert!(!r.ok);
        assert!(
            r.stderr.contains(
                "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
            ),
            "{}",
            r.stderr
        );
        assert_eq!(get(&k, &ns)["spec"]["replicas"], 1);
        // ...until it forces, and takes the field over.
        k.ok_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager=scaler",
                "--force-conflicts",
                "-f",
                "-",
            ],
            &scale,
        );
        let d = get_managed(&k, &ns);
        assert_eq!(d["spec"]["replicas"], 3);
        assert!(
            fields_of(&d, "kubectl")["f:spec"]
                .get("f:replicas")
                .is_none()
        );
        assert!(fields_of(&d, "scaler")["f:spec"]["f:replicas"].is_object());

        // Fields the first manager stops applying go, unless someone else owns them.
        let fewer =
            deployment(&ns, "nginx:1", "1", "    tier: web\n").replace("  replicas: 1\n", "");
        k.ok_stdin(&["apply", "--server-side", "-f", "-"], &fewer);
        let d = get(&k, &ns);
        assert_eq!(d["metadata"]["labels"], serde_json::json!({"tier": "web"}));
        assert_eq!(d["spec"]["replicas"], 3, "the scaler still owns replicas");

        // Dry run: the answer shows the change, storage keeps the old object.
        let bigger = fewer.replace("nginx:1", "nginx:9");
        k.ok_stdin(
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            &bigger,
        );
        assert_eq!(
            get(&k, &ns)["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1"
        );
    }
}

#[test]
fn server_side_apply_upgrades_client_side_applied_objects() {
    let cluster = Cluster::up();
    for (i, bin) in common::kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("upgrade-{i}");
        k.ok(&["create", "namespace", &ns]);
        let v1 = deployment(&ns, "nginx:1", "1", "    tier: web\n");
        k.ok_stdin(&["apply", "-f", "-"], &v1);
        // kubectl's first server-side apply takes over what it applied client-side, even
        // where the value changes, as upstream allows.
        let v2 = deployment(&ns, "nginx:2", "1", "    tier: web\n");
        let out = k.ok_stdin(&["apply", "--server-side", "-f", "-"], &v2);
        assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
        let d = get_managed(&k, &ns);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        let mine = fields_of(&d, "kubectl");
        assert!(
            mine["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"]
                .is_object(),
            "{mine}"
        );
        let last = d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap();
        assert!(last.contains("nginx:2"), "the annotation follows: {last}");
        // Another manager gets no such pass.
        let r = k.run_stdin(
            &["apply", "--server-side", "--field-manager=other", "-f", "-"],
            Some(&deployment(&ns, "nginx:3", "1", "    tier: web\n")),
        );
        assert!(!r.ok, "{r:?}");
        assert!(
            r.stderr.contains("conflict with \"kubectl\""),
            "{}",
            r.stderr
        );
    }
}
