//! Namespace writes: labels that do not parse make a namespace invalid (on create; on update
//! unless the same errors were already there), and an update that tightens the enforce level
//! warns about the namespace's existing pods that it would refuse, as upstream's
//! `ValidateNamespace` and `EvaluatePodsInNamespace`. The pods stay; this is only advice.

use super::checks::Pod;
use super::level::{Level, LevelVersion, Policy, policy_to_evaluate};
use super::{PodSecurity, labels, policy};
use crate::admission::{Attributes, Operation};
use crate::errors::{ApiError, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// At most this many existing pods are checked, as upstream.
const MAX_PODS_TO_CHECK: usize = 3000;
/// And for at most this long.
const POD_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) async fn validate(plugin: &PodSecurity, attrs: &Attributes<'_>) -> Result<()> {
    if attrs.subresource.is_some() {
        return Ok(());
    }
    let Some(ns) = attrs.object else {
        return Ok(());
    };
    let (new_policy, new_errs) = policy_to_evaluate(&labels(ns), Policy::PRIVILEGED);
    let invalid = || ApiError::invalid("", "Namespace", attrs.name, &new_errs);
    match attrs.operation {
        Operation::Create if !new_errs.is_empty() => Err(invalid()),
        Operation::Update => {
            let (old_policy, old_errs) = match attrs.old {
                Some(old) => policy_to_evaluate(&labels(old), Policy::PRIVILEGED),
                None => (Policy::PRIVILEGED, Vec::new()),
            };
            // Bad labels that were already there do not block unrelated updates.
            if !new_errs.is_empty() && (old_errs.is_empty() || new_errs != old_errs) {
                return Err(invalid());
            }
            let (new, old) = (new_policy.enforce, old_policy.enforce);
            if new == old
                || new.level == Level::Privileged
                || (new.version == old.version && new.level <= old.level)
            {
                return Ok(());
            }
            let name = super::string_at(ns, "/metadata/name");
            for warning in plugin.evaluate_pods_in_namespace(name, new).await {
                attrs.warnings.add(warning);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// How many pods share one set of reasons, and the first of them by name.
struct PodCount {
    name: String,
    count: usize,
}

impl PodSecurity {
    /// Warnings about the namespace's pods that `enforce` would refuse: a headline, then one
    /// line per distinct set of reasons naming the first such pod by name and how many others
    /// share it, sorted.
    async fn evaluate_pods_in_namespace(
        &self,
        namespace: &str,
        enforce: LevelVersion,
    ) -> Vec<String> {
        let deadline = Instant::now() + POD_CHECK_TIMEOUT;
        let Ok(pods) = self.pods.list_in(namespace).await else {
            return vec!["failed to list pods while checking new PodSecurity enforce level".into()];
        };
        let pods = prioritize(pods);
        let total = pods.len();
        let mut checked = total.min(MAX_PODS_TO_CHECK);
        let mut reasons: Vec<String> = Vec::new();
        let mut counts: BTreeMap<String, PodCount> = BTreeMap::new();
        for (i, pod) in pods.iter().take(MAX_PODS_TO_CHECK).enumerate() {
            let result = policy::evaluate(enforce, &Pod::new(&pod["metadata"], &pod["spec"]));
            if !result.allowed() {
                let reason = result.forbidden_reason();
                let name = super::string_at(pod, "/metadata/name");
                match counts.get_mut(&reason) {
                    Some(c) => {
                        if name < c.name.as_str() {
                            c.name = name.to_string();
                        }
                        c.count += 1;
                    }
                    None => {
                        counts.insert(
                            reason.clone(),
                            PodCount {
                                name: name.to_string(),
                                count: 1,
                            },
                        );
                        reasons.push(reason);
                    }
                }
            }
            if Instant::now() > deadline {
                checked = i + 1;
                break;
            }
        }
        let mut warnings = Vec::new();
        if checked < total {
            warnings.push(format!(
                "new PodSecurity enforce level only checked against the first {checked} of {total} existing pods"
            ));
        }
        if !reasons.is_empty() {
            warnings.push(format!(
                "existing pods in namespace {namespace:?} violate the new PodSecurity enforce level {:?}",
                enforce.to_string()
            ));
        }
        let mut pod_warnings: Vec<String> = reasons
            .into_iter()
            .map(|reason| match counts.get(&reason) {
                Some(PodCount { name, count: 1 }) => format!("{name}: {reason}"),
                Some(PodCount { name, count: 2 }) => {
                    format!("{name} (and 1 other pod): {reason}")
                }
                Some(PodCount { name, count }) => {
                    format!("{name} (and {} other pods): {reason}", count - 1)
                }
                None => reason,
            })
            .collect();
        pod_warnings.sort();
        warnings.extend(pod_warnings);
        warnings
    }
}

/// The pods in the order they are checked: one pod per controller first (replicas tend to
/// share their violations), then the other replicas, so a time or count limit still covers
/// as many different workloads as possible.
fn prioritize(pods: Vec<Value>) -> Vec<Value> {
    let mut first = Vec::with_capacity(pods.len());
    let mut replicas = Vec::new();
    let mut seen = HashSet::new();
    for pod in pods {
        let controller = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
            })
            .map(|r| super::string_at(r, "/uid").to_string());
        // A pod without a controller is its own workload.
        let first_of_its_controller = controller.is_none_or(|uid| seen.insert(uid));
        if first_of_its_controller {
            first.push(pod);
        } else {
            replicas.push(pod);
        }
    }
    first.extend(replicas);
    first
}

#[cfg(test)]
mod tests {
    use super::super::tests::{NAMESPACES, Request, admit, namespace, plugin, privileged_pod};
    use super::*;
    use serde_json::json;

    fn write<'a>(op: Operation, ns: &'a Value, old: Option<&'a Value>) -> Request<'a> {
        Request {
            operation: op,
            info: &NAMESPACES,
            subresource: None,
            name: "ns",
            namespace: "",
            object: Some(ns),
            old,
        }
    }

    #[tokio::test]
    async fn bad_labels_make_a_namespace_invalid() {
        let p = plugin(&[], &[]);
        let bad = namespace("ns", &[("enforce", "foo"), ("enforce-version", "1.33")]);
        let e = admit(&p, write(Operation::Create, &bad, None))
            .await
            .0
            .unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.reason, "Invalid");
        assert_eq!(
            e.message,
            concat!(
                r#"Namespace "ns" is invalid: ["#,
                r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "foo": must be one of privileged, baseline, restricted, "#,
                r#"metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "1.33": must be "latest" or "v1.x"]"#
            )
        );
        let details = e.details.unwrap();
        assert_eq!(details.kind, "Namespace");
        assert_eq!(
            details.causes[0].field,
            "metadata.labels[pod-security.kubernetes.io/enforce]"
        );
        // An update keeping the same bad labels is allowed; one adding a new bad label is not.
        let mut relabelled = bad.clone();
        relabelled["metadata"]["labels"]["team"] = json!("a");
        assert_eq!(
            admit(&p, write(Operation::Update, &relabelled, Some(&bad)))
                .await
                .0,
            Ok(())
        );
        let mut worse = bad.clone();
        worse["metadata"]["labels"]["pod-security.kubernetes.io/warn"] = json!("bar");
        assert_eq!(
            admit(&p, write(Operation::Update, &worse, Some(&bad)))
                .await
                .0
                .unwrap_err()
                .code,
            422
        );
        let good = namespace("ns", &[("enforce", "baseline")]);
        assert_eq!(
            admit(&p, write(Operation::Create, &good, None)).await,
            (Ok(()), vec![])
        );
    }

    #[tokio::test]
    async fn tightening_enforce_warns_about_existing_pods() {
        let mut pods = vec![
            privileged_pod("b", "ns"),
            privileged_pod("a", "ns"),
            privileged_pod("c", "ns"),
            json!({"metadata": {"name": "host", "namespace": "ns"},
                "spec": {"hostNetwork": true, "containers": [{"name": "c"}]}}),
            json!({"metadata": {"name": "fine", "namespace": "ns"},
                "spec": {"containers": [{"name": "c"}]}}),
            privileged_pod("elsewhere", "other"),
        ];
        pods.push(json!({"metadata": {"name": "z", "namespace": "ns"},
            "spec": {"hostPID": true, "containers": [{"name": "c"}]}}));
        let p = plugin(&[], &pods);
        let old = namespace("ns", &[]);
        let new = namespace("ns", &[("enforce", "baseline")]);
        let (result, warnings) = admit(&p, write(Operation::Update, &new, Some(&old))).await;
        assert_eq!(result, Ok(()));
        assert_eq!(
            warnings,
            [
                r#"existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest""#,
                "a (and 2 other pods): privileged",
                "host (and 1 other pod): host namespaces",
            ]
        );
        // Restricted lists every reason, with one pod.
        let p = plugin(&[], &[privileged_pod("p", "ns")]);
        let new = namespace("ns", &[("enforce", "restricted")]);
        let (_, warnings) = admit(&p, write(Operation::Update, &new, Some(&old))).await;
        assert_eq!(
            warnings,
            [
                r#"existing pods in namespace "ns" violate the new PodSecurity enforce level "restricted:latest""#,
                "p: privileged, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile",
            ]
        );
    }

    #[tokio::test]
    async fn relaxing_or_keeping_enforce_checks_nothing() {
        let p = plugin(&[], &[privileged_pod("p", "ns")]);
        let restricted = namespace("ns", &[("enforce", "restricted")]);
        let baseline = namespace("ns", &[("enforce", "baseline")]);
        let privileged = namespace("ns", &[("enforce", "privileged")]);
        for (new, old) in [
            (&baseline, &restricted),
            (&restricted, &restricted),
            (&privileged, &restricted),
        ] {
            assert_eq!(
                admit(&p, write(Operation::Update, new, Some(old))).await,
                (Ok(()), vec![])
            );
        }
        // A new version with a laxer level is still checked.
        let pinned = namespace(
            "ns",
            &[("enforce", "baseline"), ("enforce-version", "v1.30")],
        );
        let (_, warnings) = admit(&p, write(Operation::Update, &pinned, Some(&restricted))).await;
        assert_eq!(
            warnings,
            [
                r#"existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:v1.30""#,
                "p: privileged",
            ]
        );
        // Creating a labelled namespace checks nothing (it has no pods).
        assert_eq!(
            admit(&p, write(Operation::Create, &restricted, None)).await,
            (Ok(()), vec![])
        );
    }

    #[test]
    fn one_pod_per_controller_comes_first() {
        let owned = |name: &str, uid: &str| {
            json!({"metadata": {"name": name, "ownerReferences": [
                {"uid": "other", "controller": false},
                {"uid": uid, "controller": true}
            ]}})
        };
        let pods = vec![
            owned("a1", "a"),
            owned("a2", "a"),
            json!({"metadata": {"name": "solo"}}),
            owned("b1", "b"),
            owned("a3", "a"),
        ];
        let names: Vec<String> = prioritize(pods)
            .iter()
            .map(|p| super::super::string_at(p, "/metadata/name").to_string())
            .collect();
        assert_eq!(names, ["a1", "solo", "b1", "a2", "a3"]);
    }
}
