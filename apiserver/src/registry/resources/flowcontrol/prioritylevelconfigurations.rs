//! PriorityLevelConfigurations: concurrency shares and queuing for a class of requests.
//! Spec changes bump the generation; the APF controller reports through `status`.

use super::GROUP;
use crate::registry::resources::shared::{has, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors, meta};
use k8s_openapi::api::flowcontrol::v1::PriorityLevelConfiguration;
use serde_json::{Value, json};

const DEFAULT_NOMINAL_SHARES: i64 = 30;
const DEFAULT_HAND_SIZE: i64 = 8;
const DEFAULT_QUEUES: i64 = 64;
const DEFAULT_QUEUE_LENGTH_LIMIT: i64 = 50;
const MAX_QUEUES: i64 = 10_000_000;
const MAX_HASH_BITS: f64 = 60.0;
const TYPES: &[&str] = &["Exempt", "Limited"];
const LIMIT_RESPONSE_TYPES: &[&str] = &["Queue", "Reject"];

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(
    GROUP,
    "v1",
    "PriorityLevelConfiguration",
)];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            GROUP,
            "v1",
            "prioritylevelconfigurations",
            "PriorityLevelConfiguration",
            "prioritylevelconfiguration",
            false,
        )
        .subresources(SUBRESOURCES),
        PriorityLevelConfigurations,
    )
}

pub struct PriorityLevelConfigurations;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Type",
        "string",
        "`type` indicates whether this priority level is subject to limitation on request execution.  A value of `\"Exempt\"` means that requests of this priority level are not subject to a limit (and thus are never queued) and do not detract from the capacity made available to other priority levels.  A value of `\"Limited\"` means that (a) requests of this priority level _are_ subject to limits and (b) some of the server's limited capacity is made available exclusively to this priority level. Required.",
    ),
    Column::new(
        "NominalConcurrencyShares",
        "string",
        "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) of this level. This is the number of execution seats available at this priority level. This is used both for requests dispatched from this priority level as well as requests dispatched from other priority levels borrowing seats from this level. The server's concurrency limit (ServerCL) is divided among the Limited priority levels in proportion to their NCS values:\n\nNominalCL(i)  = ceil( ServerCL * NCS(i) / sum_ncs ) sum_ncs = sum[priority level k] NCS(k)\n\nBigger numbers mean a larger nominal concurrency limit, at the expense of every other priority level.\n\nIf not specified, this field defaults to a value of 30.\n\nSetting this field to zero supports the construction of a \"jail\" for this priority level that is used to hold some request(s)",
    ),
    Column::new(
        "Queues",
        "string",
        "`queues` is the number of queues for this priority level. The queues exist independently at each apiserver. The value must be positive.  Setting it to 1 effectively precludes shufflesharding and thus makes the distinguisher method of associated flow schemas irrelevant.  This field has a default value of 64.",
    ),
    Column::new(
        "HandSize",
        "string",
        "`handSize` is a small positive number that configures the shuffle sharding of requests into queues.  When enqueuing a request at this priority level the request's flow identifier (a string pair) is hashed and the hash value is used to shuffle the list of queues and deal a hand of the size specified here.  The request is put into one of the shortest queues in that hand. `handSize` must be no larger than `queues`, and should be significantly smaller (so that a few heavy flows do not saturate most of the queues).  See the user-facing documentation for more extensive guidance on setting this field.  This field has a default value of 8.",
    ),
    Column::new(
        "QueueLengthLimit",
        "string",
        "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue of this priority level at a time; excess requests are rejected.  This value must be positive.  If not specified, it will be defaulted to 50.",
    ),
    AGE,
];

fn int(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

fn validate_percent(v: Option<i64>, path: &str, errs: &mut FieldErrors) {
    if let Some(p) = v
        && !(0..=100).contains(&p)
    {
        errs.push(FieldError::invalid(
            path,
            p,
            "must be between 0 and 100, inclusive",
        ));
    }
}

fn validate_queuing(q: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let limit = int(q, "/queueLengthLimit").unwrap_or(0);
    if limit <= 0 {
        errs.push(FieldError::invalid(
            format!("{path}.queueLengthLimit"),
            limit,
            "must be positive",
        ));
    }
    let queues = int(q, "/queues").unwrap_or(0);
    if queues <= 0 {
        errs.push(FieldError::invalid(
            format!("{path}.queues"),
            queues,
            "must be positive",
        ));
    } else if queues > MAX_QUEUES {
        errs.push(FieldError::invalid(
            format!("{path}.queues"),
            queues,
            format!("must not be greater than {MAX_QUEUES}"),
        ));
    }
    let hand = int(q, "/handSize").unwrap_or(0);
    let hp = format!("{path}.handSize");
    if hand <= 0 {
        errs.push(FieldError::invalid(hp, hand, "must be positive"));
    } else if hand > queues {
        errs.push(FieldError::invalid(
            hp,
            hand,
            format!("should not be greater than queues ({queues})"),
        ));
    } else if (hand as f64 * (queues as f64).log2()).ceil() > MAX_HASH_BITS {
        errs.push(FieldError::invalid(
            hp,
            hand,
            format!(
                "required entropy bits of deckSize {queues} and handSize {hand} should not be greater than {MAX_HASH_BITS}"
            ),
        ));
    }
    errs
}

fn validate_limited(l: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let p = "spec.limited";
    let shares = int(l, "/nominalConcurrencyShares").unwrap_or(0);
    if shares < 0 {
        errs.push(FieldError::invalid(
            format!("{p}.nominalConcurrencyShares"),
            shares,
            "must be a non-negative integer",
        ));
    }
    let lr = format!("{p}.limitResponse");
    match s(l, "/limitResponse/type") {
        "Reject" => {
            if has(l, "/limitResponse/queuing") {
                errs.push(FieldError::forbidden(
                    format!("{lr}.queuing"),
                    "must be nil if limited.limitResponse.type is not Limited",
                ));
            }
        }
        "Queue" => match l.pointer("/limitResponse/queuing").filter(|v| !v.is_null()) {
            None => errs.push(FieldError::required(
                format!("{lr}.queuing"),
                "must not be empty if limited.limitResponse.type is Limited",
            )),
            Some(q) => errs.extend(validate_queuing(q, &format!("{lr}.queuing"))),
        },
        other => errs.push(FieldError::not_supported(
            format!("{lr}.type"),
            other,
            LIMIT_RESPONSE_TYPES,
        )),
    }
    validate_percent(
        int(l, "/lendablePercent"),
        &format!("{p}.lendablePercent"),
        &mut errs,
    );
    if let Some(b) = int(l, "/borrowingLimitPercent")
        && b < 0
    {
        errs.push(FieldError::invalid(
            format!("{p}.borrowingLimitPercent"),
            b,
            "if specified, must be a non-negative integer",
        ));
    }
    errs
}

/// `ValidateIfMandatoryPriorityLevelConfigurationObject`: `catch-all` keeps its bootstrap
/// spec; `exempt` too, except for its `exempt` settings.
fn validate_mandatory(obj: &Value) -> Option<FieldError> {
    let name = meta::name(obj);
    if !matches!(name, "exempt" | "catch-all") {
        return None;
    }
    let fixed = super::bootstrap::priority_levels()
        .into_iter()
        .find(|pl| pl["metadata"]["name"] == name)?;
    let mut have = obj.get("spec").cloned().unwrap_or(Value::Null);
    let mut want = fixed.get("spec").cloned().unwrap_or(Value::Null);
    let detail = if name == "exempt" {
        for spec in [&mut have, &mut want] {
            if let Some(m) = spec.as_object_mut() {
                m.remove("exempt");
            }
        }
        format!("spec of '{name}' except the 'spec.exempt' field must equal the fixed value")
    } else {
        format!("spec of '{name}' must equal the fixed value")
    };
    (have != want).then(|| {
        FieldError::invalid(
            "spec",
            obj.get("spec").cloned().unwrap_or(Value::Null),
            detail,
        )
    })
}

impl Strategy for PriorityLevelConfigurations {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<PriorityLevelConfiguration>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        if let Some(e) = obj
            .pointer_mut("/spec/exempt")
            .and_then(Value::as_object_mut)
        {
            e.entry("nominalConcurrencyShares").or_insert(json!(0));
            e.entry("lendablePercent").or_insert(json!(0));
        }
        if let Some(l) = obj
            .pointer_mut("/spec/limited")
            .and_then(Value::as_object_mut)
        {
            l.entry("nominalConcurrencyShares")
                .or_insert(json!(DEFAULT_NOMINAL_SHARES));
            l.entry("lendablePercent").or_insert(json!(0));
        }
        if let Some(q) = obj
            .pointer_mut("/spec/limited/limitResponse/queuing")
            .and_then(Value::as_object_mut)
        {
            for (k, d) in [
                ("handSize", DEFAULT_HAND_SIZE),
                ("queues", DEFAULT_QUEUES),
                ("queueLengthLimit", DEFAULT_QUEUE_LENGTH_LIMIT),
            ] {
                if q.get(k).and_then(Value::as_i64).unwrap_or(0) == 0 {
                    q.insert(k.into(), json!(d));
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let t = s(obj, "/spec/type");
        if (meta::name(obj) == "exempt") != (t == "Exempt") {
            errs.push(FieldError::invalid(
                "spec.type",
                t,
                "type must be 'Exempt' if and only if name is 'exempt'",
            ));
        }
        match t {
            "Exempt" => {
                if has(obj, "/spec/limited") {
                    errs.push(FieldError::forbidden(
                        "spec.limited",
                        "must be nil if the type is not Limited",
                    ));
                }
                if let Some(shares) = int(obj, "/spec/exempt/nominalConcurrencyShares")
                    && shares < 0
                {
                    errs.push(FieldError::invalid(
                        "spec.exempt.nominalConcurrencyShares",
                        shares,
                        "must be a non-negative number",
                    ));
                }
                validate_percent(
                    int(obj, "/spec/exempt/lendablePercent"),
                    "spec.exempt.lendablePercent",
                    &mut errs,
                );
            }
            "Limited" => {
                if has(obj, "/spec/exempt") {
                    errs.push(FieldError::forbidden(
                        "spec.exempt",
                        "must be nil if the type is Limited",
                    ));
                }
                match obj.pointer("/spec/limited").filter(|v| !v.is_null()) {
                    None => errs.push(FieldError::required(
                        "spec.limited",
                        "must not be empty when type is Limited",
                    )),
                    Some(l) => errs.extend(validate_limited(l)),
                }
            }
            other => errs.push(FieldError::not_supported("spec.type", other, TYPES)),
        }
        errs.extend(validate_mandatory(obj));
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, c) in crate::registry::resources::shared::arr(new, "/status/conditions")
            .iter()
            .enumerate()
        {
            let t = s(c, "/type");
            let p = format!("status.conditions[{i}].type");
            if !seen.insert(t) {
                errs.push(FieldError::duplicate(p.clone(), t));
            }
            if t.is_empty() {
                errs.push(FieldError::required(p, "must not be empty"));
            }
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let none = || json!("<none>");
        let (mut shares, mut queues, mut hand, mut limit) = (none(), none(), none(), none());
        if let Some(l) = obj.pointer("/spec/limited").filter(|v| !v.is_null()) {
            shares = json!(int(l, "/nominalConcurrencyShares").unwrap_or(0));
            if let Some(q) = l.pointer("/limitResponse/queuing").filter(|v| !v.is_null()) {
                queues = json!(int(q, "/queues").unwrap_or(0));
                hand = json!(int(q, "/handSize").unwrap_or(0));
                limit = json!(int(q, "/queueLengthLimit").unwrap_or(0));
            }
        }
        vec![
            table::name(obj),
            json!(s(obj, "/spec/type")),
            shares,
            queues,
            hand,
            limit,
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let mut pl = json!({"spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {}}}}});
        PriorityLevelConfigurations.default(&mut pl);
        assert_eq!(
            pl["spec"]["limited"],
            json!({"nominalConcurrencyShares": 30, "lendablePercent": 0, "limitResponse": {"type": "Queue", "queuing": {"handSize": 8, "queues": 64, "queueLengthLimit": 50}}})
        );
    }

    #[test]
    fn validation_and_rows() {
        let pl = json!({"metadata": {"name": "x"}, "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": -1, "lendablePercent": 101, "limitResponse": {"type": "Queue", "queuing": {"queues": 4, "handSize": 5, "queueLengthLimit": 0}}}}});
        let errs: Vec<String> = PriorityLevelConfigurations
            .validate(&pl)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.limited.nominalConcurrencyShares: Invalid value: -1: must be a non-negative integer",
                "spec.limited.limitResponse.queuing.queueLengthLimit: Invalid value: 0: must be positive",
                "spec.limited.limitResponse.queuing.handSize: Invalid value: 5: should not be greater than queues (4)",
                "spec.limited.lendablePercent: Invalid value: 101: must be between 0 and 100, inclusive",
            ]
        );
        let exempt = json!({"metadata": {"name": "exempt"}, "spec": {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 3}}});
        assert!(PriorityLevelConfigurations.validate(&exempt).is_empty());
        assert_eq!(
            PriorityLevelConfigurations.table_row(&exempt)[2..6],
            [
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let catch_all = json!({"metadata": {"name": "catch-all"}, "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 6, "lendablePercent": 0, "limitResponse": {"type": "Reject"}}}});
        assert!(
            PriorityLevelConfigurations.validate(&catch_all)[0]
                .to_string()
                .ends_with("spec of 'catch-all' must equal the fixed value")
        );
        let wrong = json!({"metadata": {"name": "mine"}, "spec": {"type": "Exempt"}});
        assert_eq!(
            PriorityLevelConfigurations.validate(&wrong)[0].to_string(),
            "spec.type: Invalid value: \"Exempt\": type must be 'Exempt' if and only if name is 'exempt'"
        );
    }
}
