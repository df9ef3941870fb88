//! `seccompProfile_baseline` (baseline): a seccomp profile, when given, must be the
//! runtime's default or a local one. The restricted `seccompProfile_restricted` check
//! replaces this one from v1.19.
//!
//! v1.0 to v1.18 read the old annotations: `seccomp.security.alpha.kubernetes.io/pod` and
//! `container.seccomp.security.alpha.kubernetes.io/<container>`; allowed: unset,
//! `runtime/default`, `docker/default`, `localhost/*`.
//! v1.19+ read `securityContext.seccompProfile.type` of the pod and of every container;
//! allowed: unset, `RuntimeDefault`, `Localhost`.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase, go_quote, join_quote, path, pluralize};
use serde_json::Value;
use std::collections::BTreeSet;

pub const ID: &str = "seccompProfile_baseline";

pub const CHECK: Check = Check {
    id: ID,
    level: Level::Baseline,
    versions: &[
        VersionedCheck::new(0, seccomp_profile_baseline_1_0),
        VersionedCheck::new(19, seccomp_profile_baseline_1_19),
    ],
};

const POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

fn valid_annotation(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

/// The type of a `seccompProfile` that is set but not allowed (an unset type is `""`).
pub fn bad_type(profile: Option<&Value>) -> Option<&str> {
    let profile = profile?;
    let t = path(Some(profile), &["type"])
        .and_then(Value::as_str)
        .unwrap_or("");
    (!matches!(t, "RuntimeDefault" | "Localhost")).then_some(t)
}

fn seccomp_profile_baseline_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let mut forbidden = BTreeSet::new();
    let mut check = |key: &str| {
        if let Some(v) = pod.annotation(key)
            && !valid_annotation(v)
        {
            forbidden.insert(format!("{key}={}", go_quote(v)));
        }
    };
    check(POD_ANNOTATION);
    for c in pod.containers() {
        check(&format!("{CONTAINER_ANNOTATION_PREFIX}{}", c.name()));
    }
    (!forbidden.is_empty()).then(|| {
        let forbidden: Vec<String> = forbidden.into_iter().collect();
        Violation::new(
            "seccompProfile",
            format!(
                "forbidden {} {}",
                pluralize("annotation", "annotations", forbidden.len()),
                forbidden.join(", ")
            ),
        )
    })
}

fn seccomp_profile_baseline_1_19(pod: &Pod<'_>) -> Option<Violation> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(t) = bad_type(pod.security_context("seccompProfile")) {
        setters.push("pod".to_string());
        values.insert(t);
    }
    let mut bad = Vec::new();
    for c in pod.containers() {
        if let Some(t) = bad_type(c.sc("seccompProfile")) {
            bad.push(c.name());
            values.insert(t);
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        let values: Vec<&str> = values.into_iter().collect();
        Violation::new(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&values)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{container, refuses, run, run_spec};
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_count_before_v1_19() {
        let pod = json!({
            "metadata": {"annotations": {
                "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
                "container.seccomp.security.alpha.kubernetes.io/a": "runtime/default",
                "container.seccomp.security.alpha.kubernetes.io/b": "docker/default",
                "container.seccomp.security.alpha.kubernetes.io/c": "localhost/x",
                "container.seccomp.security.alpha.kubernetes.io/d": "unconfined",
                "container.seccomp.security.alpha.kubernetes.io/other": "unconfined"
            }},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}]}
        });
        refuses(
            run(seccomp_profile_baseline_1_0, &pod),
            "seccompProfile",
            r#"forbidden annotations container.seccomp.security.alpha.kubernetes.io/d="unconfined", seccomp.security.alpha.kubernetes.io/pod="unconfined""#,
        );
        // The fields are not read before v1.19, nor the annotations after.
        assert_eq!(run(seccomp_profile_baseline_1_19, &pod), None);
        let fields = json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}}});
        assert_eq!(run_spec(seccomp_profile_baseline_1_0, fields), None);
    }

    #[test]
    fn unconfined_profiles_are_refused_from_v1_19() {
        let unconfined = json!({"seccompProfile": {"type": "Unconfined"}});
        refuses(
            run_spec(
                seccomp_profile_baseline_1_19,
                json!({"securityContext": unconfined, "containers": [
                    container("a", Value::Null),
                    container("b", json!({"seccompProfile": {"type": "RuntimeDefault"}})),
                    container("c", unconfined.clone()),
                    container("d", json!({"seccompProfile": {"type": "Other"}})),
                ]}),
            ),
            "seccompProfile",
            r#"pod and containers "c", "d" must not set securityContext.seccompProfile.type to "Other", "Unconfined""#,
        );
        assert_eq!(
            run_spec(
                seccomp_profile_baseline_1_19,
                json!({"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p"}}})
            ),
            None
        );
    }
}
