//! Objects that expire: etcd leases for the resources stored with a time to live (Events,
//! `--event-ttl`). As upstream's lease manager, one lease is shared by the writes of a short
//! window rather than granted per write: a lease costs etcd a raft entry and memory, and tens of
//! thousands of events an hour would otherwise mean as many leases. A shared lease is granted
//! for the TTL plus the window, so every object attached to it lives at least the TTL.

use super::Result;
use etcd_client::Client;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Upstream's `leaseReuseDurationSeconds`: the longest window a lease is reused in.
const MAX_REUSE: Duration = Duration::from_secs(60);
/// Upstream's `leaseReuseDurationPercent`: shorter TTLs reuse for this share of the TTL.
const REUSE_SHARE: f64 = 0.05;
/// Upstream's `leaseMaxObjectCount`: at most this many writes attach to one lease, so that its
/// expiry never deletes more objects at once.
const MAX_ATTACHED: u32 = 1000;

/// Hands out the lease each write of an expiring object attaches to.
pub struct LeaseManager {
    client: Client,
    ttl: Duration,
    current: Mutex<Option<Granted>>,
}

struct Granted {
    id: i64,
    expires: Instant,
    attached: u32,
}

impl LeaseManager {
    /// Objects written with this manager's leases live `ttl` (whole seconds, at least one).
    pub fn new(client: Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl: Duration::from_secs(ttl.as_secs().max(1)),
            current: Mutex::new(None),
        }
    }

    /// The lease to attach the next write to: the current one while an object attached now
    /// would still expire before it does (and it has room), otherwise a new one.
    pub async fn lease(&self) -> Result<i64> {
        let mut current = self.current.lock().await;
        let now = Instant::now();
        let reuse = reuse_window(self.ttl);
        if let Some(g) = current.as_mut() {
            let outlives = now + self.ttl < g.expires;
            // A lease expiring much later than the TTL (etcd raised a short TTL to its
            // minimum) would keep objects too long.
            let close = now + self.ttl + reuse >= g.expires;
            if outlives && close && g.attached < MAX_ATTACHED {
                g.attached += 1;
                return Ok(g.id);
            }
        }
        let asked = (self.ttl + reuse).as_secs() as i64;
        let granted = self.client.lease_client().grant(asked, None).await?;
        // etcd raises TTLs below its minimum; count from what it granted.
        let seconds = u64::try_from(granted.ttl()).unwrap_or(0).max(1);
        *current = Some(Granted {
            id: granted.id(),
            expires: now + Duration::from_secs(seconds),
            attached: 1,
        });
        Ok(granted.id())
    }
}

/// The window a lease is reused in: a share of the TTL, at most [`MAX_REUSE`], in whole
/// seconds as upstream counts it.
fn reuse_window(ttl: Duration) -> Duration {
    let share = Duration::from_secs((ttl.as_secs() as f64 * REUSE_SHARE) as u64);
    share.min(MAX_REUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reuse_window_is_a_share_of_the_ttl_capped_at_a_minute() {
        let window = |ttl: u64| reuse_window(Duration::from_secs(ttl)).as_secs();
        assert_eq!(window(3600), 60);
        assert_eq!(window(600), 30);
        assert_eq!(window(10), 0);
    }
}
