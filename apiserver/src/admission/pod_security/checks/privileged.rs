//! `privileged` (baseline, v1.0+): privileged containers disable most security mechanisms.
//! Restricted: `securityContext.privileged` of every container; allowed: unset, `false`.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase};
use serde_json::Value;

pub const CHECK: Check = Check {
    id: "privileged",
    level: Level::Baseline,
    versions: &[VersionedCheck::new(0, privileged_1_0)],
};

fn privileged_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let bad: Vec<&str> = pod
        .containers()
        .filter(|c| c.sc("privileged").and_then(Value::as_bool) == Some(true))
        .map(|c| c.name())
        .collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "privileged",
            format!(
                "{} must not set securityContext.privileged=true",
                containers_phrase(&bad)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{container, refuses, run_spec};
    use super::*;
    use serde_json::json;

    #[test]
    fn privileged_containers_are_refused() {
        refuses(
            run_spec(
                privileged_1_0,
                json!({
                    "initContainers": [container("i", json!({"privileged": true}))],
                    "containers": [
                        container("a", Value::Null),
                        container("b", json!({})),
                        container("c", json!({"privileged": false})),
                        container("d", json!({"privileged": true})),
                    ],
                    "ephemeralContainers": [container("e", json!({"privileged": true}))]
                }),
            ),
            "privileged",
            r#"containers "i", "d", "e" must not set securityContext.privileged=true"#,
        );
        refuses(
            run_spec(
                privileged_1_0,
                json!({"containers": [container("a", json!({"privileged": true}))]}),
            ),
            "privileged",
            r#"container "a" must not set securityContext.privileged=true"#,
        );
        assert_eq!(
            run_spec(
                privileged_1_0,
                json!({"containers": [container("a", json!({"privileged": false}))]})
            ),
            None
        );
    }
}
