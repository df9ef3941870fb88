//! End-to-end: `kubectl explain` (1.32 and 1.33) prints the enums of enum-typed fields as it
//! does against a v1.33 kube-apiserver: an `ENUM:` section for the field, an `enum:` line in
//! field lists, and upstream's "Possible enum values" paragraph in the description.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Cluster;

/// `kubectl explain pods.spec.dnsPolicy` against a v1.33 kube-apiserver (kubectl indents the
/// blank lines inside a description, so some lines are four spaces).
fn dns_policy() -> String {
    [
        "KIND:       Pod",
        "VERSION:    v1",
        "",
        "FIELD: dnsPolicy <string>",
        "ENUM:",
        "    ClusterFirst",
        "    ClusterFirstWithHostNet",
        "    Default",
        "    None",
        "",
        "DESCRIPTION:",
        "    Set DNS policy for the pod. Defaults to \"ClusterFirst\". Valid values are",
        "    'ClusterFirstWithHostNet', 'ClusterFirst', 'Default' or 'None'. DNS",
        "    parameters given in DNSConfig will be merged with the policy selected with",
        "    DNSPolicy. To have DNS options set along with hostNetwork, you have to",
        "    specify DNS policy explicitly to 'ClusterFirstWithHostNet'.",
        "    ",
        "    Possible enum values:",
        "     - `\"ClusterFirst\"` indicates that the pod should use cluster DNS first",
        "    unless hostNetwork is true, if it is available, then fall back on the",
        "    default (as determined by kubelet) DNS settings.",
        "     - `\"ClusterFirstWithHostNet\"` indicates that the pod should use cluster DNS",
        "    first, if it is available, then fall back on the default (as determined by",
        "    kubelet) DNS settings.",
        "     - `\"Default\"` indicates that the pod should use the default (as determined",
        "    by kubelet) DNS settings.",
        "     - `\"None\"` indicates that the pod should use empty DNS settings. DNS",
        "    parameters such as nameservers and search paths should be defined via",
        "    DNSConfig.",
        "    ",
        "",
        "",
    ]
    .join("\n")
}

/// The `type` entry of `kubectl explain deployments.spec.strategy`'s field list.
fn strategy_type() -> String {
    [
        "  type\t<string>",
        "  enum: Recreate, RollingUpdate",
        "    Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default is",
        "    RollingUpdate.",
        "    ",
        "    Possible enum values:",
        "     - `\"Recreate\"` Kill all existing pods before creating new ones.",
        "     - `\"RollingUpdate\"` Replace the old ReplicaSets by new one using rolling",
        "    update i.e gradually scale down the old ReplicaSets and scale up the new",
        "    one.",
        "",
    ]
    .join("\n")
}

#[test]
fn explain_prints_enums() {
    let cluster = Cluster::up();
    for bin in common::kubectls() {
        let k = cluster.kubectl(&bin);
        let v = k.version();

        let out = k.ok(&["explain", "pods.spec.dnsPolicy"]);
        assert_eq!(out, dns_policy(), "{v}");

        let out = k.ok(&["explain", "deployments.spec.strategy"]);
        assert!(out.contains(&strategy_type()), "{v}:\n{out}");

        let out = k.ok(&["explain", "services.spec.type"]);
        assert!(
            out.contains(
                "ENUM:\n    ClusterIP\n    ExternalName\n    LoadBalancer\n    NodePort\n"
            ),
            "{v}:\n{out}"
        );

        // A list of enum values has its enum on the items: no ENUM section for the field.
        let out = k.ok(&["explain", "pvc.spec.accessModes"]);
        assert!(
            out.contains("FIELD: accessModes <[]string>\n\n"),
            "{v}:\n{out}"
        );
        assert!(!out.contains("ENUM:"), "{v}:\n{out}");
    }
}
