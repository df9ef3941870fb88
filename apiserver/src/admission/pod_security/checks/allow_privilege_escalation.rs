//! `allowPrivilegeEscalation` (restricted; v1.8, Windows pods exempt from v1.25): setuid
//! binaries and the like must not gain privileges.
//! Restricted: `securityContext.allowPrivilegeEscalation` of every container; allowed:
//! `false` only.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase};
use serde_json::Value;

pub const CHECK: Check = Check {
    id: "allowPrivilegeEscalation",
    level: Level::Restricted,
    versions: &[
        VersionedCheck::new(8, allow_privilege_escalation_1_8),
        VersionedCheck::new(25, allow_privilege_escalation_1_25),
    ],
};

fn allow_privilege_escalation_1_8(pod: &Pod<'_>) -> Option<Violation> {
    let bad: Vec<&str> = pod
        .containers()
        .filter(|c| c.sc("allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false))
        .map(|c| c.name())
        .collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "allowPrivilegeEscalation != false",
            format!(
                "{} must set securityContext.allowPrivilegeEscalation=false",
                containers_phrase(&bad)
            ),
        )
    })
}

fn allow_privilege_escalation_1_25(pod: &Pod<'_>) -> Option<Violation> {
    // The field may not be set on Windows pods at all.
    if pod.is_windows() {
        return None;
    }
    allow_privilege_escalation_1_8(pod)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{container, refuses, run_spec};
    use super::*;
    use serde_json::json;

    #[test]
    fn escalation_must_be_disabled() {
        let spec = || {
            json!({"containers": [
                container("a", Value::Null),
                container("b", json!({})),
                container("c", json!({"allowPrivilegeEscalation": true})),
                container("d", json!({"allowPrivilegeEscalation": false})),
            ]})
        };
        let detail =
            r#"containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false"#;
        for check in [
            allow_privilege_escalation_1_8 as fn(&Pod<'_>) -> Option<Violation>,
            allow_privilege_escalation_1_25,
        ] {
            refuses(
                run_spec(check, spec()),
                "allowPrivilegeEscalation != false",
                detail,
            );
        }
    }

    #[test]
    fn windows_pods_are_exempt_from_v1_25() {
        let windows =
            json!({"os": {"name": "windows"}, "containers": [container("a", Value::Null)]});
        assert_eq!(
            run_spec(allow_privilege_escalation_1_25, windows.clone()),
            None
        );
        assert!(run_spec(allow_privilege_escalation_1_8, windows).is_some());
        let linux = json!({"os": {"name": "linux"}, "containers": [container("a", Value::Null)]});
        refuses(
            run_spec(allow_privilege_escalation_1_25, linux),
            "allowPrivilegeEscalation != false",
            r#"container "a" must set securityContext.allowPrivilegeEscalation=false"#,
        );
    }
}
