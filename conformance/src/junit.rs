//! JUnit XML for CI dashboards: one `testsuite`, one `testcase` per case with the SIG as
//! `classname` and the full upstream test name as `name`, `failure` and `skipped` elements
//! carrying the reason.

use crate::report;
use crate::runner::{CaseResult, Outcome};
use std::fmt::Write;
use std::time::Duration;

/// The suite name upstream's e2e.test reports under.
const SUITE: &str = "Kubernetes e2e suite";

pub fn render(results: &[CaseResult], elapsed: Duration) -> String {
    let c = report::counts(results);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        c.total,
        c.failed,
        c.skipped,
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{SUITE}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        c.total,
        c.failed,
        c.skipped,
        elapsed.as_secs_f64()
    );
    for r in results {
        let open = format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(r.sig),
            escape(r.name),
            r.duration.as_secs_f64()
        );
        match &r.outcome {
            Outcome::Passed => {
                let _ = writeln!(out, "{open}/>");
            }
            Outcome::Failed(why) => {
                let _ = writeln!(
                    out,
                    "{open}>\n      <failure message=\"{}\" type=\"failed\">{}</failure>\n    </testcase>",
                    escape(first_line(why)),
                    escape(why)
                );
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(
                    out,
                    "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(why)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cases_with_failures_and_skips() {
        let r = |name, outcome| CaseResult {
            name,
            sig: "sig-node",
            outcome,
            duration: Duration::from_millis(250),
            ran: true,
        };
        let xml = render(
            &[
                r("[sig-node] A [Conformance]", Outcome::Passed),
                r(
                    "[sig-node] B <x> [Conformance]",
                    Outcome::Failed("got \"1\" & 2\nmore".into()),
                ),
                r(
                    "[sig-node] C [Conformance]",
                    Outcome::Skipped("not selected".into()),
                ),
            ],
            Duration::from_secs(1),
        );
        assert!(xml.starts_with("<?xml"));
        assert!(xml.contains(
            "<testsuite name=\"Kubernetes e2e suite\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"1.000\">"
        ));
        assert!(xml.contains(
            "<testcase classname=\"sig-node\" name=\"[sig-node] A [Conformance]\" time=\"0.250\"/>"
        ));
        assert!(xml.contains("name=\"[sig-node] B &lt;x&gt; [Conformance]\""));
        assert!(xml.contains(
            "<failure message=\"got &quot;1&quot; &amp; 2\" type=\"failed\">got &quot;1&quot; &amp; 2&#10;more</failure>"
        ));
        assert!(xml.contains("<skipped message=\"not selected\"/>"));
    }
}
