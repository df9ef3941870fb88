//! The controller manager's metrics, in the Prometheus text format on `/metrics`: syncs by
//! controller and result, work queue depth, adds and retries (upstream's `workqueue_*` names),
//! how long items wait in a queue and how long their syncs take (upstream's
//! `workqueue_queue_duration_seconds` and `workqueue_work_duration_seconds` histograms), and
//! whether this instance leads (`leader_election_master_status`). One registry per process, as
//! client-go's default registry is.

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
    /// queue name -> time from add to take.
    waits: Mutex<BTreeMap<String, Histogram>>,
    /// queue name -> time one sync took.
    work: Mutex<BTreeMap<String, Histogram>>,
}

/// client-go's workqueue buckets: ten powers of ten from 10 ns to 10 s, labelled as
/// Prometheus' Go client prints them.
const BUCKETS: [(f64, &str); 10] = [
    (1e-8, "1e-08"),
    (1e-7, "1e-07"),
    (1e-6, "1e-06"),
    (1e-5, "1e-05"),
    (1e-4, "0.0001"),
    (1e-3, "0.001"),
    (1e-2, "0.01"),
    (1e-1, "0.1"),
    (1.0, "1"),
    (10.0, "10"),
];

/// Observations in [`BUCKETS`] (each counted in the first bucket it fits), their sum and count.
#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|(le, _)| seconds <= *le) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, metric: &str, name: &str) {
        let mut cumulative = 0;
        for (n, (_, le)) in self.buckets.iter().zip(BUCKETS) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{metric}_bucket{{name=\"{name}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{metric}_bucket{{name=\"{name}\",le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{metric}_sum{{name=\"{name}\"}} {}", self.sum);
        let _ = writeln!(out, "{metric}_count{{name=\"{name}\"}} {}", self.count);
    }
}

/// Records, when dropped, how long a sync by a controller not built on [`crate::workqueue`]
/// took.
pub struct WorkTimer {
    queue: &'static str,
    started: std::time::Instant,
}

impl WorkTimer {
    pub fn start(queue: &'static str) -> Self {
        Self {
            queue,
            started: std::time::Instant::now(),
        }
    }
}

impl Drop for WorkTimer {
    fn drop(&mut self) {
        global().work_duration(self.queue, self.started.elapsed());
    }
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

    /// Records how long an item of the queue `name` waited before a worker took it.
    pub fn queue_duration(&self, name: &str, waited: std::time::Duration) {
        lock(&self.waits)
            .entry(name.to_string())
            .or_default()
            .observe(waited.as_secs_f64());
    }

    /// Records how long one sync of an item of the queue `name` took.
    pub fn work_duration(&self, name: &str, took: std::time::Duration) {
        lock(&self.work)
            .entry(name.to_string())
            .or_default()
            .observe(took.as_secs_f64());
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
        drop(queues);
        for (metric, help, histograms) in [
            (
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in workqueue before being requested.",
                &self.waits,
            ),
            (
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from workqueue takes.",
                &self.work,
            ),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}");
            let _ = writeln!(out, "# TYPE {metric} histogram");
            for (name, h) in lock(histograms).iter() {
                h.render(&mut out, metric, name);
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
        m.work_duration("endpoint", std::time::Duration::from_millis(5));
        m.work_duration("endpoint", std::time::Duration::from_secs(20));
        m.queue_duration("endpoint", std::time::Duration::from_nanos(5));
        let text = m.render();
        for line in [
            "workqueue_work_duration_seconds_bucket{name=\"endpoint\",le=\"0.001\"} 0",
            "workqueue_work_duration_seconds_bucket{name=\"endpoint\",le=\"0.01\"} 1",
            "workqueue_work_duration_seconds_bucket{name=\"endpoint\",le=\"10\"} 1",
            "workqueue_work_duration_seconds_bucket{name=\"endpoint\",le=\"+Inf\"} 2",
            "workqueue_work_duration_seconds_sum{name=\"endpoint\"} 20.005",
            "workqueue_work_duration_seconds_count{name=\"endpoint\"} 2",
            "workqueue_queue_duration_seconds_bucket{name=\"endpoint\",le=\"1e-08\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(text.contains("ferrokube_controller_syncs_total{controller=\"deployment-controller\",result=\"success\"} 2"), "{text}");
        assert!(text.contains("ferrokube_controller_syncs_total{controller=\"deployment-controller\",result=\"error\"} 1"));
        assert!(text.contains("workqueue_adds_total{name=\"endpoint\"} 1"));
        assert!(text.contains("workqueue_retries_total{name=\"endpoint\"} 1"));
        assert!(text.contains("workqueue_depth{name=\"endpoint\"} 3"));
        assert!(text.contains("leader_election_master_status{name=\"kube-controller-manager\"} 1"));
    }
}
