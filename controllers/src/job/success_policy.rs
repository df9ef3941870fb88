//! An Indexed Job's `successPolicy`: the Job succeeds early once any rule is met — all its
//! `succeededIndexes` succeeded, `succeededCount` indexes succeeded, or with both, that many
//! of the listed indexes.

use super::indexes;
use k8s_openapi::api::batch::v1::Job;
use std::collections::BTreeSet;

/// The message of the `SuccessCriteriaMet` condition when a rule of `job`'s policy is met by
/// the `succeeded` indexes.
pub fn met(job: &Job, completions: i32, succeeded: &BTreeSet<i32>) -> Option<String> {
    let policy = job.spec.as_ref()?.success_policy.as_ref()?;
    policy.rules.iter().enumerate().find_map(|(at, rule)| {
        let hit = match (&rule.succeeded_indexes, rule.succeeded_count) {
            (Some(listed), count) => {
                let listed = indexes::parse(Some(listed), completions);
                let done = listed.intersection(succeeded).count();
                match count {
                    Some(count) => done >= count.max(0) as usize,
                    None => !listed.is_empty() && done == listed.len(),
                }
            }
            (None, Some(count)) => succeeded.len() >= count.max(0) as usize,
            (None, None) => false,
        };
        hit.then(|| format!("Matched rules at index {at}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobSpec, SuccessPolicy, SuccessPolicyRule};

    fn job(rules: Vec<(Option<&str>, Option<i32>)>) -> Job {
        Job {
            spec: Some(JobSpec {
                success_policy: Some(SuccessPolicy {
                    rules: rules
                        .into_iter()
                        .map(|(i, c)| SuccessPolicyRule {
                            succeeded_indexes: i.map(str::to_string),
                            succeeded_count: c,
                        })
                        .collect(),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_listed_indexes_counts_or_both() {
        let j = job(vec![
            (Some("0,2"), None),
            (None, Some(3)),
            (Some("4-6"), Some(2)),
        ]);
        let s = |v: &[i32]| v.iter().copied().collect::<BTreeSet<_>>();
        assert_eq!(met(&j, 10, &s(&[0])), None);
        assert_eq!(
            met(&j, 10, &s(&[0, 2])),
            Some("Matched rules at index 0".to_string())
        );
        assert_eq!(
            met(&j, 10, &s(&[1, 3, 9])),
            Some("Matched rules at index 1".to_string())
        );
        assert_eq!(
            met(&j, 10, &s(&[4, 6])),
            Some("Matched rules at index 2".to_string())
        );
        assert_eq!(met(&Job::default(), 10, &s(&[0])), None);
    }
}
