//! The pods of a Job: built from its template with the tracking finalizer (so a finished pod
//! cannot vanish before the Job counted it) and, for Indexed Jobs, the completion index in an
//! annotation, a label, the hostname (always `<job>-<index>`, for DNS through a headless Service
//! named in `subdomain`) and the `JOB_COMPLETION_INDEX` variable; and what the
//! controller asks of pods: finished or not, failed in its sense, when they finished.

use super::indexes::{COMPLETION_INDEX, INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT};
use crate::pods::template::{controller_reference, pod_from_template};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::jiff::Timestamp;

/// The finalizer that keeps a Job's pods until the Job counted them.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// The variable carrying an Indexed Job pod's index to its containers.
pub const INDEX_VARIABLE: &str = "JOB_COMPLETION_INDEX";

/// How often an index failed before, for a pod of an index (backoffLimitPerIndex).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexFailures {
    pub counted: i32,
    pub ignored: i32,
}

/// The pod to create for `job`, for `index` when the Job is Indexed.
pub fn for_job(job: &Job, index: Option<(i32, IndexFailures)>) -> Pod {
    let namespace = job.metadata.namespace.as_deref().unwrap_or_default();
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut pod = pod_from_template(&template, namespace, name, controller_reference(job));
    pod.metadata
        .finalizers
        .get_or_insert_with(Vec::new)
        .push(TRACKING_FINALIZER.to_string());
    if let Some((index, failures)) = index {
        let value = index.to_string();
        pod.metadata.generate_name = Some(format!("{name}-{index}-"));
        let annotations = pod
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        annotations.insert(COMPLETION_INDEX.to_string(), value.clone());
        if per_index_limits(job) {
            annotations.insert(
                INDEX_FAILURE_COUNT.to_string(),
                failures.counted.to_string(),
            );
            if failures.ignored > 0 {
                annotations.insert(
                    INDEX_IGNORED_FAILURE_COUNT.to_string(),
                    failures.ignored.to_string(),
                );
            }
        }
        pod.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.to_string(), value);
        if let Some(spec) = pod.spec.as_mut() {
            spec.hostname = Some(format!("{name}-{index}"));
            for container in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                let env = container.env.get_or_insert_with(Vec::new);
                if !env.iter().any(|e| e.name == INDEX_VARIABLE) {
                    env.push(index_variable());
                }
            }
        }
    }
    pod
}

fn index_variable() -> EnvVar {
    EnvVar {
        name: INDEX_VARIABLE.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.labels['{COMPLETION_INDEX}']"),
            }),
            ..Default::default()
        }),
    }
}

/// Whether the Job limits failures per index.
pub fn per_index_limits(job: &Job) -> bool {
    job.spec
        .as_ref()
        .is_some_and(|s| s.backoff_limit_per_index.is_some())
}

pub fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == TRACKING_FINALIZER)
}

/// Whether new pods wait for the old ones to be fully gone (`podReplacementPolicy: Failed`).
pub fn replaces_only_failed(job: &Job) -> bool {
    job.spec
        .as_ref()
        .and_then(|s| s.pod_replacement_policy.as_deref())
        == Some("Failed")
        || job
            .spec
            .as_ref()
            .is_some_and(|s| s.pod_failure_policy.is_some())
}

/// Whether the Job counts `pod` as failed: its phase is Failed, or (unless only failed pods
/// are replaced) it is being deleted before it succeeded, since a deleted pod may never get to
/// report a phase.
pub fn is_failed(job: &Job, pod: &Pod) -> bool {
    let phase = crate::pods::phase(pod);
    if phase == "Failed" {
        return true;
    }
    if replaces_only_failed(job) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase != "Succeeded"
}

pub fn is_succeeded(pod: &Pod) -> bool {
    crate::pods::phase(pod) == "Succeeded"
}

/// Being deleted and not yet finished.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        && !matches!(crate::pods::phase(pod), "Succeeded" | "Failed")
}

/// When a pod finished (upstream's `getFinishedTime`): its last container to terminate, else
/// its Ready condition turning false, else its deletion, else its creation.
pub fn finished_at(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref();
    let terminated = status
        .into_iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    terminated
        .or_else(|| {
            status?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Ready" && c.status == "False")?
                .last_transition_time
                .as_ref()
                .map(|t| t.0)
        })
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

    fn job(indexed: bool) -> Job {
        Job {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("pi".to_string()),
                namespace: Some("ns".to_string()),
                uid: Some("u".to_string()),
                ..Default::default()
            },
            spec: Some(JobSpec {
                completion_mode: Some(if indexed { "Indexed" } else { "NonIndexed" }.to_string()),
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "c".to_string(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn pods_carry_the_tracking_finalizer_and_their_job() {
        let pod = for_job(&job(false), None);
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-"));
        assert!(has_finalizer(&pod));
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Job", "u"));
        assert_eq!(pod.spec.as_ref().unwrap().hostname, None);
    }

    #[test]
    fn indexed_pods_know_their_index_four_ways() {
        let pod = for_job(&job(true), Some((3, IndexFailures::default())));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-3-"));
        assert_eq!(
            pod.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX],
            "3"
        );
        assert_eq!(pod.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX], "3");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("pi-3"));
        let env = spec.containers[0].env.as_ref().unwrap();
        assert_eq!(env[0].name, INDEX_VARIABLE);
        assert_eq!(
            env[0]
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.labels['batch.kubernetes.io/job-completion-index']"
        );
        assert!(
            !pod.metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key(INDEX_FAILURE_COUNT)
        );
    }

    #[test]
    fn deleted_pods_count_as_failed_unless_only_failed_ones_are_replaced() {
        let mut j = job(false);
        let mut pod = Pod::default();
        pod.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
        );
        assert!(is_failed(&j, &pod));
        assert!(is_terminating(&pod));
        j.spec.as_mut().unwrap().pod_replacement_policy = Some("Failed".to_string());
        assert!(!is_failed(&j, &pod));
    }
}
