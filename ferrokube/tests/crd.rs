//! End-to-end: the lifecycle of a CustomResourceDefinition with kubectl 1.32 and 1.33:
//! serving within seconds, defaulting, pruning, schema and CEL validation errors, printer
//! columns, short names and categories, the status and scale subresources, `explain`,
//! watch, and deletion taking the objects with it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl};
use serde_json::Value;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn crd(group: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wdg]
    categories: [gizmos]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {{}}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            x-kubernetes-validations:
            - rule: self.replicas <= 10
              message: at most 10 replicas
            properties:
              replicas:
                type: integer
                minimum: 0
                default: 1
              color:
                type: string
                enum: [red, blue]
                default: red
          status:
            type: object
            properties:
              replicas:
                type: integer
"#
    )
}

fn widget(group: &str, name: &str, spec: &str) -> String {
    format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec: {spec}\n")
}

fn get(k: &Kubectl<'_>, name: &str) -> Value {
    serde_json::from_str(&k.ok(&["get", "widget", name, "-o", "json"])).unwrap()
}

fn lifecycle(k: &Kubectl<'_>, group: &str) {
    let crd_name = format!("widgets.{group}");
    let out = k.ok_stdin(&["apply", "-f", "-"], &crd(group));
    assert!(out.contains("created"), "{out}");
    k.ok(&[
        "wait",
        "--for",
        "condition=Established",
        &format!("crd/{crd_name}"),
        "--timeout=10s",
    ]);

    // Defaults fill what the object leaves out.
    k.ok_stdin(&["apply", "-f", "-"], &widget(group, "plain", "{}"));
    let w = get(k, "plain");
    assert_eq!(w["spec"]["replicas"], 1, "{w}");
    assert_eq!(w["spec"]["color"], "red", "{w}");

    // Unknown fields: refused by kubectl's strict validation, pruned without it.
    let body = widget(group, "extra", "{replicas: 2, shape: round}");
    let err = k.run_stdin(&["apply", "-f", "-"], Some(&body));
    assert!(!err.ok);
    assert!(
        err.stderr.contains(r#"unknown field "spec.shape""#),
        "{}",
        err.stderr
    );
    k.ok_stdin(&["apply", "--validate=false", "-f", "-"], &body);
    let w = get(k, "extra");
    assert!(w["spec"].get("shape").is_none(), "{w}");
    assert_eq!(w["spec"]["replicas"], 2);

    // Schema and CEL validation.
    let err = k.run_stdin(
        &["apply", "-f", "-"],
        Some(&widget(group, "bad", "{color: purple}")),
    );
    assert!(!err.ok);
    assert!(
        err.stderr.contains(
            r#"spec.color: Unsupported value: "purple": supported values: "red", "blue""#
        ),
        "{}",
        err.stderr
    );
    let err = k.run_stdin(
        &["apply", "-f", "-"],
        Some(&widget(group, "bad", "{replicas: 11}")),
    );
    assert!(!err.ok);
    assert!(
        err.stderr
            .contains(r#"spec: Invalid value: "object": at most 10 replicas"#),
        "{}",
        err.stderr
    );

    // Printer columns, short names and categories.
    let rows = common::table(&k.ok(&["get", "wdg"]));
    assert_eq!(rows[0], ["NAME", "REPLICAS", "COLOR", "AGE"], "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r[0] == "extra" && r[1] == "2" && r[2] == "red"),
        "{rows:?}"
    );
    let out = k.ok(&["get", "gizmos", "-o", "name"]);
    assert!(out.contains(&format!("widget.{group}/plain")), "{out}");

    // The scale and status subresources.
    k.ok(&["scale", "widget", "plain", "--replicas=3"]);
    assert_eq!(get(k, "plain")["spec"]["replicas"], 3);
    k.ok(&[
        "patch",
        "widget",
        "plain",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":3}}"#,
    ]);
    let out = k.ok(&[
        "get",
        "widget",
        "plain",
        "-o",
        "jsonpath={.status.replicas}",
    ]);
    assert_eq!(out, "3");
    // A main-resource write leaves status alone.
    k.ok(&[
        "patch",
        "widget",
        "plain",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":9},"spec":{"replicas":4}}"#,
    ]);
    let w = get(k, "plain");
    assert_eq!(w["status"]["replicas"], 3, "{w}");
    assert_eq!(w["spec"]["replicas"], 4, "{w}");

    // Custom resources take no strategic merge patch, but server-side apply with ownership.
    let err = k.fails(&[
        "patch",
        "widget",
        "plain",
        "--type=strategic",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    assert!(
        err.contains("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"),
        "{err}"
    );
    let ssa = widget(group, "ssa", "{color: blue, replicas: 2}");
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], &ssa);
    let other = widget(group, "ssa", "{color: red}");
    let err = k.run_stdin(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        Some(&other),
    );
    assert!(!err.ok);
    assert!(
        err.stderr
            .contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.color"#),
        "{}",
        err.stderr
    );
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &other,
    );
    let w: Value = serde_json::from_str(&k.ok(&[
        "get",
        "widget",
        "ssa",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    assert_eq!(w["spec"]["color"], "red", "{w}");
    let managers: Vec<&str> = w["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["kubectl", "other"], "{w}");

    // explain reads the published schema.
    let out = k.ok(&["explain", "widgets.spec"]);
    assert!(out.contains("What the widget should be."), "{out}");
    assert!(out.contains("color\t<string>"), "{out}");

    // A watch sees changes.
    let mut watch = k
        .command(&["get", "widgets", "--watch-only", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    k.ok_stdin(&["apply", "-f", "-"], &widget(group, "watched", "{}"));
    std::thread::sleep(Duration::from_secs(1));
    watch.kill().unwrap();
    let mut seen = String::new();
    watch
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    watch.wait().unwrap();
    assert!(seen.contains(&format!("widget.{group}/watched")), "{seen}");

    // Deleting the CRD deletes its objects, then the CRD itself; an object with a finalizer
    // holds it, and creates are refused meanwhile.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\nspec: {{}}\n"
        ),
    );
    k.ok(&["delete", "crd", &crd_name, "--wait=false"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reason = k.ok(&[
            "get",
            "crd",
            &crd_name,
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="Terminating")].reason}"#,
        ]);
        if reason == "InstanceDeletionInProgress" {
            break;
        }
        assert!(Instant::now() < deadline, "Terminating is {reason:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let err = k.run_stdin(&["create", "-f", "-"], Some(&widget(group, "late", "{}")));
    assert!(!err.ok);
    assert!(
        err.stderr
            .contains("create not allowed while custom resource definition is terminating"),
        "{}",
        err.stderr
    );
    k.ok(&[
        "patch",
        "widget",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = k.run(&["get", "crd", &crd_name]);
        if !r.ok && r.stderr.contains("NotFound") {
            break;
        }
        assert!(Instant::now() < deadline, "the CRD stayed: {}", r.stdout);
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = k.run(&["get", "--raw", &format!("/apis/{group}/v1/widgets")]);
    assert!(!r.ok, "{}", r.stdout);
}

#[test]
fn custom_resource_lifecycle() {
    let cluster = Cluster::up();
    for (i, bin) in common::kubectls().into_iter().enumerate() {
        let k = cluster.kubectl(&bin);
        lifecycle(&k, &format!("v{i}.example.com"));
    }
}

#[test]
fn custom_resources_are_served_again_after_a_restart() {
    let cluster = Cluster::up();
    let bin = common::kubectls().remove(0);
    let group = "restart.example.com";
    {
        let k = cluster.kubectl(&bin);
        k.ok_stdin(&["apply", "-f", "-"], &crd(group));
        k.ok(&[
            "wait",
            "--for",
            "condition=Established",
            &format!("crd/widgets.{group}"),
            "--timeout=10s",
        ]);
        k.ok_stdin(
            &["apply", "-f", "-"],
            &widget(group, "kept", "{replicas: 2}"),
        );
    }
    let dir = cluster.stop();
    let cluster = Cluster::up_in(dir);
    let k = cluster.kubectl(&bin);
    // Served as soon as the apiserver is ready: the stored CRDs are loaded before it serves.
    let w = get(&k, "kept");
    assert_eq!(w["spec"]["replicas"], 2, "{w}");
    assert_eq!(w["spec"]["color"], "red", "{w}");
    let out = k.ok(&["get", "--raw", &format!("/apis/{group}/v1")]);
    assert!(out.contains(r#""name":"widgets""#), "{out}");
}

/// Two served versions with `conversion: None`: the preferred one is v1 (kube-aware order,
/// whatever the declaration order), each version validates with its own schema, both read
/// the same objects, and the deprecated one warns.
#[test]
fn several_versions_share_objects_and_validate_with_their_own_schema() {
    let cluster = Cluster::up();
    let bin = common::kubectls().remove(0);
    let k = cluster.kubectl(&bin);
    let crd = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.multi.example.com
spec:
  group: multi.example.com
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  versions:
  - name: v1alpha1
    served: true
    storage: false
    deprecated: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, maximum: 100}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, maximum: 10}
"#;
    k.ok_stdin(&["apply", "-f", "-"], crd);
    k.ok(&[
        "wait",
        "--for",
        "condition=Established",
        "crd/gizmos.multi.example.com",
        "--timeout=10s",
    ]);
    let group = k.ok(&["get", "--raw", "/apis/multi.example.com"]);
    let group: Value = serde_json::from_str(&group).unwrap();
    assert_eq!(group["preferredVersion"]["version"], "v1", "{group}");

    // v1alpha1 allows 50, v1 does not.
    let alpha = "apiVersion: multi.example.com/v1alpha1\nkind: Gizmo\nmetadata:\n  name: big\nspec: {size: 50}\n";
    let r = k.run_stdin(&["apply", "-f", "-"], Some(alpha));
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "multi.example.com/v1alpha1 Gizmo is deprecated; use multi.example.com/v1 Gizmo"
        ),
        "{}",
        r.stderr
    );
    let v1 = "apiVersion: multi.example.com/v1\nkind: Gizmo\nmetadata:\n  name: big2\nspec: {size: 50}\n";
    let err = k.run_stdin(&["apply", "-f", "-"], Some(v1));
    assert!(!err.ok);
    assert!(
        err.stderr.contains(
            "spec.size: Invalid value: 50: spec.size in body should be less than or equal to 10"
        ),
        "{}",
        err.stderr
    );
    // Both versions read the object; it is stored in v1.
    let got: Value =
        serde_json::from_str(&k.ok(&["get", "gizmos.v1.multi.example.com", "big", "-o", "json"]))
            .unwrap();
    assert_eq!(got["apiVersion"], "multi.example.com/v1");
    assert_eq!(got["spec"]["size"], 50);
    let got: Value = serde_json::from_str(&k.ok(&[
        "get",
        "gizmos.v1alpha1.multi.example.com",
        "big",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(got["apiVersion"], "multi.example.com/v1alpha1");
}
