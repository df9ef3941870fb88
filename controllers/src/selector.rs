//! Label selectors (`matchLabels` and `matchExpressions`) matched against an object's labels,
//! as upstream's `metav1.LabelSelectorAsSelector` builds them: a missing selector selects
//! nothing, an empty one everything, and every requirement must hold.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Whether `selector` selects an object with `labels`. An operator upstream does not know
/// selects nothing (validation refuses such selectors before they are stored).
pub fn matches(
    selector: Option<&LabelSelector>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let Some(selector) = selector else {
        return false;
    };
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_labels
        && selector.match_expressions.iter().flatten().all(|req| {
            let value = labels.get(&req.key);
            let values = req.values.as_deref().unwrap_or_default();
            match req.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// Whether `selector` selects every object (`{}`), which upstream refuses for controllers'
/// pod selectors outside validation's reach.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// A label selector as Go prints a `*metav1.LabelSelector` with `%v` (its generated
/// `String()`), for the messages upstream writes it into.
pub fn go_text(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else {
        return "nil".to_string();
    };
    let labels: String = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}: {v},"))
        .collect();
    let expressions: String = selector
        .match_expressions
        .iter()
        .flatten()
        .map(|r| {
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                r.key,
                r.operator,
                r.values.as_deref().unwrap_or_default().join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: op.to_string(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions_all_hold() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                req("tier", "In", &["front", "edge"]),
                req("canary", "DoesNotExist", &[]),
                req("env", "NotIn", &["prod"]),
            ]),
        };
        assert!(matches(
            Some(&sel),
            Some(&labels(&[("app", "web"), ("tier", "edge")]))
        ));
        assert!(!matches(
            Some(&sel),
            Some(&labels(&[("app", "web"), ("tier", "back")]))
        ));
        assert!(!matches(
            Some(&sel),
            Some(&labels(&[("app", "web"), ("tier", "edge"), ("canary", "")]))
        ));
        assert!(!matches(
            Some(&sel),
            Some(&labels(&[
                ("app", "web"),
                ("tier", "edge"),
                ("env", "prod")
            ]))
        ));
        assert!(!matches(Some(&sel), None));
    }

    #[test]
    fn missing_selects_nothing_and_empty_everything() {
        assert!(!matches(None, Some(&labels(&[("a", "b")]))));
        let empty = LabelSelector::default();
        assert!(is_empty(&empty));
        assert!(matches(Some(&empty), None));
        let exists = LabelSelector {
            match_expressions: Some(vec![req("a", "Exists", &[])]),
            ..Default::default()
        };
        assert!(!is_empty(&exists));
        assert!(matches(Some(&exists), Some(&labels(&[("a", "")]))));
        assert!(!matches(Some(&exists), Some(&labels(&[("b", "")]))));
    }

    #[test]
    fn selectors_print_as_go_prints_them() {
        let sel = LabelSelector {
            match_labels: Some(BTreeMap::from([
                ("foo".to_string(), "bar".to_string()),
                ("app".to_string(), "web".to_string()),
            ])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".to_string(),
                operator: "In".to_string(),
                values: Some(vec!["a".to_string(), "b".to_string()]),
            }]),
        };
        assert_eq!(
            go_text(Some(&sel)),
            "&LabelSelector{MatchLabels:map[string]string{app: web,foo: bar,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:tier,Operator:In,Values:[a b],},},}"
        );
        assert_eq!(
            go_text(Some(&LabelSelector::default())),
            "&LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}"
        );
        assert_eq!(go_text(None), "nil");
    }
}
