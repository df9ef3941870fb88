//! Levels, policy versions and the namespace labels that choose them
//! (`pod-security.kubernetes.io/{enforce,audit,warn}[-version]`), as upstream's
//! `pod-security-admission/api`: what each mode of a namespace evaluates, and the field
//! errors that make a namespace write with bad labels invalid.

use apimachinery::{FieldError, FieldErrors};
use std::collections::BTreeMap;
use std::fmt;

const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";
pub const ENFORCE_LEVEL_LABEL: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
pub const AUDIT_LEVEL_LABEL: &str = "pod-security.kubernetes.io/audit";
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";
pub const WARN_LEVEL_LABEL: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";

/// A Pod Security Standard, least strict first (so `Ord` compares strictness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    /// Upstream's `ParseLevel`: an unknown level evaluates as the strictest one, so a typo
    /// in an enforce label fails closed.
    pub fn parse(s: &str) -> Result<Level, (Level, &'static str)> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err((
                Level::Restricted,
                "must be one of privileged, baseline, restricted",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// A policy version: `v1.N`, or `latest` (newer than every numbered version, even future
/// ones). Only major version 1 exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// `v1.N`.
    Minor(u32),
    Latest,
}

impl Version {
    /// Upstream's `ParseVersion`: `latest` or `v1.N` without leading zeros; anything else
    /// evaluates as `latest`.
    pub fn parse(s: &str) -> Result<Version, (Version, &'static str)> {
        const WRONG: &str = r#"must be "latest" or "v1.x""#;
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let minor = s.strip_prefix("v1.").filter(|m| {
            !m.is_empty()
                && m.bytes().all(|b| b.is_ascii_digit())
                && (m.len() == 1 || !m.starts_with('0'))
        });
        match minor.and_then(|m| m.parse::<u32>().ok()) {
            Some(n) => Ok(Version::Minor(n)),
            None => Err((Version::Latest, WRONG)),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::Minor(n) => write!(f, "v1.{n}"),
        }
    }
}

/// A level at a policy version, printed as upstream does: `restricted:latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    pub level: Level,
    pub version: Version,
}

impl LevelVersion {
    pub const PRIVILEGED_LATEST: LevelVersion = LevelVersion {
        level: Level::Privileged,
        version: Version::Latest,
    };
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level.as_str(), self.version)
    }
}

/// What a namespace enforces, audits and warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub enforce: LevelVersion,
    pub audit: LevelVersion,
    pub warn: LevelVersion,
}

impl Policy {
    /// The plugin's default configuration upstream: every mode `privileged:latest`.
    pub const PRIVILEGED: Policy = Policy {
        enforce: LevelVersion::PRIVILEGED_LATEST,
        audit: LevelVersion::PRIVILEGED_LATEST,
        warn: LevelVersion::PRIVILEGED_LATEST,
    };

    pub fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn]
            .iter()
            .all(|lv| lv.level == Level::Privileged)
    }
}

/// The policy a namespace's labels select, falling back to `defaults` for unset labels, and
/// the errors of labels that do not parse. As upstream's `PolicyToEvaluate`, a policy comes
/// back even with errors: a bad enforce level is `restricted` (fail closed), a bad audit or
/// warn level `privileged` (fail open), a bad version `latest`.
pub fn policy_to_evaluate(
    labels: &BTreeMap<String, String>,
    defaults: Policy,
) -> (Policy, FieldErrors) {
    let mut p = defaults;
    let mut errs = FieldErrors::new();
    if !labels.keys().any(|k| k.starts_with(LABEL_PREFIX)) {
        return (p, errs);
    }
    let mut invalid = |label: &str, value: &str, why: &str| {
        errs.push(FieldError::invalid(
            format!("metadata.labels[{label}]"),
            value,
            why,
        ));
    };
    let mut enforce_parsed = false;
    if let Some(v) = labels.get(ENFORCE_LEVEL_LABEL) {
        match Level::parse(v) {
            Ok(l) => {
                p.enforce.level = l;
                enforce_parsed = true;
            }
            Err((l, why)) => {
                p.enforce.level = l;
                invalid(ENFORCE_LEVEL_LABEL, v, why);
            }
        }
    }
    if let Some(v) = labels.get(ENFORCE_VERSION_LABEL) {
        p.enforce.version = Version::parse(v).unwrap_or_else(|(ver, why)| {
            invalid(ENFORCE_VERSION_LABEL, v, why);
            ver
        });
    }
    for (level_label, version_label, mode) in [
        (AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL, &mut p.audit),
        (WARN_LEVEL_LABEL, WARN_VERSION_LABEL, &mut p.warn),
    ] {
        if let Some(v) = labels.get(level_label) {
            // Audit and warn fail open: a typo there must not flood users with warnings.
            mode.level = Level::parse(v).unwrap_or_else(|(_, why)| {
                invalid(level_label, v, why);
                Level::Privileged
            });
        }
        if let Some(v) = labels.get(version_label) {
            mode.version = Version::parse(v).unwrap_or_else(|(ver, why)| {
                invalid(version_label, v, why);
                ver
            });
        }
    }
    // A namespace that only sets an enforce level also warns at it, so workload resources
    // (which are never enforced) tell their authors that their pods will be refused.
    if enforce_parsed && !labels.contains_key(WARN_LEVEL_LABEL) && p.enforce.level > p.warn.level {
        p.warn.level = p.enforce.level;
        if !labels.contains_key(WARN_VERSION_LABEL) {
            p.warn.version = p.enforce.version;
        }
    }
    (p, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kvs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut m = BTreeMap::from([("other-label".to_string(), "foo-bar".to_string())]);
        for (k, v) in kvs {
            m.insert(format!("{LABEL_PREFIX}{k}"), v.to_string());
        }
        m
    }

    fn lv(level: Level, version: Version) -> LevelVersion {
        LevelVersion { level, version }
    }

    const PRIV: LevelVersion = LevelVersion::PRIVILEGED_LATEST;

    #[test]
    fn versions_parse_as_upstreams() {
        for (s, want) in [
            ("latest", Version::Latest),
            ("v1.0", Version::Minor(0)),
            ("v1.1", Version::Minor(1)),
            ("v1.20", Version::Minor(20)),
            ("v1.10000", Version::Minor(10000)),
        ] {
            assert_eq!(Version::parse(s), Ok(want), "{s}");
        }
        for s in [
            "foo",
            "",
            "v2.0",
            "v1",
            "1.1",
            "v1.01",
            "v1.",
            "v1.x",
            "v1.99999999999",
        ] {
            assert_eq!(
                Version::parse(s),
                Err((Version::Latest, r#"must be "latest" or "v1.x""#)),
                "{s}"
            );
        }
        assert!(Version::Minor(33) < Version::Latest);
        assert!(Version::Minor(9) < Version::Minor(10));
        assert_eq!(Version::Minor(33).to_string(), "v1.33");
        assert_eq!(
            lv(Level::Restricted, Version::Latest).to_string(),
            "restricted:latest"
        );
    }

    #[test]
    fn levels_compare_by_strictness() {
        assert!(Level::Privileged < Level::Baseline);
        assert!(Level::Baseline < Level::Restricted);
        assert_eq!(
            Level::parse("Restricted"),
            Err((
                Level::Restricted,
                "must be one of privileged, baseline, restricted"
            ))
        );
    }

    /// A description, namespace labels, the policy they select, and whether they are bad.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Policy, bool);

    /// Upstream's TestPolicyToEvaluate.
    #[test]
    fn labels_select_the_policy() {
        let cases: &[Case<'_>] = &[
            (
                "simple enforce",
                &[("enforce", "baseline")],
                Policy {
                    enforce: lv(Level::Baseline, Version::Latest),
                    warn: lv(Level::Baseline, Version::Latest),
                    audit: PRIV,
                },
                false,
            ),
            (
                "simple warn",
                &[("warn", "restricted")],
                Policy {
                    enforce: PRIV,
                    warn: lv(Level::Restricted, Version::Latest),
                    audit: PRIV,
                },
                false,
            ),
            (
                "simple audit",
                &[("audit", "baseline")],
                Policy {
                    enforce: PRIV,
                    warn: PRIV,
                    audit: lv(Level::Baseline, Version::Latest),
                },
                false,
            ),
            (
                "enforce & warn",
                &[("enforce", "baseline"), ("warn", "restricted")],
                Policy {
                    enforce: lv(Level::Baseline, Version::Latest),
                    warn: lv(Level::Restricted, Version::Latest),
                    audit: PRIV,
                },
                false,
            ),
            (
                "enforce version",
                &[("enforce", "baseline"), ("enforce-version", "v1.22")],
                Policy {
                    enforce: lv(Level::Baseline, Version::Minor(22)),
                    warn: lv(Level::Baseline, Version::Minor(22)),
                    audit: PRIV,
                },
                false,
            ),
            (
                "enforce version & warn-version",
                &[
                    ("enforce", "baseline"),
                    ("enforce-version", "v1.22"),
                    ("warn-version", "latest"),
                ],
                Policy {
                    enforce: lv(Level::Baseline, Version::Minor(22)),
                    warn: lv(Level::Baseline, Version::Latest),
                    audit: PRIV,
                },
                false,
            ),
            (
                "enforce & warn-version",
                &[("enforce", "baseline"), ("warn-version", "v1.23")],
                Policy {
                    enforce: lv(Level::Baseline, Version::Latest),
                    warn: lv(Level::Baseline, Version::Minor(23)),
                    audit: PRIV,
                },
                false,
            ),
            (
                "fully specified",
                &[
                    ("enforce", "baseline"),
                    ("enforce-version", "v1.20"),
                    ("warn", "restricted"),
                    ("warn-version", "v1.21"),
                    ("audit", "restricted"),
                    ("audit-version", "v1.22"),
                ],
                Policy {
                    enforce: lv(Level::Baseline, Version::Minor(20)),
                    warn: lv(Level::Restricted, Version::Minor(21)),
                    audit: lv(Level::Restricted, Version::Minor(22)),
                },
                false,
            ),
            (
                "enforce no warn",
                &[("enforce", "baseline"), ("warn", "privileged")],
                Policy {
                    enforce: lv(Level::Baseline, Version::Latest),
                    warn: PRIV,
                    audit: PRIV,
                },
                false,
            ),
            (
                "enforce warn error",
                &[("enforce", "baseline"), ("warn", "foo")],
                Policy {
                    enforce: lv(Level::Baseline, Version::Latest),
                    warn: PRIV,
                    audit: PRIV,
                },
                true,
            ),
            (
                "enforce error",
                &[("enforce", "foo")],
                Policy {
                    enforce: lv(Level::Restricted, Version::Latest),
                    warn: PRIV,
                    audit: PRIV,
                },
                true,
            ),
        ];
        for (desc, kvs, want, want_err) in cases {
            let (got, errs) = policy_to_evaluate(&labels(kvs), Policy::PRIVILEGED);
            assert_eq!(got, *want, "{desc}");
            assert_eq!(!errs.is_empty(), *want_err, "{desc}: {errs:?}");
        }
        let (got, errs) = policy_to_evaluate(&BTreeMap::new(), Policy::PRIVILEGED);
        assert!(got.fully_privileged() && errs.is_empty());
    }

    #[test]
    fn bad_labels_are_field_errors_in_label_order() {
        let (_, errs) = policy_to_evaluate(
            &labels(&[
                ("warn-version", "2"),
                ("enforce", "strict"),
                ("audit", "none"),
            ]),
            Policy::PRIVILEGED,
        );
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "none": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "2": must be "latest" or "v1.x""#,
            ]
        );
    }
}
