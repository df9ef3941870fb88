//! The horizontal pod autoscaler inside `ferrokube up`, driven through both kubectl binaries.
//! Without a metrics API an autoscaler made by `kubectl autoscale` reports upstream's
//! `FailedGetResourceMetric` (in `kubectl get hpa`, `kubectl describe hpa` and its events).
//! With PodMetrics served (a CustomResourceDefinition standing in for metrics-server under
//! `metrics.k8s.io/v1beta1`), a Deployment is scaled up on CPU utilization, held at
//! `maxReplicas`, and scaled down to `minReplicas` once usage drops; a custom resource is
//! scaled through its `scale` subresource; a target above `maxReplicas` is brought back.
//! No kubelet runs: the test writes pod status and usage. Autoscalers sync every 15 s (the
//! default period), the first time 15 s after they appear, as upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls, table};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(50), f)
}

const POD_METRICS_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: pods.metrics.k8s.io
  annotations:
    api-approved.kubernetes.io: "unapproved, stands in for metrics-server in a test"
spec:
  group: metrics.k8s.io
  names: {kind: PodMetrics, plural: pods, singular: podmetrics, listKind: PodMetricsList}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          timestamp: {type: string, format: date-time}
          window: {type: string}
          containers:
            type: array
            items:
              type: object
              properties:
                name: {type: string}
                usage:
                  type: object
                  additionalProperties: {type: string}
"#;

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {replicas: {type: integer}}}
          status:
            type: object
            properties: {replicas: {type: integer}, selector: {type: string}}
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
"#;

fn deployment(name: &str, replicas: i32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: c
        image: nginx
        resources: {{requests: {{cpu: 100m}}}}
"#
    )
}

/// Plays the kubelet: the pod runs, started long ago and ready since.
fn run_pod(k: &Kubectl, ns: &str, pod: &str) {
    k.ok(&[
        "patch",
        "pod",
        pod,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running","startTime":"2020-01-01T00:00:00Z","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2020-01-01T00:00:01Z"}]}}"#,
    ]);
}

/// Plays metrics-server: the pod's usage now.
fn usage(k: &Kubectl, ns: &str, pod: &str, app: &str, cpu: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
    k.ok_stdin(
        &["apply", "-n", ns, "-f", "-"],
        &format!(
            r#"
apiVersion: metrics.k8s.io/v1beta1
kind: PodMetrics
metadata: {{name: {pod}, labels: {{app: {app}}}}}
timestamp: "{now}"
window: 30s
containers: [{{name: c, usage: {{cpu: {cpu}, memory: 10Mi}}}}]
"#
        ),
    );
}

/// The pods labeled `app=<app>` that are not being deleted.
fn pods(k: &Kubectl, ns: &str, app: &str) -> Vec<String> {
    let out = k.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let (name, deleting) = l.split_once(' ').unwrap_or((l, ""));
            deleting.trim().is_empty().then(|| name.to_string())
        })
        .collect()
}

fn jsonpath(k: &Kubectl, ns: &str, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let template = format!("jsonpath={path}");
    args.extend_from_slice(&["-n", ns, "-o", &template]);
    k.ok(&args)
}

/// `type=status reason` of the autoscaler's condition.
fn condition(k: &Kubectl, ns: &str, hpa: &str, type_: &str) -> String {
    jsonpath(
        k,
        ns,
        &["hpa", hpa],
        &format!(
            "{{.status.conditions[?(@.type==\"{type_}\")].status}} {{.status.conditions[?(@.type==\"{type_}\")].reason}}"
        ),
    )
}

fn wait_condition(k: &Kubectl, ns: &str, hpa: &str, type_: &str, want: &str) {
    eventually(&format!("{hpa} has {type_} {want}"), || {
        (condition(k, ns, hpa, type_) == want).then_some(())
    });
}

fn wait_replicas(k: &Kubectl, ns: &str, what: &[&str], want: &str) {
    eventually(&format!("{what:?} has {want} replicas"), || {
        (jsonpath(k, ns, what, "{.spec.replicas}") == want).then_some(())
    });
}

fn events(k: &Kubectl, ns: &str, hpa: &str) -> String {
    k.ok(&[
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        &format!("involvedObject.name={hpa},involvedObject.kind=HorizontalPodAutoscaler"),
        "-o",
        "jsonpath={range .items[*]}{.type} {.reason} {.source.component}: {.message}{\"\\n\"}{end}",
    ])
}

#[test]
fn without_a_metrics_api_scaling_is_inactive() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    let ns = "nometrics";
    k.ok(&["create", "namespace", ns]);
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], &deployment("web", 1));
    k.ok(&[
        "autoscale",
        "deployment",
        "web",
        "-n",
        ns,
        "--cpu-percent=50",
        "--min=1",
        "--max=3",
    ]);
    wait_condition(
        &k,
        ns,
        "web",
        "ScalingActive",
        "False FailedGetResourceMetric",
    );
    assert_eq!(
        condition(&k, ns, "web", "AbleToScale"),
        "True SucceededGetScale"
    );
    let message = jsonpath(
        &k,
        ns,
        &["hpa", "web"],
        "{.status.conditions[?(@.type==\"ScalingActive\")].message}",
    );
    assert_eq!(
        message,
        "the HPA was unable to compute the replica count: failed to get cpu utilization: \
         unable to get metrics for resource cpu: unable to fetch metrics from resource metrics \
         API: the server could not find the requested resource (get pods.metrics.k8s.io)"
    );
    assert_eq!(
        jsonpath(&k, ns, &["hpa", "web"], "{.status.currentReplicas}"),
        "1"
    );
    let events = eventually("the failures are recorded", || {
        let e = events(&k, ns, "web");
        e.contains("FailedComputeMetricsReplicas").then_some(e)
    });
    assert!(
        events.contains(
            "Warning FailedGetResourceMetric horizontal-pod-autoscaler: failed to get cpu \
             utilization: unable to get metrics for resource cpu: unable to fetch metrics from \
             resource metrics API: the server could not find the requested resource (get \
             pods.metrics.k8s.io)"
        ),
        "{events}"
    );
    assert!(
        events.contains(
            "Warning FailedComputeMetricsReplicas horizontal-pod-autoscaler: invalid metrics (1 \
             invalid out of 1), first error is: failed to get cpu resource metric value: failed \
             to get cpu utilization: unable to get metrics for resource cpu:"
        ),
        "{events}"
    );

    for bin in &bins {
        let k = cluster.kubectl(bin);
        let rows = table(&k.ok(&["get", "hpa", "-n", ns]));
        assert_eq!(
            rows[0],
            [
                "NAME",
                "REFERENCE",
                "TARGETS",
                "MINPODS",
                "MAXPODS",
                "REPLICAS",
                "AGE"
            ],
            "{}",
            k.version()
        );
        assert_eq!(
            rows[1][..6],
            ["web", "Deployment/web", "cpu: <unknown>/50%", "1", "3", "1"],
            "{}",
            k.version()
        );
        let describe = k.ok(&["describe", "hpa", "web", "-n", ns]);
        for want in [
            "Reference: Deployment/web",
            "Min replicas: 1",
            "Max replicas: 3",
            "Deployment pods: 1 current / 0 desired",
            "AbleToScale True SucceededGetScale the HPA controller was able to get the target's current scale",
            "ScalingActive False FailedGetResourceMetric the HPA was unable to compute the replica count:",
            "Warning FailedGetResourceMetric",
            "Warning FailedComputeMetricsReplicas",
        ] {
            // Words, whatever the column widths.
            let found = describe.lines().any(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .contains(want)
            });
            assert!(found, "{}: {want}\n{describe}", k.version());
        }
        assert!(describe.contains("horizontal-pod-autoscaler"), "{describe}");
    }
}

#[test]
fn autoscalers_follow_pod_metrics() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[1]);
    k.ok_stdin(&["apply", "-f", "-"], POD_METRICS_CRD);
    k.ok_stdin(&["apply", "-f", "-"], WIDGET_CRD);
    for crd in ["crd/pods.metrics.k8s.io", "crd/widgets.example.com"] {
        k.ok(&["wait", "--for=condition=established", crd, "--timeout=30s"]);
    }
    let ns = "hpa";
    k.ok(&["create", "namespace", ns]);

    // A Deployment at 200% of its CPU request, a Widget at 300% and a Deployment above max.
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], &deployment("web", 2));
    k.ok_stdin(&["apply", "-n", ns, "-f", "-"], &deployment("big", 4));
    k.ok_stdin(
        &["apply", "-n", ns, "-f", "-"],
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {replicas: 1}\n",
    );
    k.ok(&[
        "patch",
        "widget",
        "w",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":1,"selector":"app=widget"}}"#,
    ]);
    k.ok_stdin(
        &["apply", "-n", ns, "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: widget-1, labels: {app: widget}}
spec:
  containers:
  - name: c
    image: nginx
    resources: {requests: {cpu: 100m}}
"#,
    );
    run_pod(&k, ns, "widget-1");
    usage(&k, ns, "widget-1", "widget", "300m");
    let web = eventually("web has two pods", || {
        let p = pods(&k, ns, "web");
        (p.len() == 2).then_some(p)
    });
    for pod in &web {
        run_pod(&k, ns, pod);
        usage(&k, ns, pod, "web", "200m");
    }
    k.ok_stdin(
        &["apply", "-n", ns, "-f", "-"],
        r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 0}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: widget}
spec:
  scaleTargetRef: {apiVersion: example.com/v1, kind: Widget, name: w}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 100}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: big}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: big}
  minReplicas: 1
  maxReplicas: 2
"#,
    );

    // 2 pods at 200% against 50% want 8; the rate allows 6, maxReplicas 5.
    wait_replicas(&k, ns, &["deployment", "web"], "5");
    assert_eq!(
        condition(&k, ns, "web", "ScalingLimited"),
        "True TooManyReplicas"
    );
    assert_eq!(
        condition(&k, ns, "web", "ScalingActive"),
        "True ValidMetricFound"
    );
    assert_eq!(
        condition(&k, ns, "web", "AbleToScale"),
        "True SucceededRescale"
    );
    assert_eq!(
        jsonpath(
            &k,
            ns,
            &["hpa", "web"],
            "{.status.desiredReplicas} {.status.currentMetrics[0].resource.current.averageUtilization} {.status.currentMetrics[0].resource.current.averageValue}"
        ),
        "5 200 200m"
    );
    assert!(!jsonpath(&k, ns, &["hpa", "web"], "{.status.lastScaleTime}").is_empty());

    // One pod at 300% of its request against 100%: 3 Widgets.
    wait_replicas(&k, ns, &["widget", "w"], "3");
    assert_eq!(
        condition(&k, ns, "widget", "ScalingLimited"),
        "False DesiredWithinRange"
    );

    // Above maxReplicas: brought back without metrics.
    wait_replicas(&k, ns, &["deployment", "big"], "2");

    // Usage drops to 10% everywhere: down to minReplicas at the next sync (no window).
    let web = eventually("web has five pods", || {
        let p = pods(&k, ns, "web");
        (p.len() == 5).then_some(p)
    });
    for pod in &web {
        run_pod(&k, ns, pod);
        usage(&k, ns, pod, "web", "10m");
    }
    wait_replicas(&k, ns, &["deployment", "web"], "2");
    assert_eq!(
        condition(&k, ns, "web", "ScalingLimited"),
        "True TooFewReplicas"
    );

    let web_events = events(&k, ns, "web");
    for want in [
        "Normal SuccessfulRescale horizontal-pod-autoscaler: New size: 5; reason: cpu resource \
         utilization (percentage of request) above target",
        "Normal SuccessfulRescale horizontal-pod-autoscaler: New size: 2; reason: All metrics \
         below target",
    ] {
        assert!(web_events.contains(want), "{want}\n{web_events}");
    }
    let big_events = events(&k, ns, "big");
    assert!(
        big_events.contains(
            "Normal SuccessfulRescale horizontal-pod-autoscaler: New size: 2; reason: Current \
             number of replicas above Spec.MaxReplicas"
        ),
        "{big_events}"
    );
    let rows = table(&k.ok(&["get", "hpa", "widget", "-n", ns]));
    assert_eq!(
        rows[1][..5],
        ["widget", "Widget/w", "cpu: 300%/100%", "1", "10"]
    );
}
