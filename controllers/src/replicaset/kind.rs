//! The two kinds this controller keeps replicas for: ReplicaSets, and ReplicationControllers
//! (upstream's replication manager is the ReplicaSet controller run on RCs converted to
//! ReplicaSets, and so is ours). A sync reads the object as a ReplicaSet ([`Replicated::view`])
//! and writes status back in the object's own form ([`Replicated::with_status`]).

use crate::informer::Watched;
use k8s_openapi::api::apps::v1::{
    ReplicaSet, ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus,
};
use k8s_openapi::api::core::v1::{
    ReplicationController, ReplicationControllerCondition, ReplicationControllerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A kind whose objects keep a number of pods from a template.
pub trait Replicated:
    Watched + serde::Serialize + kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
{
    /// The controller's name (upstream `names.*`).
    const CONTROLLER: &'static str;
    /// The work queue's name in metrics (upstream's queue names).
    const QUEUE: &'static str;
    /// The event source, as upstream's recorder names it.
    const EVENT_SOURCE: &'static str;
    /// The object as a ReplicaSet.
    fn view(&self) -> ReplicaSet;
    /// The object with `status` (given in ReplicaSet form).
    fn with_status(&self, status: ReplicaSetStatus) -> Self;
}

impl Replicated for ReplicaSet {
    const CONTROLLER: &'static str = "replicaset-controller";
    const QUEUE: &'static str = "replicaset";
    const EVENT_SOURCE: &'static str = "replicaset-controller";

    fn view(&self) -> ReplicaSet {
        self.clone()
    }

    fn with_status(&self, status: ReplicaSetStatus) -> Self {
        ReplicaSet {
            status: Some(status),
            ..self.clone()
        }
    }
}

impl Replicated for ReplicationController {
    const CONTROLLER: &'static str = "replicationcontroller-controller";
    const QUEUE: &'static str = "replicationmanager";
    const EVENT_SOURCE: &'static str = "replication-controller";

    fn view(&self) -> ReplicaSet {
        let spec = self.spec.clone().unwrap_or_default();
        ReplicaSet {
            metadata: self.metadata.clone(),
            spec: Some(ReplicaSetSpec {
                replicas: spec.replicas,
                min_ready_seconds: spec.min_ready_seconds,
                selector: LabelSelector {
                    match_labels: spec.selector,
                    match_expressions: None,
                },
                template: spec.template,
            }),
            status: self.status.as_ref().map(|s| ReplicaSetStatus {
                replicas: s.replicas,
                fully_labeled_replicas: s.fully_labeled_replicas,
                ready_replicas: s.ready_replicas,
                available_replicas: s.available_replicas,
                observed_generation: s.observed_generation,
                conditions: s.conditions.as_ref().map(|cs| {
                    cs.iter()
                        .map(|c| ReplicaSetCondition {
                            type_: c.type_.clone(),
                            status: c.status.clone(),
                            reason: c.reason.clone(),
                            message: c.message.clone(),
                            last_transition_time: c.last_transition_time.clone(),
                        })
                        .collect()
                }),
                terminating_replicas: None,
            }),
        }
    }

    fn with_status(&self, s: ReplicaSetStatus) -> Self {
        ReplicationController {
            status: Some(ReplicationControllerStatus {
                replicas: s.replicas,
                fully_labeled_replicas: s.fully_labeled_replicas,
                ready_replicas: s.ready_replicas,
                available_replicas: s.available_replicas,
                observed_generation: s.observed_generation,
                conditions: s.conditions.map(|cs| {
                    cs.into_iter()
                        .map(|c| ReplicationControllerCondition {
                            type_: c.type_,
                            status: c.status,
                            reason: c.reason,
                            message: c.message,
                            last_transition_time: c.last_transition_time,
                        })
                        .collect()
                }),
            }),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ReplicationControllerSpec;
    use std::collections::BTreeMap;

    #[test]
    fn replication_controllers_read_as_replicasets_and_back() {
        let rc = ReplicationController {
            spec: Some(ReplicationControllerSpec {
                replicas: Some(3),
                selector: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let rs = rc.view();
        let spec = rs.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(
            spec.selector
                .match_labels
                .as_ref()
                .unwrap()
                .get("app")
                .map(String::as_str),
            Some("web")
        );
        let back = rc.with_status(ReplicaSetStatus {
            replicas: 2,
            ready_replicas: Some(1),
            conditions: Some(vec![ReplicaSetCondition {
                type_: "ReplicaFailure".to_string(),
                status: "True".to_string(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let status = back.status.unwrap();
        assert_eq!((status.replicas, status.ready_replicas), (2, Some(1)));
        assert_eq!(status.conditions.unwrap()[0].type_, "ReplicaFailure");
        assert_eq!(back.spec, rc.spec);
    }
}
