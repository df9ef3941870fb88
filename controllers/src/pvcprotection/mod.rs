//! The PVC protection controller (upstream `pkg/controller/volume/pvcprotection`): a
//! PersistentVolumeClaim carries the [`FINALIZER`] while it lives, and once it is deleted the
//! finalizer comes off only when no pod uses the claim ([`pod_uses_claim`]), so a claim is never
//! pulled from under a pod that may have it mounted.
//!
//! Timeline of a claim: created -> finalizer added (upstream's admission plugin does this at
//! creation; here the controller does, see [`crate::protection`]) -> deleted (Terminating) ->
//! the cache shows no pod using it -> a live list of the namespace's pods confirms it (the cache
//! may not have a pod created a moment ago) -> finalizer removed -> the apiserver deletes it.
//!
//! Work is keyed by the claim's `namespace/name`. A claim is queued when it changes and needs
//! the finalizer added or removed; the claims a pod names are queued when the pod is deleted,
//! finishes, is not yet scheduled, or is replaced by another pod of the same name.

use crate::client;
use crate::ephemeral;
use crate::informer::{Change, Informers};
use crate::protection::{is_deletion_candidate, needs_finalizer, set_finalizer};
use crate::workqueue::{self, WorkQueue, feed, key_of};
use k8s_openapi::api::core::v1::{ContainerStatus, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use tracing::Instrument;

/// The controller's name (upstream `names.PersistentVolumeClaimProtectionController`).
pub const NAME: &str = "persistentvolumeclaim-protection-controller";

/// The finalizer protecting claims in use.
pub const FINALIZER: &str = "kubernetes.io/pvc-protection";

/// Upstream runs the controller with one worker.
const WORKERS: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listing the namespace's pods from the apiserver failed.
    #[error("live list of pods in namespace {namespace} failed: {}", client::message(.source))]
    ListPods {
        namespace: String,
        #[source]
        source: kube::Error,
    },
    /// Adding or removing the finalizer failed.
    #[error("{action} the protection finalizer of PVC {key}: {}", client::message(.source))]
    Finalizer {
        action: &'static str,
        key: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    client: kube::Client,
    claims: Store<PersistentVolumeClaim>,
    pods: Store<Pod>,
}

/// Whether the kubelet is done with the pod, or it was force-deleted: deleted with a grace
/// period of 0 (upstream `podIsShutDown`). Such a pod no longer holds its ephemeral claims,
/// which breaks a cycle where a pod finalizer waits for the claim to go.
pub fn is_shut_down(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        && pod.metadata.deletion_grace_period_seconds == Some(0)
}

fn not_running(statuses: Option<&Vec<ContainerStatus>>) -> bool {
    statuses.into_iter().flatten().all(|s| {
        s.state
            .as_ref()
            .is_some_and(|st| st.terminated.is_some() || st.waiting.is_some())
    })
}

/// Whether the pod has terminated (upstream volume util `IsPodTerminated`): finished, or being
/// deleted with no container running.
pub fn is_terminated(pod: &Pod) -> bool {
    if matches!(crate::pods::phase(pod), "Succeeded" | "Failed") {
        return true;
    }
    let status = pod.status.as_ref();
    pod.metadata.deletion_timestamp.is_some()
        && not_running(status.and_then(|s| s.init_container_statuses.as_ref()))
        && not_running(status.and_then(|s| s.container_statuses.as_ref()))
        && not_running(status.and_then(|s| s.ephemeral_container_statuses.as_ref()))
}

fn is_scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// Whether `pod` uses `claim` (upstream `podUsesPVC`). Only scheduled pods count: the kubelet
/// sees a pod once it is scheduled and will not start one whose claim is being deleted. A pod
/// uses a claim its `persistentVolumeClaim` volume names, whatever its phase (upstream too
/// keeps a claim for a finished pod that still exists), and the claim made for its ephemeral
/// volume unless it is shut down.
pub fn pod_uses_claim(pod: &Pod, claim: &PersistentVolumeClaim) -> bool {
    if !is_scheduled(pod) || pod.metadata.namespace != claim.metadata.namespace {
        return false;
    }
    let name = claim.metadata.name.as_deref().unwrap_or_default();
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .any(|v| {
            let direct = v
                .persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.claim_name == name);
            let ephemeral = v.ephemeral.is_some()
                && !is_shut_down(pod)
                && ephemeral::claim_name(pod_name, &v.name) == name
                && ephemeral::is_for_pod(pod, claim).is_ok();
            direct || ephemeral
        })
}

/// The claim keys a pod names, directly or through its ephemeral volumes.
pub fn claims_of(pod: &Pod) -> Vec<String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some(format!("{namespace}/{}", c.claim_name))
            } else if v.ephemeral.is_some() {
                Some(format!(
                    "{namespace}/{}",
                    ephemeral::claim_name(pod_name, &v.name)
                ))
            } else {
                None
            }
        })
        .collect()
}

/// The claims to look at again after a pod change (upstream `enqueuePVCs`): only a pod that is
/// gone, terminated or not scheduled can let a claim go.
pub fn claims_to_recheck(pod: &Pod, deleted: bool) -> Vec<String> {
    if !deleted && !is_terminated(pod) && is_scheduled(pod) {
        return Vec::new();
    }
    claims_of(pod)
}

fn wants_work(claim: &PersistentVolumeClaim) -> bool {
    needs_finalizer(&claim.metadata, FINALIZER) || is_deletion_candidate(&claim.metadata, FINALIZER)
}

fn pending(claims: &Store<PersistentVolumeClaim>) -> Vec<String> {
    claims
        .state()
        .iter()
        .filter(|c| wants_work(c))
        .map(|c| key_of(&c.metadata))
        .collect()
}

/// Runs the controller.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let (pvc_informer, pod_informer) = (
        informers.get::<PersistentVolumeClaim>(),
        informers.get::<Pod>(),
    );
    // Subscribed before the first look, so nothing falls between.
    let pvc_changes = pvc_informer.changes();
    let pod_changes = pod_informer.changes();
    let ctx = Arc::new(Context {
        client,
        claims: pvc_informer.store(),
        pods: pod_informer.store(),
    });
    pvc_informer.ready().await;
    pod_informer.ready().await;
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::<String>::new("pvcprotection");
    for key in pending(&ctx.claims) {
        queue.add(key);
    }
    let claims = ctx.claims.clone();
    feed(&queue, pvc_changes, move |change| match change {
        Change::Applied { new, .. } if wants_work(&new) => vec![key_of(&new.metadata)],
        Change::Relisted => pending(&claims),
        _ => Vec::new(),
    });
    let claims = ctx.claims.clone();
    feed(&queue, pod_changes, move |change| match change {
        Change::Applied { new, old } => {
            let mut keys = claims_to_recheck(&new, false);
            // An update may hide the deletion of a pod and the creation of another of the same
            // name; the old one's claims may be free now.
            if let Some(old) = old.filter(|o| o.metadata.uid != new.metadata.uid) {
                keys.extend(claims_to_recheck(&old, true));
            }
            keys
        }
        Change::Deleted(pod) => claims_to_recheck(&pod, true),
        Change::Relisted => pending(&claims),
    });
    workqueue::process(queue, WORKERS, "the protection of PVC", move |key| {
        let ctx = ctx.clone();
        async move { sync(&ctx, &key).await }
    })
    .await;
}

async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(claim) = ctx.claims.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let span = crate::workqueue::reconcile_span(NAME, &claim.metadata);
    sync_claim(ctx, &claim, key).instrument(span).await
}

async fn sync_claim(ctx: &Context, claim: &PersistentVolumeClaim, key: &str) -> Result<(), Error> {
    let (action, present) = if is_deletion_candidate(&claim.metadata, FINALIZER) {
        if is_used(ctx, claim).await? {
            tracing::debug!("Keeping PersistentVolumeClaim {key}: a pod uses it.");
            return Ok(());
        }
        ("removing", false)
    } else if needs_finalizer(&claim.metadata, FINALIZER) {
        ("adding", true)
    } else {
        return Ok(());
    };
    let namespace = claim.metadata.namespace.as_deref().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    match set_finalizer(&api, claim, FINALIZER, present).await {
        Ok(()) if !present => {
            tracing::info!("The {NAME} released PersistentVolumeClaim {key}: no pod uses it.");
            Ok(())
        }
        Ok(()) => Ok(()),
        Err(e) if client::is_not_found(&e) => Ok(()),
        Err(source) => Err(Error::Finalizer {
            action,
            key: key.to_string(),
            source,
        }),
    }
}

/// Asks the cache first (a pod found there settles it without a request), then the apiserver:
/// a pod created a moment ago may not be in the cache yet.
async fn is_used(ctx: &Context, claim: &PersistentVolumeClaim) -> Result<bool, Error> {
    let namespace = claim.metadata.namespace.as_deref().unwrap_or_default();
    let cached = ctx.pods.state();
    if cached.iter().any(|p| pod_uses_claim(p, claim)) {
        return Ok(true);
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let live = api
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::ListPods {
            namespace: namespace.to_string(),
            source,
        })?;
    Ok(live.items.iter().any(|p| pod_uses_claim(p, claim)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, EphemeralVolumeSource,
        PersistentVolumeClaimTemplate, PersistentVolumeClaimVolumeSource, PodSpec, PodStatus,
        Volume,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
    use k8s_openapi::jiff::Timestamp;

    fn direct(claim: &str) -> Volume {
        Volume {
            name: "data".to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.to_string(),
                read_only: None,
            }),
            ..Default::default()
        }
    }

    fn ephemeral_volume(name: &str) -> Volume {
        Volume {
            name: name.to_string(),
            ephemeral: Some(EphemeralVolumeSource {
                volume_claim_template: Some(PersistentVolumeClaimTemplate::default()),
            }),
            ..Default::default()
        }
    }

    fn pod(node: Option<&str>, volumes: Vec<Volume>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".to_string()),
                namespace: Some("prod".to_string()),
                uid: Some("pod-uid".to_string()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(str::to_string),
                volumes: Some(volumes),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn claim(name: &str, controller_uid: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("prod".to_string()),
                owner_references: controller_uid.map(|uid| {
                    vec![OwnerReference {
                        api_version: "v1".to_string(),
                        kind: "Pod".to_string(),
                        name: "web".to_string(),
                        uid: uid.to_string(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn with_phase(mut p: Pod, phase: &str) -> Pod {
        p.status = Some(PodStatus {
            phase: Some(phase.to_string()),
            ..Default::default()
        });
        p
    }

    #[test]
    fn scheduled_pods_naming_the_claim_use_it_whatever_their_phase() {
        let c = claim("data", None);
        assert!(pod_uses_claim(&pod(Some("n1"), vec![direct("data")]), &c));
        assert!(!pod_uses_claim(&pod(Some("n1"), vec![direct("other")]), &c));
        // Not scheduled: the kubelet has not seen it and will not start it on a deleted claim.
        assert!(!pod_uses_claim(&pod(None, vec![direct("data")]), &c));
        assert!(!pod_uses_claim(&pod(Some(""), vec![direct("data")]), &c));
        // A finished pod that still exists keeps the claim, as upstream.
        let done = with_phase(pod(Some("n1"), vec![direct("data")]), "Succeeded");
        assert!(pod_uses_claim(&done, &c));
        // Another namespace's pod does not count.
        let mut elsewhere = pod(Some("n1"), vec![direct("data")]);
        elsewhere.metadata.namespace = Some("dev".to_string());
        assert!(!pod_uses_claim(&elsewhere, &c));
    }

    #[test]
    fn ephemeral_claims_are_used_by_their_controlling_pod_until_it_shuts_down() {
        let p = pod(Some("n1"), vec![ephemeral_volume("scratch")]);
        assert!(pod_uses_claim(&p, &claim("web-scratch", Some("pod-uid"))));
        // Same name, not the pod's claim.
        assert!(!pod_uses_claim(&p, &claim("web-scratch", None)));
        assert!(!pod_uses_claim(&p, &claim("web-scratch", Some("another"))));
        // Deleted with grace 0 (force-deleted, or the kubelet is done).
        let mut gone = p.clone();
        gone.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        gone.metadata.deletion_grace_period_seconds = Some(0);
        assert!(!pod_uses_claim(
            &gone,
            &claim("web-scratch", Some("pod-uid"))
        ));
        // Still within its grace period: still in use.
        gone.metadata.deletion_grace_period_seconds = Some(30);
        assert!(pod_uses_claim(
            &gone,
            &claim("web-scratch", Some("pod-uid"))
        ));
    }

    #[test]
    fn only_pods_that_can_free_a_claim_requeue_it() {
        let running = pod(
            Some("n1"),
            vec![direct("data"), ephemeral_volume("scratch")],
        );
        assert!(claims_to_recheck(&running, false).is_empty());
        assert_eq!(
            claims_to_recheck(&running, true),
            vec!["prod/data", "prod/web-scratch"]
        );
        assert_eq!(
            claims_to_recheck(&pod(None, vec![direct("data")]), false),
            vec!["prod/data"]
        );
        let failed = with_phase(pod(Some("n1"), vec![direct("data")]), "Failed");
        assert_eq!(claims_to_recheck(&failed, false), vec!["prod/data"]);
    }

    #[test]
    fn a_pod_being_deleted_is_terminated_once_no_container_runs() {
        let state = |running: bool| ContainerStatus {
            state: Some(if running {
                ContainerState {
                    running: Some(ContainerStateRunning::default()),
                    ..Default::default()
                }
            } else {
                ContainerState {
                    terminated: Some(ContainerStateTerminated::default()),
                    ..Default::default()
                }
            }),
            ..Default::default()
        };
        let mut p = pod(Some("n1"), vec![direct("data")]);
        assert!(!is_terminated(&p));
        p.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        // No statuses: nothing runs.
        assert!(is_terminated(&p));
        p.status = Some(PodStatus {
            container_statuses: Some(vec![state(false), state(true)]),
            ..Default::default()
        });
        assert!(!is_terminated(&p));
        p.status = Some(PodStatus {
            container_statuses: Some(vec![state(false)]),
            ..Default::default()
        });
        assert!(is_terminated(&p));
    }
}
