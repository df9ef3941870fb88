//! Parsed label selectors, as upstream's `labels.Selector`: what topology spreading and
//! inter-pod affinity match pods and namespaces with. Unlike a `metav1.LabelSelector`, a
//! [`Selector`] can be extended with more requirements (a constraint's `matchLabelKeys`, a
//! ReplicaSet's selector added to a Service's) and tells "selects nothing" apart from "selects
//! everything".
//!
//! As upstream's `LabelSelectorAsSelector`: a missing selector selects nothing, an empty one
//! everything, and every requirement must hold.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::{BTreeMap, BTreeSet};

/// A requirement's operator (`=` is [`Operator::In`] with one value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One `key <operator> values` condition on an object's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: BTreeSet<String>,
}

impl Requirement {
    pub fn new(key: &str, operator: Operator, values: &[&str]) -> Self {
        Self {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// Whether `labels` satisfy the requirement (absent labels count as none).
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let value = labels.and_then(|l| l.get(&self.key));
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Selects nothing (upstream's `labels.Nothing()`: a missing `LabelSelector`).
    Nothing,
    /// Selects what satisfies every requirement; with none, everything.
    Requirements(Vec<Requirement>),
}

impl Default for Selector {
    fn default() -> Self {
        Self::everything()
    }
}

impl Selector {
    pub fn everything() -> Self {
        Selector::Requirements(Vec::new())
    }

    /// `key = value` for every pair (upstream's `labels.SelectorFromSet`).
    pub fn from_set(set: &BTreeMap<String, String>) -> Self {
        Selector::Requirements(
            set.iter()
                .map(|(k, v)| Requirement::new(k, Operator::In, &[v]))
                .collect(),
        )
    }

    /// Parses a `metav1.LabelSelector` as upstream's `LabelSelectorAsSelector` does; `None`
    /// selects nothing. The error says which requirement is invalid.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Self, String> {
        let Some(selector) = selector else {
            return Ok(Selector::Nothing);
        };
        let mut reqs: Vec<Requirement> = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::new(k, Operator::In, &[v]))
            .collect();
        for e in selector.match_expressions.iter().flatten() {
            let operator = match e.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            let values: BTreeSet<String> = e.values.iter().flatten().cloned().collect();
            match operator {
                Operator::In | Operator::NotIn if values.is_empty() => {
                    return Err(format!(
                        "values: Invalid value: []string{{}}: for 'in', 'notin' operators, values set can't be empty (key {:?})",
                        e.key
                    ));
                }
                Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                    return Err(format!(
                        "values: Invalid value: {values:?}: values set must be empty for exists and does not exist (key {:?})",
                        e.key
                    ));
                }
                _ => {}
            }
            reqs.push(Requirement {
                key: e.key.clone(),
                operator,
                values,
            });
        }
        Ok(Selector::Requirements(reqs))
    }

    /// Whether the selector selects an object with `labels`.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// Whether it has no requirements (selects everything), as upstream's `Selector.Empty`.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    /// The requirements, or `None` for [`Selector::Nothing`] (upstream's `Requirements()`).
    pub fn requirements(&self) -> Option<&[Requirement]> {
        match self {
            Selector::Nothing => None,
            Selector::Requirements(r) => Some(r),
        }
    }

    /// The selector with more requirements; nothing stays nothing.
    pub fn with_requirements(self, more: impl IntoIterator<Item = Requirement>) -> Self {
        match self {
            Selector::Nothing => Selector::Nothing,
            Selector::Requirements(mut r) => {
                r.extend(more);
                Selector::Requirements(r)
            }
        }
    }

    /// `set` as requirements, followed by this selector's (upstream's
    /// `mergeLabelSetWithSelector`; a selector of nothing contributes none).
    pub fn merged_with_set(&self, set: &BTreeMap<String, String>) -> Self {
        let merged = Selector::from_set(set);
        match self.requirements() {
            Some(reqs) => merged.with_requirements(reqs.iter().cloned()),
            None => merged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn missing_empty_and_expressions() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(
            !Selector::from_label_selector(None)
                .unwrap()
                .matches(Some(&l))
        );
        let empty = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
        assert!(empty.is_empty() && empty.matches(None));
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["back".into()]),
            }]),
        };
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert!(s.matches(Some(&l)));
        assert!(!s.matches(Some(&labels(&[("app", "db")]))));
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(Selector::from_label_selector(Some(&bad)).is_err());
    }

    #[test]
    fn merging_sets_into_selectors() {
        let set = labels(&[("pod-template-hash", "abc")]);
        // A selector of nothing merged with a set selects by the set.
        let merged = Selector::Nothing.merged_with_set(&set);
        assert!(merged.matches(Some(&set)));
        let app = Selector::from_set(&labels(&[("app", "web")])).merged_with_set(&set);
        assert!(!app.matches(Some(&set)));
        assert!(app.matches(Some(&labels(&[
            ("app", "web"),
            ("pod-template-hash", "abc")
        ]))));
        assert_eq!(Selector::Nothing.with_requirements([]), Selector::Nothing);
    }
}
