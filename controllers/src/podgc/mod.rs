//! The pod garbage collector (upstream `pkg/controller/podgc`): every
//! [`CHECK_PERIOD`] it deletes
//! - finished pods (Succeeded or Failed) beyond `--terminated-pod-gc-threshold`, oldest first;
//! - pods bound to a node that does not exist, once the node has been missing for
//!   [`QUARANTINE`] and the apiserver confirms it is gone;
//! - pods being deleted that were never scheduled (nothing else would finish them).
//!
//! Upstream also force-deletes terminating pods on out-of-service nodes; that needs the node
//! lifecycle work and is not here yet.

use crate::client;
use crate::informer::Informers;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The controller's name (upstream `names.PodGarbageCollectorController`).
pub const NAME: &str = "pod-garbage-collector-controller";

/// How often the collector looks (upstream `gcCheckPeriod`).
pub const CHECK_PERIOD: Duration = Duration::from_secs(20);

/// How long a node must be missing before its pods go (upstream `quarantineTime`).
pub const QUARANTINE: Duration = Duration::from_secs(40);

/// Upstream's default `--terminated-pod-gc-threshold`.
pub const DEFAULT_THRESHOLD: usize = 12500;

fn finished(pod: &Pod) -> bool {
    matches!(crate::pods::phase(pod), "Succeeded" | "Failed")
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// The finished pods to delete so at most `threshold` remain: the oldest first. A threshold of
/// 0 keeps them all, as upstream.
pub fn terminated_to_delete(pods: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    if threshold == 0 {
        return Vec::new();
    }
    let mut done: Vec<Arc<Pod>> = pods.iter().filter(|p| finished(p)).cloned().collect();
    if done.len() <= threshold {
        return Vec::new();
    }
    let created = |p: &Pod| {
        p.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(Timestamp::UNIX_EPOCH)
    };
    done.sort_by(|a, b| {
        created(a)
            .cmp(&created(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let excess = done.len() - threshold;
    done.truncate(excess);
    done
}

/// Pods being deleted that were never scheduled.
pub fn unscheduled_terminating(pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && node_of(p).is_none())
        .cloned()
        .collect()
}

struct Collector {
    client: kube::Client,
    pods: Store<Pod>,
    nodes: Store<Node>,
    threshold: usize,
    /// Nodes seen missing, and since when.
    missing_since: HashMap<String, Instant>,
}

impl Collector {
    async fn delete(&self, pod: &Pod, why: &str) {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(kube::api::Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => tracing::info!("The {NAME} deleted pod {namespace}/{name}: {why}."),
            Err(e) if client::is_not_found(&e) || client::is_conflict(&e) => {}
            Err(e) => tracing::warn!(
                "The {NAME} could not delete pod {namespace}/{name}: {}.",
                client::message(&e)
            ),
        }
    }

    /// Whether the apiserver confirms `node` does not exist.
    async fn node_gone(&self, node: &str) -> bool {
        let api: Api<Node> = Api::all(self.client.clone());
        matches!(api.get_opt(node).await, Ok(None))
    }

    async fn pass(&mut self) {
        let pods = self.pods.state();
        for pod in terminated_to_delete(&pods, self.threshold) {
            self.delete(&pod, "the terminated pods are over the threshold")
                .await;
        }
        // Orphaned pods: their node has been missing for the quarantine and really is gone.
        let mut still_missing = HashMap::new();
        for pod in &pods {
            let Some(node) = node_of(pod) else {
                continue;
            };
            if self.nodes.get(&ObjectRef::new(node)).is_some() || still_missing.contains_key(node) {
                continue;
            }
            let since = self
                .missing_since
                .get(node)
                .copied()
                .unwrap_or_else(Instant::now);
            still_missing.insert(node.to_string(), since);
        }
        self.missing_since = still_missing;
        for pod in &pods {
            let Some(node) = node_of(pod) else {
                continue;
            };
            let quarantined = self
                .missing_since
                .get(node)
                .is_some_and(|t| t.elapsed() >= QUARANTINE);
            if quarantined && self.node_gone(node).await {
                self.delete(pod, "PodGC: node no longer exists").await;
            }
        }
        for pod in unscheduled_terminating(&pods) {
            self.delete(&pod, "it is terminating and was never scheduled")
                .await;
        }
    }
}

/// Runs the collector until the process stops (`--terminated-pod-gc-threshold`).
pub async fn run(client: kube::Client, informers: Arc<Informers>, threshold: usize) {
    let (pods, nodes) = (informers.get::<Pod>(), informers.get::<Node>());
    pods.ready().await;
    nodes.ready().await;
    tracing::info!("Starting {NAME}.");
    let mut collector = Collector {
        client,
        pods: pods.store(),
        nodes: nodes.store(),
        threshold,
        missing_since: HashMap::new(),
    };
    loop {
        collector.pass().await;
        tokio::time::sleep(CHECK_PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(name: &str, phase: &str, created: i64, node: Option<&str>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(str::to_string),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.to_string()),
                ..Default::default()
            }),
        })
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<&str> {
        pods.iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn the_oldest_finished_pods_beyond_the_threshold_go() {
        let pods = vec![
            pod("new-done", "Succeeded", 30, None),
            pod("running", "Running", 1, None),
            pod("old-failed", "Failed", 10, None),
            pod("mid-done", "Succeeded", 20, None),
        ];
        assert_eq!(
            names(&terminated_to_delete(&pods, 1)),
            vec!["old-failed", "mid-done"]
        );
        assert!(terminated_to_delete(&pods, 3).is_empty());
        assert!(terminated_to_delete(&pods, 0).is_empty());
    }

    #[test]
    fn unscheduled_pods_being_deleted_go() {
        let mut leaving = (*pod("leaving", "Pending", 1, None)).clone();
        leaving.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        let mut bound = (*pod("bound", "Running", 1, Some("n1"))).clone();
        bound.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        let pods = vec![
            Arc::new(leaving),
            Arc::new(bound),
            pod("pending", "Pending", 1, None),
        ];
        assert_eq!(names(&unscheduled_terminating(&pods)), vec!["leaving"]);
    }
}
