//! The upstream Kubernetes v1.33 [Conformance] test list, embedded from
//! `data/upstream-v1.33.tsv`: the names cases must carry and the denominator of the coverage
//! report.

/// The tab-separated list: release, SIG, rung, full test name, upstream file.
const TSV: &str = include_str!("../data/upstream-v1.33.tsv");

/// The Kubernetes release the list was taken from.
pub const RELEASE: &str = "v1.33";

/// One upstream [Conformance] test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTest {
    /// The release in which the test became conformance (`v1.11`, ...).
    pub release: &'static str,
    /// The owning SIG (`sig-api-machinery`, ...).
    pub sig: &'static str,
    /// What the test needs to pass: `a` API server only, `b` plus controllers, `c` plus scheduler
    /// and kubelet, `d` plus service networking.
    pub rung: &'static str,
    /// The full ginkgo name, `[sig-...] Describe ... It [Conformance]`.
    pub name: &'static str,
    /// The upstream source file (`test/e2e/...`).
    pub file: &'static str,
}

/// Every upstream test, in file order. A malformed line is a build-time data error, caught by
/// the unit test below; at run time it is skipped rather than aborting the report.
pub fn tests() -> Vec<UpstreamTest> {
    TSV.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &'static str) -> Option<UpstreamTest> {
    let mut cols = line.split('\t');
    let t = UpstreamTest {
        release: cols.next()?,
        sig: cols.next()?,
        rung: cols.next()?,
        name: cols.next()?,
        file: cols.next()?,
    };
    cols.next().is_none().then_some(t)
}

/// The upstream test called exactly `name`.
pub fn find(name: &str) -> Option<UpstreamTest> {
    tests().into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses() {
        let lines = TSV.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
        assert_eq!(
            tests().len(),
            lines,
            "a line of the tsv does not have 5 columns"
        );
        assert_eq!(lines, 419);
    }

    #[test]
    fn names_are_unique_and_well_formed() {
        let all = tests();
        let mut names: Vec<_> = all.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for t in &all {
            assert!(t.name.starts_with(&format!("[{}] ", t.sig)), "{}", t.name);
            assert!(t.name.contains("[Conformance]"), "{}", t.name);
            assert!(["a", "b", "c", "d"].contains(&t.rung), "{}", t.name);
            assert!(t.file.starts_with("test/e2e/"), "{}", t.file);
        }
    }

    #[test]
    fn rung_counts_match_the_readme() {
        let count = |r: &str| tests().iter().filter(|t| t.rung == r).count();
        assert_eq!(
            (count("a"), count("b"), count("c"), count("d")),
            (104, 28, 226, 61)
        );
    }
}
