//! Completion indexes of Indexed Jobs: the index a pod works on (its
//! `batch.kubernetes.io/job-completion-index` annotation), and sets of indexes in the form the
//! Job's status keeps them (`completedIndexes`, `failedIndexes`): ascending, with runs of
//! three or more consecutive indexes written as intervals, e.g. `0,1,3-5,7`.

use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeSet;

/// The annotation (and label) naming a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The annotation counting how often a pod's index failed before it (backoffLimitPerIndex).
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";

/// The annotation counting a pod's index's failures that a pod failure policy ignored.
pub const INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";

/// The index a pod works on, when its annotation holds one below `completions`.
pub fn of_pod(pod: &Pod, completions: i32) -> Option<i32> {
    let value = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX)?;
    // Upstream accepts only canonical decimal numbers: no sign, no leading zeros.
    if value.is_empty()
        || (value.len() > 1 && value.starts_with('0'))
        || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let index: i32 = value.parse().ok()?;
    (index < completions).then_some(index)
}

/// A pod's count annotation (`INDEX_FAILURE_COUNT` or `INDEX_IGNORED_FAILURE_COUNT`), 0 when
/// absent or unreadable.
pub fn count_annotation(pod: &Pod, key: &str) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse().ok())
        .filter(|n: &i32| *n >= 0)
        .unwrap_or(0)
}

/// Parses a status index list; entries at or above `completions`, and malformed ones, are
/// dropped as upstream drops them.
pub fn parse(s: Option<&str>, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.unwrap_or_default().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            continue;
        };
        let last = last.min(completions - 1);
        if first < 0 || first > last {
            continue;
        }
        out.extend(first..=last);
    }
    out
}

/// Formats a set of indexes as a status index list.
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut out = String::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&first.to_string());
        if last > first {
            out.push(if last == first + 1 { ',' } else { '-' });
            out.push_str(&last.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn pod(index: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.annotations = Some(BTreeMap::from([(
            COMPLETION_INDEX.to_string(),
            index.to_string(),
        )]));
        p
    }

    #[test]
    fn intervals_round_trip() {
        let set = parse(Some("1,3-5,7"), 10);
        assert_eq!(set, BTreeSet::from([1, 3, 4, 5, 7]));
        assert_eq!(format(&set), "1,3-5,7");
        assert_eq!(format(&BTreeSet::from([0, 1])), "0,1");
        assert_eq!(format(&BTreeSet::from([0, 1, 2, 4, 5])), "0-2,4,5");
        assert_eq!(format(&BTreeSet::new()), "");
        assert!(parse(None, 3).is_empty());
    }

    #[test]
    fn indexes_beyond_completions_are_dropped() {
        assert_eq!(parse(Some("0,2-9"), 4), BTreeSet::from([0, 2, 3]));
        assert_eq!(parse(Some("5"), 4), BTreeSet::new());
    }

    #[test]
    fn a_pod_index_must_be_canonical_and_in_range() {
        assert_eq!(of_pod(&pod("2"), 3), Some(2));
        assert_eq!(of_pod(&pod("0"), 3), Some(0));
        assert_eq!(of_pod(&pod("3"), 3), None);
        assert_eq!(of_pod(&pod("01"), 3), None);
        assert_eq!(of_pod(&pod("-1"), 3), None);
        assert_eq!(of_pod(&pod(""), 3), None);
        assert_eq!(of_pod(&Pod::default(), 3), None);
    }
}
