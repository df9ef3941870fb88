//! The autoscaler's status (upstream's `setCondition`, `setStatus`): the conditions
//! `AbleToScale`, `ScalingActive` and `ScalingLimited` (added in the order first set; the
//! transition time moves only when the status does), and the Go renderings that end up in
//! messages.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition as Condition;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub const ABLE_TO_SCALE: &str = "AbleToScale";
pub const SCALING_ACTIVE: &str = "ScalingActive";
pub const SCALING_LIMITED: &str = "ScalingLimited";

/// Sets the condition of `type_`, adding it if missing.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    let status = if status { "True" } else { "False" };
    let i = match conditions.iter().position(|c| c.type_ == type_) {
        Some(i) => i,
        None => {
            conditions.push(Condition {
                type_: type_.to_string(),
                ..Default::default()
            });
            conditions.len() - 1
        }
    };
    let c = &mut conditions[i];
    if c.status != status {
        // Stored with second precision; keep what was written comparable with what is read.
        let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
        c.last_transition_time = Some(Time(now));
    }
    c.status = status.to_string();
    c.reason = Some(reason.to_string());
    c.message = Some(message);
}

/// A milli-value as upstream writes `resource.NewMilliQuantity(v, DecimalSI)`.
pub fn milli_quantity(milli: i64) -> Quantity {
    let text = apimachinery::quantity::Quantity::parse(&format!("{milli}m"))
        .map(|q| q.canonical())
        .unwrap_or_else(|_| format!("{milli}m"));
    Quantity(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_their_transition_time_while_status_holds() {
        let t1 = Timestamp::from_second(1_700_000_000).unwrap();
        let t2 = Timestamp::from_second(1_700_000_100).unwrap();
        let mut cs = Vec::new();
        set_condition(
            &mut cs,
            ABLE_TO_SCALE,
            true,
            "SucceededGetScale",
            "a".into(),
            t1,
        );
        set_condition(
            &mut cs,
            SCALING_ACTIVE,
            false,
            "ScalingDisabled",
            "b".into(),
            t1,
        );
        set_condition(
            &mut cs,
            ABLE_TO_SCALE,
            true,
            "ReadyForNewScale",
            "c".into(),
            t2,
        );
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].reason.as_deref(), Some("ReadyForNewScale"));
        assert_eq!(cs[0].last_transition_time, Some(Time(t1)));
        set_condition(
            &mut cs,
            ABLE_TO_SCALE,
            false,
            "FailedGetScale",
            "d".into(),
            t2,
        );
        assert_eq!(cs[0].last_transition_time, Some(Time(t2)));
        assert_eq!(cs[0].status, "False");
    }

    #[test]
    fn milli_quantities_are_canonical() {
        assert_eq!(milli_quantity(1000).0, "1");
        assert_eq!(milli_quantity(250).0, "250m");
        assert_eq!(milli_quantity(0).0, "0");
    }
}
