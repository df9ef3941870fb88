//! Prometheus metrics: request counts and latencies by verb, resource and code, etcd latencies
//! by operation, and open watches, rendered in the text exposition format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upstream's buckets for request and etcd latencies, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, b) in BUCKETS.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<String, u64>,
    durations: BTreeMap<String, Histogram>,
    etcd: BTreeMap<String, Histogram>,
    watches: BTreeMap<String, i64>,
}

/// The process's metrics. Critical sections are a map update, never held across an await.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// The metrics of this process.
pub static METRICS: LazyLock<std::sync::Arc<Metrics>> = LazyLock::new(Default::default);

/// Labels of one request, as upstream's `apiserver_request_total`.
pub struct RequestLabels<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub scope: &'a str,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn observe_request(&self, l: &RequestLabels<'_>, code: u16, took: Duration) {
        let base = format!(
            "component=\"apiserver\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"",
            l.group, l.resource, l.scope, l.subresource, l.verb, l.version
        );
        let mut inner = self.lock();
        *inner
            .requests
            .entry(format!("code=\"{code}\",{base}"))
            .or_default() += 1;
        inner
            .durations
            .entry(base)
            .or_default()
            .observe(took.as_secs_f64());
    }

    pub fn observe_etcd(&self, operation: &str, resource: &str, took: Duration) {
        let key = format!("operation=\"{operation}\",type=\"{resource}\"");
        self.lock()
            .etcd
            .entry(key)
            .or_default()
            .observe(took.as_secs_f64());
    }

    pub fn watch_started(&self, resource: &str) {
        *self.lock().watches.entry(resource.to_string()).or_default() += 1;
    }

    pub fn watch_ended(&self, resource: &str) {
        *self.lock().watches.entry(resource.to_string()).or_default() -= 1;
    }

    /// Open watches of a resource.
    pub fn watches(&self, resource: &str) -> i64 {
        self.lock().watches.get(resource).copied().unwrap_or(0)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for (labels, n) in &inner.requests {
            let _ = writeln!(out, "apiserver_request_total{{{labels}}} {n}");
        }
        out.push_str("# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for (labels, h) in &inner.durations {
            h.render(&mut out, "apiserver_request_duration_seconds", labels);
        }
        out.push_str("# HELP etcd_request_duration_seconds Etcd request latency in seconds for each operation and object type.\n");
        out.push_str("# TYPE etcd_request_duration_seconds histogram\n");
        for (labels, h) in &inner.etcd {
            h.render(&mut out, "etcd_request_duration_seconds", labels);
        }
        out.push_str("# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.\n");
        out.push_str("# TYPE apiserver_longrunning_requests gauge\n");
        for (resource, n) in &inner.watches {
            let _ = writeln!(
                out,
                "apiserver_longrunning_requests{{component=\"apiserver\",resource=\"{resource}\",verb=\"WATCH\"}} {n}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        let l = RequestLabels {
            verb: "GET",
            group: "",
            version: "v1",
            resource: "configmaps",
            subresource: "",
            scope: "resource",
        };
        m.observe_request(&l, 200, Duration::from_millis(3));
        m.observe_etcd("get", "configmaps", Duration::from_millis(1));
        m.watch_started("pods");
        let text = m.render();
        assert!(text.contains("apiserver_request_total{code=\"200\",component=\"apiserver\",group=\"\",resource=\"configmaps\""));
        assert!(text.contains("apiserver_request_duration_seconds_bucket{"));
        assert!(text.contains(
            "etcd_request_duration_seconds_count{operation=\"get\",type=\"configmaps\"} 1"
        ));
        assert!(text.contains("resource=\"pods\",verb=\"WATCH\"} 1"));
    }
}
