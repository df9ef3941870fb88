//! A Job's `podFailurePolicy`: the first rule matching a failed pod decides what its failure
//! means — fail the Job, fail the pod's index, ignore it (not counted against backoffLimit), or
//! count it as usual. Rules match a container's non-zero exit code (`onExitCodes`) or a pod
//! condition (`onPodConditions`). With no rule matching, a failure counts.

use k8s_openapi::api::batch::v1::{Job, PodFailurePolicyRule};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// What a failure means for the Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fail the Job; the message says which rule matched what.
    FailJob(String),
    /// Fail the pod's index (backoffLimitPerIndex).
    FailIndex,
    Ignore,
    Count,
}

/// What the Job's policy says about the failed `pod`.
pub fn judge(job: &Job, pod: &Pod) -> Verdict {
    let Some(policy) = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref())
    else {
        return Verdict::Count;
    };
    for (at, rule) in policy.rules.iter().enumerate() {
        let Some(what) = matched(rule, pod) else {
            continue;
        };
        return match rule.action.as_str() {
            "FailJob" => Verdict::FailJob(format!(
                "{what} matching {} rule at index {at}",
                rule.action
            )),
            "FailIndex" => Verdict::FailIndex,
            "Ignore" => Verdict::Ignore,
            // Count, and actions this version does not know, count as upstream does.
            _ => Verdict::Count,
        };
    }
    Verdict::Count
}

/// The start of the message when `rule` matches `pod`.
fn matched(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    if let Some(codes) = &rule.on_exit_codes {
        let status = pod.status.as_ref()?;
        let statuses = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for container in statuses {
            if codes
                .container_name
                .as_deref()
                .is_some_and(|n| n != container.name)
            {
                continue;
            }
            let Some(code) = exit_code(container).filter(|c| *c != 0) else {
                continue;
            };
            let listed = codes.values.contains(&code);
            let hit = match codes.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                _ => false,
            };
            if hit {
                return Some(format!(
                    "Container {} for pod {namespace}/{name} failed with exit code {code}",
                    container.name
                ));
            }
        }
        return None;
    }
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    for pattern in rule.on_pod_conditions.iter().flatten() {
        let want = if pattern.status.is_empty() {
            "True"
        } else {
            pattern.status.as_str()
        };
        if conditions
            .iter()
            .any(|c| c.type_ == pattern.type_ && c.status == want)
        {
            return Some(format!(
                "Pod {namespace}/{name} has condition {}",
                pattern.type_
            ));
        }
    }
    None
}

fn exit_code(container: &ContainerStatus) -> Option<i32> {
    Some(container.state.as_ref()?.terminated.as_ref()?.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{
        JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
        PodFailurePolicyOnPodConditionsPattern,
    };
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, PodCondition, PodStatus,
    };

    fn job(rules: Vec<PodFailurePolicyRule>) -> Job {
        Job {
            spec: Some(JobSpec {
                pod_failure_policy: Some(PodFailurePolicy { rules }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn exit_rule(action: &str, operator: &str, values: Vec<i32>) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action: action.to_string(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: None,
                operator: operator.to_string(),
                values,
            }),
            on_pod_conditions: None,
        }
    }

    fn failed_pod(code: i32, conditions: Vec<(&str, &str)>) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = Some("ns".to_string());
        pod.metadata.name = Some("p".to_string());
        pod.status = Some(PodStatus {
            phase: Some("Failed".to_string()),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".to_string(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: code,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            conditions: Some(
                conditions
                    .into_iter()
                    .map(|(t, s)| PodCondition {
                        type_: t.to_string(),
                        status: s.to_string(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        });
        pod
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let j = job(vec![
            exit_rule("Ignore", "In", vec![3]),
            exit_rule("FailJob", "NotIn", vec![1, 2]),
        ]);
        assert_eq!(judge(&j, &failed_pod(3, vec![])), Verdict::Ignore);
        assert_eq!(judge(&j, &failed_pod(1, vec![])), Verdict::Count);
        assert_eq!(
            judge(&j, &failed_pod(42, vec![])),
            Verdict::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
                    .to_string()
            )
        );
    }

    #[test]
    fn exit_code_zero_never_matches() {
        let j = job(vec![exit_rule("FailJob", "NotIn", vec![1])]);
        assert_eq!(judge(&j, &failed_pod(0, vec![])), Verdict::Count);
    }

    #[test]
    fn pod_conditions_match_with_status_true_by_default() {
        let j = job(vec![PodFailurePolicyRule {
            action: "FailJob".to_string(),
            on_exit_codes: None,
            on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                type_: "DisruptionTarget".to_string(),
                status: String::new(),
            }]),
        }]);
        assert_eq!(
            judge(&j, &failed_pod(1, vec![("DisruptionTarget", "True")])),
            Verdict::FailJob(
                "Pod ns/p has condition DisruptionTarget matching FailJob rule at index 0"
                    .to_string()
            )
        );
        assert_eq!(
            judge(&j, &failed_pod(1, vec![("DisruptionTarget", "False")])),
            Verdict::Count
        );
        assert_eq!(
            judge(&Job::default(), &failed_pod(1, vec![])),
            Verdict::Count
        );
    }
}
