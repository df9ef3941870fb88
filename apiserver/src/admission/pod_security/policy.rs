//! The check registry and its evaluation, as upstream's `policy/registry.go` and
//! `policy/checks.go`: which checks a level runs at a policy version, in which order, and
//! how their refusals aggregate into the reasons and details users read.
//!
//! A level at a version runs, for each check of that level (baseline checks for baseline;
//! baseline and restricted checks for restricted), the newest revision of the check whose
//! minimum version is not newer than the version asked for. Restricted revisions may
//! override baseline checks (e.g. restricted volume types replace the hostPath check), which
//! then do not run. Versions newer than the newest revision of any check, and `latest`,
//! evaluate as that newest revision's version. Results come in upstream's order: baseline
//! checks by ID, then restricted checks by ID.

use super::checks::{CHECKS, Pod};
use super::level::{Level, LevelVersion, Version};

/// What a refusing check says: a short reason (always shown) and details (shown in
/// parentheses when a single object is judged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub reason: String,
    pub detail: String,
}

impl Violation {
    pub fn new(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

/// One check's verdict: `None` allows the pod.
pub type CheckFn = fn(&Pod<'_>) -> Option<Violation>;

/// One revision of a check.
pub struct VersionedCheck {
    /// The first policy version (`v1.N`) this revision applies to.
    pub min_minor: u32,
    pub check: CheckFn,
    /// Baseline checks that do not run where this (restricted) revision does.
    pub overrides: &'static [&'static str],
}

impl VersionedCheck {
    pub const fn new(min_minor: u32, check: CheckFn) -> Self {
        Self {
            min_minor,
            check,
            overrides: &[],
        }
    }

    pub const fn overriding(self, overrides: &'static [&'static str]) -> Self {
        Self { overrides, ..self }
    }
}

/// A check of the Pod Security Standards with its revisions, oldest first.
pub struct Check {
    pub id: &'static str,
    /// Baseline or Restricted.
    pub level: Level,
    pub versions: &'static [VersionedCheck],
}

/// The newest minimum version of any check: what `latest`, and any newer version, mean.
pub const MAX_MINOR: u32 = max_minor(CHECKS);

const fn max_minor(checks: &[&Check]) -> u32 {
    let mut max = 0;
    let mut i = 0;
    while i < checks.len() {
        let mut j = 0;
        while j < checks[i].versions.len() {
            if checks[i].versions[j].min_minor > max {
                max = checks[i].versions[j].min_minor;
            }
            j += 1;
        }
        i += 1;
    }
    max
}

/// The results of every check run for one level and version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregate {
    pub violations: Vec<Violation>,
}

/// What upstream shows for a check that refuses without saying why (none of ours does).
const UNKNOWN_FORBIDDEN_REASON: &str = "unknown forbidden reason";

impl Aggregate {
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    fn reasons(&self) -> impl Iterator<Item = &str> {
        self.violations.iter().map(|v| {
            if v.reason.is_empty() {
                UNKNOWN_FORBIDDEN_REASON
            } else {
                v.reason.as_str()
            }
        })
    }

    /// The reasons alone, comma-separated: `host namespaces, privileged`. What the namespace
    /// check says about each existing pod.
    pub fn forbidden_reason(&self) -> String {
        self.reasons().collect::<Vec<_>>().join(", ")
    }

    /// The reasons with their details in parentheses:
    /// `hostPort (container "c" uses hostPort 80), privileged (...)`. What a refused or
    /// warned-about object is told.
    pub fn forbidden_detail(&self) -> String {
        self.reasons()
            .zip(&self.violations)
            .map(|(reason, v)| {
                if v.detail.is_empty() {
                    reason.to_string()
                } else {
                    format!("{reason} ({})", v.detail)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Runs the checks of `lv` on the pod (or pod template).
pub fn evaluate(lv: LevelVersion, pod: &Pod<'_>) -> Aggregate {
    if lv.level == Level::Privileged {
        return Aggregate::default();
    }
    let minor = match lv.version {
        Version::Minor(n) => n.min(MAX_MINOR),
        Version::Latest => MAX_MINOR,
    };
    let at = |c: &Check| c.versions.iter().rev().find(|v| v.min_minor <= minor);
    let overridden: Vec<&str> = if lv.level == Level::Restricted {
        CHECKS
            .iter()
            .filter(|c| c.level == Level::Restricted)
            .filter_map(|c| at(c))
            .flat_map(|v| v.overrides.iter().copied())
            .collect()
    } else {
        Vec::new()
    };
    let violations = CHECKS
        .iter()
        .filter(|c| c.level <= lv.level && !overridden.contains(&c.id))
        .filter_map(|c| at(c))
        .filter_map(|v| (v.check)(pod))
        .collect();
    Aggregate { violations }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn run(level: Level, version: Version, pod: &Value) -> Aggregate {
        evaluate(
            LevelVersion { level, version },
            &Pod::new(&pod["metadata"], &pod["spec"]),
        )
    }

    fn reasons(level: Level, version: Version, pod: &Value) -> String {
        run(level, version, pod).forbidden_reason()
    }

    #[test]
    fn checks_are_in_upstreams_order() {
        // Baseline IDs sorted (Go's byte order), then restricted IDs sorted.
        let ids: Vec<(Level, &str)> = CHECKS.iter().map(|c| (c.level, c.id)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(CHECKS.iter().all(|c| c.level != Level::Privileged));
        // Revisions strictly increasing; overrides only on restricted checks, naming
        // baseline ones.
        for c in CHECKS {
            assert!(
                c.versions
                    .windows(2)
                    .all(|w| w[0].min_minor < w[1].min_minor)
            );
            for v in c.versions {
                for o in v.overrides {
                    assert_eq!(c.level, Level::Restricted, "{}", c.id);
                    let target = CHECKS.iter().find(|t| t.id == *o).map(|t| t.level);
                    assert_eq!(target, Some(Level::Baseline), "{} overrides {o}", c.id);
                }
            }
        }
        // v1.33's newest revision is the sysctls one of v1.32.
        assert_eq!(MAX_MINOR, 32);
    }

    #[test]
    fn details_are_aggregated_as_upstream() {
        let a = Aggregate {
            violations: vec![
                Violation::new("host ports", "8080, 9090"),
                Violation::new("privileged containers", ""),
                Violation::new("", "NET_RAW"),
            ],
        };
        assert!(!a.allowed());
        assert_eq!(
            a.forbidden_reason(),
            "host ports, privileged containers, unknown forbidden reason"
        );
        assert_eq!(
            a.forbidden_detail(),
            "host ports (8080, 9090), privileged containers, unknown forbidden reason (NET_RAW)"
        );
        assert!(Aggregate::default().allowed());
        assert_eq!(Aggregate::default().forbidden_detail(), "");
    }

    fn privileged_pod() -> Value {
        json!({
            "metadata": {"name": "p"},
            "spec": {
                "hostNetwork": true,
                "containers": [{
                    "name": "c",
                    "image": "busybox",
                    "securityContext": {"privileged": true, "runAsUser": 0},
                    "ports": [{"containerPort": 80, "hostPort": 80}]
                }],
                "volumes": [{"name": "host", "hostPath": {"path": "/"}}]
            }
        })
    }

    #[test]
    fn levels_run_their_checks_in_order() {
        let pod = privileged_pod();
        assert!(run(Level::Privileged, Version::Latest, &pod).allowed());
        assert_eq!(
            reasons(Level::Baseline, Version::Latest, &pod),
            "host namespaces, hostPath volumes, hostPort, privileged"
        );
        // Restricted volume types replace the hostPath check.
        assert_eq!(
            reasons(Level::Restricted, Version::Latest, &pod),
            "host namespaces, hostPort, privileged, allowPrivilegeEscalation != false, \
             unrestricted capabilities, restricted volume types, runAsNonRoot != true, \
             runAsUser=0, seccompProfile"
        );
        assert_eq!(
            run(Level::Restricted, Version::Latest, &pod).forbidden_detail(),
            "host namespaces (hostNetwork=true), \
             hostPort (container \"c\" uses hostPort 80), \
             privileged (container \"c\" must not set securityContext.privileged=true), \
             allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
             unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), \
             restricted volume types (volume \"host\" uses restricted volume type \"hostPath\"), \
             runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), \
             runAsUser=0 (container \"c\" must not set runAsUser=0), \
             seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
    }

    #[test]
    fn versions_pick_the_revisions_in_force() {
        let pod = privileged_pod();
        // Before v1.8 there is no allowPrivilegeEscalation check, before v1.19 no restricted
        // seccomp check, before v1.22 no restricted capabilities check, before v1.23 no
        // runAsUser check.
        assert_eq!(
            reasons(Level::Restricted, Version::Minor(7), &pod),
            "host namespaces, hostPort, privileged, restricted volume types, runAsNonRoot != true"
        );
        assert_eq!(
            reasons(Level::Restricted, Version::Minor(22), &pod),
            "host namespaces, hostPort, privileged, allowPrivilegeEscalation != false, \
             unrestricted capabilities, restricted volume types, runAsNonRoot != true, seccompProfile"
        );
        // Restricted capabilities replace the baseline ones from v1.22.
        let caps = json!({"spec": {"containers": [{
            "name": "c",
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "runAsNonRoot": true,
                "seccompProfile": {"type": "RuntimeDefault"},
                "capabilities": {"add": ["NET_RAW"]}
            }
        }]}});
        assert_eq!(
            reasons(Level::Restricted, Version::Minor(21), &caps),
            "non-default capabilities"
        );
        assert_eq!(
            reasons(Level::Restricted, Version::Minor(22), &caps),
            "unrestricted capabilities"
        );
        // Newer versions than any check, and latest, evaluate as the newest revisions.
        let sysctl =
            json!({"spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem"}]}}});
        assert_eq!(
            reasons(Level::Baseline, Version::Minor(31), &sysctl),
            "forbidden sysctls"
        );
        assert!(run(Level::Baseline, Version::Minor(32), &sysctl).allowed());
        assert!(run(Level::Baseline, Version::Minor(99), &sysctl).allowed());
        assert!(run(Level::Baseline, Version::Latest, &sysctl).allowed());
    }

    #[test]
    fn a_compliant_restricted_pod_passes() {
        let pod = json!({"spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "i", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
            "containers": [{"name": "c", "ports": [{"containerPort": 80}], "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}],
            "volumes": [
                {"name": "a", "emptyDir": {}},
                {"name": "b", "projected": {"sources": []}},
                {"name": "c", "image": {"reference": "x"}}
            ]
        }});
        for v in [Version::Minor(0), Version::Minor(25), Version::Latest] {
            assert_eq!(run(Level::Restricted, v, &pod), Aggregate::default(), "{v}");
        }
    }
}
