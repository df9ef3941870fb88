//! `windowsHostProcess` (baseline, v1.0+): Windows HostProcess containers get privileged
//! access to the node and are refused.
//! Restricted: `securityContext.windowsOptions.hostProcess` of the pod and of every
//! container; allowed: unset, `false`.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase, path};
use serde_json::Value;

pub const CHECK: Check = Check {
    id: "windowsHostProcess",
    level: Level::Baseline,
    versions: &[VersionedCheck::new(0, windows_host_process_1_0)],
};

fn host_process(windows_options: Option<&Value>) -> bool {
    path(windows_options, &["hostProcess"]).and_then(Value::as_bool) == Some(true)
}

fn windows_host_process_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let bad: Vec<&str> = pod
        .containers()
        .filter(|c| host_process(c.sc("windowsOptions")))
        .map(|c| c.name())
        .collect();
    let mut setters = Vec::new();
    if host_process(pod.security_context("windowsOptions")) {
        setters.push("pod".to_string());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        Violation::new(
            "hostProcess",
            format!(
                "{} must not set securityContext.windowsOptions.hostProcess=true",
                setters.join(" and ")
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
    fn host_process_is_refused() {
        let host = json!({"windowsOptions": {"hostProcess": true}});
        let not = json!({"windowsOptions": {"hostProcess": false}});
        refuses(
            run_spec(
                windows_host_process_1_0,
                json!({"securityContext": host, "containers": [
                    container("a", host.clone()),
                    container("b", not.clone()),
                    container("c", host.clone()),
                ]}),
            ),
            "hostProcess",
            r#"pod and containers "a", "c" must not set securityContext.windowsOptions.hostProcess=true"#,
        );
        refuses(
            run_spec(windows_host_process_1_0, json!({"securityContext": host})),
            "hostProcess",
            "pod must not set securityContext.windowsOptions.hostProcess=true",
        );
        assert_eq!(
            run_spec(
                windows_host_process_1_0,
                json!({"securityContext": not, "containers": [container("b", not.clone())]})
            ),
            None
        );
    }
}
