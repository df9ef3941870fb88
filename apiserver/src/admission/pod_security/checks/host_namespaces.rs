//! `hostNamespaces` (baseline, v1.0+): sharing the host's namespaces is refused.
//! Restricted: `spec.hostNetwork`, `spec.hostPID`, `spec.hostIPC`; allowed: unset, `false`.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::Pod;
use serde_json::Value;

pub const CHECK: Check = Check {
    id: "hostNamespaces",
    level: Level::Baseline,
    versions: &[VersionedCheck::new(0, host_namespaces_1_0)],
};

fn host_namespaces_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let set: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|f| pod.spec(f).and_then(Value::as_bool) == Some(true))
        .map(|f| format!("{f}=true"))
        .collect();
    (!set.is_empty()).then(|| Violation::new("host namespaces", set.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{refuses, run_spec};
    use super::*;
    use serde_json::json;

    #[test]
    fn host_namespaces_are_refused() {
        refuses(
            run_spec(host_namespaces_1_0, json!({"hostIPC": true})),
            "host namespaces",
            "hostIPC=true",
        );
        refuses(
            run_spec(
                host_namespaces_1_0,
                json!({"hostIPC": true, "hostNetwork": true, "hostPID": true}),
            ),
            "host namespaces",
            "hostNetwork=true, hostPID=true, hostIPC=true",
        );
        assert_eq!(
            run_spec(host_namespaces_1_0, json!({"hostNetwork": false})),
            None
        );
    }
}
