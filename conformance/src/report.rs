//! What the runner prints: a line per case, ginkgo's summary line, and the coverage of the
//! upstream list by SIG and by rung.

use crate::runner::{CaseResult, Outcome};
use crate::upstream::{self, UpstreamTest};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// One line (plus indented reason lines) for a finished case.
pub fn case_line(r: &CaseResult) -> String {
    let secs = r.duration.as_secs_f64();
    match &r.outcome {
        Outcome::Passed => format!("• [PASSED] [{secs:.3} seconds] {}", r.name),
        Outcome::Failed(why) => {
            format!("• [FAILED] [{secs:.3} seconds] {}\n{}", r.name, indent(why))
        }
        Outcome::Skipped(why) => format!(
            "S [SKIPPED] [{secs:.3} seconds] {}\n{}",
            r.name,
            indent(why)
        ),
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Counts over a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub ran: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

pub fn counts(results: &[CaseResult]) -> Counts {
    let mut c = Counts {
        total: results.len(),
        ..Counts::default()
    };
    for r in results {
        if r.ran && !matches!(r.outcome, Outcome::Skipped(_)) {
            c.ran += 1;
        }
        match r.outcome {
            Outcome::Passed => c.passed += 1,
            Outcome::Failed(_) => c.failed += 1,
            Outcome::Skipped(_) => c.skipped += 1,
        }
    }
    c
}

/// Ginkgo's closing lines: `Ran N of M Specs in Xs` and the outcome tally.
pub fn summary(results: &[CaseResult], elapsed: Duration) -> String {
    let c = counts(results);
    let verdict = if c.failed == 0 { "SUCCESS!" } else { "FAIL!" };
    format!(
        "Ran {} of {} Specs in {:.3} seconds\n{verdict} -- {} Passed | {} Failed | 0 Pending | {} Skipped",
        c.ran,
        c.total,
        elapsed.as_secs_f64(),
        c.passed,
        c.failed,
        c.skipped
    )
}

#[derive(Debug, Default, Clone, Copy)]
struct Row {
    upstream: usize,
    cases: usize,
    passed: usize,
}

/// Of the upstream tests, how many have a case and how many passed in this run, by SIG and by
/// rung.
pub fn coverage(results: &[CaseResult]) -> String {
    coverage_of(&upstream::tests(), results)
}

fn coverage_of(tests: &[UpstreamTest], results: &[CaseResult]) -> String {
    let mut by_sig: BTreeMap<&str, Row> = BTreeMap::new();
    let mut by_rung: BTreeMap<&str, Row> = BTreeMap::new();
    let mut total = Row::default();
    for t in tests {
        let result = results.iter().find(|r| r.name == t.name);
        let has_case = result.is_some();
        let passed = result.is_some_and(|r| r.outcome == Outcome::Passed);
        for row in [
            by_sig.entry(t.sig).or_default(),
            by_rung.entry(t.rung).or_default(),
            &mut total,
        ] {
            row.upstream += 1;
            row.cases += usize::from(has_case);
            row.passed += usize::from(passed);
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Coverage of the {} upstream {} [Conformance] tests:",
        total.upstream,
        upstream::RELEASE
    );
    let _ = writeln!(
        out,
        "  {:<22} {:>8} {:>7} {:>7}",
        "SIG", "upstream", "cases", "passed"
    );
    for (sig, row) in &by_sig {
        let _ = writeln!(
            out,
            "  {sig:<22} {:>8} {:>7} {:>7}",
            row.upstream, row.cases, row.passed
        );
    }
    let _ = writeln!(
        out,
        "  {:<22} {:>8} {:>7} {:>7}",
        "total", total.upstream, total.cases, total.passed
    );
    let rung_name = |r: &str| match r {
        "a" => "a (API only)",
        "b" => "b (+controllers)",
        "c" => "c (+scheduler, kubelet)",
        "d" => "d (+networking)",
        _ => "?",
    };
    let _ = writeln!(
        out,
        "  {:<22} {:>8} {:>7} {:>7}",
        "rung", "upstream", "cases", "passed"
    );
    for (rung, row) in &by_rung {
        let _ = writeln!(
            out,
            "  {:<22} {:>8} {:>7} {:>7}",
            rung_name(rung),
            row.upstream,
            row.cases,
            row.passed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &'static str, outcome: Outcome, ran: bool) -> CaseResult {
        CaseResult {
            name,
            sig: "sig-x",
            outcome,
            duration: Duration::from_millis(1500),
            ran,
        }
    }

    #[test]
    fn summary_counts_like_ginkgo() {
        let results = vec![
            result("a", Outcome::Passed, true),
            result("b", Outcome::Failed("boom".into()), true),
            result("c", Outcome::Skipped("not selected".into()), false),
            result("d", Outcome::Skipped("no kubelet".into()), true),
        ];
        assert_eq!(
            summary(&results, Duration::from_millis(2500)),
            "Ran 2 of 4 Specs in 2.500 seconds\nFAIL! -- 1 Passed | 1 Failed | 0 Pending | 2 Skipped"
        );
    }

    #[test]
    fn case_lines_carry_the_reason() {
        let line = case_line(&result("x", Outcome::Failed("line1\nline2".into()), true));
        assert_eq!(line, "• [FAILED] [1.500 seconds] x\n    line1\n    line2");
        assert_eq!(
            case_line(&result("x", Outcome::Passed, true)),
            "• [PASSED] [1.500 seconds] x"
        );
    }

    #[test]
    fn coverage_counts_cases_and_passes_per_sig() {
        let t = |sig, rung, name| UpstreamTest {
            release: "v1.0",
            sig,
            rung,
            name,
            file: "test/e2e/x.go",
        };
        let tests = vec![
            t("sig-a", "a", "one"),
            t("sig-a", "b", "two"),
            t("sig-b", "a", "three"),
        ];
        let results = vec![
            result("one", Outcome::Passed, true),
            result("two", Outcome::Failed("x".into()), true),
        ];
        let out = coverage_of(&tests, &results);
        assert!(
            out.contains("  sig-a                         2       2       1"),
            "{out}"
        );
        assert!(
            out.contains("  sig-b                         1       0       0"),
            "{out}"
        );
        assert!(
            out.contains("  total                         3       2       1"),
            "{out}"
        );
        assert!(
            out.contains("  a (API only)                  2       1       1"),
            "{out}"
        );
    }
}
