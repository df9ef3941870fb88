//! The PodSecurity admission plugin as kubectl (1.32 and 1.33) sees it: a namespace's
//! `pod-security.kubernetes.io/*` labels refuse violating pods with upstream's message, warn
//! about them (and about workloads whose pods would be refused), and tightening a
//! namespace's enforce level warns about the pods already in it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, kubectls};

fn namespace(name: &str, labels: &[(&str, &str)]) -> String {
    let mut out = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n");
    if !labels.is_empty() {
        out.push_str("  labels:\n");
        for (k, v) in labels {
            out.push_str(&format!("    pod-security.kubernetes.io/{k}: {v}\n"));
        }
    }
    out
}

fn privileged_pod(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    securityContext:\n      privileged: true\n"
    )
}

const RESTRICTED_DETAIL: &str = concat!(
    r#"privileged (container "c" must not set securityContext.privileged=true), "#,
    r#"allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), "#,
    r#"unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), "#,
    r#"runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), "#,
    r#"seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
);

#[test]
fn namespace_labels_enforce_and_warn() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);

        // enforce=restricted refuses a privileged pod, and admits a compliant one.
        let strict = format!("strict-{i}");
        k.ok_stdin(
            &["create", "-f", "-"],
            &namespace(&strict, &[("enforce", "restricted")]),
        );
        let r = k.run_stdin(
            &["create", "-f", "-"],
            Some(&privileged_pod("priv", &strict)),
        );
        assert!(!r.ok, "{}: the privileged pod was admitted", k.version());
        assert!(
            r.stderr.contains(&format!(
                r#"Error from server (Forbidden): error when creating "STDIN": pods "priv" is forbidden: violates PodSecurity "restricted:latest": {RESTRICTED_DETAIL}"#
            )),
            "{}: {}",
            k.version(),
            r.stderr
        );
        k.fails(&["get", "pod", "priv", "-n", &strict]);
        let compliant = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ok\n  namespace: {strict}\nspec:\n  securityContext:\n    runAsNonRoot: true\n    seccompProfile: {{type: RuntimeDefault}}\n  containers:\n  - name: c\n    image: busybox\n    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities: {{drop: [ALL]}}\n"
        );
        let r = k.run_stdin(&["create", "-f", "-"], Some(&compliant));
        assert!(r.ok, "{}: {}", k.version(), r.stderr);
        assert!(!r.stderr.contains("Warning"), "{}", r.stderr);

        // A Deployment whose pods would be refused is created, with a warning.
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: {strict}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: d}}\n  template:\n    metadata:\n      labels: {{app: d}}\n    spec:\n      containers:\n      - name: c\n        image: busybox\n        securityContext:\n          privileged: true\n"
        );
        let r = k.run_stdin(&["create", "-f", "-"], Some(&deployment));
        assert!(r.ok, "{}: {}", k.version(), r.stderr);
        assert!(
            r.stderr.contains(&format!(
                r#"Warning: would violate PodSecurity "restricted:latest": {RESTRICTED_DETAIL}"#
            )),
            "{}: {}",
            k.version(),
            r.stderr
        );
        assert!(
            r.stdout.contains("deployment.apps/d created"),
            "{}",
            r.stdout
        );

        // warn=baseline admits a privileged pod with a warning.
        let warned = format!("warned-{i}");
        k.ok_stdin(
            &["create", "-f", "-"],
            &namespace(&warned, &[("warn", "baseline")]),
        );
        let r = k.run_stdin(
            &["create", "-f", "-"],
            Some(&privileged_pod("priv", &warned)),
        );
        assert!(r.ok, "{}: {}", k.version(), r.stderr);
        assert!(
            r.stderr.contains(
                r#"Warning: would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)"#
            ),
            "{}: {}",
            k.version(),
            r.stderr
        );
        k.ok(&["get", "pod", "priv", "-n", &warned]);
    }
}

#[test]
fn labelling_a_namespace_warns_about_its_pods() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("existing-{i}");
        k.ok_stdin(&["create", "-f", "-"], &namespace(&ns, &[]));
        k.ok_stdin(&["create", "-f", "-"], &privileged_pod("priv", &ns));
        let label = "pod-security.kubernetes.io/enforce=restricted";
        let headline = format!(
            r#"Warning: existing pods in namespace "{ns}" violate the new PodSecurity enforce level "restricted:latest""#
        );
        let pod_line = "Warning: priv: privileged, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile";

        // A server-side dry run shows the warnings and changes nothing.
        let r = k.run(&["label", "--dry-run=server", "ns", &ns, label]);
        assert!(r.ok, "{}: {}", k.version(), r.stderr);
        assert!(
            r.stderr.contains(&headline),
            "{}: {}",
            k.version(),
            r.stderr
        );
        assert!(r.stderr.contains(pod_line), "{}: {}", k.version(), r.stderr);
        let labels = k.ok(&["get", "ns", &ns, "-o", "jsonpath={.metadata.labels}"]);
        assert!(!labels.contains("pod-security"), "{labels}");

        // The real label: the same warnings; the pod stays, new ones are refused.
        let r = k.run(&["label", "ns", &ns, label]);
        assert!(r.ok, "{}: {}", k.version(), r.stderr);
        assert!(
            r.stderr.contains(&headline),
            "{}: {}",
            k.version(),
            r.stderr
        );
        assert!(r.stderr.contains(pod_line), "{}: {}", k.version(), r.stderr);
        assert!(
            r.stdout.contains(&format!("namespace/{ns} labeled")),
            "{}",
            r.stdout
        );
        k.ok(&["get", "pod", "priv", "-n", &ns]);
        let e = k.fails(&["run", "again", "-n", &ns, "--image=busybox", "--privileged"]);
        assert!(
            e.contains(r#"pods "again" is forbidden: violates PodSecurity "restricted:latest""#),
            "{}: {e}",
            k.version()
        );

        // Labels that do not parse are refused.
        let e = k.fails(&[
            "label",
            "--overwrite",
            "ns",
            &ns,
            "pod-security.kubernetes.io/enforce=strict",
        ]);
        assert!(
            e.contains(r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#),
            "{}: {e}",
            k.version()
        );
    }
}
