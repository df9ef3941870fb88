//! Selecting and running cases: `--focus`/`--skip` regular expressions as in ginkgo, one case
//! at a time, each in its own framework with a deadline, with one line per result.

use crate::cases::Case;
use crate::framework::{Framework, Settings, Skip, api};
use crate::upstream;
use anyhow::Result;
use kube::Client;
use regex::Regex;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which cases to run: those matching any focus (all if none) and no skip.
#[derive(Debug, Default)]
pub struct Selection {
    pub focus: Vec<Regex>,
    pub skip: Vec<Regex>,
}

impl Selection {
    pub fn new(focus: &[String], skip: &[String]) -> Result<Self> {
        let compile = |v: &[String]| -> Result<Vec<Regex>> {
            v.iter()
                .map(|s| Regex::new(s).map_err(|e| anyhow::anyhow!("invalid regex {s:?}: {e}")))
                .collect()
        };
        Ok(Selection {
            focus: compile(focus)?,
            skip: compile(skip)?,
        })
    }

    pub fn selects(&self, name: &str) -> bool {
        (self.focus.is_empty() || self.focus.iter().any(|r| r.is_match(name)))
            && !self.skip.iter().any(|r| r.is_match(name))
    }
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: &'static str,
    /// The SIG of the upstream test (from the upstream list).
    pub sig: &'static str,
    pub outcome: Outcome,
    pub duration: Duration,
    /// Whether the case ran (false when `--focus`/`--skip` left it out).
    pub ran: bool,
}

/// Run-wide knobs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub settings: Arc<Settings>,
    pub case_timeout: Duration,
}

/// Runs every selected case in order, printing a line per case as it ends, and returns a
/// result for every case (unselected ones as skipped, not run).
pub async fn run_all(
    client: &Client,
    cases: &[Case],
    selection: &Selection,
    config: &RunConfig,
) -> Vec<CaseResult> {
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let sig = upstream::find(case.name).map_or("unknown", |t| t.sig);
        if !selection.selects(case.name) {
            results.push(CaseResult {
                name: case.name,
                sig,
                outcome: Outcome::Skipped("not selected by --focus/--skip".into()),
                duration: Duration::ZERO,
                ran: false,
            });
            continue;
        }
        if config.settings.verbose {
            eprintln!("{}", case.name);
        }
        let started = Instant::now();
        let outcome = run_one(client, case, config).await;
        let result = CaseResult {
            name: case.name,
            sig,
            outcome,
            duration: started.elapsed(),
            ran: true,
        };
        println!("{}", crate::report::case_line(&result));
        results.push(result);
    }
    results
}

async fn run_one(client: &Client, case: &Case, config: &RunConfig) -> Outcome {
    let f = match Framework::before_each(
        client.clone(),
        config.settings.clone(),
        case.base_name,
        case.pod_security,
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(format!("in BeforeEach: {}", api::format_chain(&e))),
    };
    let body = tokio::time::timeout(config.case_timeout, (case.run)(&f)).await;
    let cleanup = f.after_each().await;
    let last_step = f
        .log_lines()
        .into_iter()
        .rev()
        .find(|l| l.contains("STEP: ") && !l.contains("Destroying namespace"));
    let at = last_step
        .map(|s| format!(" (last {})", s.trim()))
        .unwrap_or_default();
    match body {
        Err(_) => Outcome::Failed(format!("timed out after {:?}{at}", config.case_timeout)),
        Ok(Err(e)) => match e.chain().find_map(|c| c.downcast_ref::<Skip>()) {
            Some(s) => Outcome::Skipped(s.0.clone()),
            None => Outcome::Failed(format!("{}{at}", api::format_chain(&e))),
        },
        Ok(Ok(())) => match cleanup {
            Ok(()) => Outcome::Passed,
            Err(e) => Outcome::Failed(format!("in AfterEach: {}", api::format_chain(&e))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn focus_and_skip_combine_like_ginkgo() {
        let s = Selection::new(&["Watchers".into(), "ConfigMap".into()], &["Slow".into()]).unwrap();
        assert!(s.selects("[sig-api-machinery] Watchers should x [Conformance]"));
        assert!(s.selects("[sig-node] ConfigMap should y [Conformance]"));
        assert!(!s.selects("[sig-node] Secrets should z [Conformance]"));
        assert!(!s.selects("[sig-api-machinery] Watchers should x [Slow] [Conformance]"));
        let all = Selection::new(&[], &[]).unwrap();
        assert!(all.selects("anything"));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Selection::new(&["(".into()], &[]).is_err());
    }
}
