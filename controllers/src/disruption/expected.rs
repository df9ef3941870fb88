//! How many pods a budget expects and how many of them must stay healthy (upstream
//! `getExpectedPodCount`). An integer `minAvailable` is absolute: the selected pods are the
//! expected ones. A percentage `minAvailable` and any `maxUnavailable` are relative to the scale
//! of the pods' controllers: the sum of `spec.replicas` over the distinct controllers, found
//! through each pod's controller reference ([`super::scale`]). Percentages round up in both
//! cases, so `maxUnavailable: 10%` of 5 pods allows one, and `minAvailable: 10%` of 5 asks for
//! one.

use super::Error;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::HashSet;
use std::sync::Arc;

/// The counts a budget's status is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// `status.expectedPods`.
    pub expected: i32,
    /// `status.desiredHealthy`.
    pub desired_healthy: i32,
}

/// Whether the budget is relative to its pods' controllers (and so needs their scale).
pub fn needs_scale(spec: &PodDisruptionBudgetSpec) -> bool {
    spec.max_unavailable.is_some() || matches!(spec.min_available, Some(IntOrString::String(_)))
}

/// `value` as a count of `total` (upstream `GetScaledValueFromIntOrPercent` rounding up): an
/// integer as is, `"N%"` as N percent of `total`. Validation only lets percentages through as
/// strings, so the errors are for objects stored before it checked.
pub fn scaled_up(value: &IntOrString, total: i32) -> Result<i32, Error> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let Some(number) = s.strip_suffix('%') else {
                return Err(Error::NotAPercentage(
                    "invalid type: string is not a percentage".to_string(),
                ));
            };
            let percent: i64 = number.parse().map_err(|_| {
                Error::NotAPercentage(format!(
                    "invalid value {s:?}: strconv.Atoi: parsing {number:?}: invalid syntax"
                ))
            })?;
            let product = percent.saturating_mul(i64::from(total));
            // Ceiling division that also holds for the negative values Atoi accepts.
            let count = product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0);
            Ok(i32::try_from(count).unwrap_or(if count < 0 { i32::MIN } else { i32::MAX }))
        }
    }
}

/// The counts for `spec`, given how many pods it selects and, when [`needs_scale`], the sum of
/// their controllers' scales. A budget with neither field set expects nothing.
pub fn counts(spec: &PodDisruptionBudgetSpec, pods: usize, scale: i32) -> Result<Counts, Error> {
    if let Some(max_unavailable) = &spec.max_unavailable {
        let unavailable = scaled_up(max_unavailable, scale)?;
        return Ok(Counts {
            expected: scale,
            desired_healthy: scale.saturating_sub(unavailable).max(0),
        });
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok(Counts {
            expected: i32::try_from(pods).unwrap_or(i32::MAX),
            desired_healthy: *n,
        }),
        Some(percent @ IntOrString::String(_)) => Ok(Counts {
            expected: scale,
            desired_healthy: scaled_up(percent, scale)?,
        }),
        None => Ok(Counts::default()),
    }
}

/// The selected pods split by whether they have a controller: the controller references to
/// look up (one per distinct reference, with the first pod naming it, for the error upstream
/// reports) and the names of the pods without one.
#[derive(Debug, Default)]
pub struct Controllers {
    pub refs: Vec<(String, OwnerReference)>,
    pub unmanaged: Vec<String>,
}

pub fn controllers(pods: &[Arc<Pod>]) -> Controllers {
    let mut out = Controllers::default();
    let mut seen = HashSet::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        match crate::pods::controller_ref(pod) {
            None => out.unmanaged.push(name),
            Some(r) => {
                if seen.insert(r.uid.clone()) {
                    out.refs.push((name, r.clone()));
                }
            }
        }
    }
    out
}

/// The sum of the scales of the distinct controllers found (a Deployment reached through two
/// of its ReplicaSets counts once).
pub fn total_scale(found: &[(String, i32)]) -> i32 {
    let mut seen = HashSet::new();
    found
        .iter()
        .filter(|(uid, _)| seen.insert(uid.as_str()))
        .fold(0i32, |sum, (_, n)| sum.saturating_add(*n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.to_string())
    }

    fn spec(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudgetSpec {
        PodDisruptionBudgetSpec {
            min_available: min,
            max_unavailable: max,
            ..Default::default()
        }
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled_up(&pct("10%"), 5).unwrap(), 1);
        assert_eq!(scaled_up(&pct("50%"), 5).unwrap(), 3);
        assert_eq!(scaled_up(&pct("90%"), 10).unwrap(), 9);
        assert_eq!(scaled_up(&pct("1%"), 0).unwrap(), 0);
        assert_eq!(scaled_up(&pct("100%"), 7).unwrap(), 7);
        assert_eq!(scaled_up(&IntOrString::Int(2), 100).unwrap(), 2);
        assert_eq!(
            scaled_up(&pct("5"), 10).unwrap_err().to_string(),
            "invalid value for IntOrString: invalid type: string is not a percentage"
        );
        assert_eq!(
            scaled_up(&pct("x%"), 10).unwrap_err().to_string(),
            "invalid value for IntOrString: invalid value \"x%\": strconv.Atoi: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn an_integer_min_available_counts_the_selected_pods() {
        let s = spec(Some(IntOrString::Int(2)), None);
        assert!(!needs_scale(&s));
        assert_eq!(
            counts(&s, 3, 99).unwrap(),
            Counts {
                expected: 3,
                desired_healthy: 2
            }
        );
    }

    #[test]
    fn percentages_and_max_unavailable_use_the_controllers_scale() {
        let s = spec(Some(pct("50%")), None);
        assert!(needs_scale(&s));
        assert_eq!(
            counts(&s, 2, 5).unwrap(),
            Counts {
                expected: 5,
                desired_healthy: 3
            }
        );
        // maxUnavailable rounds up too: 25% of 4 is one, of 5 is two.
        let s = spec(None, Some(pct("25%")));
        assert!(needs_scale(&s));
        assert_eq!(counts(&s, 0, 4).unwrap().desired_healthy, 3);
        assert_eq!(counts(&s, 0, 5).unwrap().desired_healthy, 3);
        let s = spec(None, Some(IntOrString::Int(1)));
        assert!(needs_scale(&s));
        assert_eq!(
            counts(&s, 10, 10).unwrap(),
            Counts {
                expected: 10,
                desired_healthy: 9
            }
        );
        // More unavailable than expected: nothing need stay healthy.
        let s = spec(None, Some(IntOrString::Int(5)));
        assert_eq!(counts(&s, 0, 3).unwrap().desired_healthy, 0);
        assert_eq!(counts(&spec(None, None), 4, 4).unwrap(), Counts::default());
    }

    fn pod(name: &str, controller: Option<(&str, &str)>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                owner_references: controller.map(|(kind, uid)| {
                    vec![OwnerReference {
                        api_version: "apps/v1".to_string(),
                        kind: kind.to_string(),
                        name: uid.to_string(),
                        uid: uid.to_string(),
                        controller: Some(true),
                        block_owner_deletion: None,
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn controllers_are_looked_up_once_and_orphans_set_aside() {
        let pods = vec![
            pod("a-1", Some(("ReplicaSet", "a"))),
            pod("loner", None),
            pod("a-2", Some(("ReplicaSet", "a"))),
            pod("b-1", Some(("ReplicaSet", "b"))),
        ];
        let c = controllers(&pods);
        let refs: Vec<(&str, &str)> = c
            .refs
            .iter()
            .map(|(p, r)| (p.as_str(), r.uid.as_str()))
            .collect();
        assert_eq!(refs, vec![("a-1", "a"), ("b-1", "b")]);
        assert_eq!(c.unmanaged, vec!["loner"]);
        // Two ReplicaSets of one Deployment: its scale counts once.
        let found = vec![
            ("deploy".to_string(), 4),
            ("deploy".to_string(), 4),
            ("rs".to_string(), 2),
        ];
        assert_eq!(total_scale(&found), 6);
    }
}
