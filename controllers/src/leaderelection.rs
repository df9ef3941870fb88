//! Leader election on a coordination.k8s.io Lease, as client-go's `leaderelection` with a
//! `LeaseLock` does it: only the holder of the `kube-controller-manager` Lease in
//! `kube-system` runs the controllers; it renews the Lease every retry period, and another
//! instance takes over once the Lease has not been renewed for its duration.
//!
//! Timeline of one instance: try to acquire every retry period -> holder (an Event
//! `LeaderElection` "<identity> became leader" on the Lease) -> renew every retry period ->
//! unable to renew within the renew deadline -> leadership lost: the process stops, as
//! upstream's does, so a restart starts over cleanly.

use crate::client;
use crate::events::{EventType, Recorder};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use std::time::{Duration, Instant};

/// Upstream's defaults for kube-controller-manager.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// This machine's name, for candidate identities.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// What to elect on and how.
#[derive(Debug, Clone)]
pub struct Config {
    pub namespace: String,
    pub name: String,
    /// `<hostname>_<uuid>`, as upstream names candidates.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Config {
    /// The configuration with upstream's defaults for `name` in `kube-system`.
    pub fn new(name: &str) -> Self {
        let host = hostname();
        Self {
            namespace: "kube-system".to_string(),
            name: name.to_string(),
            identity: format!("{host}_{}", uuid::Uuid::new_v4()),
            lease_duration: LEASE_DURATION,
            renew_deadline: RENEW_DEADLINE,
            retry_period: RETRY_PERIOD,
        }
    }
}

/// What a look at the Lease decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Someone else holds a Lease that has not expired.
    HeldByOther(String),
    /// Write this Lease to hold it.
    Take(LeaseSpec),
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// Whether `current` (if any) may be taken or renewed by `config.identity` at `now`, and how.
pub fn decide(current: Option<&LeaseSpec>, config: &Config, now: Timestamp) -> Decision {
    let ours = |spec: &LeaseSpec| spec.holder_identity.as_deref() == Some(config.identity.as_str());
    if let Some(spec) = current
        && !ours(spec)
        && let Some(holder) = spec.holder_identity.as_deref().filter(|h| !h.is_empty())
    {
        let duration =
            SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
        let renewed = spec.renew_time.as_ref().map(|t| t.0);
        let expired = renewed.is_none_or(|t| t.checked_add(duration).is_ok_and(|end| end < now));
        if !expired {
            return Decision::HeldByOther(holder.to_string());
        }
    }
    let stamp = Some(MicroTime(now));
    let next = match current {
        Some(spec) if ours(spec) => LeaseSpec {
            renew_time: stamp,
            lease_duration_seconds: Some(seconds(config.lease_duration)),
            ..spec.clone()
        },
        _ => LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(seconds(config.lease_duration)),
            acquire_time: stamp.clone(),
            renew_time: stamp,
            lease_transitions: Some(current.and_then(|s| s.lease_transitions).map_or(0, |t| {
                t + i32::from(current.is_some_and(|s| s.holder_identity.is_some()))
            })),
            ..Default::default()
        },
    };
    Decision::Take(next)
}

/// One election: acquire, then renew.
pub struct Elector {
    api: Api<Lease>,
    config: Config,
    recorder: Recorder,
}

impl Elector {
    pub fn new(client: kube::Client, config: Config) -> Self {
        Self::for_component(client, config, "kube-controller-manager")
    }

    /// An election whose `LeaderElection` events are reported by `component`.
    pub fn for_component(client: kube::Client, config: Config, component: &'static str) -> Self {
        Self {
            api: Api::namespaced(client.clone(), &config.namespace),
            recorder: Recorder::new(client, component),
            config,
        }
    }

    /// One attempt to take or renew the Lease; whether we hold it now.
    async fn try_once(&self) -> bool {
        let current = match self.api.get_opt(&self.config.name).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(
                    "Reading the lease {}/{} failed: {}.",
                    self.config.namespace,
                    self.config.name,
                    client::message(&e)
                );
                return false;
            }
        };
        let spec = match decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.config,
            Timestamp::now(),
        ) {
            Decision::HeldByOther(_) => return false,
            Decision::Take(spec) => spec,
        };
        let became = current
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.holder_identity.as_deref())
            != Some(self.config.identity.as_str());
        let written = match current {
            Some(mut lease) => {
                lease.spec = Some(spec);
                self.api
                    .replace(&self.config.name, &PostParams::default(), &lease)
                    .await
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..Default::default()
                    },
                    spec: Some(spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
        };
        match written {
            Ok(lease) => {
                if became {
                    tracing::info!(
                        "{} acquired the lease {}/{}.",
                        self.config.identity,
                        self.config.namespace,
                        self.config.name
                    );
                    self.recorder.record(
                        &lease,
                        EventType::Normal,
                        "LeaderElection",
                        format!("{} became leader", self.config.identity),
                    );
                }
                true
            }
            // Someone else wrote it first.
            Err(e) if client::is_conflict(&e) || client::is_already_exists(&e) => false,
            Err(e) => {
                tracing::warn!(
                    "Writing the lease {}/{} failed: {}.",
                    self.config.namespace,
                    self.config.name,
                    client::message(&e)
                );
                false
            }
        }
    }

    /// Waits until this instance holds the Lease.
    pub async fn acquire(&self) {
        tracing::info!(
            "Attempting to acquire the leader lease {}/{}...",
            self.config.namespace,
            self.config.name
        );
        while !self.try_once().await {
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Renews the Lease every retry period; returns when it could not be renewed within the
    /// renew deadline (leadership lost).
    pub async fn keep(&self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            if self.try_once().await {
                last_renewed = Instant::now();
            } else if last_renewed.elapsed() > self.config.renew_deadline {
                tracing::error!(
                    "Leader election lost: the lease {}/{} was not renewed in time.",
                    self.config.namespace,
                    self.config.name
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(identity: &str) -> Config {
        Config {
            identity: identity.to_string(),
            ..Config::new("kube-controller-manager")
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn a_fresh_lease_is_taken_and_renewed() {
        let me = config("a");
        let Decision::Take(spec) = decide(None, &me, at(100)) else {
            panic!("a missing lease is free");
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        let Decision::Take(renewed) = decide(Some(&spec), &me, at(102)) else {
            panic!("our own lease renews");
        };
        assert_eq!(renewed.acquire_time, spec.acquire_time);
        assert_eq!(renewed.renew_time, Some(MicroTime(at(102))));
    }

    #[test]
    fn another_holder_keeps_it_until_it_expires() {
        let Decision::Take(theirs) = decide(None, &config("b"), at(100)) else {
            panic!();
        };
        assert_eq!(
            decide(Some(&theirs), &config("a"), at(110)),
            Decision::HeldByOther("b".to_string())
        );
        let Decision::Take(taken) = decide(Some(&theirs), &config("a"), at(116)) else {
            panic!("an expired lease is free");
        };
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.acquire_time, Some(MicroTime(at(116))));
    }
}
