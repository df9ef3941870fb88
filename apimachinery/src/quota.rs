//! Quota usage: what a namespace (or one object) uses of each resource a quota limits
//! (upstream's quota evaluators in `pkg/quota/v1/evaluator/core` and the generic object
//! counter), for the quota controller and the ResourceQuota admission plugin: object counts (`pods`,
//! `services`, `count/<resource>.<group>`, ...), the compute resources pods request and limit
//! (`requests.cpu`, `limits.memory`, extended resources, ...), storage PersistentVolumeClaims
//! request (per storage class too), and Service node ports and load balancers. Pods count only
//! while they run or may run, and only those a quota's scopes select.

use crate::quantity::Quantity;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuotaSpec, Service};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

/// The keys that only count objects, and the plural resource they count.
pub fn counted_resource(key: &str) -> Option<&str> {
    let legacy = match key {
        "pods" => Some("pods"),
        "services" => Some("services"),
        "replicationcontrollers" => Some("replicationcontrollers"),
        "resourcequotas" => Some("resourcequotas"),
        "secrets" => Some("secrets"),
        "configmaps" => Some("configmaps"),
        "persistentvolumeclaims" => Some("persistentvolumeclaims"),
        _ => None,
    };
    legacy.or_else(|| key.strip_prefix("count/"))
}

/// Whether a pod counts against quota now (upstream `QuotaV1Pod`): not finished, and not past
/// the end of its deletion grace period.
pub fn pod_counts(pod: &Pod, now: Timestamp) -> bool {
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    if let (Some(deleted), Some(grace)) = (
        pod.metadata.deletion_timestamp.as_ref(),
        pod.metadata.deletion_grace_period_seconds,
    ) && deleted
        .0
        .checked_add(SignedDuration::from_secs(grace))
        .is_ok_and(|end| now > end)
    {
        return false;
    }
    true
}

/// Whether the pod has no cpu or memory requests or limits in any container (QoS BestEffort).
pub fn best_effort(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else {
        return true;
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .all(|c| {
            let r = c.resources.as_ref();
            let has = |m: Option<
                &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
            >| {
                m.is_some_and(|m| m.contains_key("cpu") || m.contains_key("memory"))
            };
            !has(r.and_then(|r| r.requests.as_ref())) && !has(r.and_then(|r| r.limits.as_ref()))
        })
}

fn terminating(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d >= 0)
}

fn priority_class(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.priority_class_name.as_deref())
        .unwrap_or_default()
}

/// Whether `pod` falls under the quota's `scopes` and `scopeSelector`.
pub fn pod_in_scope(spec: &ResourceQuotaSpec, pod: &Pod) -> bool {
    let scopes = spec
        .scopes
        .iter()
        .flatten()
        .map(|s| (s.as_str(), "Exists", Vec::new()));
    let selected = spec
        .scope_selector
        .iter()
        .flat_map(|s| s.match_expressions.iter().flatten())
        .map(|e| {
            (
                e.scope_name.as_str(),
                e.operator.as_str(),
                e.values.clone().unwrap_or_default(),
            )
        });
    scopes
        .chain(selected)
        .all(|(scope, operator, values)| match scope {
            "Terminating" => terminating(pod),
            "NotTerminating" => !terminating(pod),
            "BestEffort" => best_effort(pod),
            "NotBestEffort" => !best_effort(pod),
            "PriorityClass" => {
                let class = priority_class(pod);
                match operator {
                    "In" => values.iter().any(|v| v == class),
                    "NotIn" => !values.iter().any(|v| v == class),
                    "Exists" => !class.is_empty(),
                    "DoesNotExist" => class.is_empty(),
                    _ => false,
                }
            }
            "CrossNamespacePodAffinity" => cross_namespace_affinity(pod),
            _ => false,
        })
}

/// Whether a pod (anti-)affinity term reaches other namespaces (upstream
/// `usesCrossNamespacePodAffinity`).
fn cross_namespace_affinity(pod: &Pod) -> bool {
    use k8s_openapi::api::core::v1::PodAffinityTerm;
    let Some(affinity) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
        return false;
    };
    let crosses = |t: &PodAffinityTerm| {
        t.namespaces.as_ref().is_some_and(|n| !n.is_empty()) || t.namespace_selector.is_some()
    };
    let affinity_terms = affinity.pod_affinity.iter().flat_map(|a| {
        all_terms(
            &a.required_during_scheduling_ignored_during_execution,
            &a.preferred_during_scheduling_ignored_during_execution,
        )
    });
    let anti_terms = affinity.pod_anti_affinity.iter().flat_map(|a| {
        all_terms(
            &a.required_during_scheduling_ignored_during_execution,
            &a.preferred_during_scheduling_ignored_during_execution,
        )
    });
    affinity_terms.chain(anti_terms).any(crosses)
}

/// The required terms and those of the preferred ones of a pod affinity or anti-affinity.
fn all_terms<'a>(
    required: &'a Option<Vec<k8s_openapi::api::core::v1::PodAffinityTerm>>,
    preferred: &'a Option<Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>,
) -> impl Iterator<Item = &'a k8s_openapi::api::core::v1::PodAffinityTerm> {
    let preferred = preferred.iter().flatten().map(|w| &w.pod_affinity_term);
    required.iter().flatten().chain(preferred)
}

fn parse(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> Quantity {
    Quantity::parse(&q.0).unwrap_or(Quantity::ZERO)
}

fn max(a: Quantity, b: Quantity) -> Quantity {
    if b.nanos() > a.nanos() { b } else { a }
}

/// A pod's effective requests (or limits): the containers' sum, or the largest init
/// container's if larger, plus the pod overhead (upstream `PodRequests`).
pub fn pod_resources(pod: &Pod, limits: bool) -> BTreeMap<String, Quantity> {
    let mut total: BTreeMap<String, Quantity> = BTreeMap::new();
    let Some(spec) = &pod.spec else {
        return total;
    };
    let of = |c: &k8s_openapi::api::core::v1::Container| {
        c.resources
            .as_ref()
            .and_then(|r| {
                if limits {
                    r.limits.clone()
                } else {
                    r.requests.clone()
                }
            })
            .unwrap_or_default()
    };
    for c in &spec.containers {
        for (k, v) in of(c) {
            let sum = total
                .get(&k)
                .copied()
                .unwrap_or(Quantity::ZERO)
                .add(&parse(&v));
            total.insert(k, sum);
        }
    }
    for c in spec.init_containers.iter().flatten() {
        for (k, v) in of(c) {
            let current = total.get(&k).copied().unwrap_or(Quantity::ZERO);
            total.insert(k, max(current, parse(&v)));
        }
    }
    for (k, v) in spec.overhead.iter().flatten() {
        let sum = total
            .get(k)
            .copied()
            .unwrap_or(Quantity::ZERO)
            .add(&parse(v));
        total.insert(k.clone(), sum);
    }
    total
}

/// The pod resource a compute key sums, and whether from limits: `cpu` and `requests.cpu`
/// are requests, `limits.cpu` limits; `hugepages-*` and extended resources as `requests.*`.
pub fn compute_key(key: &str) -> Option<(&str, bool)> {
    if let Some(r) = key.strip_prefix("limits.") {
        return Some((r, true));
    }
    if let Some(r) = key.strip_prefix("requests.")
        && r != "storage"
    {
        return Some((r, false));
    }
    match key {
        "cpu" | "memory" | "ephemeral-storage" => Some((key, false)),
        k if k.starts_with("hugepages-") => Some((k, false)),
        _ => None,
    }
}

/// The namespace's objects a quota looks at.
pub struct Namespace<'a> {
    pub pods: Vec<&'a Pod>,
    pub services: Vec<&'a Service>,
    pub claims: Vec<&'a PersistentVolumeClaim>,
    /// Object counts by plural resource (`configmaps`, `replicasets.apps`, ...).
    pub counts: BTreeMap<String, usize>,
}

fn claim_storage(c: &PersistentVolumeClaim) -> Quantity {
    c.spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(parse)
        .unwrap_or(Quantity::ZERO)
}

fn claim_class(c: &PersistentVolumeClaim) -> &str {
    c.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

fn count(n: usize) -> Quantity {
    Quantity::parse(&n.to_string()).unwrap_or(Quantity::ZERO)
}

/// What the namespace uses of each resource `spec.hard` lists; keys no evaluator knows are
/// left out, as upstream leaves them out.
pub fn calculate(
    spec: &ResourceQuotaSpec,
    ns: &Namespace,
    now: Timestamp,
) -> BTreeMap<String, Quantity> {
    let pods: Vec<&Pod> = ns
        .pods
        .iter()
        .copied()
        .filter(|p| pod_counts(p, now) && pod_in_scope(spec, p))
        .collect();
    let scoped =
        spec.scopes.as_ref().is_some_and(|s| !s.is_empty()) || spec.scope_selector.is_some();
    let mut used = BTreeMap::new();
    for key in spec.hard.iter().flatten().map(|(k, _)| k.as_str()) {
        let value = if let Some(class_key) =
            key.strip_suffix(".storageclass.storage.k8s.io/requests.storage")
        {
            let claims = ns.claims.iter().filter(|c| claim_class(c) == class_key);
            Some(claims.fold(Quantity::ZERO, |sum, c| sum.add(&claim_storage(c))))
        } else if let Some(class_key) =
            key.strip_suffix(".storageclass.storage.k8s.io/persistentvolumeclaims")
        {
            Some(count(
                ns.claims
                    .iter()
                    .filter(|c| claim_class(c) == class_key)
                    .count(),
            ))
        } else if key == "requests.storage" {
            Some(
                ns.claims
                    .iter()
                    .fold(Quantity::ZERO, |sum, c| sum.add(&claim_storage(c))),
            )
        } else if key == "services.loadbalancers" {
            Some(count(
                ns.services
                    .iter()
                    .filter(|s| {
                        s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
                    })
                    .count(),
            ))
        } else if key == "services.nodeports" {
            let node_ports = ns.services.iter().map(|s| {
                let Some(spec) = s.spec.as_ref() else {
                    return 0;
                };
                let ports = spec.ports.as_deref().unwrap_or_default();
                match spec.type_.as_deref() {
                    Some("NodePort") => ports.len(),
                    // A load balancer that allocates no node ports uses only those it names.
                    Some("LoadBalancer")
                        if spec.allocate_load_balancer_node_ports == Some(false) =>
                    {
                        ports.iter().filter(|p| p.node_port.is_some()).count()
                    }
                    Some("LoadBalancer") => ports.len(),
                    _ => 0,
                }
            });
            Some(count(node_ports.sum()))
        } else if let Some(resource) = counted_resource(key) {
            if resource == "pods" {
                Some(count(pods.len()))
            } else if scoped {
                None
            } else {
                ns.counts.get(resource).copied().map(count)
            }
        } else if let Some((resource, limits)) = compute_key(key) {
            let sum = pods.iter().fold(Quantity::ZERO, |sum, p| {
                pod_resources(p, limits)
                    .get(resource)
                    .map_or(sum, |q| sum.add(q))
            });
            Some(sum)
        } else {
            None
        };
        if let Some(v) = value {
            used.insert(key.to_string(), v);
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;

    fn pod(requests: &[(&str, &str)], limits: &[(&str, &str)], deadline: Option<i64>) -> Pod {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Q(v.to_string())))
                    .collect()
            })
        };
        Pod {
            spec: Some(PodSpec {
                active_deadline_seconds: deadline,
                containers: vec![Container {
                    name: "c".to_string(),
                    resources: Some(ResourceRequirements {
                        requests: map(requests),
                        limits: map(limits),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Pending".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn hard(keys: &[&str], scopes: &[&str]) -> ResourceQuotaSpec {
        ResourceQuotaSpec {
            hard: Some(
                keys.iter()
                    .map(|k| (k.to_string(), Q("10".to_string())))
                    .collect(),
            ),
            scopes: (!scopes.is_empty()).then(|| scopes.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    fn canonical(used: &BTreeMap<String, Quantity>) -> BTreeMap<&str, String> {
        used.iter()
            .map(|(k, v)| (k.as_str(), v.canonical()))
            .collect()
    }

    #[test]
    fn pods_sum_requests_and_limits_within_their_scopes() {
        let burstable = pod(
            &[("cpu", "500m"), ("memory", "200Mi")],
            &[("cpu", "1"), ("memory", "400Mi")],
            None,
        );
        let also = pod(&[("cpu", "250m"), ("memory", "56Mi")], &[], None);
        let terminating = pod(&[("cpu", "1")], &[], Some(3600));
        let besteffort = pod(&[], &[], None);
        let ns = Namespace {
            pods: vec![&burstable, &also, &terminating, &besteffort],
            services: Vec::new(),
            claims: Vec::new(),
            counts: BTreeMap::from([("configmaps".to_string(), 2)]),
        };
        let now = Timestamp::UNIX_EPOCH;
        let keys = [
            "pods",
            "requests.cpu",
            "requests.memory",
            "limits.cpu",
            "limits.memory",
            "configmaps",
            "example.com/x",
        ];
        let all = calculate(&hard(&keys, &[]), &ns, now);
        assert_eq!(
            canonical(&all),
            BTreeMap::from([
                ("configmaps", "2".to_string()),
                ("limits.cpu", "1".to_string()),
                ("limits.memory", "400Mi".to_string()),
                ("pods", "4".to_string()),
                ("requests.cpu", "1750m".to_string()),
                ("requests.memory", "256Mi".to_string()),
            ])
        );
        let not_terminating = calculate(
            &hard(&["pods", "requests.cpu"], &["NotTerminating"]),
            &ns,
            now,
        );
        assert_eq!(canonical(&not_terminating)["pods"], "3");
        assert_eq!(canonical(&not_terminating)["requests.cpu"], "750m");
        let terminating_only = calculate(&hard(&["pods"], &["Terminating"]), &ns, now);
        assert_eq!(canonical(&terminating_only)["pods"], "1");
        assert_eq!(
            canonical(&calculate(&hard(&["pods"], &["BestEffort"]), &ns, now))["pods"],
            "1"
        );
        assert_eq!(
            canonical(&calculate(&hard(&["pods"], &["NotBestEffort"]), &ns, now))["pods"],
            "3"
        );
    }

    #[test]
    fn finished_pods_and_pods_past_their_grace_do_not_count() {
        let mut done = pod(&[], &[], None);
        done.status.as_mut().unwrap().phase = Some("Succeeded".to_string());
        assert!(!pod_counts(&done, Timestamp::UNIX_EPOCH));
        let mut leaving = pod(&[], &[], None);
        leaving.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                Timestamp::from_second(100).unwrap(),
            ));
        leaving.metadata.deletion_grace_period_seconds = Some(30);
        assert!(pod_counts(&leaving, Timestamp::from_second(120).unwrap()));
        assert!(!pod_counts(&leaving, Timestamp::from_second(131).unwrap()));
    }

    #[test]
    fn init_containers_count_when_larger() {
        let mut p = pod(&[("cpu", "100m")], &[], None);
        p.spec.as_mut().unwrap().init_containers = Some(vec![Container {
            name: "init".to_string(),
            resources: Some(ResourceRequirements {
                requests: Some([("cpu".to_string(), Q("300m".to_string()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        assert_eq!(pod_resources(&p, false)["cpu"].canonical(), "300m");
    }
}
