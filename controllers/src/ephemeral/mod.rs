//! The ephemeral volume controller (upstream `pkg/controller/volume/ephemeral`): every generic
//! ephemeral volume of a pod (`spec.volumes[].ephemeral.volumeClaimTemplate`) gets its
//! PersistentVolumeClaim, named `<pod>-<volume>` ([`claim_name`]) in the pod's namespace, made
//! from the template and controlled by the pod, so the garbage collector deletes it with the
//! pod. A claim of that name that the pod does not control is left alone and reported on the
//! pod (`FailedBinding`).
//!
//! Work is keyed by the pod's `namespace/name`. A pod is queued when it appears (its spec is
//! immutable, so updates cannot ask for anything new) and when a claim one of its volumes names
//! is deleted, so a claim deleted by hand is made again. Pods being deleted are skipped: their
//! claims go with them.

use crate::client;
use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informers};
use crate::ownership::controller_ref;
use crate::workqueue::{self, WorkQueue, feed, key_of};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use tracing::Instrument;

/// The controller's name (upstream `names.EphemeralVolumeController`).
pub const NAME: &str = "ephemeral-volume-controller";

/// The component its events come from: upstream's recorder says `ephemeral_volume`, not the
/// controller's name.
const COMPONENT: &str = "ephemeral_volume";

/// Workers: upstream's default `--concurrent-ephemeralvolume-syncs`. The flag is not wired
/// yet; a handful of workers is plenty for creating claims.
pub const WORKERS: u16 = 5;

/// One ephemeral volume of a pod could not get its claim.
#[derive(Debug, thiserror::Error)]
#[error("pod {pod}, ephemeral volume {volume}: {problem}")]
pub struct Error {
    pod: String,
    volume: String,
    #[source]
    problem: Problem,
}

/// What went wrong with one ephemeral volume; the text is what upstream's event says.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// A claim of the volume's name exists and the pod does not control it.
    #[error("{0}")]
    NotOwned(String),
    /// Creating the claim failed.
    #[error("create PVC {claim}: {}", client::message(.source))]
    Create {
        claim: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    client: kube::Client,
    pods: Store<Pod>,
    claims: Store<PersistentVolumeClaim>,
    recorder: Recorder,
}

/// The name of the claim behind an ephemeral volume (upstream `ephemeral.VolumeClaimName`).
pub fn claim_name(pod: &str, volume: &str) -> String {
    format!("{pod}-{volume}")
}

/// The claim names of the pod's ephemeral volumes, with the volume behind each.
pub fn ephemeral_claims(pod: &Pod) -> Vec<(String, &Volume)> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter(|v| v.ephemeral.is_some())
        .map(|v| (claim_name(name, &v.name), v))
        .collect()
}

/// Whether `claim` is the one made for `pod`: same namespace and controlled by the pod. The
/// error is upstream's `VolumeIsForPod` message.
pub fn is_for_pod(pod: &Pod, claim: &PersistentVolumeClaim) -> Result<(), String> {
    let (pm, cm) = (&pod.metadata, &claim.metadata);
    let controlled = controller_ref(cm).is_some_and(|r| Some(&r.uid) == pm.uid.as_ref());
    if cm.namespace == pm.namespace && controlled {
        return Ok(());
    }
    Err(format!(
        "PVC {}/{} was not created for pod {}/{} (pod is not owner)",
        cm.namespace.as_deref().unwrap_or_default(),
        cm.name.as_deref().unwrap_or_default(),
        pm.namespace.as_deref().unwrap_or_default(),
        pm.name.as_deref().unwrap_or_default(),
    ))
}

/// Whether the pod is the controller's business: not being deleted, with an ephemeral volume.
pub fn wants_claims(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !ephemeral_claims(pod).is_empty()
}

/// The claim for the ephemeral `volume` of `pod`, as upstream makes it: the template's labels,
/// annotations and spec, the pod as controller.
pub fn claim_for(pod: &Pod, volume: &Volume) -> Option<PersistentVolumeClaim> {
    let template = volume.ephemeral.as_ref()?.volume_claim_template.as_ref()?;
    let meta = template.metadata.clone().unwrap_or_default();
    Some(PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(claim_name(
                pod.metadata.name.as_deref().unwrap_or_default(),
                &volume.name,
            )),
            namespace: pod.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".to_string(),
                kind: "Pod".to_string(),
                name: pod.metadata.name.clone().unwrap_or_default(),
                uid: pod.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: Some(template.spec.clone()),
        status: None,
    })
}

/// The pods (keys) that need a look after `claim` is deleted: those of its namespace with an
/// ephemeral volume naming it.
pub fn pods_for_deleted_claim(pods: &[Arc<Pod>], claim: &PersistentVolumeClaim) -> Vec<String> {
    let name = claim.metadata.name.as_deref().unwrap_or_default();
    pods.iter()
        .filter(|p| p.metadata.namespace == claim.metadata.namespace)
        .filter(|p| wants_claims(p))
        .filter(|p| ephemeral_claims(p).iter().any(|(c, _)| c == name))
        .map(|p| key_of(&p.metadata))
        .collect()
}

/// Runs the controller with [`WORKERS`] workers.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let (pod_informer, pvc_informer) = (
        informers.get::<Pod>(),
        informers.get::<PersistentVolumeClaim>(),
    );
    // Subscribed before the first look, so nothing falls between.
    let pod_changes = pod_informer.changes();
    let pvc_changes = pvc_informer.changes();
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods: pod_informer.store(),
        claims: pvc_informer.store(),
        recorder: Recorder::new(client, COMPONENT),
    });
    pod_informer.ready().await;
    pvc_informer.ready().await;
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::<String>::new("ephemeral_volume");
    let all = |pods: &Store<Pod>| -> Vec<String> {
        pods.state()
            .iter()
            .filter(|p| wants_claims(p))
            .map(|p| key_of(&p.metadata))
            .collect()
    };
    for key in all(&ctx.pods) {
        queue.add(key);
    }
    let pods = ctx.pods.clone();
    feed(&queue, pod_changes, move |change| match change {
        Change::Applied { new, old: None } if wants_claims(&new) => vec![key_of(&new.metadata)],
        Change::Relisted => all(&pods),
        _ => Vec::new(),
    });
    let pods = ctx.pods.clone();
    feed(&queue, pvc_changes, move |change| match change {
        Change::Deleted(claim) => pods_for_deleted_claim(&pods.state(), &claim),
        _ => Vec::new(),
    });
    workqueue::process(queue, WORKERS, "the ephemeral volumes of pod", move |key| {
        let ctx = ctx.clone();
        async move { sync(&ctx, &key).await }
    })
    .await;
}

async fn sync(ctx: &Context, key: &str) -> Result<(), Error> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(pod) = ctx.pods.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let span = crate::workqueue::reconcile_span(NAME, &pod.metadata);
    sync_pod(ctx, &pod, key).instrument(span).await
}

async fn sync_pod(ctx: &Context, pod: &Pod, key: &str) -> Result<(), Error> {
    if pod.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    for (claim, volume) in ephemeral_claims(pod) {
        if let Err(problem) = ensure_claim(ctx, pod, key, &claim, volume).await {
            ctx.recorder.record(
                pod,
                EventType::Warning,
                "FailedBinding",
                format!("ephemeral volume {}: {problem}", volume.name),
            );
            return Err(Error {
                pod: key.to_string(),
                volume: volume.name.clone(),
                problem,
            });
        }
    }
    Ok(())
}

async fn ensure_claim(
    ctx: &Context,
    pod: &Pod,
    key: &str,
    claim: &str,
    volume: &Volume,
) -> Result<(), Problem> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    if let Some(existing) = ctx.claims.get(&ObjectRef::new(claim).within(namespace)) {
        return is_for_pod(pod, &existing).map_err(Problem::NotOwned);
    }
    let Some(desired) = claim_for(pod, volume) else {
        // Without a template the pod is invalid (upstream validation refuses it): nothing to
        // make.
        return Ok(());
    };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    match api.create(&PostParams::default(), &desired).await {
        Ok(_) => {
            tracing::info!(
                "The {NAME} created PersistentVolumeClaim {namespace}/{claim} for pod {key}."
            );
            Ok(())
        }
        // The namespace is going away, and the pod with it.
        Err(e) if client::has_cause(&e, client::NAMESPACE_TERMINATING_CAUSE) => Ok(()),
        Err(source) => Err(Problem::Create {
            claim: claim.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        EphemeralVolumeSource, PersistentVolumeClaimSpec, PersistentVolumeClaimTemplate,
        PersistentVolumeClaimVolumeSource, PodSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use std::collections::BTreeMap;

    fn ephemeral(name: &str) -> Volume {
        Volume {
            name: name.to_string(),
            ephemeral: Some(EphemeralVolumeSource {
                volume_claim_template: Some(PersistentVolumeClaimTemplate {
                    metadata: Some(ObjectMeta {
                        labels: Some(BTreeMap::from([("tier".to_string(), "db".to_string())])),
                        annotations: Some(BTreeMap::from([("a".to_string(), "b".to_string())])),
                        ..Default::default()
                    }),
                    spec: PersistentVolumeClaimSpec {
                        access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                        storage_class_name: Some("fast".to_string()),
                        ..Default::default()
                    },
                }),
            }),
            ..Default::default()
        }
    }

    fn claim_volume(name: &str, claim: &str) -> Volume {
        Volume {
            name: name.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.to_string(),
                read_only: None,
            }),
            ..Default::default()
        }
    }

    fn pod(volumes: Vec<Volume>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".to_string()),
                namespace: Some("prod".to_string()),
                uid: Some("pod-uid".to_string()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                volumes: Some(volumes),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn claims_are_named_after_pod_and_volume_and_copy_the_template() {
        let p = pod(vec![claim_volume("plain", "other"), ephemeral("scratch")]);
        let claims = ephemeral_claims(&p);
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].0, "web-scratch");
        let c = claim_for(&p, claims[0].1).unwrap();
        assert_eq!(c.metadata.name.as_deref(), Some("web-scratch"));
        assert_eq!(c.metadata.namespace.as_deref(), Some("prod"));
        assert_eq!(c.metadata.labels.as_ref().unwrap()["tier"], "db");
        assert_eq!(c.metadata.annotations.as_ref().unwrap()["a"], "b");
        assert_eq!(
            c.spec.as_ref().unwrap().storage_class_name.as_deref(),
            Some("fast")
        );
        let owner = &c.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("Pod", "web", "pod-uid")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
        // The claim built for the pod is the pod's.
        assert!(is_for_pod(&p, &c).is_ok());
    }

    #[test]
    fn a_claim_of_the_same_name_the_pod_does_not_control_is_refused() {
        let p = pod(vec![ephemeral("scratch")]);
        let mut c = claim_for(&p, &ephemeral("scratch")).unwrap();
        c.metadata.owner_references = None;
        assert_eq!(
            is_for_pod(&p, &c).unwrap_err(),
            "PVC prod/web-scratch was not created for pod prod/web (pod is not owner)"
        );
        // Owned, but not as controller.
        let mut owned = claim_for(&p, &ephemeral("scratch")).unwrap();
        owned.metadata.owner_references.as_mut().unwrap()[0].controller = None;
        assert!(is_for_pod(&p, &owned).is_err());
    }

    #[test]
    fn pods_being_deleted_or_without_ephemeral_volumes_are_skipped() {
        assert!(wants_claims(&pod(vec![ephemeral("scratch")])));
        assert!(!wants_claims(&pod(vec![claim_volume("data", "data")])));
        let mut leaving = pod(vec![ephemeral("scratch")]);
        leaving.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(!wants_claims(&leaving));
    }

    #[test]
    fn a_deleted_claim_requeues_the_pods_whose_ephemeral_volume_names_it() {
        let pods = vec![
            Arc::new(pod(vec![ephemeral("scratch")])),
            Arc::new({
                let mut p = pod(vec![ephemeral("scratch")]);
                p.metadata.namespace = Some("dev".to_string());
                p
            }),
        ];
        let mut claim = claim_for(&pods[0], &ephemeral("scratch")).unwrap();
        assert_eq!(pods_for_deleted_claim(&pods, &claim), vec!["prod/web"]);
        claim.metadata.name = Some("web-other".to_string());
        assert!(pods_for_deleted_claim(&pods, &claim).is_empty());
    }
}
