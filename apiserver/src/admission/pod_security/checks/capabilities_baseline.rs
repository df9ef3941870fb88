//! `capabilities_baseline` (baseline, v1.0+): containers may only add capabilities of the
//! runtime's default set. The restricted `capabilities_restricted` check replaces this one
//! from v1.22.
//! Restricted: `securityContext.capabilities.add` of every container; allowed: unset, or
//! names from the default set below.
//!
//! Upstream skips this check for pods in a user namespace (`hostUsers: false`) only when the
//! alpha `UserNamespacesPodSecurityStandards` gate is on; it is off in v1.33, as here.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase, join_quote};
use serde_json::Value;
use std::collections::BTreeSet;

pub const ID: &str = "capabilities_baseline";

pub const CHECK: Check = Check {
    id: ID,
    level: Level::Baseline,
    versions: &[VersionedCheck::new(0, capabilities_baseline_1_0)],
};

const ALLOWED_1_0: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn capabilities_baseline_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut added = BTreeSet::new();
    for c in pod.containers() {
        let adds = c
            .sc("capabilities")
            .and_then(|caps| caps.get("add"))
            .and_then(Value::as_array);
        let mut valid = true;
        for cap in adds.into_iter().flatten().filter_map(Value::as_str) {
            if !ALLOWED_1_0.contains(&cap) {
                valid = false;
                added.insert(cap);
            }
        }
        if !valid {
            bad.push(c.name());
        }
    }
    (!bad.is_empty()).then(|| {
        let added: Vec<&str> = added.into_iter().collect();
        Violation::new(
            "non-default capabilities",
            format!(
                "{} must not include {} in securityContext.capabilities.add",
                containers_phrase(&bad),
                join_quote(&added)
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
    fn only_default_capabilities_may_be_added() {
        refuses(
            run_spec(
                capabilities_baseline_1_0,
                json!({"containers": [
                    container("a", Value::Null),
                    container("b", json!({"capabilities": {"add": ["CHOWN", "KILL"]}})),
                    container("c", json!({"capabilities": {"add": ["NET_RAW", "CHOWN"]}})),
                    container("d", json!({"capabilities": {"add": ["SYS_ADMIN", "NET_RAW"]}})),
                    container("e", json!({"capabilities": {"drop": ["ALL"]}})),
                ]}),
            ),
            "non-default capabilities",
            r#"containers "c", "d" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add"#,
        );
        refuses(
            run_spec(
                capabilities_baseline_1_0,
                json!({"containers": [container("a", json!({"capabilities": {"add": ["ALL"]}}))]}),
            ),
            "non-default capabilities",
            r#"container "a" must not include "ALL" in securityContext.capabilities.add"#,
        );
        // User namespaces relax nothing without the alpha gate.
        assert!(
            run_spec(
                capabilities_baseline_1_0,
                json!({"hostUsers": false, "containers": [
                    container("a", json!({"capabilities": {"add": ["NET_RAW"]}}))
                ]}),
            )
            .is_some()
        );
        assert_eq!(
            run_spec(
                capabilities_baseline_1_0,
                json!({"containers": [container("a", json!({"capabilities": {"add": ALLOWED_1_0}}))]})
            ),
            None
        );
    }
}
