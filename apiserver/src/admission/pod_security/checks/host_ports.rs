//! `hostPorts` (baseline, v1.0+): host ports are refused.
//! Restricted: `ports[*].hostPort` of every container; allowed: unset, `0`.

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, containers_phrase, pluralize};
use serde_json::Value;
use std::collections::BTreeSet;

pub const CHECK: Check = Check {
    id: "hostPorts",
    level: Level::Baseline,
    versions: &[VersionedCheck::new(0, host_ports_1_0)],
};

fn host_ports_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let mut bad = Vec::new();
    // Upstream keeps the ports as a set of strings: sorted as text, so 10000 before 80.
    let mut ports = BTreeSet::new();
    for c in pod.containers() {
        let mut uses = false;
        for port in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match port.get("hostPort").and_then(Value::as_i64) {
                Some(p) if p != 0 => {
                    uses = true;
                    ports.insert(p.to_string());
                }
                _ => {}
            }
        }
        if uses {
            bad.push(c.name());
        }
    }
    (!bad.is_empty()).then(|| {
        let ports: Vec<String> = ports.into_iter().collect();
        Violation::new(
            "hostPort",
            format!(
                "{} {} {} {}",
                containers_phrase(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("hostPort", "hostPorts", ports.len()),
                ports.join(", ")
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
    fn host_ports_are_refused() {
        refuses(
            run_spec(
                host_ports_1_0,
                json!({"containers": [
                    {"name": "a", "ports": [{"containerPort": 80}]},
                    {"name": "b", "ports": [{"containerPort": 80, "hostPort": 0}]},
                    {"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]},
                    {"name": "d", "ports": [{"hostPort": 10000}, {"hostPort": 8080}]},
                ]}),
            ),
            "hostPort",
            r#"containers "c", "d" use hostPorts 10000, 80, 8080"#,
        );
        refuses(
            run_spec(
                host_ports_1_0,
                json!({"initContainers": [{"name": "a", "ports": [{"hostPort": 53}]}]}),
            ),
            "hostPort",
            r#"container "a" uses hostPort 53"#,
        );
        assert_eq!(
            run_spec(host_ports_1_0, json!({"containers": [{"name": "a"}]})),
            None
        );
    }
}
