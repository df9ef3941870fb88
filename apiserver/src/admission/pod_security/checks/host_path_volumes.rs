//! `hostPathVolumes` (baseline, v1.0+): hostPath volumes are refused. The restricted
//! `restrictedVolumes` check replaces this one.
//! Restricted: `spec.volumes[*].hostPath`; allowed: unset.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, join_quote, pluralize};
use serde_json::Value;

pub const ID: &str = "hostPathVolumes";

pub const CHECK: Check = Check {
    id: ID,
    level: Level::Baseline,
    versions: &[VersionedCheck::new(0, host_path_volumes_1_0)],
};

fn host_path_volumes_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let bad: Vec<&str> = pod
        .volumes()
        .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
        .map(|v| v.get("name").and_then(Value::as_str).unwrap_or(""))
        .collect();
    (!bad.is_empty()).then(|| {
        Violation::new(
            "hostPath volumes",
            format!(
                "{} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{refuses, run_spec};
    use super::*;
    use serde_json::json;

    #[test]
    fn host_path_volumes_are_refused() {
        refuses(
            run_spec(
                host_path_volumes_1_0,
                json!({"volumes": [
                    {"name": "a", "hostPath": {"path": "/"}},
                    {"name": "b", "emptyDir": {}},
                    {"name": "c", "hostPath": {"path": "/etc"}},
                ]}),
            ),
            "hostPath volumes",
            r#"volumes "a", "c""#,
        );
        refuses(
            run_spec(
                host_path_volumes_1_0,
                json!({"volumes": [{"name": "a", "hostPath": {"path": "/"}}]}),
            ),
            "hostPath volumes",
            r#"volume "a""#,
        );
        assert_eq!(
            run_spec(
                host_path_volumes_1_0,
                json!({"volumes": [{"name": "a", "emptyDir": {}}]})
            ),
            None
        );
    }
}
