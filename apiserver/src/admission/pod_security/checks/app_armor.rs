//! `appArmorProfile` (baseline, v1.0+): the runtime's default AppArmor profile may not be
//! disabled. Restricted: `securityContext.appArmorProfile.type` of the pod and of every
//! container (allowed: unset, `RuntimeDefault`, `Localhost`), and the deprecated
//! `container.apparmor.security.beta.kubernetes.io/*` annotations (allowed: empty,
//! `runtime/default`, `localhost/*`). Upstream added the fields to its v1.0 revision, so
//! they count at every version.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase, go_quote, join_quote, path, pluralize};
use serde_json::Value;
use std::collections::BTreeSet;

const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

pub const CHECK: Check = Check {
    id: "appArmorProfile",
    level: Level::Baseline,
    versions: &[VersionedCheck::new(0, app_armor_profile_1_0)],
};

fn allowed_annotation(value: &str) -> bool {
    value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")
}

/// The profile type of an `appArmorProfile` that is set but not allowed.
fn bad_type(profile: Option<&Value>) -> Option<&str> {
    let profile = profile?;
    let t = path(Some(profile), &["type"])
        .and_then(Value::as_str)
        .unwrap_or("");
    (!matches!(t, "RuntimeDefault" | "Localhost")).then_some(t)
}

fn app_armor_profile_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(t) = bad_type(pod.security_context("appArmorProfile")) {
        setters.push("pod".to_string());
        values.insert(t.to_string());
    }
    let mut bad_containers = Vec::new();
    for c in pod.containers() {
        if let Some(t) = bad_type(c.sc("appArmorProfile")) {
            bad_containers.push(c.name());
            values.insert(t.to_string());
        }
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers));
    }
    let mut values: Vec<String> = values.into_iter().collect();
    let mut annotations: Vec<String> = pod
        .annotations()
        .filter(|(k, v)| k.starts_with(ANNOTATION_PREFIX) && !allowed_annotation(v))
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        values.extend(annotations);
    }
    (!setters.is_empty()).then(|| {
        Violation::new(
            pluralize(
                "forbidden AppArmor profile",
                "forbidden AppArmor profiles",
                values.len(),
            ),
            format!(
                "{} must not set AppArmor profile type to {}",
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
    fn allowed_profiles_pass() {
        let pod = json!({
            "metadata": {"annotations": {
                "container.apparmor.security.beta.kubernetes.io/a": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/b": "localhost/sec-profile01",
                "container.apparmor.security.beta.kubernetes.io/c": "",
                "env": "prod"
            }},
            "spec": {
                "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
                "containers": [container("foo", json!({"appArmorProfile": {"type": "Localhost", "localhostProfile": "p"}}))]
            }
        });
        assert_eq!(run(app_armor_profile_1_0, &pod), None);
    }

    /// Upstream's TestCheckAppArmor_Forbidden.
    #[test]
    fn unconfined_profiles_are_refused() {
        refuses(
            run_spec(
                app_armor_profile_1_0,
                json!({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}),
            ),
            "forbidden AppArmor profile",
            r#"pod must not set AppArmor profile type to "Unconfined""#,
        );
        refuses(
            run_spec(
                app_armor_profile_1_0,
                json!({
                    "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "foo"}],
                    "initContainers": [container("bar", json!({"appArmorProfile": {"type": "Unconfined"}}))]
                }),
            ),
            "forbidden AppArmor profile",
            r#"container "bar" must not set AppArmor profile type to "Unconfined""#,
        );
        let pod = json!({"metadata": {"annotations": {
            "container.apparmor.security.beta.kubernetes.io/": "bogus",
            "container.apparmor.security.beta.kubernetes.io/a": "",
            "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/c": "localhost/",
            "container.apparmor.security.beta.kubernetes.io/d": "localhost/foo",
            "container.apparmor.security.beta.kubernetes.io/e": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/f": "unknown"
        }}});
        refuses(
            run(app_armor_profile_1_0, &pod),
            "forbidden AppArmor profiles",
            concat!(
                r#"annotations must not set AppArmor profile type to "#,
                r#""container.apparmor.security.beta.kubernetes.io/="bogus"", "#,
                r#""container.apparmor.security.beta.kubernetes.io/e="unconfined"", "#,
                r#""container.apparmor.security.beta.kubernetes.io/f="unknown"""#
            ),
        );
        let pod = json!({
            "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}},
            "spec": {
                "securityContext": {"appArmorProfile": {"type": "Unconfined"}},
                "containers": [container("c", json!({"appArmorProfile": {"type": "Unconfined"}}))]
            }
        });
        refuses(
            run(app_armor_profile_1_0, &pod),
            "forbidden AppArmor profiles",
            r#"pod and container "c" and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/c="unconfined"""#,
        );
    }
}
