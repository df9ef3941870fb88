//! Selecting and running cases: `--focus`/`--skip` regular expressions as in ginkgo, one case
//! at a time, each in its own framework with a deadline, with one line per result.

use crate::cases::Case;
use crate::framework::{Framework, Settings, Skip, api};
use crate::upstream;
use anyhow::Result;
use futures::StreamExt;
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
    /// How many cases may run at once; `[Serial]` cases always run alone, after the others,
    /// as ginkgo runs them.
    pub parallel: usize,
}

/// Runs every selected case, printing a line per case as it ends, and returns a result for
/// every case in `cases` order (unselected ones as skipped, not run).
pub async fn run_all(
    client: &Client,
    cases: &[Case],
    selection: &Selection,
    config: &RunConfig,
) -> Vec<CaseResult> {
    let sig_of = |c: &Case| upstream::find(c.name).map_or("unknown", |t| t.sig);
    let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
    let mut concurrent = Vec::new();
    let mut serial = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if !selection.selects(case.name) {
            results[i] = Some(CaseResult {
                name: case.name,
                sig: sig_of(case),
                outcome: Outcome::Skipped("not selected by --focus/--skip".into()),
                duration: Duration::ZERO,
                ran: false,
            });
        } else if case.serial && config.parallel > 1 {
            serial.push(i);
        } else {
            concurrent.push(i);
        }
    }
    // Case futures are not Send, so "parallel" means interleaved on this task; the cases
    // spend their time waiting on the API server, not computing.
    let run = |i: usize| {
        let case = &cases[i];
        async move {
            if config.settings.verbose {
                eprintln!("{}", case.name);
            }
            let started = Instant::now();
            let outcome = run_one(client, case, config).await;
            let result = CaseResult {
                name: case.name,
                sig: sig_of(case),
                outcome,
                duration: started.elapsed(),
                ran: true,
            };
            println!("{}", crate::report::case_line(&result));
            (i, result)
        }
    };
    let mut stream = futures::stream::iter(concurrent.into_iter().map(run))
        .buffer_unordered(config.parallel.max(1));
    while let Some((i, result)) = stream.next().await {
        results[i] = Some(result);
    }
    for i in serial {
        let (i, result) = run(i).await;
        results[i] = Some(result);
    }
    results.into_iter().flatten().collect()
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
    let setup_lines = f.log_lines().len();
    let body = tokio::time::timeout(config.case_timeout, (case.run)(&f)).await;
    let cleanup = f.after_each().await;
    // The last step the case itself took (not setup or teardown) says where it failed.
    let last_step = f
        .log_lines()
        .into_iter()
        .skip(setup_lines)
        .filter_map(|l| l.split_once("STEP: ").map(|(_, s)| s.to_string()))
        .rfind(|s| !s.starts_with("Destroying namespace"));
    let at = last_step
        .map(|s| format!("\n(last step: {s})"))
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
