//! The replica calculator (upstream `replica_calculator.go` and `metrics/utilization.go`): from
//! the target's pods and their resource usage, the replica count that brings the usage to the
//! target.
//!
//! Pods are first sorted out ([`group_pods`]): deleted and failed pods are ignored; pending
//! pods count as unready; pods without a sample are missing; for CPU, a pod still starting up
//! is unready if it is not ready or its sample predates its readiness (within the CPU
//! initialization period), or if it has never been ready since start (within the initial
//! readiness delay). The ratio of usage to target is computed over the ready pods with
//! samples; within the tolerance nothing changes. Otherwise, when pods are missing or unready,
//! the ratio is recomputed the conservative way (missing pods use nothing on a scale up and
//! their request, or the target, on a scale down; unready pods use nothing on a scale up), and
//! a recomputed ratio that is within tolerance or points the other way keeps the count.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// One pod's sample: its usage in milli-units, when it was taken and over which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMetric {
    pub timestamp: Timestamp,
    pub window: Duration,
    pub value: i64,
}

/// The samples of a target's pods, by pod name.
pub type PodMetricsInfo = BTreeMap<String, PodMetric>;

/// Why no replica count could be calculated. The messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoReadyMetrics,
    #[error("missing request for {resource} in container {container} of Pod {pod}")]
    MissingRequest {
        resource: String,
        container: String,
        pod: String,
    },
    #[error("no metrics returned matched known pods")]
    NoMatchingMetrics,
}

/// The calculator's knobs (the controller manager's flags).
#[derive(Debug, Clone, Copy)]
pub struct Calculator {
    /// How far from 1.0 the usage ratio must be before the count changes.
    pub tolerance: f64,
    /// For CPU: how long after a pod's start its samples may be skipped.
    pub cpu_initialization_period: Duration,
    /// For CPU: how long after a pod's start a readiness change counts as the initial one.
    pub initial_readiness_delay: Duration,
}

/// A utilization result: the replica count, the utilization in percent of the requests and
/// the average raw usage (milli-units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utilization {
    pub replicas: i32,
    pub utilization: i32,
    pub raw_average: i64,
}

/// How the pods of a target sort out for one calculation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Groups {
    pub ready: usize,
    pub unready: BTreeSet<String>,
    pub missing: BTreeSet<String>,
    pub ignored: BTreeSet<String>,
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Sorts pods into ready, unready, missing (no sample) and ignored (deleted or failed).
pub fn group_pods(
    pods: &[Arc<Pod>],
    metrics: &PodMetricsInfo,
    resource: &str,
    cpu_initialization_period: Duration,
    initial_readiness_delay: Duration,
    now: Timestamp,
) -> Groups {
    let mut g = Groups::default();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() || phase == "Failed" {
            g.ignored.insert(name);
            continue;
        }
        if phase == "Pending" {
            g.unready.insert(name);
            continue;
        }
        let Some(metric) = metrics.get(&name) else {
            g.missing.insert(name);
            continue;
        };
        if resource == "cpu" {
            let condition = status
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
            let start = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
            let unready = match (condition, start) {
                (Some(c), Some(start)) => {
                    let transition = c
                        .last_transition_time
                        .as_ref()
                        .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
                    if add(start, cpu_initialization_period) > now {
                        c.status == "False" || metric.timestamp < add(transition, metric.window)
                    } else {
                        c.status == "False" && add(start, initial_readiness_delay) > transition
                    }
                }
                _ => true,
            };
            if unready {
                g.unready.insert(name);
                continue;
            }
        }
        g.ready += 1;
    }
    g
}

/// Each pod's request for `resource` (milli-units), summed over its containers (or only
/// `container`) and its restartable init containers. A container without the request fails.
pub fn pod_requests(
    pods: &[Arc<Pod>],
    container: Option<&str>,
    resource: &str,
) -> Result<BTreeMap<String, i64>, Error> {
    let mut requests = BTreeMap::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(spec) = pod.spec.as_ref() else {
            requests.insert(name, 0);
            continue;
        };
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        let mut sum = 0i64;
        for c in spec.containers.iter().chain(sidecars) {
            if container.is_some_and(|want| want != c.name) {
                continue;
            }
            let request = c
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(resource));
            match request {
                Some(q) => sum += milli_value(&q.0).unwrap_or(0),
                None => {
                    return Err(Error::MissingRequest {
                        resource: resource.to_string(),
                        container: c.name.clone(),
                        pod: name,
                    });
                }
            }
        }
        requests.insert(name, sum);
    }
    Ok(requests)
}

/// A quantity in milli-units, rounded up (upstream's `MilliValue`).
pub fn milli_value(q: &str) -> Option<i64> {
    let nanos = apimachinery::quantity::Quantity::parse(q).ok()?.nanos();
    let milli = nanos.div_euclid(1_000_000) + i128::from(nanos.rem_euclid(1_000_000) != 0);
    i64::try_from(milli).ok()
}

/// Usage over requests of the pods with both, as a ratio to the target utilization, the
/// utilization in percent and the average raw usage.
pub fn utilization_ratio(
    metrics: &PodMetricsInfo,
    requests: &BTreeMap<String, i64>,
    target_utilization: i32,
) -> Result<(f64, i32, i64), Error> {
    let (mut usage, mut requested, mut entries) = (0i64, 0i64, 0i64);
    for (pod, metric) in metrics {
        // Samples of pods without a request are extraneous.
        let Some(request) = requests.get(pod) else {
            continue;
        };
        usage += metric.value;
        requested += request;
        entries += 1;
    }
    if requested == 0 {
        return Err(Error::NoMatchingMetrics);
    }
    let utilization = i32::try_from(usage * 100 / requested).unwrap_or(i32::MAX);
    Ok((
        f64::from(utilization) / f64::from(target_utilization),
        utilization,
        usage / entries,
    ))
}

/// The average usage as a ratio to the target usage, and the average usage.
pub fn usage_ratio(metrics: &PodMetricsInfo, target_usage: i64) -> (f64, i64) {
    let total: i64 = metrics.values().map(|m| m.value).sum();
    let average = total / i64::try_from(metrics.len().max(1)).unwrap_or(1);
    (average as f64 / target_usage as f64, average)
}

fn ceil_replicas(ratio: f64, count: usize) -> i32 {
    let v = (ratio * count as f64).ceil();
    if v >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        v as i32
    }
}

impl Calculator {
    fn within_tolerance(&self, ratio: f64) -> bool {
        (1.0 - ratio).abs() <= self.tolerance
    }

    /// Whether a recomputed ratio keeps the count: within tolerance, or the other way round
    /// from the first.
    fn keeps(&self, first: f64, second: f64) -> bool {
        self.within_tolerance(second)
            || (first < 1.0 && second > 1.0)
            || (first > 1.0 && second < 1.0)
    }

    /// Replicas for a target utilization (percent of requests) of `resource`.
    #[allow(clippy::too_many_arguments)]
    pub fn resource_replicas(
        &self,
        current_replicas: i32,
        target_utilization: i32,
        resource: &str,
        mut metrics: PodMetricsInfo,
        pods: &[Arc<Pod>],
        container: Option<&str>,
        now: Timestamp,
    ) -> Result<Utilization, Error> {
        if pods.is_empty() {
            return Err(Error::NoPods);
        }
        let groups = group_pods(
            pods,
            &metrics,
            resource,
            self.cpu_initialization_period,
            self.initial_readiness_delay,
            now,
        );
        metrics.retain(|pod, _| !groups.ignored.contains(pod) && !groups.unready.contains(pod));
        if metrics.is_empty() {
            return Err(Error::NoReadyMetrics);
        }
        let requests = pod_requests(pods, container, resource)?;
        let (ratio, utilization, raw_average) =
            utilization_ratio(&metrics, &requests, target_utilization)?;
        let result = |replicas| Utilization {
            replicas,
            utilization,
            raw_average,
        };
        let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if self.within_tolerance(ratio) {
                return Ok(result(current_replicas));
            }
            return Ok(result(ceil_replicas(ratio, groups.ready)));
        }
        if ratio < 1.0 {
            // Scaling down: missing pods use their whole request (or the target when it is
            // above 100%).
            let fallback = i64::from(target_utilization.max(100));
            for pod in &groups.missing {
                let request = requests.get(pod).copied().unwrap_or(0);
                metrics.insert(pod.clone(), zero_metric(request * fallback / 100));
            }
        } else if ratio > 1.0 {
            for pod in &groups.missing {
                metrics.insert(pod.clone(), zero_metric(0));
            }
        }
        if scale_up_with_unready {
            for pod in &groups.unready {
                metrics.insert(pod.clone(), zero_metric(0));
            }
        }
        let (new_ratio, _, _) = utilization_ratio(&metrics, &requests, target_utilization)?;
        if self.keeps(ratio, new_ratio) {
            return Ok(result(current_replicas));
        }
        let replicas = ceil_replicas(new_ratio, metrics.len());
        if (new_ratio < 1.0 && replicas > current_replicas)
            || (new_ratio > 1.0 && replicas < current_replicas)
        {
            return Ok(result(current_replicas));
        }
        Ok(result(replicas))
    }

    /// Replicas for a target average usage (milli-units per pod) of `resource`; also the
    /// current average usage.
    pub fn plain_metric_replicas(
        &self,
        mut metrics: PodMetricsInfo,
        current_replicas: i32,
        target_usage: i64,
        pods: &[Arc<Pod>],
        resource: &str,
        now: Timestamp,
    ) -> Result<(i32, i64), Error> {
        if pods.is_empty() {
            return Err(Error::NoPods);
        }
        let groups = group_pods(
            pods,
            &metrics,
            resource,
            self.cpu_initialization_period,
            self.initial_readiness_delay,
            now,
        );
        metrics.retain(|pod, _| !groups.ignored.contains(pod) && !groups.unready.contains(pod));
        if metrics.is_empty() {
            return Err(Error::NoReadyMetrics);
        }
        let (ratio, usage) = usage_ratio(&metrics, target_usage);
        let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if self.within_tolerance(ratio) {
                return Ok((current_replicas, usage));
            }
            return Ok((ceil_replicas(ratio, groups.ready), usage));
        }
        // Missing pods use exactly the target on a scale down, nothing on a scale up.
        let fill = if ratio < 1.0 { target_usage } else { 0 };
        for pod in &groups.missing {
            metrics.insert(pod.clone(), zero_metric(fill));
        }
        if scale_up_with_unready {
            for pod in &groups.unready {
                metrics.insert(pod.clone(), zero_metric(0));
            }
        }
        let (new_ratio, _) = usage_ratio(&metrics, target_usage);
        if self.keeps(ratio, new_ratio) {
            return Ok((current_replicas, usage));
        }
        let replicas = ceil_replicas(new_ratio, metrics.len());
        if (new_ratio < 1.0 && replicas > current_replicas)
            || (new_ratio > 1.0 && replicas < current_replicas)
        {
            return Ok((current_replicas, usage));
        }
        Ok((replicas, usage))
    }
}

/// A filled-in sample for a pod without one (only its value is ever read).
fn zero_metric(value: i64) -> PodMetric {
    PodMetric {
        timestamp: Timestamp::UNIX_EPOCH,
        window: Duration::ZERO,
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, PodCondition, PodSpec, PodStatus, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    const NOW: i64 = 1_700_000_000;

    fn at(secs_ago: i64) -> Timestamp {
        Timestamp::from_second(NOW - secs_ago).unwrap()
    }

    /// A running, ready pod started long ago, requesting `cpu` per container.
    fn pod(name: &str, cpu: &[&str]) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: cpu
                    .iter()
                    .enumerate()
                    .map(|(i, q)| Container {
                        name: format!("c{i}"),
                        resources: Some(ResourceRequirements {
                            requests: Some([("cpu".to_string(), Quantity(q.to_string()))].into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".to_string()),
                start_time: Some(Time(at(3600))),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".to_string(),
                    status: "True".to_string(),
                    last_transition_time: Some(Time(at(3000))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    fn with(p: Arc<Pod>, f: impl FnOnce(&mut Pod)) -> Arc<Pod> {
        let mut p = (*p).clone();
        f(&mut p);
        Arc::new(p)
    }

    fn unready(p: Arc<Pod>, started_secs_ago: i64, transition_secs_ago: i64) -> Arc<Pod> {
        with(p, |p| {
            let s = p.status.as_mut().unwrap();
            s.start_time = Some(Time(at(started_secs_ago)));
            let c = &mut s.conditions.as_mut().unwrap()[0];
            c.status = "False".to_string();
            c.last_transition_time = Some(Time(at(transition_secs_ago)));
        })
    }

    fn metrics(values: &[(&str, i64)]) -> PodMetricsInfo {
        values
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    PodMetric {
                        timestamp: at(10),
                        window: Duration::from_secs(30),
                        value: *v,
                    },
                )
            })
            .collect()
    }

    fn calc() -> Calculator {
        Calculator {
            tolerance: 0.1,
            cpu_initialization_period: Duration::from_secs(300),
            initial_readiness_delay: Duration::from_secs(30),
        }
    }

    /// Cases from upstream's replica calculator tests: (name, current replicas, pods, samples,
    /// target utilization, want replicas, want utilization, want raw average).
    #[test]
    fn utilization_cases_match_upstream() {
        let p = |n| pod(n, &["1"]);
        type Case = (
            &'static str,
            i32,
            Vec<Arc<Pod>>,
            PodMetricsInfo,
            i32,
            Result<Utilization, Error>,
        );
        let ok = |replicas, utilization, raw_average| {
            Ok(Utilization {
                replicas,
                utilization,
                raw_average,
            })
        };
        let cases: Vec<Case> = vec![
            (
                "scale up",
                3,
                vec![p("a"), p("b"), p("c")],
                metrics(&[("a", 300), ("b", 500), ("c", 700)]),
                30,
                ok(5, 50, 500),
            ),
            (
                "scale down",
                5,
                vec![p("a"), p("b"), p("c"), p("d"), p("e")],
                metrics(&[("a", 100), ("b", 300), ("c", 500), ("d", 250), ("e", 250)]),
                50,
                ok(3, 28, 280),
            ),
            (
                "within tolerance",
                3,
                vec![p("a"), p("b"), p("c")],
                metrics(&[("a", 1010), ("b", 1030), ("c", 1020)]),
                100,
                ok(3, 102, 1020),
            ),
            (
                "missing pods count as 100% on a scale down",
                4,
                vec![p("a"), p("b"), p("c"), p("d")],
                metrics(&[("a", 100), ("b", 100), ("c", 100)]),
                50,
                ok(3, 10, 100),
            ),
            (
                "missing pods count as 0% on a scale up",
                4,
                vec![p("a"), p("b"), p("c"), p("d")],
                metrics(&[("a", 1000), ("b", 1000), ("c", 1000)]),
                50,
                ok(6, 100, 1000),
            ),
            (
                "missing pods flip the direction: no change",
                4,
                vec![p("a"), p("b"), p("c"), p("d")],
                metrics(&[("a", 550), ("b", 550), ("c", 550)]),
                50,
                ok(4, 55, 550),
            ),
            (
                "deleted and failed pods are ignored",
                4,
                vec![
                    p("a"),
                    p("b"),
                    with(p("c"), |p| {
                        p.metadata.deletion_timestamp = Some(Time(at(1)));
                    }),
                    with(p("d"), |p| {
                        p.status.as_mut().unwrap().phase = Some("Failed".to_string());
                    }),
                ],
                metrics(&[("a", 1000), ("b", 1000), ("c", 0), ("d", 0)]),
                50,
                ok(4, 100, 1000),
            ),
            (
                "unready pods count as 0% on a scale up",
                3,
                vec![p("a"), p("b"), unready(p("c"), 60, 50)],
                metrics(&[("a", 1000), ("b", 1000), ("c", 1000)]),
                50,
                ok(4, 100, 1000),
            ),
            (
                "pending pods are unready",
                2,
                vec![
                    p("a"),
                    with(p("b"), |p| {
                        p.status.as_mut().unwrap().phase = Some("Pending".to_string());
                    }),
                ],
                metrics(&[("a", 200)]),
                50,
                ok(1, 20, 200),
            ),
            ("no pods", 1, vec![], metrics(&[]), 50, Err(Error::NoPods)),
            (
                "only unready samples",
                1,
                vec![unready(p("a"), 60, 50)],
                metrics(&[("a", 500)]),
                50,
                Err(Error::NoReadyMetrics),
            ),
        ];
        for (name, current, pods, samples, target, want) in cases {
            let got = calc().resource_replicas(current, target, "cpu", samples, &pods, None, at(0));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn cpu_readiness_during_initialization() {
        let m = |secs_ago| {
            let mut m = metrics(&[("a", 1)]);
            m.get_mut("a").unwrap().timestamp = at(secs_ago);
            m
        };
        let groups = |p: Arc<Pod>, samples: &PodMetricsInfo| {
            group_pods(
                &[p],
                samples,
                "cpu",
                Duration::from_secs(300),
                Duration::from_secs(30),
                at(0),
            )
        };
        // Started a minute ago, ready 40 s ago: a sample taken 20 s ago covers 30 s, some of
        // it before readiness.
        let young = with(pod("a", &["1"]), |p| {
            let s = p.status.as_mut().unwrap();
            s.start_time = Some(Time(at(60)));
            s.conditions.as_mut().unwrap()[0].last_transition_time = Some(Time(at(40)));
        });
        assert_eq!(groups(young.clone(), &m(20)).unready.len(), 1);
        assert_eq!(groups(young, &m(5)).ready, 1);
        // Past the initialization period: unready only if it never became ready after start.
        assert_eq!(
            groups(unready(pod("a", &["1"]), 600, 590), &m(5))
                .unready
                .len(),
            1
        );
        assert_eq!(groups(unready(pod("a", &["1"]), 600, 100), &m(5)).ready, 1);
        // Memory ignores readiness.
        let g = group_pods(
            &[unready(pod("a", &["1"]), 60, 50)],
            &m(5),
            "memory",
            Duration::from_secs(300),
            Duration::from_secs(30),
            at(0),
        );
        assert_eq!(g.ready, 1);
    }

    #[test]
    fn requests_sum_containers_and_name_the_one_missing() {
        let pods = [pod("a", &["500m", "250m"])];
        assert_eq!(
            pod_requests(&pods, None, "cpu").unwrap()["a"],
            750,
            "all containers"
        );
        assert_eq!(pod_requests(&pods, Some("c1"), "cpu").unwrap()["a"], 250);
        assert_eq!(
            pod_requests(&pods, None, "memory").unwrap_err().to_string(),
            "missing request for memory in container c0 of Pod a"
        );
    }

    #[test]
    fn plain_usage_cases_match_upstream() {
        let p = |n| pod(n, &["1"]);
        let pods = vec![p("a"), p("b"), p("c")];
        // 500m average against a 250m target: double.
        assert_eq!(
            calc().plain_metric_replicas(
                metrics(&[("a", 400), ("b", 500), ("c", 600)]),
                3,
                250,
                &pods,
                "memory",
                at(0)
            ),
            Ok((6, 500))
        );
        // A missing pod counts as the target on a scale down.
        assert_eq!(
            calc().plain_metric_replicas(
                metrics(&[("a", 100), ("b", 100)]),
                3,
                250,
                &pods,
                "memory",
                at(0)
            ),
            Ok((2, 100))
        );
        // Within tolerance.
        assert_eq!(
            calc().plain_metric_replicas(
                metrics(&[("a", 260), ("b", 250), ("c", 240)]),
                3,
                250,
                &pods,
                "memory",
                at(0)
            ),
            Ok((3, 250))
        );
    }

    #[test]
    fn milli_values_round_up() {
        assert_eq!(milli_value("1"), Some(1000));
        assert_eq!(milli_value("250m"), Some(250));
        assert_eq!(milli_value("1Ki"), Some(1_024_000));
        assert_eq!(milli_value("1n"), Some(1));
        assert_eq!(milli_value("bogus"), None);
    }
}
