//! Pod waits and checks of upstream's `test/e2e/framework/pod` (`e2epod`): a pod running, no
//! longer pending, terminating; a condition present; a finalizer removed. The timeouts are
//! upstream's `framework.TimeoutContext` defaults.

use super::wait::poll;
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use std::time::Duration;

/// Upstream's `framework.Poll`: how often the pod waits look.
pub const POLL: Duration = Duration::from_secs(2);
/// Upstream's `PodStart` (`podStartTimeout`).
pub const POD_START_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Upstream's `PodStartShort`.
pub const POD_START_SHORT_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// Upstream's `PodDelete`.
pub const POD_DELETE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Upstream's `framework.PodGetTimeout`.
pub const POD_GET_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// Upstream's `framework.PollShortTimeout`.
pub const POLL_SHORT_TIMEOUT: Duration = Duration::from_secs(60);

/// The pod's phase, `""` when it has none yet.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// The status of condition `type_` on the pod, if it has it.
pub fn condition_status<'a>(pod: &'a Pod, type_: &str) -> Option<&'a str> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
        .map(|c| c.status.as_str())
}

/// Upstream's `WaitTimeoutForPodRunningInNamespace`: the pod reaches phase Running within
/// `timeout`; a pod that ran to completion fails the wait at once.
pub async fn wait_running(pods: &Api<Pod>, name: &str, timeout: Duration) -> Result<()> {
    poll(POLL, timeout, async || {
        let pod = pods.get(name).await?;
        match phase(&pod) {
            "Running" => Ok(true),
            p @ ("Succeeded" | "Failed") => bail!("pod {name:?} ran to completion (phase {p})"),
            _ => Ok(false),
        }
    })
    .await
    .with_context(|| format!("waiting for pod {name:?} to be running"))
}

/// Upstream's `WaitForPodNotPending`: the pod leaves phase Pending within `PodStart`.
pub async fn wait_not_pending(pods: &Api<Pod>, name: &str) -> Result<()> {
    poll(POLL, POD_START_TIMEOUT, async || {
        let pod = pods.get(name).await?;
        Ok(!matches!(phase(&pod), "Pending" | ""))
    })
    .await
    .with_context(|| format!("waiting for pod {name:?} to leave Pending"))
}

/// Upstream's `WaitForPodTerminatingInNamespaceTimeout`: the pod gets a deletion timestamp.
pub async fn wait_terminating(pods: &Api<Pod>, name: &str, timeout: Duration) -> Result<()> {
    poll(POLL, timeout, async || {
        let pod = pods.get(name).await?;
        Ok(pod.metadata.deletion_timestamp.is_some())
    })
    .await
    .with_context(|| format!("waiting for pod {name:?} to be terminating"))
}

/// Upstream's `VerifyPodHasConditionWithType`.
pub async fn verify_has_condition(pods: &Api<Pod>, name: &str, type_: &str) -> Result<()> {
    let pod = pods
        .get(name)
        .await
        .with_context(|| format!("getting pod {name:?}"))?;
    if condition_status(&pod, type_).is_none() {
        bail!(
            "pod {name:?} should have the condition {type_}, it has {:?}",
            pod.status.as_ref().and_then(|s| s.conditions.as_ref())
        );
    }
    Ok(())
}

/// Upstream's `PodClient.RemoveFinalizer`: an update without `finalizer`, retried on conflict
/// (a plain loop rather than [`super::wait::retry_on_conflict`], so that the future is `Send`
/// and cleanups can use it). A pod already gone is fine.
pub async fn remove_finalizer(pods: &Api<Pod>, name: &str, finalizer: &str) -> Result<()> {
    let mut tries = 0;
    loop {
        tries += 1;
        let Some(mut pod) = pods.get_opt(name).await? else {
            return Ok(());
        };
        pod.metadata
            .finalizers
            .get_or_insert_default()
            .retain(|f| f != finalizer);
        match pods.replace(name, &PostParams::default(), &pod).await {
            Err(e) if tries < 5 && super::api::is_conflict(&e) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            r => {
                r.with_context(|| format!("removing finalizer {finalizer:?} from pod {name:?}"))?;
                return Ok(());
            }
        }
    }
}
