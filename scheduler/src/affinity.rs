//! A pod's inter-pod affinity terms, parsed once (upstream's `AffinityTerm` and the affinity
//! part of `framework.PodInfo`): the namespaces and label selector each term matches pods with,
//! and its topology key. The cache keeps them on every pod it holds, so InterPodAffinity does
//! not parse the terms of existing pods in every cycle.
//!
//! A term's `matchLabelKeys` and `mismatchLabelKeys` become `key in (value)` and
//! `key notin (value)` requirements with the owning pod's label values. Upstream's apiserver
//! writes those into the stored `labelSelector` when the pod is created; ferrokube's does not,
//! so they are added here (adding them twice changes nothing a selector selects).

use crate::labels::{Operator, Requirement, Selector};
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};
use std::collections::{BTreeMap, BTreeSet};

/// One parsed (anti-)affinity term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityTerm {
    /// Namespaces named by the term (the owner's own when it names none and has no
    /// namespace selector).
    pub namespaces: BTreeSet<String>,
    pub selector: Selector,
    pub topology_key: String,
    /// Selects namespaces by their labels; nothing when the term has none.
    pub namespace_selector: Selector,
}

impl AffinityTerm {
    /// Parses `term` of `pod` (upstream's `newAffinityTerm`).
    pub fn new(pod: &Pod, term: &PodAffinityTerm) -> Result<Self, String> {
        let mut selector = Selector::from_label_selector(term.label_selector.as_ref())?;
        if term.label_selector.is_some() {
            let labels = pod.metadata.labels.as_ref();
            let value = |k: &String| labels.and_then(|l| l.get(k)).cloned();
            let mut more = Vec::new();
            for k in term.match_label_keys.iter().flatten() {
                if let Some(v) = value(k) {
                    more.push(Requirement::new(k, Operator::In, &[&v]));
                }
            }
            for k in term.mismatch_label_keys.iter().flatten() {
                if let Some(v) = value(k) {
                    more.push(Requirement::new(k, Operator::NotIn, &[&v]));
                }
            }
            selector = selector.with_requirements(more);
        }
        let names = term.namespaces.as_deref().unwrap_or_default();
        let namespaces = if names.is_empty() && term.namespace_selector.is_none() {
            BTreeSet::from([pod.metadata.namespace.clone().unwrap_or_default()])
        } else {
            names.iter().cloned().collect()
        };
        Ok(Self {
            namespaces,
            selector,
            topology_key: term.topology_key.clone(),
            namespace_selector: Selector::from_label_selector(term.namespace_selector.as_ref())?,
        })
    }

    /// Whether `pod` (in a namespace labelled `ns_labels`) is one of the pods the term selects.
    pub fn matches(&self, pod: &Pod, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        (self.namespaces.contains(ns) || self.namespace_selector.matches(ns_labels))
            && self.selector.matches(pod.metadata.labels.as_ref())
    }
}

/// A preferred term with its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedAffinityTerm {
    pub term: AffinityTerm,
    pub weight: i32,
}

/// Every inter-pod affinity term of one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodAffinityTerms {
    /// Whether the pod has pod affinity or anti-affinity at all (upstream's
    /// `podWithAffinity`).
    pub with_affinity: bool,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    /// Why some terms could not be parsed (those are left out).
    pub parse_error: Option<String>,
}

impl PodAffinityTerms {
    /// The parsed terms of `pod` (upstream's `PodInfo.Update`).
    pub fn of(pod: &Pod) -> Self {
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let mut errors = Vec::new();
        let mut required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            match terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(pod, t))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(t) => t,
                Err(e) => {
                    errors.push(e);
                    Vec::new()
                }
            }
        };
        let required_affinity = required(pa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity = required(paa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let mut preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| match terms
            .into_iter()
            .flatten()
            .map(|t| {
                AffinityTerm::new(pod, &t.pod_affinity_term).map(|term| WeightedAffinityTerm {
                    term,
                    weight: t.weight,
                })
            })
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        let preferred_affinity = preferred(pa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_anti_affinity = preferred(paa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        Self {
            with_affinity: pa.is_some() || paa.is_some(),
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            parse_error: (!errors.is_empty()).then(|| errors.join(", ")),
        }
    }
}

/// Whether `pod` matches every term (and there is at least one), upstream's
/// `podMatchesAllAffinityTerms`; the terms' namespace selectors see no namespace labels.
pub fn pod_matches_all_terms(terms: &[AffinityTerm], pod: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, None))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Affinity terms for unit tests.

    use k8s_openapi::api::core::v1::{
        Affinity, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    /// A term selecting pods labelled `key=value` over `topology_key`.
    pub fn term(key: &str, value: &str, topology_key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some([(key.to_string(), value.to_string())].into()),
                ..Default::default()
            }),
            topology_key: topology_key.to_string(),
            ..Default::default()
        }
    }

    pub fn weighted(weight: i32, t: PodAffinityTerm) -> WeightedPodAffinityTerm {
        WeightedPodAffinityTerm {
            weight,
            pod_affinity_term: t,
        }
    }

    pub fn with_labels(mut pod: Pod, labels: &[(&str, &str)]) -> Pod {
        pod.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        pod
    }

    /// Sets the pod's affinity: required and preferred affinity, required and preferred
    /// anti-affinity.
    pub fn with_pod_affinity(
        mut pod: Pod,
        required: Vec<PodAffinityTerm>,
        preferred: Vec<WeightedPodAffinityTerm>,
        required_anti: Vec<PodAffinityTerm>,
        preferred_anti: Vec<WeightedPodAffinityTerm>,
    ) -> Pod {
        let some = |v: Vec<_>| (!v.is_empty()).then_some(v);
        let affinity = pod
            .spec
            .get_or_insert_default()
            .affinity
            .get_or_insert_with(Affinity::default);
        if !required.is_empty() || !preferred.is_empty() {
            affinity.pod_affinity = Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: some(required),
                preferred_during_scheduling_ignored_during_execution: (!preferred.is_empty())
                    .then_some(preferred),
            });
        }
        if !required_anti.is_empty() || !preferred_anti.is_empty() {
            affinity.pod_anti_affinity = Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: some(required_anti),
                preferred_during_scheduling_ignored_during_execution: (!preferred_anti.is_empty())
                    .then_some(preferred_anti),
            });
        }
        pod
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::node_info::testing::pod;

    #[test]
    fn namespaces_selectors_and_label_keys() {
        let owner = with_labels(pod("o", &[&[]]), &[("app", "web"), ("rev", "1")]);
        let mut t = term("app", "web", "zone");
        t.match_label_keys = Some(vec!["rev".into(), "absent".into()]);
        let parsed = AffinityTerm::new(&owner, &t).unwrap();
        assert_eq!(parsed.namespaces, BTreeSet::from(["default".to_string()]));
        assert!(parsed.matches(&owner, None));
        let other_rev = with_labels(pod("p", &[&[]]), &[("app", "web"), ("rev", "2")]);
        assert!(!parsed.matches(&other_rev, None));
        let mut elsewhere = owner.clone();
        elsewhere.metadata.namespace = Some("other".into());
        assert!(!parsed.matches(&elsewhere, None));
        // An empty namespace selector selects every namespace.
        t.namespace_selector = Some(Default::default());
        let all = AffinityTerm::new(&owner, &t).unwrap();
        assert!(all.namespaces.is_empty());
        assert!(all.matches(&elsewhere, None));
        let mut mismatch = term("app", "web", "zone");
        mismatch.mismatch_label_keys = Some(vec!["rev".into()]);
        let parsed = AffinityTerm::new(&owner, &mismatch).unwrap();
        assert!(!parsed.matches(&owner, None));
        assert!(parsed.matches(&other_rev, None));
    }

    #[test]
    fn terms_of_a_pod() {
        let p = with_pod_affinity(
            with_labels(pod("p", &[&[]]), &[("app", "web")]),
            vec![term("app", "web", "zone")],
            vec![weighted(5, term("app", "db", "zone"))],
            vec![],
            vec![],
        );
        let terms = PodAffinityTerms::of(&p);
        assert!(terms.with_affinity);
        assert_eq!(terms.required_affinity.len(), 1);
        assert_eq!(terms.preferred_affinity[0].weight, 5);
        assert!(terms.required_anti_affinity.is_empty());
        assert!(pod_matches_all_terms(&terms.required_affinity, &p));
        assert!(!pod_matches_all_terms(&[], &p));
        assert!(!PodAffinityTerms::of(&pod("q", &[&[]])).with_affinity);
    }
}
