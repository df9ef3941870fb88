//! `capabilities_restricted` (restricted; v1.22, Windows pods exempt from v1.25): containers
//! must drop all capabilities and may add back only `NET_BIND_SERVICE`. Replaces
//! `capabilities_baseline`.
//! Restricted: `securityContext.capabilities.drop` (must include `ALL`) and
//! `securityContext.capabilities.add` (unset, or only `NET_BIND_SERVICE`) of every container.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, capabilities_baseline, containers_phrase, join_quote};
use serde_json::Value;
use std::collections::BTreeSet;

pub const CHECK: Check = Check {
    id: "capabilities_restricted",
    level: Level::Restricted,
    versions: &[
        VersionedCheck::new(22, capabilities_restricted_1_22)
            .overriding(&[capabilities_baseline::ID]),
        VersionedCheck::new(25, capabilities_restricted_1_25)
            .overriding(&[capabilities_baseline::ID]),
    ],
};

fn names<'a>(caps: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    caps.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn capabilities_restricted_1_22(pod: &Pod<'_>) -> Option<Violation> {
    let mut missing_drop_all = Vec::new();
    let mut adding = Vec::new();
    let mut added = BTreeSet::new();
    for c in pod.containers() {
        let Some(caps) = c.sc("capabilities") else {
            missing_drop_all.push(c.name());
            continue;
        };
        if !names(caps, "drop").any(|n| n == "ALL") {
            missing_drop_all.push(c.name());
        }
        let mut forbidden = false;
        for cap in names(caps, "add").filter(|n| *n != "NET_BIND_SERVICE") {
            forbidden = true;
            added.insert(cap);
        }
        if forbidden {
            adding.push(c.name());
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            r#"{} must set securityContext.capabilities.drop=["ALL"]"#,
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding.is_empty() {
        let added: Vec<&str> = added.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&added)
        ));
    }
    (!details.is_empty()).then(|| Violation::new("unrestricted capabilities", details.join("; ")))
}

fn capabilities_restricted_1_25(pod: &Pod<'_>) -> Option<Violation> {
    // Capabilities may not be set on Windows pods at all.
    if pod.is_windows() {
        return None;
    }
    capabilities_restricted_1_22(pod)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{container, refuses, run_spec};
    use super::*;
    use serde_json::json;

    #[test]
    fn all_must_be_dropped_and_little_added() {
        refuses(
            run_spec(
                capabilities_restricted_1_22,
                json!({"containers": [
                    container("a", Value::Null),
                    container("b", json!({})),
                    container("c", json!({"capabilities": {}})),
                    container("d", json!({"capabilities": {"drop": ["NET_RAW"]}})),
                    container("e", json!({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})),
                    container("f", json!({"capabilities": {"drop": ["ALL"], "add": ["CHOWN", "NET_RAW"]}})),
                    container("g", json!({"capabilities": {"add": ["SYS_ADMIN", "NET_BIND_SERVICE"]}})),
                ]}),
            ),
            "unrestricted capabilities",
            concat!(
                r#"containers "a", "b", "c", "d", "g" must set securityContext.capabilities.drop=["ALL"]; "#,
                r#"containers "f", "g" must not include "CHOWN", "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add"#
            ),
        );
        refuses(
            run_spec(
                capabilities_restricted_1_22,
                json!({"containers": [container("a", json!({"capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}}))]}),
            ),
            "unrestricted capabilities",
            r#"container "a" must not include "NET_RAW" in securityContext.capabilities.add"#,
        );
        assert_eq!(
            run_spec(
                capabilities_restricted_1_22,
                json!({"containers": [container("e", json!({"capabilities": {"drop": ["ALL"]}}))]})
            ),
            None
        );
    }

    #[test]
    fn windows_pods_are_exempt_from_v1_25() {
        let spec = json!({"os": {"name": "windows"}, "containers": [container("a", Value::Null)]});
        assert_eq!(run_spec(capabilities_restricted_1_25, spec.clone()), None);
        assert!(run_spec(capabilities_restricted_1_22, spec).is_some());
    }
}
