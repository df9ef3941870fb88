//! Whether a node's kubelet is still alive (upstream `tryUpdateNodeHealth`): the controller
//! notes, on its own clock, when it last saw the node's Ready heartbeat or its Lease renewed
//! (the probe time). Once the probe time is older than the grace period (the startup grace
//! period for a node that never reported), the node's Ready, MemoryPressure, DiskPressure and
//! PIDPressure conditions become Unknown.

use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// The conditions the controller marks Unknown; NetworkUnavailable is the control plane's.
pub const WATCHED: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller remembers of a node.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// The Ready condition as last seen.
    pub ready: Option<NodeCondition>,
    /// When the controller last saw a sign of life.
    pub probe: Option<Timestamp>,
    /// When the controller last saw the Ready condition change.
    pub ready_transition: Option<Timestamp>,
    /// The Lease's renew time as last seen.
    pub lease_renewed: Option<MicroTime>,
}

pub fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn created(node: &Node) -> Timestamp {
    node.metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

/// The outcome of looking at one node.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The Ready condition as the node reported it (a made-up Unknown one if it never did).
    pub observed: NodeCondition,
    /// The Ready condition after this look (Unknown once the grace period passed).
    pub current: Option<NodeCondition>,
    /// The node with conditions marked Unknown, when it must be written.
    pub write: Option<Node>,
}

/// Looks at `node` (and its Lease's renew time) with what was remembered of it, updating the
/// memory.
pub fn observe(
    health: &mut Health,
    node: &Node,
    lease_renewed: Option<&MicroTime>,
    monitor_grace: Duration,
    startup_grace: Duration,
    now: Timestamp,
) -> Observed {
    let current = condition(node, "Ready").cloned();
    let (observed, grace) = match &current {
        Some(c) => (c.clone(), monitor_grace),
        None => {
            let at = Some(Time(created(node)));
            let fake = NodeCondition {
                type_: "Ready".to_string(),
                status: "Unknown".to_string(),
                last_heartbeat_time: at.clone(),
                last_transition_time: at,
                ..Default::default()
            };
            (fake, startup_grace)
        }
    };
    match (&health.ready, &current) {
        // Never seen: a node that never reported counts from its creation.
        _ if health.probe.is_none() => {
            let since = if current.is_some() {
                now
            } else {
                created(node)
            };
            health.probe = Some(since);
            health.ready_transition = Some(since);
        }
        (None, Some(_)) | (Some(_), None) => {
            health.probe = Some(now);
            health.ready_transition = Some(now);
        }
        (Some(saved), Some(cur)) if saved.last_heartbeat_time != cur.last_heartbeat_time => {
            health.probe = Some(now);
            if saved.last_transition_time != cur.last_transition_time {
                health.ready_transition = Some(now);
            }
        }
        _ => {}
    }
    health.ready = current.clone();
    // A renewed Lease is a sign of life even without status updates.
    if let Some(renewed) = lease_renewed
        && health
            .lease_renewed
            .as_ref()
            .is_none_or(|saved| saved.0 < renewed.0)
    {
        health.lease_renewed = Some(renewed.clone());
        health.probe = Some(now);
    }
    let probe = health.probe.unwrap_or(now);
    let expired = SignedDuration::try_from(grace)
        .ok()
        .and_then(|g| probe.checked_add(g).ok())
        .is_some_and(|deadline| now > deadline);
    if !expired {
        return Observed {
            observed,
            current,
            write: None,
        };
    }
    let mut updated = node.clone();
    let conditions = updated
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    for type_ in WATCHED {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => conditions.push(NodeCondition {
                type_: type_.to_string(),
                status: "Unknown".to_string(),
                reason: Some("NodeStatusNeverUpdated".to_string()),
                message: Some("Kubelet never posted node status.".to_string()),
                last_heartbeat_time: Some(Time(created(node))),
                last_transition_time: Some(Time(now)),
            }),
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".to_string();
                c.reason = Some("NodeStatusUnknown".to_string());
                c.message = Some("Kubelet stopped posting node status.".to_string());
                c.last_transition_time = Some(Time(now));
            }
            Some(_) => {}
        }
    }
    let after = condition(&updated, "Ready").cloned();
    if after.as_ref() == Some(&observed) {
        return Observed {
            observed,
            current: after,
            write: None,
        };
    }
    health.ready_transition = Some(now);
    health.ready = after.clone();
    Observed {
        observed,
        current: after,
        write: Some(updated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeStatus;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn node(ready: Option<(&str, i64)>) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some("n1".to_string());
        n.metadata.creation_timestamp = Some(Time(at(0)));
        n.status = Some(NodeStatus {
            conditions: ready.map(|(status, beat)| {
                vec![NodeCondition {
                    type_: "Ready".to_string(),
                    status: status.to_string(),
                    last_heartbeat_time: Some(Time(at(beat))),
                    last_transition_time: Some(Time(at(0))),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        });
        n
    }

    const GRACE: Duration = Duration::from_secs(50);
    const STARTUP: Duration = Duration::from_secs(60);

    #[test]
    fn a_silent_node_turns_unknown_after_the_grace_period() {
        let mut h = Health::default();
        let n = node(Some(("True", 0)));
        assert!(
            observe(&mut h, &n, None, GRACE, STARTUP, at(10))
                .write
                .is_none()
        );
        assert!(
            observe(&mut h, &n, None, GRACE, STARTUP, at(59))
                .write
                .is_none()
        );
        let o = observe(&mut h, &n, None, GRACE, STARTUP, at(61));
        assert_eq!(o.observed.status, "True");
        let written = o.write.unwrap();
        let ready = condition(&written, "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(ready.last_heartbeat_time, Some(Time(at(0))));
        assert_eq!(ready.last_transition_time, Some(Time(at(61))));
        let memory = condition(&written, "MemoryPressure").unwrap();
        assert_eq!(memory.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert_eq!(
            memory.message.as_deref(),
            Some("Kubelet never posted node status.")
        );
    }

    #[test]
    fn heartbeats_and_lease_renewals_keep_a_node_alive() {
        let mut h = Health::default();
        observe(
            &mut h,
            &node(Some(("True", 0))),
            None,
            GRACE,
            STARTUP,
            at(0),
        );
        assert!(
            observe(
                &mut h,
                &node(Some(("True", 40))),
                None,
                GRACE,
                STARTUP,
                at(40)
            )
            .write
            .is_none()
        );
        let lease = MicroTime(at(80));
        assert!(
            observe(
                &mut h,
                &node(Some(("True", 40))),
                Some(&lease),
                GRACE,
                STARTUP,
                at(80)
            )
            .write
            .is_none()
        );
        assert!(
            observe(
                &mut h,
                &node(Some(("True", 40))),
                Some(&lease),
                GRACE,
                STARTUP,
                at(129)
            )
            .write
            .is_none()
        );
        assert!(
            observe(
                &mut h,
                &node(Some(("True", 40))),
                Some(&lease),
                GRACE,
                STARTUP,
                at(131)
            )
            .write
            .is_some()
        );
    }

    #[test]
    fn a_node_that_never_reported_gets_the_startup_grace_from_its_creation() {
        let mut h = Health::default();
        let n = node(None);
        assert!(
            observe(&mut h, &n, None, GRACE, STARTUP, at(59))
                .write
                .is_none()
        );
        let o = observe(&mut h, &n, None, GRACE, STARTUP, at(61));
        let ready = condition(o.write.as_ref().unwrap(), "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert_eq!(o.observed.status, "Unknown");
    }

    #[test]
    fn an_unknown_node_is_written_once() {
        let mut h = Health::default();
        let n = node(Some(("Unknown", 0)));
        observe(&mut h, &n, None, GRACE, STARTUP, at(0));
        assert!(
            observe(&mut h, &n, None, GRACE, STARTUP, at(100))
                .write
                .is_none()
        );
    }
}
