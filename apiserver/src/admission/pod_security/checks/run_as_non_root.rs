//! `runAsNonRoot` (restricted, v1.0+): containers must be required to run as non-root.
//! Restricted: `securityContext.runAsNonRoot` of the pod and of every container; allowed:
//! `true`, or unset on a container when the pod sets `true`.
//!
//! Upstream skips this check for pods in a user namespace (`hostUsers: false`) only when the
//! alpha `UserNamespacesPodSecurityStandards` gate is on; it is off in v1.33, as here.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase};
use serde_json::Value;

pub const CHECK: Check = Check {
    id: "runAsNonRoot",
    level: Level::Restricted,
    versions: &[VersionedCheck::new(0, run_as_non_root_1_0)],
};

fn run_as_non_root_1_0(pod: &Pod<'_>) -> Option<Violation> {
    // Who explicitly sets runAsNonRoot=false.
    let mut bad_setters = Vec::new();
    let mut pod_non_root = false;
    match pod
        .security_context("runAsNonRoot")
        .and_then(Value::as_bool)
    {
        Some(false) => bad_setters.push("pod".to_string()),
        Some(true) => pod_non_root = true,
        None => {}
    }
    let mut explicitly_bad = Vec::new();
    // Containers that leave it unset without a pod-level `true` to fall back on.
    let mut implicitly_bad = Vec::new();
    for c in pod.containers() {
        match c.sc("runAsNonRoot").and_then(Value::as_bool) {
            Some(false) => explicitly_bad.push(c.name()),
            Some(true) => {}
            None if !pod_non_root => implicitly_bad.push(c.name()),
            None => {}
        }
    }
    if !explicitly_bad.is_empty() {
        bad_setters.push(containers_phrase(&explicitly_bad));
    }
    if !bad_setters.is_empty() {
        return Some(Violation::new(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                bad_setters.join(" and ")
            ),
        ));
    }
    (!implicitly_bad.is_empty()).then(|| {
        Violation::new(
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicitly_bad)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{container, refuses, run_spec};
    use super::*;
    use serde_json::json;

    /// Upstream's TestRunAsNonRoot.
    #[test]
    fn containers_must_run_as_non_root() {
        let reason = "runAsNonRoot != true";
        let mixed = || {
            vec![
                container("a", Value::Null),
                container("b", json!({})),
                container("c", json!({"runAsNonRoot": false})),
                container("d", json!({"runAsNonRoot": false})),
                container("e", json!({"runAsNonRoot": true})),
                container("f", json!({"runAsNonRoot": true})),
            ]
        };
        refuses(
            run_spec(
                run_as_non_root_1_0,
                json!({"securityContext": {"runAsNonRoot": false}, "containers": mixed()}),
            ),
            reason,
            r#"pod and containers "c", "d" must not set securityContext.runAsNonRoot=false"#,
        );
        refuses(
            run_spec(
                run_as_non_root_1_0,
                json!({"securityContext": {"runAsNonRoot": true}, "containers": mixed()}),
            ),
            reason,
            r#"containers "c", "d" must not set securityContext.runAsNonRoot=false"#,
        );
        refuses(
            run_spec(run_as_non_root_1_0, json!({"containers": mixed()})),
            reason,
            r#"containers "c", "d" must not set securityContext.runAsNonRoot=false"#,
        );
        refuses(
            run_spec(
                run_as_non_root_1_0,
                json!({"containers": [
                    container("a", Value::Null),
                    container("b", json!({})),
                    container("d", json!({"runAsNonRoot": true})),
                ]}),
            ),
            reason,
            r#"pod or containers "a", "b" must set securityContext.runAsNonRoot=true"#,
        );
        refuses(
            run_spec(
                run_as_non_root_1_0,
                json!({"securityContext": {"runAsNonRoot": false}}),
            ),
            reason,
            "pod must not set securityContext.runAsNonRoot=false",
        );
        assert_eq!(
            run_spec(
                run_as_non_root_1_0,
                json!({"securityContext": {"runAsNonRoot": true}, "containers": [container("a", Value::Null)]})
            ),
            None
        );
        // User namespaces relax nothing without the alpha gate.
        assert!(
            run_spec(
                run_as_non_root_1_0,
                json!({"hostUsers": false, "containers": [container("a", Value::Null)]})
            )
            .is_some()
        );
    }
}
