//! From the metrics' recommendation to the replica count actually set (upstream's
//! `normalizeDesiredReplicas*`): stabilization over the recent recommendations, then the
//! limits: `minReplicas`/`maxReplicas` and the scale-up rate (without `spec.behavior`: at most
//! double, or 4, at once), or `spec.behavior`'s policies over the scale events of their periods.
//!
//! Each autoscaler keeps a [`History`] in memory, as upstream does: its recent unstabilized
//! recommendations (a slot older than every window is reused) and, with `spec.behavior`, the
//! changes it made (an event older than the longest policy period is reused). A restarted
//! controller starts from the current size.

use k8s_openapi::api::autoscaling::v2::HPAScalingRules;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// How `spec.behavior` picks among its policies' limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The policy allowing the largest change (the default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No change in this direction.
    Disabled,
}

/// A policy's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Pods,
    Percent,
}

/// One scaling policy: at most `value` pods or percent per `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyKind,
    pub value: i32,
    pub period_seconds: i32,
}

/// One direction's rules, with upstream's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub window_seconds: i32,
    pub select: Select,
    pub policies: Vec<Policy>,
}

impl Rules {
    fn from(given: Option<&HPAScalingRules>, default: Rules) -> Rules {
        let Some(given) = given else {
            return default;
        };
        let select = match given.select_policy.as_deref() {
            Some("Min") => Select::Min,
            Some("Disabled") => Select::Disabled,
            Some("Max") => Select::Max,
            _ => default.select,
        };
        let policies = match &given.policies {
            Some(p) => p
                .iter()
                .map(|p| Policy {
                    kind: if p.type_ == "Percent" {
                        PolicyKind::Percent
                    } else {
                        PolicyKind::Pods
                    },
                    value: p.value,
                    period_seconds: p.period_seconds,
                })
                .collect(),
            None => default.policies,
        };
        Rules {
            window_seconds: given
                .stabilization_window_seconds
                .unwrap_or(default.window_seconds),
            select,
            policies,
        }
    }

    /// Scale-up rules: upstream's default is no window and, per 15 s, 4 pods or 100%,
    /// whichever is more.
    pub fn scale_up(given: Option<&HPAScalingRules>) -> Rules {
        Rules::from(
            given,
            Rules {
                window_seconds: 0,
                select: Select::Max,
                policies: vec![
                    Policy {
                        kind: PolicyKind::Pods,
                        value: 4,
                        period_seconds: 15,
                    },
                    Policy {
                        kind: PolicyKind::Percent,
                        value: 100,
                        period_seconds: 15,
                    },
                ],
            },
        )
    }

    /// Scale-down rules: the window is the controller's downscale stabilization unless set;
    /// 100% per 15 s.
    pub fn scale_down(given: Option<&HPAScalingRules>, default_window: Duration) -> Rules {
        Rules::from(
            given,
            Rules {
                window_seconds: i32::try_from(default_window.as_secs()).unwrap_or(i32::MAX),
                select: Select::Max,
                policies: vec![Policy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period_seconds: 15,
                }],
            },
        )
    }

    fn longest_period(&self) -> i32 {
        self.policies
            .iter()
            .map(|p| p.period_seconds)
            .max()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy)]
struct Recommendation {
    replicas: i32,
    at: Timestamp,
}

#[derive(Debug, Clone, Copy)]
struct ScaleEvent {
    /// How many replicas were added (scale up) or removed (scale down).
    change: i32,
    at: Timestamp,
    outdated: bool,
}

/// One autoscaler's memory of its recommendations and changes.
#[derive(Debug, Default, Clone)]
pub struct History {
    recommendations: Vec<Recommendation>,
    scale_up: Vec<ScaleEvent>,
    scale_down: Vec<ScaleEvent>,
}

/// The count to set and the conditions explaining it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub replicas: i32,
    /// The `AbleToScale` reason and message (its status is True).
    pub able: (&'static str, &'static str),
    /// Whether `ScalingLimited` is True, and its reason and message.
    pub limited: (bool, &'static str, &'static str),
}

fn ago(now: Timestamp, seconds: i64) -> Timestamp {
    now.checked_sub(SignedDuration::from_secs(seconds))
        .unwrap_or(Timestamp::MIN)
}

const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const WITHIN_RANGE: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);

impl History {
    /// Remembers the current size as the first recommendation, so a new autoscaler does not
    /// scale down before a window has passed.
    pub fn record_initial(&mut self, current: i32, now: Timestamp) {
        if self.recommendations.is_empty() {
            self.recommendations.push(Recommendation {
                replicas: current,
                at: now,
            });
        }
    }

    /// Records `recommendation`, in the slot of an old one if there is one.
    fn record(&mut self, old: Option<usize>, replicas: i32, now: Timestamp) {
        let rec = Recommendation { replicas, at: now };
        match old {
            Some(i) => self.recommendations[i] = rec,
            None => self.recommendations.push(rec),
        }
    }

    /// Without `spec.behavior`: the highest recommendation within the window (the downscale
    /// stabilization), the new one included.
    fn stabilize(&mut self, desired: i32, window: Duration, now: Timestamp) -> i32 {
        let cutoff = ago(now, i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
        let mut highest = desired;
        let mut old = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if rec.at < cutoff {
                old = Some(i);
            } else if rec.replicas > highest {
                highest = rec.replicas;
            }
        }
        self.record(old, desired, now);
        highest
    }

    /// With `spec.behavior`: the current size brought within the lowest recommendation of the
    /// scale-up window and the highest of the scale-down window.
    fn stabilize_with_behaviors(
        &mut self,
        current: i32,
        desired: i32,
        up: &Rules,
        down: &Rules,
        now: Timestamp,
    ) -> (i32, (&'static str, &'static str)) {
        let up_cutoff = ago(now, i64::from(up.window_seconds));
        let down_cutoff = ago(now, i64::from(down.window_seconds));
        let (mut up_rec, mut down_rec) = (desired, desired);
        let mut old = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if rec.at > up_cutoff {
                up_rec = up_rec.min(rec.replicas);
            }
            if rec.at > down_cutoff {
                down_rec = down_rec.max(rec.replicas);
            }
            if rec.at < up_cutoff && rec.at < down_cutoff {
                old = Some(i);
            }
        }
        let recommendation = current.max(up_rec).min(down_rec);
        self.record(old, desired, now);
        let why = if desired >= current {
            UP_STABILIZED
        } else {
            DOWN_STABILIZED
        };
        (recommendation, why)
    }

    /// Net replicas changed by `events` within the last `period_seconds`.
    fn changed_within(events: &[ScaleEvent], period_seconds: i32, now: Timestamp) -> i32 {
        let cutoff = ago(now, i64::from(period_seconds));
        events
            .iter()
            .filter(|e| e.at > cutoff)
            .map(|e| e.change)
            .sum()
    }

    /// The most replicas the scale-up policies allow now.
    fn scale_up_limit(&self, current: i32, rules: &Rules, now: Timestamp) -> i32 {
        let (mut result, pick): (i32, fn(i32, i32) -> i32) = match rules.select {
            Select::Disabled => return current,
            Select::Min => (i32::MAX, i32::min),
            Select::Max => (i32::MIN, i32::max),
        };
        for p in &rules.policies {
            let added = Self::changed_within(&self.scale_up, p.period_seconds, now);
            let removed = Self::changed_within(&self.scale_down, p.period_seconds, now);
            let start = current - added + removed;
            let proposed = match p.kind {
                PolicyKind::Pods => start.saturating_add(p.value),
                // Rounded up, so a small target can still grow.
                PolicyKind::Percent => {
                    (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    /// The fewest replicas the scale-down policies allow now.
    fn scale_down_limit(&self, current: i32, rules: &Rules, now: Timestamp) -> i32 {
        let (mut result, pick): (i32, fn(i32, i32) -> i32) = match rules.select {
            Select::Disabled => return current,
            Select::Min => (i32::MIN, i32::max),
            Select::Max => (i32::MAX, i32::min),
        };
        for p in &rules.policies {
            let added = Self::changed_within(&self.scale_up, p.period_seconds, now);
            let removed = Self::changed_within(&self.scale_down, p.period_seconds, now);
            let start = current - added + removed;
            let proposed = match p.kind {
                PolicyKind::Pods => start.saturating_sub(p.value),
                PolicyKind::Percent => {
                    (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    /// Remembers a change made under `spec.behavior`, reusing an outdated slot.
    pub fn store_scale_event(
        &mut self,
        up: &Rules,
        down: &Rules,
        previous: i32,
        new: i32,
        now: Timestamp,
    ) {
        let (events, longest, change) = if new > previous {
            (&mut self.scale_up, up.longest_period(), new - previous)
        } else {
            (&mut self.scale_down, down.longest_period(), previous - new)
        };
        let cutoff = ago(now, i64::from(longest));
        for e in events.iter_mut() {
            if e.at < cutoff {
                e.outdated = true;
            }
        }
        let event = ScaleEvent {
            change,
            at: now,
            outdated: false,
        };
        match events.iter().rposition(|e| e.outdated) {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }

    /// Without `spec.behavior`: stabilize over the downscale window, then keep within
    /// `min`/`max` and at most double (or 4) at once.
    pub fn normalize(
        &mut self,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        window: Duration,
        now: Timestamp,
    ) -> Outcome {
        let stabilized = self.stabilize(desired, window, now);
        let able = if stabilized != desired {
            DOWN_STABILIZED
        } else {
            READY
        };
        let (replicas, why) = within_rules(current, stabilized, min, max);
        Outcome {
            replicas,
            able,
            limited: (replicas != stabilized, why.0, why.1),
        }
    }

    /// With `spec.behavior`: stabilize over both windows, then keep within `min`/`max` and
    /// the policies' rates.
    #[allow(clippy::too_many_arguments)]
    pub fn normalize_with_behaviors(
        &mut self,
        up: &Rules,
        down: &Rules,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        now: Timestamp,
    ) -> Outcome {
        let (stabilized, why) = self.stabilize_with_behaviors(current, desired, up, down, now);
        let able = if stabilized != desired { why } else { READY };
        let (replicas, why) =
            self.within_behavior_rate(up, down, current, stabilized, min, max, now);
        Outcome {
            replicas,
            able,
            limited: (replicas != stabilized, why.0, why.1),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn within_behavior_rate(
        &self,
        up: &Rules,
        down: &Rules,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        now: Timestamp,
    ) -> (i32, (&'static str, &'static str)) {
        if desired > current {
            // Past the limit already: no further up until the events age out.
            let limit = self.scale_up_limit(current, up, now).max(current);
            let (allowed, why) = if max > limit {
                (limit, UP_LIMIT)
            } else {
                (max, TOO_MANY)
            };
            if desired > allowed {
                return (allowed, why);
            }
        } else if desired < current {
            let limit = self.scale_down_limit(current, down, now).min(current);
            let (allowed, why) = if min < limit {
                (limit, DOWN_LIMIT)
            } else {
                (min, TOO_FEW)
            };
            if desired < allowed {
                return (allowed, why);
            }
        }
        (desired, WITHIN_RANGE)
    }
}

/// Without `spec.behavior`: within `min`, `max` and twice the current size (at least 4).
fn within_rules(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
) -> (i32, (&'static str, &'static str)) {
    let up_limit = (2.0 * f64::from(current)).max(4.0) as i32;
    let (allowed_max, why) = if max > up_limit {
        (up_limit, UP_LIMIT)
    } else {
        (max, TOO_MANY)
    };
    if desired < min {
        (min, TOO_FEW)
    } else if desired > allowed_max {
        (allowed_max, why)
    } else {
        (desired, WITHIN_RANGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v2::HPAScalingPolicy;

    const T0: i64 = 1_700_000_000;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(T0 + secs).unwrap()
    }

    fn rules(window: i32, select: Select, policies: &[(PolicyKind, i32, i32)]) -> Rules {
        Rules {
            window_seconds: window,
            select,
            policies: policies
                .iter()
                .map(|&(kind, value, period_seconds)| Policy {
                    kind,
                    value,
                    period_seconds,
                })
                .collect(),
        }
    }

    #[test]
    fn defaults_are_upstreams() {
        let up = Rules::scale_up(None);
        assert_eq!(up.window_seconds, 0);
        assert_eq!(up.select, Select::Max);
        assert_eq!(up.policies.len(), 2);
        let down = Rules::scale_down(None, Duration::from_secs(300));
        assert_eq!(down.window_seconds, 300);
        assert_eq!(
            down.policies,
            vec![Policy {
                kind: PolicyKind::Percent,
                value: 100,
                period_seconds: 15
            }]
        );
        // Given fields win; missing ones keep the defaults.
        let given = HPAScalingRules {
            stabilization_window_seconds: None,
            select_policy: Some("Disabled".to_string()),
            policies: Some(vec![HPAScalingPolicy {
                type_: "Pods".to_string(),
                value: 1,
                period_seconds: 60,
            }]),
            ..Default::default()
        };
        let down = Rules::scale_down(Some(&given), Duration::from_secs(120));
        assert_eq!(down.window_seconds, 120);
        assert_eq!(down.select, Select::Disabled);
        assert_eq!(down.policies[0].period_seconds, 60);
    }

    /// upstream's `convertDesiredReplicasWithRules` cases.
    #[test]
    fn rules_without_behavior() {
        let cases = [
            // (current, desired, min, max, want, reason)
            (5, 7, 2, 10, 7, "DesiredWithinRange"),
            (5, 1, 2, 10, 2, "TooFewReplicas"),
            (5, 12, 2, 10, 10, "TooManyReplicas"),
            (5, 15, 2, 20, 10, "ScaleUpLimit"),
            (1, 6, 1, 10, 4, "ScaleUpLimit"),
            (0, 3, 0, 10, 3, "DesiredWithinRange"),
        ];
        for (current, desired, min, max, want, reason) in cases {
            let (got, why) = within_rules(current, desired, min, max);
            assert_eq!((got, why.0), (want, reason), "{current}->{desired}");
        }
    }

    #[test]
    fn downscale_stabilization_keeps_the_highest_recent_recommendation() {
        let mut h = History::default();
        let window = Duration::from_secs(300);
        h.record_initial(5, at(0));
        // Metrics want 2 at once: held at 5.
        let o = h.normalize(5, 2, 1, 10, window, at(15));
        assert_eq!(o.replicas, 5);
        assert_eq!(o.able.0, "ScaleDownStabilized");
        assert!(!o.limited.0);
        // Up is never held.
        let o = h.normalize(5, 8, 1, 10, window, at(30));
        assert_eq!((o.replicas, o.able.0), (8, "ReadyForNewScale"));
        // Once the window has passed over 5 and 8, down it goes.
        let o = h.normalize(8, 2, 1, 10, window, at(400));
        assert_eq!(o.replicas, 2);
        // Below min is limited.
        let o = h.normalize(2, 0, 1, 10, window, at(800));
        assert_eq!(o.replicas, 1);
        assert_eq!(o.limited, (true, TOO_FEW.0, TOO_FEW.1));
    }

    /// upstream's behavior cases: (name, rules up, rules down, events up, events down,
    /// current, desired, min, max, want, ScalingLimited reason).
    #[test]
    fn behavior_rates() {
        use PolicyKind::{Percent, Pods};
        let up_default = Rules::scale_up(None);
        let down_default = Rules::scale_down(None, Duration::ZERO);
        type Case = (
            &'static str,
            Rules,
            Rules,
            Vec<i32>,
            Vec<i32>,
            i32,
            i32,
            i32,
            i32,
            i32,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "default scale up: 4 pods or double",
                up_default.clone(),
                down_default.clone(),
                vec![],
                vec![],
                3,
                20,
                1,
                100,
                7,
                "ScaleUpLimit",
            ),
            (
                "default scale up from 10: double",
                up_default.clone(),
                down_default.clone(),
                vec![],
                vec![],
                10,
                50,
                1,
                100,
                20,
                "ScaleUpLimit",
            ),
            (
                "max wins over the rate",
                up_default.clone(),
                down_default.clone(),
                vec![],
                vec![],
                10,
                50,
                1,
                12,
                12,
                "TooManyReplicas",
            ),
            (
                "within range",
                up_default.clone(),
                down_default.clone(),
                vec![],
                vec![],
                10,
                12,
                1,
                100,
                12,
                "DesiredWithinRange",
            ),
            (
                "min policy picks the smaller change",
                rules(0, Select::Min, &[(Pods, 4, 60), (Percent, 100, 60)]),
                down_default.clone(),
                vec![],
                vec![],
                10,
                50,
                1,
                100,
                14,
                "ScaleUpLimit",
            ),
            (
                "earlier scale ups count in the period",
                rules(0, Select::Max, &[(Pods, 4, 60)]),
                down_default.clone(),
                vec![3],
                vec![],
                13,
                50,
                1,
                100,
                14,
                "ScaleUpLimit",
            ),
            (
                "exhausted period: hold",
                rules(0, Select::Max, &[(Pods, 4, 60)]),
                down_default.clone(),
                vec![4],
                vec![],
                14,
                50,
                1,
                100,
                14,
                "ScaleUpLimit",
            ),
            (
                "scale up disabled",
                rules(0, Select::Disabled, &[(Pods, 4, 60)]),
                down_default.clone(),
                vec![],
                vec![],
                5,
                8,
                1,
                100,
                5,
                "ScaleUpLimit",
            ),
            (
                "default scale down: all at once",
                up_default.clone(),
                down_default.clone(),
                vec![],
                vec![],
                10,
                2,
                1,
                100,
                2,
                "DesiredWithinRange",
            ),
            (
                "scale down by pods",
                up_default.clone(),
                rules(0, Select::Max, &[(Pods, 2, 60)]),
                vec![],
                vec![],
                10,
                2,
                1,
                100,
                8,
                "ScaleDownLimit",
            ),
            (
                "scale down by percent",
                up_default.clone(),
                rules(0, Select::Max, &[(Percent, 50, 60)]),
                vec![],
                vec![],
                10,
                2,
                1,
                100,
                5,
                "ScaleDownLimit",
            ),
            (
                "scale down min policy",
                up_default.clone(),
                rules(0, Select::Min, &[(Pods, 2, 60), (Percent, 50, 60)]),
                vec![],
                vec![],
                10,
                2,
                1,
                100,
                8,
                "ScaleDownLimit",
            ),
            (
                "scale down below min",
                up_default.clone(),
                down_default.clone(),
                vec![],
                vec![],
                10,
                0,
                3,
                100,
                3,
                "TooFewReplicas",
            ),
            (
                "scale down disabled",
                up_default.clone(),
                rules(0, Select::Disabled, &[(Pods, 2, 60)]),
                vec![],
                vec![],
                10,
                2,
                1,
                100,
                10,
                "ScaleDownLimit",
            ),
            (
                "earlier scale downs count",
                up_default.clone(),
                rules(0, Select::Max, &[(Pods, 2, 60)]),
                vec![],
                vec![1],
                9,
                2,
                1,
                100,
                8,
                "ScaleDownLimit",
            ),
        ];
        for (name, up, down, ups, downs, current, desired, min, max, want, reason) in cases {
            let mut h = History::default();
            for c in ups {
                h.store_scale_event(&up, &down, 0, c, at(-5));
            }
            for c in downs {
                h.store_scale_event(&up, &down, c, 0, at(-5));
            }
            let o = h.normalize_with_behaviors(&up, &down, current, desired, min, max, at(0));
            assert_eq!((o.replicas, o.limited.1), (want, reason), "{name}");
            assert_eq!(o.limited.0, want != desired, "{name}");
        }
    }

    #[test]
    fn behavior_stabilization_windows() {
        let up = rules(60, Select::Max, &[(PolicyKind::Percent, 1000, 15)]);
        let down = rules(120, Select::Max, &[(PolicyKind::Percent, 100, 15)]);
        let mut h = History::default();
        h.record_initial(4, at(0));
        // Up: the lowest recommendation of the last minute (4) holds.
        let o = h.normalize_with_behaviors(&up, &down, 4, 10, 1, 100, at(10));
        assert_eq!((o.replicas, o.able.0), (4, "ScaleUpStabilized"));
        // After a minute of 10s: up to 10.
        h.normalize_with_behaviors(&up, &down, 4, 10, 1, 100, at(50));
        let o = h.normalize_with_behaviors(&up, &down, 4, 10, 1, 100, at(75));
        assert_eq!((o.replicas, o.able.0), (10, "ReadyForNewScale"));
        // Down: the highest of the last two minutes (10) holds.
        let o = h.normalize_with_behaviors(&up, &down, 10, 2, 1, 100, at(90));
        assert_eq!((o.replicas, o.able.0), (10, "ScaleDownStabilized"));
        let o = h.normalize_with_behaviors(&up, &down, 10, 2, 1, 100, at(300));
        assert_eq!(o.replicas, 2);
    }

    #[test]
    fn outdated_scale_events_are_reused() {
        let up = rules(0, Select::Max, &[(PolicyKind::Pods, 4, 60)]);
        let down = Rules::scale_down(None, Duration::ZERO);
        let mut h = History::default();
        h.store_scale_event(&up, &down, 1, 5, at(0));
        h.store_scale_event(&up, &down, 5, 6, at(100));
        assert_eq!(h.scale_up.len(), 1);
        assert_eq!(History::changed_within(&h.scale_up, 60, at(101)), 1);
    }
}
