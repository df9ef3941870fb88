//! Node taints as the node controllers handle them (upstream `pkg/util/taints` and the taint
//! helpers of `pkg/controller/controller_utils.go`): the well-known keys, whether a pod's
//! tolerations tolerate a taint, and swapping taints on a node in one optimistic write.

use crate::client;
use k8s_openapi::api::core::v1::{Node, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::time::Duration;

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

pub const NO_EXECUTE: &str = "NoExecute";
pub const NO_SCHEDULE: &str = "NoSchedule";

/// A taint with no value.
pub fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_string(),
        effect: effect.to_string(),
        value: None,
        time_added: None,
    }
}

/// Whether `taints` hold one with the key and effect of `t` (upstream `MatchTaint`).
pub fn has(taints: &[Taint], t: &Taint) -> bool {
    taints
        .iter()
        .any(|x| x.key == t.key && x.effect == t.effect)
}

pub fn of(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

/// Whether `toleration` tolerates `taint` (upstream `ToleratesTaint`): an empty effect matches
/// every effect, an empty key with `Exists` every key; `Equal` (or no operator) compares values.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or_default() {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        "Exists" => true,
        _ => false,
    }
}

/// The taints after adding `add` (replacing any with the same key and effect, each stamped
/// `timeAdded` now) and removing `remove`; `None` when nothing changes.
pub fn swapped(
    current: &[Taint],
    add: &[Taint],
    remove: &[Taint],
    now: Timestamp,
) -> Option<Vec<Taint>> {
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| !has(remove, t))
        .cloned()
        .collect();
    let mut changed = next.len() != current.len();
    for wanted in add {
        let mut wanted = wanted.clone();
        wanted.time_added = Some(Time(now));
        match next
            .iter_mut()
            .find(|t| t.key == wanted.key && t.effect == wanted.effect)
        {
            // Present with the same value: left as it is, its time included.
            Some(t) if t.value == wanted.value => {}
            Some(t) => {
                *t = wanted;
                changed = true;
            }
            None => {
                next.push(wanted);
                changed = true;
            }
        }
    }
    changed.then_some(next)
}

/// Adds `add` to and removes `remove` from the node's taints (upstream
/// `SwapNodeControllerTaint`), writing the whole list with the node's resourceVersion as a
/// precondition and retrying conflicts on a fresh read, as upstream's `RetryOnConflict` does.
pub async fn swap(
    client: &kube::Client,
    node: &Node,
    add: &[Taint],
    remove: &[Taint],
) -> Result<(), kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let name = node.metadata.name.clone().unwrap_or_default();
    let mut current = node.clone();
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            current = api.get(&name).await?;
        }
        let Some(next) = swapped(of(&current), add, remove, Timestamp::now()) else {
            return Ok(());
        };
        let taints = if next.is_empty() {
            serde_json::Value::Null
        } else {
            json!(next)
        };
        let patch = json!({
            "metadata": {"resourceVersion": current.metadata.resource_version},
            "spec": {"taints": taints},
        });
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if client::is_conflict(&e) && attempt < 4 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: opt(key),
            operator: opt(op),
            value: opt(value),
            effect: opt(effect),
            toleration_seconds: None,
        }
    }

    #[test]
    fn tolerations_match_as_upstream() {
        let mut t = taint("k", NO_EXECUTE);
        t.value = Some("v".to_string());
        assert!(tolerates(&toleration("k", "Equal", "v", "NoExecute"), &t));
        assert!(tolerates(&toleration("k", "", "v", ""), &t));
        assert!(!tolerates(&toleration("k", "Equal", "w", ""), &t));
        assert!(tolerates(&toleration("k", "Exists", "", ""), &t));
        assert!(tolerates(&toleration("", "Exists", "", ""), &t));
        assert!(!tolerates(&toleration("k", "Exists", "", "NoSchedule"), &t));
        assert!(!tolerates(&toleration("other", "Exists", "", ""), &t));
        assert!(!tolerates(&toleration("k", "Lt", "v", ""), &t));
    }

    #[test]
    fn swapping_adds_replaces_and_removes_by_key_and_effect() {
        let now = Timestamp::UNIX_EPOCH;
        let current = vec![taint(UNREACHABLE, NO_EXECUTE), taint("mine", NO_SCHEDULE)];
        let next = swapped(
            &current,
            &[taint(NOT_READY, NO_EXECUTE)],
            &[taint(UNREACHABLE, NO_EXECUTE)],
            now,
        )
        .unwrap();
        assert_eq!(next.len(), 2);
        assert_eq!(next[0].key, "mine");
        assert_eq!(next[1].key, NOT_READY);
        assert_eq!(next[1].time_added, Some(Time(now)));
        assert_eq!(
            swapped(&next, &[taint(NOT_READY, NO_EXECUTE)], &[], now),
            None
        );
        assert_eq!(
            swapped(&next, &[], &[taint(UNREACHABLE, NO_EXECUTE)], now),
            None
        );
    }
}
