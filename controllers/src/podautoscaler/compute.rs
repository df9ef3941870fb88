//! One metric's replica proposal (upstream's `computeReplicasForMetric` and the
//! `computeStatusFor*Metric` functions): the metric's current value read through
//! [`super::metrics`], the count from [`super::replicas`], and the `currentMetrics` entry. A
//! metric that cannot be computed yields a [`Failure`] carrying upstream's condition reason
//! and the messages of its event, its condition and the sync error.

use super::metrics;
use super::replicas::Calculator;
use super::status::milli_quantity;
use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricStatus, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus,
    ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use std::sync::Arc;

/// What a metric is computed from.
pub struct Inputs<'a> {
    pub client: &'a kube::Client,
    pub calculator: Calculator,
    pub namespace: &'a str,
    /// The target's `status.selector`, as the metrics API is asked with it.
    pub selector: &'a str,
    /// The pods the selector picks.
    pub pods: &'a [Arc<Pod>],
    /// The target's `spec.replicas`.
    pub spec_replicas: i32,
    pub now: Timestamp,
}

/// A metric's proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub replicas: i32,
    /// How the metric reads in the rescale reason (`cpu resource utilization (percentage of
    /// request)`).
    pub name: String,
    pub status: MetricStatus,
}

/// A metric that could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The `ScalingActive` reason and the event's (`FailedGetResourceMetric`, ...).
    pub reason: &'static str,
    /// The event's message; the condition says "the HPA was unable to compute the replica
    /// count: " and this.
    pub message: String,
    /// The error the metric contributes to the sync's.
    pub error: String,
}

impl Failure {
    fn new(reason: &'static str, message: String, error: String) -> Self {
        Self {
            reason,
            message,
            error,
        }
    }
}

/// Computes one metric's proposal.
pub async fn for_metric(inputs: &Inputs<'_>, spec: &MetricSpec) -> Result<Proposal, Failure> {
    match spec.type_.as_str() {
        "Resource" => {
            let Some(src) = spec.resource.as_ref() else {
                return Err(invalid_resource("FailedGetResourceMetric", "resource"));
            };
            let wrap = |e: String| format!("failed to get {} resource metric value: {e}", src.name);
            let (replicas, name, current) = resource(inputs, &src.name, None, &src.target)
                .await
                .map_err(|e| Failure::new("FailedGetResourceMetric", e.clone(), wrap(e)))?;
            Ok(Proposal {
                replicas,
                name,
                status: MetricStatus {
                    type_: "Resource".to_string(),
                    resource: Some(ResourceMetricStatus {
                        name: src.name.clone(),
                        current,
                    }),
                    ..Default::default()
                },
            })
        }
        "ContainerResource" => {
            let Some(src) = spec.container_resource.as_ref() else {
                return Err(invalid_resource(
                    "FailedGetContainerResourceMetric",
                    "container",
                ));
            };
            let wrap = |e: String| {
                format!(
                    "failed to get {} container metric value: {e}",
                    src.container
                )
            };
            let (replicas, name, current) =
                resource(inputs, &src.name, Some(&src.container), &src.target)
                    .await
                    .map_err(|e| {
                        Failure::new("FailedGetContainerResourceMetric", e.clone(), wrap(e))
                    })?;
            Ok(Proposal {
                replicas,
                name,
                status: MetricStatus {
                    type_: "ContainerResource".to_string(),
                    container_resource: Some(ContainerResourceMetricStatus {
                        name: src.name.clone(),
                        container: src.container.clone(),
                        current,
                    }),
                    ..Default::default()
                },
            })
        }
        "Pods" => {
            let metric = spec
                .pods
                .as_ref()
                .map(|p| p.metric.name.clone())
                .unwrap_or_default();
            let err = metrics::custom_metric(inputs.client)
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let message = format!("unable to get metric {metric}: {err}");
            let error = format!("failed to get pods metric value: {message}");
            Err(Failure::new("FailedGetPodsMetric", message, error))
        }
        "Object" => {
            let Some(src) = spec.object.as_ref() else {
                return Err(invalid_object());
            };
            let has_value = src.target.type_ == "Value" && src.target.value.is_some();
            let has_average =
                src.target.type_ == "AverageValue" && src.target.average_value.is_some();
            if !has_value && !has_average {
                return Err(invalid_object());
            }
            let err = metrics::custom_metric(inputs.client)
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            // Upstream's arguments land out of order in this message; kept so it reads the same.
            let message = format!(
                "unable to get metric {}: {} on {} {}/{err}",
                src.metric.name,
                src.described_object.kind,
                inputs.namespace,
                src.described_object.name
            );
            let inner = if has_value {
                message.clone()
            } else {
                format!("failed to get {} object metric: {message}", src.metric.name)
            };
            let error = format!("failed to get object metric value: {inner}");
            Err(Failure::new("FailedGetObjectMetric", message, error))
        }
        "External" => {
            let Some(src) = spec.external.as_ref() else {
                return Err(Failure::new(
                    "FailedGetExternalMetric",
                    INVALID_EXTERNAL.to_string(),
                    format!("failed to get  external metric value: {INVALID_EXTERNAL}"),
                ));
            };
            let name = &src.metric.name;
            let outer = |e: &str| format!("failed to get {name} external metric value: {e}");
            let by_average = src.target.average_value.is_some();
            if !by_average && src.target.value.is_none() {
                return Err(Failure::new(
                    "FailedGetExternalMetric",
                    INVALID_EXTERNAL.to_string(),
                    outer(INVALID_EXTERNAL),
                ));
            }
            let err = metrics::external_metric(inputs.client, name)
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let message = format!(
                "unable to get external metric {}/{name}/{}: {err}",
                inputs.namespace,
                crate::selector::go_text(src.metric.selector.as_ref())
            );
            let inner = if by_average {
                format!("failed to get {name} external metric: {message}")
            } else {
                format!("failed to get external metric {name}: {message}")
            };
            Err(Failure::new(
                "FailedGetExternalMetric",
                message,
                outer(&inner),
            ))
        }
        other => {
            let message = format!("unknown metric source type {other:?}");
            Err(Failure::new(
                "InvalidMetricSourceType",
                message.clone(),
                message,
            ))
        }
    }
}

const INVALID_EXTERNAL: &str =
    "invalid external metric source: neither a value target nor an average value target was set";
const INVALID_OBJECT: &str =
    "invalid object metric source: neither a value target nor an average value target was set";
const INVALID_RESOURCE: &str = "invalid resource metric source: neither an average utilization target nor an average value (usage) target was set";

fn invalid_object() -> Failure {
    Failure::new(
        "FailedGetObjectMetric",
        INVALID_OBJECT.to_string(),
        format!("failed to get object metric value: {INVALID_OBJECT}"),
    )
}

fn invalid_resource(reason: &'static str, what: &str) -> Failure {
    Failure::new(
        reason,
        INVALID_RESOURCE.to_string(),
        format!("failed to get {what} metric value: {INVALID_RESOURCE}"),
    )
}

/// A Resource or ContainerResource metric: the proposal, the metric's name and its current
/// value; or the message of the failure.
async fn resource(
    inputs: &Inputs<'_>,
    resource: &str,
    container: Option<&str>,
    target: &MetricTarget,
) -> Result<(i32, String, MetricValueStatus), String> {
    let fetch = || async {
        metrics::resource_metric(
            inputs.client,
            resource,
            inputs.namespace,
            inputs.selector,
            container,
        )
        .await
        .map(|(m, _)| m)
        .map_err(|e| format!("unable to get metrics for resource {resource}: {e}"))
    };
    if let Some(average) = &target.average_value {
        let wrap = |e: String| format!("failed to get {resource} usage: {e}");
        let samples = fetch().await.map_err(wrap)?;
        let target_usage = super::replicas::milli_value(&average.0).unwrap_or(0);
        let (replicas, usage) = inputs
            .calculator
            .plain_metric_replicas(
                samples,
                inputs.spec_replicas,
                target_usage,
                inputs.pods,
                resource,
                inputs.now,
            )
            .map_err(|e| wrap(e.to_string()))?;
        return Ok((
            replicas,
            format!("{resource} resource"),
            MetricValueStatus {
                average_value: Some(milli_quantity(usage)),
                ..Default::default()
            },
        ));
    }
    let Some(utilization) = target.average_utilization else {
        return Err(INVALID_RESOURCE.to_string());
    };
    let wrap = |e: String| format!("failed to get {resource} utilization: {e}");
    let samples = fetch().await.map_err(wrap)?;
    let u = inputs
        .calculator
        .resource_replicas(
            inputs.spec_replicas,
            utilization,
            resource,
            samples,
            inputs.pods,
            container,
            inputs.now,
        )
        .map_err(|e| wrap(e.to_string()))?;
    let name = if container.is_some() {
        format!("{resource} container resource utilization (percentage of request)")
    } else {
        format!("{resource} resource utilization (percentage of request)")
    };
    Ok((
        u.replicas,
        name,
        MetricValueStatus {
            average_utilization: Some(u.utilization),
            average_value: Some(milli_quantity(u.raw_average)),
            ..Default::default()
        },
    ))
}
