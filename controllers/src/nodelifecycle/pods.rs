//! Pods on a node that stopped reporting (upstream `MarkPodsNotReady`): their Ready condition
//! turns False, so Services stop sending them traffic before anything deletes them.

use crate::client;
use crate::events::{EventType, Recorder};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

/// The pod with its Ready condition set False, when it has one that is not False yet.
pub fn not_ready(pod: &Pod, now: Timestamp) -> Option<Pod> {
    let mut pod = pod.clone();
    let ready = pod
        .status
        .as_mut()?
        .conditions
        .as_mut()?
        .iter_mut()
        .find(|c| c.type_ == "Ready")?;
    if ready.status == "False" {
        return None;
    }
    ready.status = "False".to_string();
    ready.last_transition_time = Some(Time(now));
    Some(pod)
}

/// Marks `pods` not ready; returns whether every write worked.
pub async fn mark_not_ready(client: &kube::Client, recorder: &Recorder, pods: &[&Pod]) -> bool {
    let mut ok = true;
    for pod in pods {
        let Some(updated) = not_ready(pod, Timestamp::now()) else {
            continue;
        };
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        match api
            .replace_status(name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => recorder.record(
                *pod,
                EventType::Warning,
                "NodeNotReady",
                "Node is not ready".to_string(),
            ),
            Err(e) if client::is_not_found(&e) => {}
            Err(e) => {
                tracing::warn!(
                    "Could not mark pod {namespace}/{name} not ready: {}.",
                    client::message(&e)
                );
                ok = false;
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};

    #[test]
    fn only_the_ready_condition_turns_false() {
        let mut pod = Pod::default();
        assert!(not_ready(&pod, Timestamp::UNIX_EPOCH).is_none());
        pod.status = Some(PodStatus {
            conditions: Some(vec![
                PodCondition {
                    type_: "Ready".to_string(),
                    status: "True".to_string(),
                    ..Default::default()
                },
                PodCondition {
                    type_: "ContainersReady".to_string(),
                    status: "True".to_string(),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        });
        let marked = not_ready(&pod, Timestamp::UNIX_EPOCH).unwrap();
        let conditions = marked.status.unwrap().conditions.unwrap();
        assert_eq!(conditions[0].status, "False");
        assert_eq!(conditions[1].status, "True");
        let again = not_ready(
            &Pod {
                status: Some(PodStatus {
                    conditions: Some(conditions),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Timestamp::UNIX_EPOCH,
        );
        assert!(again.is_none());
    }
}
