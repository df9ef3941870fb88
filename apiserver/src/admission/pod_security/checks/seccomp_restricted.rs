//! `seccompProfile_restricted` (restricted; v1.19, Windows pods exempt from v1.25): a
//! seccomp profile must be set, to the runtime's default or a local one. Replaces
//! `seccompProfile_baseline`.
//! Restricted: `securityContext.seccompProfile.type` of the pod and of every container;
//! allowed: `RuntimeDefault`, `Localhost`; unset on a container when the pod sets one.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase, join_quote, seccomp_baseline};
use std::collections::BTreeSet;

pub const CHECK: Check = Check {
    id: "seccompProfile_restricted",
    level: Level::Restricted,
    versions: &[
        VersionedCheck::new(19, seccomp_profile_restricted_1_19)
            .overriding(&[seccomp_baseline::ID]),
        VersionedCheck::new(25, seccomp_profile_restricted_1_25)
            .overriding(&[seccomp_baseline::ID]),
    ],
};

fn seccomp_profile_restricted_1_19(pod: &Pod<'_>) -> Option<Violation> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    let pod_profile = pod.security_context("seccompProfile");
    let pod_set = match seccomp_baseline::bad_type(pod_profile) {
        Some(t) => {
            setters.push("pod".to_string());
            values.insert(t);
            false
        }
        None => pod_profile.is_some(),
    };
    let mut explicitly_bad = Vec::new();
    // Containers without a profile and without a valid pod-level one to fall back on.
    let mut implicitly_bad = Vec::new();
    for c in pod.containers() {
        match c.sc("seccompProfile") {
            Some(profile) => {
                if let Some(t) = seccomp_baseline::bad_type(Some(profile)) {
                    explicitly_bad.push(c.name());
                    values.insert(t);
                }
            }
            None if !pod_set => implicitly_bad.push(c.name()),
            None => {}
        }
    }
    if !explicitly_bad.is_empty() {
        setters.push(containers_phrase(&explicitly_bad));
    }
    if !setters.is_empty() {
        let values: Vec<&str> = values.into_iter().collect();
        return Some(Violation::new(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&values)
            ),
        ));
    }
    (!implicitly_bad.is_empty()).then(|| {
        Violation::new(
            "seccompProfile",
            format!(
                r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                containers_phrase(&implicitly_bad)
            ),
        )
    })
}

fn seccomp_profile_restricted_1_25(pod: &Pod<'_>) -> Option<Violation> {
    // The field may not be set on Windows pods at all.
    if pod.is_windows() {
        return None;
    }
    seccomp_profile_restricted_1_19(pod)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{container, refuses, run_spec};
    use super::*;
    use serde_json::{Value, json};

    fn profile(t: &str) -> Value {
        json!({"seccompProfile": {"type": t}})
    }

    /// Upstream's TestSeccompProfileRestricted.
    #[test]
    fn a_profile_is_required() {
        refuses(
            run_spec(
                seccomp_profile_restricted_1_19,
                json!({"containers": [container("a", Value::Null)]}),
            ),
            "seccompProfile",
            r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
        );
        refuses(
            run_spec(
                seccomp_profile_restricted_1_19,
                json!({"securityContext": profile("Unconfined"), "containers": [container("a", Value::Null)]}),
            ),
            "seccompProfile",
            r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
        let containers = || {
            vec![
                container("a", Value::Null),
                container("b", json!({})),
                container("c", profile("Unconfined")),
                container("d", profile("Unconfined")),
                container("e", profile("RuntimeDefault")),
                container("f", profile("Localhost")),
            ]
        };
        refuses(
            run_spec(
                seccomp_profile_restricted_1_19,
                json!({"containers": containers()}),
            ),
            "seccompProfile",
            r#"containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
        refuses(
            run_spec(
                seccomp_profile_restricted_1_19,
                json!({"securityContext": profile("Unconfined"), "containers": containers()}),
            ),
            "seccompProfile",
            r#"pod and containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined""#,
        );
        refuses(
            run_spec(
                seccomp_profile_restricted_1_19,
                json!({"containers": [container("a", Value::Null), container("e", profile("RuntimeDefault"))]}),
            ),
            "seccompProfile",
            r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
        );
        assert_eq!(
            run_spec(
                seccomp_profile_restricted_1_19,
                json!({"securityContext": profile("RuntimeDefault"), "containers": [container("a", Value::Null), container("f", profile("Localhost"))]})
            ),
            None
        );
    }

    #[test]
    fn windows_pods_are_exempt_from_v1_25() {
        let spec = json!({"os": {"name": "windows"}, "containers": [container("a", Value::Null)]});
        assert_eq!(
            run_spec(seccomp_profile_restricted_1_25, spec.clone()),
            None
        );
        assert!(run_spec(seccomp_profile_restricted_1_19, spec).is_some());
    }
}
