//! The taint eviction controller (upstream `pkg/controller/tainteviction`): deletes the pods
//! of a node with NoExecute taints they do not tolerate, at once, or after the shortest
//! `tolerationSeconds` of the tolerations they have. Removing the taint (or adding a
//! toleration) in time cancels the deletion.
//!
//! Timeline for one pod: its node gains a NoExecute taint -> the pod's tolerations are
//! checked -> a deletion is scheduled (now, or after the tolerated time, counted from when the
//! controller saw the taint) -> at that time: a `TaintManagerEviction` event, the pod's
//! `DisruptionTarget` condition set, the pod deleted with its own grace period.

use crate::client;
use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informers};
use crate::taints::{self, NO_EXECUTE};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The controller's name (upstream `names.TaintEvictionController`), also its event source.
pub const NAME: &str = "taint-eviction-controller";

/// When a pod must go, given its tolerations and its node's NoExecute taints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Some taint is not tolerated.
    Now,
    /// Every taint is tolerated for at most this long.
    After(Duration),
    /// Every taint is tolerated for good.
    Never,
}

/// Upstream's `getMinTolerationTime` over the tolerations that match the taints.
pub fn verdict(tolerations: &[Toleration], taints: &[Taint]) -> Verdict {
    let mut shortest: Option<i64> = None;
    for taint in taints {
        let Some(used) = tolerations.iter().find(|t| taints::tolerates(t, taint)) else {
            return Verdict::Now;
        };
        if let Some(seconds) = used.toleration_seconds {
            shortest = Some(shortest.map_or(seconds, |s| s.min(seconds)));
        }
    }
    match shortest {
        None => Verdict::Never,
        Some(s) => Verdict::After(Duration::from_secs(u64::try_from(s).unwrap_or(0))),
    }
}

/// A scheduled deletion: pending (with its timer) or carried out.
struct Work {
    created: Instant,
    timer: Option<tokio::task::AbortHandle>,
}

struct Controller {
    client: kube::Client,
    pods: Store<Pod>,
    recorder: Recorder,
    /// The NoExecute taints of each tainted node.
    tainted: Mutex<HashMap<String, Vec<Taint>>>,
    /// Deletions by pod `namespace/name`.
    work: Mutex<HashMap<String, Work>>,
}

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let node_informer = informers.get::<Node>();
    let pod_informer = informers.get::<Pod>();
    let (node_changes, pod_changes) = (node_informer.changes(), pod_informer.changes());
    node_informer.ready().await;
    pod_informer.ready().await;
    let ctl = Arc::new(Controller {
        recorder: Recorder::new(client.clone(), NAME),
        client,
        pods: pod_informer.store(),
        tainted: Mutex::new(HashMap::new()),
        work: Mutex::new(HashMap::new()),
    });
    tracing::info!("Starting {NAME}.");
    let nodes = node_informer.store();
    for node in nodes.state() {
        ctl.node_changed(&node);
    }
    enum Event {
        Node(Change<Node>),
        Pod(Change<Pod>),
    }
    let mut events =
        futures::stream::select(node_changes.map(Event::Node), pod_changes.map(Event::Pod));
    while let Some(event) = events.next().await {
        match event {
            Event::Node(Change::Applied { new, .. }) => ctl.node_changed(&new),
            Event::Node(Change::Deleted(node)) => {
                let mut gone = (*node).clone();
                if let Some(spec) = gone.spec.as_mut() {
                    spec.taints = None;
                }
                ctl.node_changed(&gone);
            }
            Event::Node(Change::Relisted) => {
                for node in nodes.state() {
                    ctl.node_changed(&node);
                }
            }
            Event::Pod(Change::Applied { new, old }) => {
                let relevant = old.as_deref().is_none_or(|o| {
                    node_of(o) != node_of(&new) || tolerations(o) != tolerations(&new)
                });
                if relevant {
                    ctl.pod_changed(&new);
                }
            }
            Event::Pod(Change::Deleted(pod)) => {
                ctl.cancel(&crate::workqueue::key_of(&pod.metadata), true);
            }
            Event::Pod(Change::Relisted) => {
                for pod in ctl.pods.state() {
                    ctl.pod_changed(&pod);
                }
            }
        }
    }
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

fn no_execute(node: &Node) -> Vec<Taint> {
    taints::of(node)
        .iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .cloned()
        .collect()
}

impl Controller {
    fn tainted(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Taint>>> {
        self.tainted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn work(&self) -> std::sync::MutexGuard<'_, HashMap<String, Work>> {
        self.work
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn node_changed(self: &Arc<Self>, node: &Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let taints = no_execute(node);
        {
            let mut tainted = self.tainted();
            let before = tainted.get(&name).cloned().unwrap_or_default();
            let same = before.len() == taints.len()
                && before
                    .iter()
                    .zip(&taints)
                    .all(|(a, b)| a.key == b.key && a.value == b.value && a.effect == b.effect);
            if same {
                return;
            }
            if taints.is_empty() {
                tainted.remove(&name);
            } else {
                tainted.insert(name.clone(), taints.clone());
            }
        }
        for pod in self.pods.state() {
            if node_of(&pod) != Some(name.as_str()) {
                continue;
            }
            let key = crate::workqueue::key_of(&pod.metadata);
            if taints.is_empty() {
                self.cancel(&key, true);
            } else {
                self.judge(&pod, &taints);
            }
        }
    }

    fn pod_changed(self: &Arc<Self>, pod: &Pod) {
        let Some(node) = node_of(pod) else {
            return;
        };
        let Some(taints) = self.tainted().get(node).cloned() else {
            return;
        };
        self.judge(pod, &taints);
    }

    /// Schedules, keeps or cancels the deletion of `pod` (upstream `processPodOnNode`).
    fn judge(self: &Arc<Self>, pod: &Pod, taints: &[Taint]) {
        let key = crate::workqueue::key_of(&pod.metadata);
        match verdict(tolerations(pod), taints) {
            Verdict::Now => {
                self.cancel(&key, true);
                self.schedule(key, Duration::ZERO);
            }
            Verdict::Never => self.cancel(&key, true),
            Verdict::After(wait) => {
                if self.work().contains_key(&key) {
                    // Already counting since the taint was first seen.
                    return;
                }
                self.schedule(key, wait);
            }
        }
    }

    fn schedule(self: &Arc<Self>, key: String, wait: Duration) {
        let ctl = self.clone();
        let job_key = key.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            ctl.evict(&job_key).await;
            // Kept, without a timer, so a repeated change does not delete it twice.
            if let Some(w) = ctl.work().get_mut(&job_key) {
                w.timer = None;
            }
        });
        let timer = (!wait.is_zero()).then(|| task.abort_handle());
        self.work().insert(
            key,
            Work {
                created: Instant::now(),
                timer,
            },
        );
    }

    /// Cancels a scheduled deletion; a pending one gets a cancellation event when `announce`.
    fn cancel(&self, key: &str, announce: bool) {
        let Some(work) = self.work().remove(key) else {
            return;
        };
        let Some(timer) = work.timer else {
            return;
        };
        timer.abort();
        tracing::debug!(
            "Cancelled the deletion of pod {key} scheduled {:?} ago.",
            work.created.elapsed()
        );
        if announce && let Some((namespace, name)) = key.split_once('/') {
            let mut pod = Pod::default();
            pod.metadata.namespace = Some(namespace.to_string());
            pod.metadata.name = Some(name.to_string());
            self.recorder.record(
                &pod,
                EventType::Normal,
                "TaintManagerEviction",
                format!("Cancelling deletion of Pod {key}"),
            );
        }
    }

    /// Deletes the pod `key` after marking why (upstream `deletePodHandler`).
    async fn evict(&self, key: &str) {
        let Some((namespace, name)) = key.split_once('/') else {
            return;
        };
        if let Some(pod) = self.pods.get(&ObjectRef::new(name).within(namespace)) {
            self.recorder.record(
                &*pod,
                EventType::Normal,
                "TaintManagerEviction",
                format!("Marking for deletion Pod {key}"),
            );
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            match self.mark_and_delete(&api, name).await {
                Ok(()) => return,
                Err(e) if client::is_not_found(&e) => return,
                Err(e) if attempt == 4 => tracing::warn!(
                    "The {NAME} could not delete pod {key}: {}.",
                    client::message(&e)
                ),
                Err(_) => {}
            }
        }
    }

    async fn mark_and_delete(&self, api: &Api<Pod>, name: &str) -> Result<(), kube::Error> {
        let pod = api.get(name).await?;
        let marked = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "DisruptionTarget"
                        && c.status == "True"
                        && c.reason.as_deref() == Some("DeletionByTaintManager")
                })
            });
        if !marked {
            let condition = PodCondition {
                type_: "DisruptionTarget".to_string(),
                status: "True".to_string(),
                reason: Some("DeletionByTaintManager".to_string()),
                message: Some("Taint manager: deleting due to NoExecute taint".to_string()),
                last_transition_time: Some(Time(Timestamp::now())),
                ..Default::default()
            };
            let patch = json!({
                "metadata": {"uid": pod.metadata.uid},
                "status": {"conditions": [condition]},
            });
            api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await?;
        }
        api.delete(name, &DeleteParams::default()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.to_string()),
            operator: Some("Exists".to_string()),
            effect: Some(NO_EXECUTE.to_string()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    #[test]
    fn the_shortest_toleration_decides() {
        let taints = [
            taints::taint(taints::UNREACHABLE, NO_EXECUTE),
            taints::taint("custom", NO_EXECUTE),
        ];
        assert_eq!(verdict(&[], &taints), Verdict::Now);
        assert_eq!(
            verdict(&[toleration(taints::UNREACHABLE, Some(300))], &taints),
            Verdict::Now
        );
        assert_eq!(
            verdict(
                &[
                    toleration(taints::UNREACHABLE, Some(300)),
                    toleration("custom", Some(5))
                ],
                &taints
            ),
            Verdict::After(Duration::from_secs(5))
        );
        assert_eq!(
            verdict(
                &[
                    toleration(taints::UNREACHABLE, None),
                    toleration("custom", None)
                ],
                &taints
            ),
            Verdict::Never
        );
        assert_eq!(
            verdict(&[toleration("custom", Some(-3))], &taints[1..]),
            Verdict::After(Duration::ZERO)
        );
    }
}
