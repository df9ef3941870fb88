//! The namespace controller (upstream `pkg/controller/namespace`): when a namespace is deleted
//! the apiserver only marks it (`deletionTimestamp`, phase `Terminating`) because
//! `spec.finalizers` holds `kubernetes`; this controller deletes everything in it, waits until
//! all of it is gone, then removes the finalizer through `namespaces/<name>/finalize`, and the
//! apiserver deletes the namespace.
//!
//! Timeline of one namespace:
//! deleted -> wait [`DELETION_GRACE_PERIOD`] -> pass -> (content remaining: wait about half the
//! estimate, pass again | failure: back off, pass again) -> finalized -> gone.
//!
//! [`deletion`] holds the pass itself, [`conditions`] the status conditions it maintains, and
//! [`cluster`] the API calls it makes.

pub mod cluster;
pub mod conditions;
pub mod deletion;

use crate::queue::{self, Backoff};
use cluster::KubeCluster;
use deletion::{Deleter, Outcome};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The controller's name (upstream `names.NamespaceController`).
pub const NAME: &str = "namespace-controller";

/// How long after a namespace's deletion its content is first deleted. As upstream, this
/// lets every apiserver observe the deletion (and refuse new content) and lets the last
/// writes into the namespace settle, so the cleanup sees everything.
pub const DELETION_GRACE_PERIOD: Duration = Duration::from_secs(5);

struct Context {
    deleter: Deleter<KubeCluster>,
    backoff: Backoff,
}

/// Runs the controller until the process stops, syncing up to `concurrency` namespaces at once.
pub async fn run(client: kube::Client, concurrency: u16) {
    let ctx = Arc::new(Context {
        deleter: Deleter::new(KubeCluster::new(client.clone())),
        backoff: Backoff::default(),
    });
    let stream = Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        .with_config(controller::Config::default().concurrency(concurrency))
        .run(reconcile, error_policy, ctx);
    queue::drive(NAME, stream).await;
}

/// What a namespace calls for when the controller looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Not being deleted.
    Ignore,
    /// Being deleted, but too recently; look again after this long.
    Wait(Duration),
    /// Empty it now.
    Sync,
}

/// Decides what to do with `ns` at `now`.
pub fn plan(ns: &Namespace, now: Timestamp) -> Plan {
    let Some(deleted_at) = &ns.metadata.deletion_timestamp else {
        return Plan::Ignore;
    };
    let elapsed_ms = now.as_millisecond() - deleted_at.0.as_millisecond();
    let grace_ms = DELETION_GRACE_PERIOD.as_millis() as i64;
    if elapsed_ms >= grace_ms {
        Plan::Sync
    } else {
        // A deletion time ahead of our clock (skew) still waits no longer than the period.
        let wait = (grace_ms - elapsed_ms).min(grace_ms);
        Plan::Wait(Duration::from_millis(wait as u64))
    }
}

/// When to look again at a namespace whose remaining content should be gone in `estimate`
/// seconds: about halfway there, as upstream does.
pub fn recheck_after(estimate_seconds: i64) -> Duration {
    Duration::from_secs((estimate_seconds.max(0) / 2 + 1) as u64)
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, deletion::Error> {
    let _timer = crate::metrics::WorkTimer::start("namespace");
    let name = ns.metadata.name.clone().unwrap_or_default();
    let span = tracing::info_span!(
        "reconcile",
        controller = NAME,
        name = %name,
        uid = ns.metadata.uid.as_deref().unwrap_or_default(),
    );
    async move {
        match plan(&ns, Timestamp::now()) {
            Plan::Ignore => Ok(Action::await_change()),
            Plan::Wait(d) => Ok(Action::requeue(d)),
            Plan::Sync => match ctx.deleter.delete(&name, Timestamp::now()).await? {
                Outcome::Done => {
                    ctx.backoff.forget(&name);
                    Ok(Action::await_change())
                }
                Outcome::Finalized => {
                    ctx.backoff.forget(&name);
                    tracing::info!(
                        "Namespace {name} is empty; released it for the apiserver to delete."
                    );
                    Ok(Action::await_change())
                }
                Outcome::Remaining { estimate_seconds } => {
                    let after = recheck_after(estimate_seconds);
                    tracing::info!(
                        "Content remains in namespace {name}; checking again in {}s.",
                        after.as_secs()
                    );
                    Ok(Action::requeue(after))
                }
            },
        }
    }
    .instrument(span)
    .await
}

fn error_policy(ns: Arc<Namespace>, err: &deletion::Error, ctx: Arc<Context>) -> Action {
    let name = ns.metadata.name.as_deref().unwrap_or_default();
    let delay = ctx.backoff.next_delay(name);
    tracing::warn!(
        "Deleting the content of namespace {name} failed: {err}. Retrying in {delay:?}."
    );
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn deleted_at(second: i64) -> Namespace {
        let mut ns = Namespace::default();
        ns.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(second).unwrap()));
        ns
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    #[test]
    fn waits_out_the_grace_period_after_deletion() {
        assert_eq!(plan(&Namespace::default(), at(0)), Plan::Ignore);
        assert_eq!(
            plan(&deleted_at(100), at(101_500)),
            Plan::Wait(Duration::from_millis(3500))
        );
        assert_eq!(plan(&deleted_at(100), at(105_000)), Plan::Sync);
        assert_eq!(plan(&deleted_at(100), at(900_000)), Plan::Sync);
        // A deletion "in the future" (clock skew) waits the period, no more.
        assert_eq!(
            plan(&deleted_at(100), at(50_000)),
            Plan::Wait(DELETION_GRACE_PERIOD)
        );
    }

    #[test]
    fn rechecks_about_halfway_through_the_estimate() {
        assert_eq!(recheck_after(15), Duration::from_secs(8));
        assert_eq!(recheck_after(30), Duration::from_secs(16));
        assert_eq!(recheck_after(1), Duration::from_secs(1));
    }
}
