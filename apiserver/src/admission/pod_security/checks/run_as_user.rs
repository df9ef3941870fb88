//! `runAsUser` (restricted, v1.23+): containers must not run as UID 0.
//! Restricted: `securityContext.runAsUser` of the pod and of every container; allowed:
//! unset or non-zero.
//!
//! Upstream skips this check for pods in a user namespace (`hostUsers: false`) only when the
//! alpha `UserNamespacesPodSecurityStandards` gate is on; it is off in v1.33, as here.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase};
use serde_json::Value;

pub const CHECK: Check = Check {
    id: "runAsUser",
    level: Level::Restricted,
    versions: &[VersionedCheck::new(23, run_as_user_1_23)],
};

fn is_root(uid: Option<&Value>) -> bool {
    uid.and_then(Value::as_i64) == Some(0)
}

fn run_as_user_1_23(pod: &Pod<'_>) -> Option<Violation> {
    let mut setters = Vec::new();
    if is_root(pod.security_context("runAsUser")) {
        setters.push("pod".to_string());
    }
    let bad: Vec<&str> = pod
        .containers()
        .filter(|c| is_root(c.sc("runAsUser")))
        .map(|c| c.name())
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        Violation::new(
            "runAsUser=0",
            format!("{} must not set runAsUser=0", setters.join(" and ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{container, refuses, run_spec};
    use super::*;
    use serde_json::json;

    #[test]
    fn root_is_refused() {
        refuses(
            run_spec(
                run_as_user_1_23,
                json!({"securityContext": {"runAsUser": 0}, "containers": [
                    container("a", Value::Null),
                    container("b", json!({"runAsUser": 0})),
                    container("c", json!({"runAsUser": 1000})),
                    container("d", json!({"runAsUser": 0})),
                ]}),
            ),
            "runAsUser=0",
            r#"pod and containers "b", "d" must not set runAsUser=0"#,
        );
        refuses(
            run_spec(
                run_as_user_1_23,
                json!({"securityContext": {"runAsUser": 0}}),
            ),
            "runAsUser=0",
            "pod must not set runAsUser=0",
        );
        assert_eq!(
            run_spec(
                run_as_user_1_23,
                json!({"securityContext": {"runAsUser": 1}, "containers": [container("a", json!({"runAsUser": 2}))]})
            ),
            None
        );
    }
}
