//! `maxSurge` and `maxUnavailable` as pod counts (upstream `ResolveFenceposts`, `MaxSurge`,
//! `MaxUnavailable`): percentages of the desired replicas, surge rounded up and unavailability
//! rounded down; when both come to zero, one pod may be unavailable so a rollout can move.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `value` as a count of `total`: an integer as is, `"N%"` as N percent of `total`.
pub fn scaled(value: &IntOrString, total: i32, round_up: bool) -> i32 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let percent: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let product = percent * i64::from(total);
            let count = if round_up {
                (product + 99) / 100
            } else {
                product / 100
            };
            i32::try_from(count).unwrap_or(i32::MAX)
        }
    }
}

/// Upstream's defaults: 25% each.
fn default_quarter() -> IntOrString {
    IntOrString::String("25%".to_string())
}

/// `(maxSurge, maxUnavailable)` in pods for `desired` replicas.
pub fn resolve(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let surge = scaled(max_surge.unwrap_or(&default_quarter()), desired, true);
    let unavailable = scaled(
        max_unavailable.unwrap_or(&default_quarter()),
        desired,
        false,
    );
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

fn rolling(d: &Deployment) -> Option<(Option<&IntOrString>, Option<&IntOrString>)> {
    let strategy = d.spec.as_ref()?.strategy.as_ref();
    if strategy
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        != "RollingUpdate"
    {
        return None;
    }
    let ru = strategy.and_then(|s| s.rolling_update.as_ref());
    Some((
        ru.and_then(|r| r.max_surge.as_ref()),
        ru.and_then(|r| r.max_unavailable.as_ref()),
    ))
}

/// The desired replicas of `d` (1 when unset, as defaulting does).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// How many pods above the desired count a rolling update may run.
pub fn max_surge(d: &Deployment) -> i32 {
    match rolling(d) {
        Some((surge, unavailable)) => resolve(surge, unavailable, replicas(d)).0,
        None => 0,
    }
}

/// How many pods below the desired count may be unavailable.
pub fn max_unavailable(d: &Deployment) -> i32 {
    let desired = replicas(d);
    match rolling(d) {
        Some((surge, unavailable)) if desired > 0 => {
            resolve(surge, unavailable, desired).1.min(desired)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.to_string())
    }

    #[test]
    fn percentages_round_surge_up_and_unavailability_down() {
        assert_eq!(resolve(Some(&s("25%")), Some(&s("25%")), 10), (3, 2));
        assert_eq!(resolve(None, None, 3), (1, 0));
        assert_eq!(
            resolve(Some(&IntOrString::Int(2)), Some(&s("50%")), 5),
            (2, 2)
        );
        assert_eq!(
            resolve(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 5),
            (0, 1)
        );
        assert_eq!(resolve(Some(&s("0%")), Some(&s("10%")), 5), (0, 1));
    }
}
