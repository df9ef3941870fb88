//! End-to-end: `kubectl explain --output plaintext-openapiv2` (1.32 and 1.33) reads the
//! protobuf form of `/openapi/v2` (gnostic's `openapi.v2.Document`, asked for by client-go's
//! `OpenAPISchema()`), finds kinds by their `x-kubernetes-group-version-kind` extension and
//! prints upstream's v2 layout.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Cluster;

const POD_SPEC_HEAD: &str = "KIND:     Pod
VERSION:  v1

RESOURCE: spec <Object>

DESCRIPTION:
     Specification of the desired behavior of the pod. More info:
     https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status

     PodSpec is a description of a pod.

FIELDS:
   activeDeadlineSeconds\t<integer>
     Optional duration in seconds the pod may be active on the node relative to
     StartTime before the system will actively try to mark it failed and kill
     associated containers. Value must be a positive integer.

   affinity\t<Object>
     If specified, the pod's scheduling constraints

";

const DEPLOYMENT_HEAD: &str = "KIND:     Deployment
VERSION:  apps/v1

DESCRIPTION:
     Deployment enables declarative updates for Pods and ReplicaSets.

FIELDS:
   apiVersion\t<string>
   kind\t<string>
   metadata\t<Object>
      annotations\t<map[string]string>
      creationTimestamp\t<string>
";

#[test]
fn explain_plaintext_openapiv2() {
    let cluster = Cluster::up();
    let mut outputs = Vec::new();
    for bin in common::kubectls() {
        let k = cluster.kubectl(&bin);
        let v = k.version();

        let spec = k.ok(&["explain", "pods.spec", "--output", "plaintext-openapiv2"]);
        assert!(spec.starts_with(POD_SPEC_HEAD), "{v}:\n{spec}");
        for line in [
            "   containers\t<[]Object> -required-",
            "   nodeSelector\t<map[string]string>",
            "   overhead\t<map[string]string>",
            "   volumes\t<[]Object>",
        ] {
            assert!(
                spec.lines().any(|l| l == line),
                "{v}: no {line:?} in\n{spec}"
            );
        }

        let ports = k.ok(&[
            "explain",
            "pods.spec.containers.ports",
            "--output",
            "plaintext-openapiv2",
        ]);
        assert!(
            ports.contains("RESOURCE: ports <[]Object>\n"),
            "{v}:\n{ports}"
        );
        assert!(
            ports.contains("   containerPort\t<integer> -required-\n"),
            "{v}:\n{ports}"
        );

        let deploy = k.ok(&[
            "explain",
            "deployments",
            "--recursive",
            "--output",
            "plaintext-openapiv2",
        ]);
        assert!(deploy.starts_with(DEPLOYMENT_HEAD), "{v}:\n{deploy}");
        for line in [
            "         fieldsV1\t<map[string]>",
            "   spec\t<Object>",
            "      selector\t<Object>",
            "         matchLabels\t<map[string]string>",
            "         rollingUpdate\t<Object>",
            "            maxSurge\t<string>",
            "      template\t<Object>",
            "            containers\t<[]Object>",
            "   status\t<Object>",
            "      updatedReplicas\t<integer>",
        ] {
            assert!(
                deploy.lines().any(|l| l == line),
                "{v}: no {line:?} in\n{deploy}"
            );
        }

        let bad = k.fails(&[
            "explain",
            "pods.spec.nosuchfield",
            "--output",
            "plaintext-openapiv2",
        ]);
        assert!(
            bad.contains("field \"nosuchfield\" does not exist"),
            "{v}: {bad}"
        );
        outputs.push((spec, deploy));
    }
    // Both kubectl versions print the same thing.
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
}
