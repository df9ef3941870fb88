//! The controller manager's metrics, in the Prometheus text format on `/metrics`: syncs by
//! controller and result, work queue depth, adds and retries (upstream's `workqueue_*` names),
//! and whether this instance leads (`leader_election_master_status`). One registry per
//! process, as client-go's default registry is.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Default)]
pub struct Metrics {
    /// (controller, result) -> count.
    syncs: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// queue name -> (adds, retries, depth).
    queues: Mutex<BTreeMap<String, (u64, u64, usize)>>,
    /// lease name -> whether held.
    leading: Mutex<BTreeMap<String, bool>>,
}

/// The process's registry.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Metrics {
    /// Counts one sync of `controller` (`success` or `error`).
    pub fn sync(&self, controller: &str, ok: bool) {
        let result = if ok { "success" } else { "error" };
        *lock(&self.syncs)
            .entry((controller.to_string(), result))
            .or_default() += 1;
    }

    /// Counts an add to the queue `name`, now `depth` deep.
    pub fn queue_add(&self, name: &str, depth: usize) {
        let mut queues = lock(&self.queues);
        let q = queues.entry(name.to_string()).or_default();
        q.0 += 1;
        q.2 = depth;
    }

    pub fn queue_retry(&self, name: &str) {
        lock(&self.queues).entry(name.to_string()).or_default().1 += 1;
    }

    pub fn queue_depth(&self, name: &str, depth: usize) {
        lock(&self.queues).entry(name.to_string()).or_default().2 = depth;
    }

    pub fn leading(&self, lease: &str, leads: bool) {
        lock(&self.leading).insert(lease.to_string(), leads);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP ferrokube_controller_syncs_total Syncs by controller and result."
        );
        let _ = writeln!(out, "# TYPE ferrokube_controller_syncs_total counter");
        for ((controller, result), n) in lock(&self.syncs).iter() {
            let _ = writeln!(
                out,
                "ferrokube_controller_syncs_total{{controller=\"{controller}\",result=\"{result}\"}} {n}"
            );
        }
        let queues = lock(&self.queues);
        for (metric, kind, help) in [
            (
                "workqueue_adds_total",
                "counter",
                "Total number of adds handled by workqueue",
            ),
            (
                "workqueue_retries_total",
                "counter",
                "Total number of retries handled by workqueue",
            ),
            ("workqueue_depth", "gauge", "Current depth of workqueue"),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}");
            let _ = writeln!(out, "# TYPE {metric} {kind}");
            for (name, (adds, retries, depth)) in queues.iter() {
                let value = match metric {
                    "workqueue_adds_total" => *adds as usize,
                    "workqueue_retries_total" => *retries as usize,
                    _ => *depth,
                };
                let _ = writeln!(out, "{metric}{{name=\"{name}\"}} {value}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP leader_election_master_status Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master."
        );
        let _ = writeln!(out, "# TYPE leader_election_master_status gauge");
        for (name, leads) in lock(&self.leading).iter() {
            let _ = writeln!(
                out,
                "leader_election_master_status{{name=\"{name}\"}} {}",
                u8::from(*leads)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.sync("deployment-controller", true);
        m.sync("deployment-controller", true);
        m.sync("deployment-controller", false);
        m.queue_add("endpoint", 3);
        m.queue_retry("endpoint");
        m.leading("kube-controller-manager", true);
        let text = m.render();
        assert!(text.contains("ferrokube_controller_syncs_total{controller=\"deployment-controller\",result=\"success\"} 2"), "{text}");
        assert!(text.contains("ferrokube_controller_syncs_total{controller=\"deployment-controller\",result=\"error\"} 1"));
        assert!(text.contains("workqueue_adds_total{name=\"endpoint\"} 1"));
        assert!(text.contains("workqueue_retries_total{name=\"endpoint\"} 1"));
        assert!(text.contains("workqueue_depth{name=\"endpoint\"} 3"));
        assert!(text.contains("leader_election_master_status{name=\"kube-controller-manager\"} 1"));
    }
}
