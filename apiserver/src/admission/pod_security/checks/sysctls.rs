//! `sysctls` (baseline; v1.0, widened in v1.27, v1.29 and v1.32): only sysctls that are
//! namespaced and isolated between pods may be set.
//! Restricted: `spec.securityContext.sysctls[*].name`; allowed: the safe sets below.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::Pod;
use serde_json::Value;

pub const CHECK: Check = Check {
    id: "sysctls",
    level: Level::Baseline,
    versions: &[
        VersionedCheck::new(0, sysctls_1_0),
        VersionedCheck::new(27, sysctls_1_27),
        VersionedCheck::new(29, sysctls_1_29),
        VersionedCheck::new(32, sysctls_1_32),
    ],
};

const ALLOWED_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
const ADDED_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
const ADDED_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const ADDED_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];

fn sysctls_1_0(pod: &Pod<'_>) -> Option<Violation> {
    sysctls(pod, &[ALLOWED_1_0])
}

fn sysctls_1_27(pod: &Pod<'_>) -> Option<Violation> {
    sysctls(pod, &[ALLOWED_1_0, ADDED_1_27])
}

fn sysctls_1_29(pod: &Pod<'_>) -> Option<Violation> {
    sysctls(pod, &[ALLOWED_1_0, ADDED_1_27, ADDED_1_29])
}

fn sysctls_1_32(pod: &Pod<'_>) -> Option<Violation> {
    sysctls(pod, &[ALLOWED_1_0, ADDED_1_27, ADDED_1_29, ADDED_1_32])
}

fn sysctls(pod: &Pod<'_>, allowed: &[&[&str]]) -> Option<Violation> {
    let forbidden: Vec<&str> = pod
        .security_context("sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| s.get("name").and_then(Value::as_str).unwrap_or(""))
        .filter(|name| !allowed.iter().any(|set| set.contains(name)))
        .collect();
    (!forbidden.is_empty()).then(|| Violation::new("forbidden sysctls", forbidden.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{refuses, run_spec};
    use super::*;
    use serde_json::json;

    fn with(names: &[&str]) -> Value {
        let sysctls: Vec<Value> = names
            .iter()
            .map(|n| json!({"name": n, "value": "1"}))
            .collect();
        json!({"securityContext": {"sysctls": sysctls}})
    }

    #[test]
    fn unsafe_sysctls_are_refused() {
        refuses(
            run_spec(sysctls_1_0, with(&["a", "kernel.shm_rmid_forced", "b"])),
            "forbidden sysctls",
            "a, b",
        );
        assert_eq!(run_spec(sysctls_1_0, with(ALLOWED_1_0)), None);
    }

    #[test]
    fn the_safe_set_grows_with_the_version() {
        let checks = [sysctls_1_0, sysctls_1_27, sysctls_1_29, sysctls_1_32];
        for (added_in, names) in [(1, ADDED_1_27), (2, ADDED_1_29), (3, ADDED_1_32)] {
            for (i, check) in checks.iter().enumerate() {
                let got = run_spec(*check, with(names));
                assert_eq!(got.is_none(), i >= added_in, "{names:?} at revision {i}");
            }
        }
        refuses(
            run_spec(
                sysctls_1_29,
                with(&["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]),
            ),
            "forbidden sysctls",
            "net.ipv4.tcp_rmem, net.ipv4.tcp_wmem",
        );
    }
}
