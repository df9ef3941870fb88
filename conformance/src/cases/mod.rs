//! Every case, one module per SIG and one file per upstream test file. A case is named exactly
//! after the upstream [Conformance] test it mirrors and asserts what that test asserts.

pub mod api_machinery;
pub mod apps;
pub mod auth;
pub mod cli;
pub mod instrumentation;
pub mod network;
pub mod node;
pub mod scheduling;
pub mod storage;

use crate::framework::{Framework, PodSecurityLevel};
use futures::future::LocalBoxFuture;

/// A case body: runs against a prepared [`Framework`]. Cases run one at a time on the
/// runner's task, so their futures need not be `Send` (async closures in them often are not).
pub type CaseFn = for<'a> fn(&'a Framework) -> LocalBoxFuture<'a, anyhow::Result<()>>;

/// One conformance case.
pub struct Case {
    /// The full upstream test name, `[sig-...] ... [Conformance]`.
    pub name: &'static str,
    /// The upstream Describe's framework base name; the case's namespace is named after it.
    pub base_name: &'static str,
    /// The Pod Security level the upstream Describe labels its namespaces with.
    pub pod_security: PodSecurityLevel,
    /// Whether upstream marks the test `[Serial]`.
    pub serial: bool,
    pub run: CaseFn,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

/// The settings one upstream `SIGDescribe` block gives its framework.
#[derive(Debug, Clone, Copy)]
pub struct Describe {
    pub base_name: &'static str,
    pub pod_security: PodSecurityLevel,
}

impl Describe {
    pub const fn new(base_name: &'static str) -> Self {
        Describe {
            base_name,
            pod_security: PodSecurityLevel::Restricted,
        }
    }

    pub const fn with_pod_security(mut self, level: PodSecurityLevel) -> Self {
        self.pod_security = level;
        self
    }

    pub fn case(self, name: &'static str, run: CaseFn) -> Case {
        Case {
            name,
            base_name: self.base_name,
            pod_security: self.pod_security,
            serial: name.contains("[Serial]"),
            run,
        }
    }
}

/// Turns `async fn(&Framework) -> Result<()>` into a [`CaseFn`].
#[macro_export]
macro_rules! case_fn {
    ($f:path) => {{
        let run: $crate::cases::CaseFn = |f| Box::pin($f(f));
        run
    }};
}

/// All cases, in a stable order.
pub fn all() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(api_machinery::cases());
    out.extend(apps::cases());
    out.extend(auth::cases());
    out.extend(cli::cases());
    out.extend(instrumentation::cases());
    out.extend(network::cases());
    out.extend(node::cases());
    out.extend(scheduling::cases());
    out.extend(storage::cases());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream;

    #[test]
    fn every_case_is_named_after_an_upstream_test() {
        let names: Vec<&str> = upstream::tests().iter().map(|t| t.name).collect();
        for c in all() {
            assert!(
                names.contains(&c.name),
                "no upstream v1.33 [Conformance] test is called {:?}",
                c.name
            );
        }
    }

    #[test]
    fn no_two_cases_claim_the_same_test() {
        let mut names: Vec<&str> = all().iter().map(|c| c.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn base_names_make_valid_namespace_names() {
        for c in all() {
            let name = format!("e2e-{}-9999", c.base_name);
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'),
                "{name}"
            );
        }
    }
}
