//! PrioritySort (QueueSort): higher `spec.priority` first, then the pod that entered the queue
//! earlier.

use crate::framework::{Plugin, QueueSortPlugin};
use crate::queue::QueuedPodInfo;
use k8s_openapi::api::core::v1::Pod;
use std::sync::Arc;

pub const NAME: &str = "PrioritySort";

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(PrioritySort)
}

struct PrioritySort;

/// The pod's priority (0 when the admission plugin has not set one).
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Upstream's `PrioritySort.Less`.
pub fn less(a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
    let (pa, pb) = (priority(&a.pod), priority(&b.pod));
    pa > pb || (pa == pb && a.timestamp < b.timestamp)
}

impl Plugin for PrioritySort {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_queue_sort(&self) -> Option<&dyn QueueSortPlugin> {
        Some(self)
    }
}

impl QueueSortPlugin for PrioritySort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        less(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::pod;
    use std::time::{Duration, Instant};

    fn queued(priority: i32, at: Instant) -> QueuedPodInfo {
        let mut p = pod("p", &[&[]]);
        p.spec.as_mut().unwrap().priority = Some(priority);
        let mut q = QueuedPodInfo::new(Arc::new(p), at);
        q.timestamp = at;
        q
    }

    #[test]
    fn higher_priority_then_older_first() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        assert!(less(&queued(10, t1), &queued(0, t0)));
        assert!(!less(&queued(0, t0), &queued(10, t1)));
        assert!(less(&queued(5, t0), &queued(5, t1)));
        assert!(!less(&queued(5, t1), &queued(5, t0)));
    }
}
