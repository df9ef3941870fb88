//! The endpoints, EndpointSlice and mirroring controllers inside `ferrokube up`, driven with
//! kubectl: a Service's Endpoints and EndpointSlices follow its pods' IPs and readiness (the
//! test writes pod status, as no kubelet runs), named target ports resolve per pod, headless
//! Services are labeled, deletion cleans up, and hand-written Endpoints are mirrored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(30), f)
}

const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {tier: front}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: web-headless
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"#;

fn set_status(k: &Kubectl, pod: &str, ip: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    k.ok(&[
        "patch",
        "pod",
        pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"{status}","lastTransitionTime":"2026-01-01T00:00:00Z"}}]}}}}"#
        ),
    ]);
}

#[test]
fn services_get_endpoints_and_slices_from_their_pods() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    k.ok_stdin(&["apply", "-f", "-"], APP);
    let pods: Vec<String> = eventually("the pods exist", || {
        let out = k.ok(&["get", "pods", "-l", "app=web", "-o", "name"]);
        let names: Vec<String> = out
            .lines()
            .map(|l| l.trim_start_matches("pod/").to_string())
            .collect();
        (names.len() == 2).then_some(names)
    });
    set_status(&k, &pods[0], "10.244.0.11", true);
    set_status(&k, &pods[1], "10.244.0.12", false);

    // Endpoints: the ready pod's address on the resolved container port, the other not ready.
    eventually("the Endpoints list both pods", || {
        let out = k.ok(&[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[0].addresses[*].ip}|{.subsets[0].notReadyAddresses[*].ip}|{.subsets[0].ports[0].port}|{.metadata.labels.tier}",
        ]);
        (out == "10.244.0.11|10.244.0.12|8080|front").then_some(())
    });
    let table = k.ok(&["get", "endpoints", "web"]);
    assert!(table.contains("10.244.0.11:8080"), "{table}");

    // EndpointSlice: both endpoints with their conditions, owned by the Service.
    eventually("the EndpointSlice lists both pods", || {
        let out = k.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
            "-o",
            "jsonpath={range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready},{end}|{.items[0].ports[0].port}|{.items[0].metadata.ownerReferences[0].kind}|{.items[0].metadata.labels.endpointslice\\.kubernetes\\.io/managed-by}",
        ]);
        (out == "10.244.0.11=true,10.244.0.12=false,|8080|Service|endpointslice-controller.k8s.io")
            .then_some(())
    });
    // Headless Services are labeled so.
    eventually("the headless Service's objects are labeled", || {
        let ep = k.ok(&[
            "get",
            "endpoints",
            "web-headless",
            "-o",
            "jsonpath={.metadata.labels}",
        ]);
        let slices = k.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web-headless,service.kubernetes.io/headless",
            "-o",
            "name",
        ]);
        (ep.contains("service.kubernetes.io/headless") && !slices.trim().is_empty()).then_some(())
    });

    // The second pod turns ready.
    set_status(&k, &pods[1], "10.244.0.12", true);
    eventually("both addresses are ready", || {
        let out = k.ok(&[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[0].addresses[*].ip}|{.subsets[0].notReadyAddresses}",
        ]);
        (out == "10.244.0.11 10.244.0.12|").then_some(())
    });

    // Deleting the Service removes its Endpoints and (through the collector) its slices.
    k.ok(&["delete", "service", "web"]);
    eventually("the Endpoints and slices are gone", || {
        let ep = k.run(&["get", "endpoints", "web"]);
        let slices = k.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
            "-o",
            "name",
        ]);
        (!ep.ok && slices.trim().is_empty()).then_some(())
    });
}

const CUSTOM: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: external-db
spec:
  ports:
  - {port: 5432}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: external-db
subsets:
- addresses:
  - {ip: 192.0.2.10}
  notReadyAddresses:
  - {ip: 192.0.2.11}
  ports:
  - {port: 5432}
"#;

#[test]
fn hand_written_endpoints_are_mirrored() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[1]);
    k.ok_stdin(&["apply", "-f", "-"], CUSTOM);
    eventually("the Endpoints are mirrored", || {
        let out = k.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=external-db",
            "-o",
            "jsonpath={range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready},{end}|{.items[0].metadata.labels.endpointslice\\.kubernetes\\.io/managed-by}|{.items[0].metadata.ownerReferences[0].kind}",
        ]);
        (out == "192.0.2.10=true,192.0.2.11=false,|endpointslicemirroring-controller.k8s.io|Endpoints")
            .then_some(())
    });
    // The controller does not touch hand-written Endpoints.
    let ep = k.ok(&[
        "get",
        "endpoints",
        "external-db",
        "-o",
        "jsonpath={.subsets[0].addresses[0].ip}",
    ]);
    assert_eq!(ep, "192.0.2.10");
    k.ok(&["delete", "endpoints", "external-db"]);
    eventually("the mirrored slices are gone", || {
        let out = k.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=external-db",
            "-o",
            "name",
        ]);
        out.trim().is_empty().then_some(())
    });
}
