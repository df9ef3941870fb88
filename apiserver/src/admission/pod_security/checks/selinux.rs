//! `seLinuxOptions` (baseline, v1.0+; v1.31 allows `container_engine_t`): the SELinux type
//! is limited to the container types, and a custom user or role is refused.
//! Restricted: `securityContext.seLinuxOptions.{type,user,role}` of the pod and of every
//! container; allowed types: unset/empty, `container_t`, `container_init_t`,
//! `container_kvm_t` (and `container_engine_t` from v1.31); user and role: unset/empty.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase, join_quote, pluralize};
use serde_json::Value;
use std::collections::BTreeSet;

pub const CHECK: Check = Check {
    id: "seLinuxOptions",
    level: Level::Baseline,
    versions: &[
        VersionedCheck::new(0, se_linux_options_1_0),
        VersionedCheck::new(31, se_linux_options_1_31),
    ],
};

const ALLOWED_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
const ALLOWED_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn se_linux_options_1_0(pod: &Pod<'_>) -> Option<Violation> {
    se_linux_options(pod, ALLOWED_TYPES_1_0)
}

fn se_linux_options_1_31(pod: &Pod<'_>) -> Option<Violation> {
    se_linux_options(pod, ALLOWED_TYPES_1_31)
}

fn se_linux_options(pod: &Pod<'_>, allowed_types: &[&str]) -> Option<Violation> {
    let mut bad_types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |opts: &Value| {
        let text = |k: &str| opts.get(k).and_then(Value::as_str).unwrap_or("");
        let mut ok = true;
        if !allowed_types.contains(&text("type")) {
            ok = false;
            bad_types.insert(text("type").to_string());
        }
        if !text("user").is_empty() {
            ok = false;
            set_user = true;
        }
        if !text("role").is_empty() {
            ok = false;
            set_role = true;
        }
        ok
    };
    let mut setters = Vec::new();
    if let Some(opts) = pod.security_context("seLinuxOptions")
        && !valid(opts)
    {
        setters.push("pod".to_string());
    }
    let bad: Vec<&str> = pod
        .containers()
        .filter(|c| c.sc("seLinuxOptions").is_some_and(|o| !valid(o)))
        .map(|c| c.name())
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    // As upstream, the user and role complaints are only listed next to a bad type: a pod
    // that only sets a user is refused with an empty explanation.
    if !bad_types.is_empty() {
        let types: Vec<String> = bad_types.into_iter().collect();
        data.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
        if set_user {
            data.push("user may not be set".to_string());
        }
        if set_role {
            data.push("role may not be set".to_string());
        }
    }
    Some(Violation::new(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{container, refuses, run_spec};
    use super::*;
    use serde_json::json;

    fn typed(name: &str, t: &str) -> Value {
        container(name, json!({"seLinuxOptions": {"type": t}}))
    }

    /// Upstream's TestSELinuxOptions.
    #[test]
    fn custom_selinux_options_are_refused() {
        let pod_bad = json!({"seLinuxOptions": {"type": "foo", "user": "bar", "role": "baz"}});
        let good = || {
            vec![
                typed("a", "container_t"),
                typed("b", "container_init_t"),
                typed("c", "container_kvm_t"),
            ]
        };
        let bad = || {
            vec![
                typed("d", "bar"),
                container("e", json!({"seLinuxOptions": {"user": "bar"}})),
                container("f", json!({"seLinuxOptions": {"role": "baz"}})),
            ]
        };
        let all: Vec<Value> = good().into_iter().chain(bad()).collect();
        refuses(
            run_spec(
                se_linux_options_1_0,
                json!({"securityContext": pod_bad, "containers": all}),
            ),
            "seLinuxOptions",
            r#"pod and containers "d", "e", "f" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set"#,
        );
        refuses(
            run_spec(
                se_linux_options_1_0,
                json!({"securityContext": pod_bad, "containers": good()}),
            ),
            "seLinuxOptions",
            r#"pod set forbidden securityContext.seLinuxOptions: type "foo"; user may not be set; role may not be set"#,
        );
        refuses(
            run_spec(
                se_linux_options_1_0,
                json!({"securityContext": {"seLinuxOptions": {}}, "containers": all}),
            ),
            "seLinuxOptions",
            r#"containers "d", "e", "f" set forbidden securityContext.seLinuxOptions: type "bar"; user may not be set; role may not be set"#,
        );
        refuses(
            run_spec(
                se_linux_options_1_0,
                json!({"containers": [container("e", json!({"seLinuxOptions": {"user": "bar"}}))]}),
            ),
            "seLinuxOptions",
            r#"container "e" set forbidden securityContext.seLinuxOptions: "#,
        );
    }

    #[test]
    fn container_engine_t_is_allowed_from_v1_31() {
        let spec = json!({"containers": [typed("a", "container_engine_t")]});
        refuses(
            run_spec(se_linux_options_1_0, spec.clone()),
            "seLinuxOptions",
            r#"container "a" set forbidden securityContext.seLinuxOptions: type "container_engine_t""#,
        );
        assert_eq!(run_spec(se_linux_options_1_31, spec), None);
        assert_eq!(
            run_spec(
                se_linux_options_1_31,
                json!({"securityContext": {"seLinuxOptions": {"level": "s0:c1,c2"}}})
            ),
            None
        );
    }
}
