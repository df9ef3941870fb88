//! The metrics APIs the autoscaler reads (upstream `podautoscaler/metrics`): pod resource
//! usage from `metrics.k8s.io/v1beta1` PodMetrics, listed by the target's selector, summed
//! per pod (or taken from one container). The custom and external metrics APIs are not read
//! yet: their absence is reported with upstream's errors, and their presence as unsupported.

use super::replicas::{PodMetric, PodMetricsInfo, milli_value};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The resource metrics API group.
pub const RESOURCE_METRICS_GROUP: &str = "metrics.k8s.io";
/// The custom metrics API group.
pub const CUSTOM_METRICS_GROUP: &str = "custom.metrics.k8s.io";
/// The external metrics API group.
pub const EXTERNAL_METRICS_GROUP: &str = "external.metrics.k8s.io";

/// Why metrics could not be read. The messages are upstream's (client-go's for HTTP errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listing PodMetrics failed.
    #[error("unable to fetch metrics from resource metrics API: {0}")]
    Fetch(String),
    /// No PodMetrics matched the selector.
    #[error("no metrics returned from resource metrics API")]
    Empty,
    /// A container-resource metric names a container a pod's metrics lack.
    #[error(
        "failed to get container metrics: container {container} not present in metrics for pod {namespace}/{pod}"
    )]
    NoContainer {
        container: String,
        namespace: String,
        pod: String,
    },
    /// The custom metrics API is not served.
    #[error(
        "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered"
    )]
    NoCustomMetricsApi,
    /// The external metrics API does not serve the metric.
    #[error("unable to fetch metrics from external metrics API: {0}")]
    External(String),
    /// The API is served, but ferrokube does not read it yet.
    #[error("reading the {0} API is not supported by this controller manager yet")]
    Unsupported(&'static str),
}

/// One PodMetrics object, as metrics-server serves it.
#[derive(Debug, Clone, Deserialize)]
pub struct PodMetrics {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub timestamp: Option<Time>,
    pub window: Option<String>,
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

/// One container's usage.
#[derive(Debug, Clone, Deserialize)]
pub struct ContainerMetrics {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
}

#[derive(Debug, Deserialize)]
struct PodMetricsList {
    #[serde(default)]
    items: Vec<PodMetrics>,
}

/// client-go's message for a 404 without a Status body (an API group nobody serves).
fn not_found(verb: &str, resource: &str, group: &str) -> String {
    format!("the server could not find the requested resource ({verb} {resource}.{group})")
}

fn http_message(err: &kube::Error, resource: &str, group: &str) -> String {
    if crate::client::is_not_found(err) {
        not_found("get", resource, group)
    } else {
        crate::client::message(err)
    }
}

/// Lists the PodMetrics of `namespace` selected by `selector` (a label selector string).
pub async fn list_pod_metrics(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<PodMetrics>, Error> {
    let path = format!("/apis/{RESOURCE_METRICS_GROUP}/v1beta1/namespaces/{namespace}/pods");
    let mut params = ListParams::default();
    if !selector.is_empty() {
        params = params.labels(selector);
    }
    let request = kube::core::Request::new(path)
        .list(&params)
        .map_err(|e| Error::Fetch(e.to_string()))?;
    let list: PodMetricsList = client
        .request(request)
        .await
        .map_err(|e| Error::Fetch(http_message(&e, "pods", RESOURCE_METRICS_GROUP)))?;
    Ok(list.items)
}

/// A Go duration string (`30s`, `1m0s`, `1.5s`, `500ms`) as a Duration; zero if unreadable.
pub fn parse_window(s: &str) -> Duration {
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' {
                break;
            }
            unit.push(n);
            chars.next();
        }
        let Ok(value) = number.parse::<f64>() else {
            return Duration::ZERO;
        };
        number.clear();
        let scale = match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Duration::ZERO,
        };
        total += value * scale;
    }
    if !number.is_empty() {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(total).unwrap_or_default()
}

fn sample(m: &PodMetrics, value: i64) -> PodMetric {
    PodMetric {
        timestamp: m.timestamp.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0),
        window: m.window.as_deref().map(parse_window).unwrap_or_default(),
        value,
    }
}

/// Each pod's usage of `resource`: the sum over its containers, or `container`'s alone. A pod
/// without containers, or with one lacking the resource, has no sample (summed); a pod whose
/// metrics lack `container` fails.
pub fn pod_usage(
    items: &[PodMetrics],
    resource: &str,
    container: Option<&str>,
) -> Result<PodMetricsInfo, Error> {
    let mut out = PodMetricsInfo::new();
    for m in items {
        let name = m.metadata.name.clone().unwrap_or_default();
        if let Some(want) = container {
            let Some(c) = m.containers.iter().find(|c| c.name == want) else {
                return Err(Error::NoContainer {
                    container: want.to_string(),
                    namespace: m.metadata.namespace.clone().unwrap_or_default(),
                    pod: name,
                });
            };
            if let Some(v) = c.usage.get(resource).and_then(|q| milli_value(&q.0)) {
                out.insert(name, sample(m, v));
            }
            continue;
        }
        if m.containers.is_empty() {
            continue;
        }
        let values: Option<Vec<i64>> = m
            .containers
            .iter()
            .map(|c| c.usage.get(resource).and_then(|q| milli_value(&q.0)))
            .collect();
        if let Some(values) = values {
            out.insert(name, sample(m, values.iter().sum()));
        }
    }
    Ok(out)
}

/// The resource usage of the pods `selector` picks, and the time of the first sample.
pub async fn resource_metric(
    client: &kube::Client,
    resource: &str,
    namespace: &str,
    selector: &str,
    container: Option<&str>,
) -> Result<(PodMetricsInfo, Timestamp), Error> {
    let items = list_pod_metrics(client, namespace, selector).await?;
    let Some(first) = items.first() else {
        return Err(Error::Empty);
    };
    let timestamp = first
        .timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
    Ok((pod_usage(&items, resource, container)?, timestamp))
}

/// Whether the apiserver serves `group` (through discovery, as the custom metrics client
/// finds its version).
pub async fn group_served(client: &kube::Client, group: &str) -> Result<bool, kube::Error> {
    let groups = client.list_api_groups().await?;
    Ok(groups.groups.iter().any(|g| g.name == group))
}

/// Reading a custom metric (Pods and Object sources).
pub async fn custom_metric(client: &kube::Client) -> Result<(), Error> {
    match group_served(client, CUSTOM_METRICS_GROUP).await {
        Ok(false) => Err(Error::NoCustomMetricsApi),
        Ok(true) => Err(Error::Unsupported(CUSTOM_METRICS_GROUP)),
        Err(e) => Err(Error::Fetch(crate::client::message(&e))),
    }
}

/// Reading an external metric: upstream's client asks for the metric by name under the
/// namespace, which an apiserver without the group answers with a 404.
pub async fn external_metric(client: &kube::Client, metric: &str) -> Result<(), Error> {
    match group_served(client, EXTERNAL_METRICS_GROUP).await {
        Ok(false) => Err(Error::External(not_found(
            "get",
            metric,
            EXTERNAL_METRICS_GROUP,
        ))),
        Ok(true) => Err(Error::Unsupported(EXTERNAL_METRICS_GROUP)),
        Err(e) => Err(Error::External(crate::client::message(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(v: serde_json::Value) -> Vec<PodMetrics> {
        serde_json::from_value::<PodMetricsList>(v).unwrap().items
    }

    #[test]
    fn windows_parse_as_go_durations() {
        assert_eq!(parse_window("30s"), Duration::from_secs(30));
        assert_eq!(parse_window("1m0s"), Duration::from_secs(60));
        assert_eq!(parse_window("15.5s"), Duration::from_millis(15_500));
        assert_eq!(parse_window("500ms"), Duration::from_millis(500));
        assert_eq!(parse_window("bogus"), Duration::ZERO);
    }

    #[test]
    fn usage_sums_containers_or_takes_one() {
        let list = items(json!({"items": [
            {"metadata": {"name": "a", "namespace": "ns"}, "timestamp": "2025-01-01T00:00:00Z",
             "window": "30s", "containers": [
                {"name": "app", "usage": {"cpu": "250m", "memory": "10Mi"}},
                {"name": "side", "usage": {"cpu": "50m", "memory": "1Mi"}}]},
            {"metadata": {"name": "b", "namespace": "ns"}, "timestamp": "2025-01-01T00:00:00Z",
             "window": "30s", "containers": [{"name": "app", "usage": {"memory": "5Mi"}}]},
            {"metadata": {"name": "c", "namespace": "ns"}, "containers": []}
        ]}));
        let cpu = pod_usage(&list, "cpu", None).unwrap();
        assert_eq!(cpu["a"].value, 300);
        assert_eq!(cpu["a"].window, Duration::from_secs(30));
        // A pod whose container lacks the resource, and one without containers, are missing.
        assert_eq!(cpu.len(), 1);
        // One container: every pod must report it.
        let app = pod_usage(&list[..2], "cpu", Some("app")).unwrap();
        assert_eq!(app["a"].value, 250);
        assert!(!app.contains_key("b"));
        assert_eq!(
            pod_usage(&list, "cpu", Some("side"))
                .unwrap_err()
                .to_string(),
            "failed to get container metrics: container side not present in metrics for pod ns/b"
        );
    }

    #[test]
    fn absent_apis_read_as_upstream_reports_them() {
        assert_eq!(
            Error::Fetch(not_found("get", "pods", RESOURCE_METRICS_GROUP)).to_string(),
            "unable to fetch metrics from resource metrics API: the server could not find the \
             requested resource (get pods.metrics.k8s.io)"
        );
        assert_eq!(
            Error::External(not_found("get", "queue", EXTERNAL_METRICS_GROUP)).to_string(),
            "unable to fetch metrics from external metrics API: the server could not find the \
             requested resource (get queue.external.metrics.k8s.io)"
        );
    }
}
