//! The scheduler's metrics in the Prometheus text format, under upstream's names:
//! `scheduler_schedule_attempts_total{profile,result}`, `scheduler_pending_pods{queue}`,
//! `scheduler_scheduling_attempt_duration_seconds{profile,result}` (a histogram with upstream's
//! buckets, 1 ms doubling 15 times), `scheduler_cache_size{type}` and
//! `leader_election_master_status{name}`. One registry per process.

use crate::queue::Pending;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The outcome of one scheduling attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Scheduled,
    Unschedulable,
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Scheduled => "scheduled",
            Outcome::Unschedulable => "unschedulable",
            Outcome::Error => "error",
        }
    }
}

/// Upstream's `ExponentialBuckets(0.001, 2, 15)`.
fn buckets() -> impl Iterator<Item = f64> {
    (0..15).map(|i| f64::from(1u32 << i) / 1000.0)
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; 15],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = buckets().position(|le| seconds <= le) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    attempts: Mutex<BTreeMap<(String, Outcome), u64>>,
    durations: Mutex<BTreeMap<(String, Outcome), Histogram>>,
    pending: Mutex<Pending>,
    cache: Mutex<(usize, usize, usize)>,
    leading: Mutex<BTreeMap<String, bool>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The process's registry.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

/// Renders the process's registry (for the HTTPS endpoint).
pub fn render() -> String {
    global().render()
}

impl Metrics {
    /// Counts one attempt of `profile` and how long it took.
    pub fn attempt(&self, profile: &str, outcome: Outcome, took: Duration) {
        *lock(&self.attempts)
            .entry((profile.to_string(), outcome))
            .or_default() += 1;
        lock(&self.durations)
            .entry((profile.to_string(), outcome))
            .or_default()
            .observe(took.as_secs_f64());
    }

    pub fn pending(&self, p: Pending) {
        *lock(&self.pending) = p;
    }

    /// (nodes, pods, assumed pods).
    pub fn cache_size(&self, sizes: (usize, usize, usize)) {
        *lock(&self.cache) = sizes;
    }

    pub fn leading(&self, lease: &str, leads: bool) {
        lock(&self.leading).insert(lease.to_string(), leads);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP scheduler_schedule_attempts_total Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem."
        );
        let _ = writeln!(out, "# TYPE scheduler_schedule_attempts_total counter");
        for ((profile, outcome), n) in lock(&self.attempts).iter() {
            let _ = writeln!(
                out,
                "scheduler_schedule_attempts_total{{profile=\"{profile}\",result=\"{}\"}} {n}",
                outcome.label()
            );
        }
        let _ = writeln!(
            out,
            "# HELP scheduler_scheduling_attempt_duration_seconds Scheduling attempt latency in seconds (scheduling algorithm + binding)"
        );
        let _ = writeln!(
            out,
            "# TYPE scheduler_scheduling_attempt_duration_seconds histogram"
        );
        for ((profile, outcome), h) in lock(&self.durations).iter() {
            let labels = format!("profile=\"{profile}\",result=\"{}\"", outcome.label());
            let mut cumulative = 0;
            for (n, le) in h.counts.iter().zip(buckets()) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "scheduler_scheduling_attempt_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "scheduler_scheduling_attempt_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "scheduler_scheduling_attempt_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "scheduler_scheduling_attempt_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        let p = *lock(&self.pending);
        let _ = writeln!(
            out,
            "# HELP scheduler_pending_pods Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable pods that the scheduler never attempted to schedule because they are gated."
        );
        let _ = writeln!(out, "# TYPE scheduler_pending_pods gauge");
        for (queue, n) in [
            ("active", p.active),
            ("backoff", p.backoff),
            ("gated", p.gated),
            ("unschedulable", p.unschedulable),
        ] {
            let _ = writeln!(out, "scheduler_pending_pods{{queue=\"{queue}\"}} {n}");
        }
        let (nodes, pods, assumed) = *lock(&self.cache);
        let _ = writeln!(
            out,
            "# HELP scheduler_cache_size Number of nodes, pods, and assumed (bound) pods in the scheduler cache."
        );
        let _ = writeln!(out, "# TYPE scheduler_cache_size gauge");
        for (kind, n) in [("assumed_pods", assumed), ("nodes", nodes), ("pods", pods)] {
            let _ = writeln!(out, "scheduler_cache_size{{type=\"{kind}\"}} {n}");
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
    fn renders_upstream_names() {
        let m = Metrics::default();
        m.attempt(
            "default-scheduler",
            Outcome::Scheduled,
            Duration::from_millis(3),
        );
        m.attempt(
            "default-scheduler",
            Outcome::Unschedulable,
            Duration::from_secs(20),
        );
        m.pending(Pending {
            active: 1,
            backoff: 2,
            unschedulable: 3,
            gated: 4,
        });
        m.leading("kube-scheduler", true);
        let text = m.render();
        for line in [
            "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 1",
            "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"unschedulable\"} 1",
            "scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"default-scheduler\",result=\"scheduled\",le=\"0.002\"} 0",
            "scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"default-scheduler\",result=\"scheduled\",le=\"0.004\"} 1",
            "scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"default-scheduler\",result=\"unschedulable\",le=\"16.384\"} 0",
            "scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"default-scheduler\",result=\"unschedulable\",le=\"+Inf\"} 1",
            "scheduler_pending_pods{queue=\"gated\"} 4",
            "scheduler_pending_pods{queue=\"unschedulable\"} 3",
            "leader_election_master_status{name=\"kube-scheduler\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
