//! End-to-end: `kubectl explain` (1.32 and 1.33) reads the published OpenAPI v3 schemas.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Cluster;

#[test]
fn explain_built_in_kinds() {
    let cluster = Cluster::up();
    for bin in common::kubectls() {
        let k = cluster.kubectl(&bin);
        let out = k.ok(&["explain", "configmaps"]);
        assert!(out.contains("KIND:       ConfigMap"), "{out}");
        assert!(out.contains("VERSION:    v1"), "{out}");
        assert!(out.contains("binaryData\t<map[string]string>"), "{out}");

        let out = k.ok(&["explain", "pods.spec.containers.ports"]);
        assert!(out.contains("FIELD: ports <[]ContainerPort>"), "{out}");
        assert!(out.contains("containerPort\t<integer> -required-"), "{out}");

        let out = k.ok(&["explain", "deployments.spec", "--recursive"]);
        assert!(out.contains("GROUP:      apps"), "{out}");
        assert!(
            out.contains("  selector\t<LabelSelector> -required-"),
            "{out}"
        );
        assert!(out.contains("      maxSurge\t<IntOrString>"), "{out}");
        assert!(
            out.contains("  template\t<PodTemplateSpec> -required-"),
            "{out}"
        );

        let out = k.ok(&["explain", "pods.spec.containers.resources.limits"]);
        assert!(out.contains("FIELD: limits <map[string]Quantity>"), "{out}");

        let bad = k.run(&["explain", "pods.spec.nosuchfield"]);
        assert!(!bad.ok);
        assert!(
            bad.stderr.contains("field \"nosuchfield\" does not exist"),
            "{}",
            bad.stderr
        );
    }
}
