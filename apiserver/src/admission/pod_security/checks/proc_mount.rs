//! `procMount` (baseline, v1.0+): the default `/proc` masks are required.
//! Restricted: `securityContext.procMount` of every container; allowed: unset, `Default`.
//! (Upstream relaxes this for user-namespaced pods only from policy v1.35.)

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase, join_quote};
use serde_json::Value;
use std::collections::BTreeSet;

pub const CHECK: Check = Check {
    id: "procMount",
    level: Level::Baseline,
    versions: &[VersionedCheck::new(0, proc_mount_1_0)],
};

fn proc_mount_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in pod.containers() {
        if let Some(t) = c.sc("procMount").and_then(Value::as_str)
            && t != "Default"
        {
            bad.push(c.name());
            types.insert(t);
        }
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        Violation::new(
            "procMount",
            format!(
                "{} must not set securityContext.procMount to {}",
                containers_phrase(&bad),
                join_quote(&types)
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
    fn unmasked_proc_is_refused() {
        refuses(
            run_spec(
                proc_mount_1_0,
                json!({"hostUsers": false, "containers": [
                    container("a", Value::Null),
                    container("b", json!({})),
                    container("c", json!({"procMount": "Default"})),
                    container("d", json!({"procMount": "Unmasked"})),
                    container("e", json!({"procMount": "other"})),
                ]}),
            ),
            "procMount",
            r#"containers "d", "e" must not set securityContext.procMount to "Unmasked", "other""#,
        );
        assert_eq!(
            run_spec(
                proc_mount_1_0,
                json!({"containers": [container("c", json!({"procMount": "Default"}))]})
            ),
            None
        );
    }
}
