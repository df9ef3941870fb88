//! The status of a SelfSubjectRulesReview from RBAC's rules: upstream's
//! `RBACAuthorizer.RulesFor` and `selfsubjectrulesreview/rest.go`.

use k8s_openapi::api::authorization::v1::{
    NonResourceRule, ResourceRule, SubjectRulesReviewStatus,
};
use k8s_openapi::api::rbac::v1::PolicyRule;

use super::format::aggregate;
use super::index::RbacIndex;
use crate::authn::user::UserInfo;

impl RbacIndex {
    /// The SelfSubjectRulesReview status RBAC gives `user` in `namespace`.
    pub fn rules_review(&self, user: &UserInfo, namespace: &str) -> SubjectRulesReviewStatus {
        let (rules, errors) = self.rules_for(user, namespace);
        review_status(&rules, &errors)
    }
}

/// Splits rules as upstream does: a rule naming resources becomes a `ResourceRule`, one
/// naming non-resource URLs a `NonResourceRule` (a rule naming both, both). RBAC always
/// enumerates everything it grants, so `incomplete` is false; `evaluationError` is the
/// resolution errors joined as upstream's aggregate error. Other authorizers in the chain
/// (the node authorizer marks nodes incomplete) are for the caller to merge in.
pub fn review_status(rules: &[PolicyRule], errors: &[String]) -> SubjectRulesReviewStatus {
    let named = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
    SubjectRulesReviewStatus {
        resource_rules: rules
            .iter()
            .filter(|rule| named(&rule.resources))
            .map(|rule| ResourceRule {
                verbs: rule.verbs.clone(),
                api_groups: rule.api_groups.clone(),
                resources: rule.resources.clone(),
                resource_names: rule.resource_names.clone(),
            })
            .collect(),
        non_resource_rules: rules
            .iter()
            .filter(|rule| named(&rule.non_resource_urls))
            .map(|rule| NonResourceRule {
                verbs: rule.verbs.clone(),
                non_resource_urls: rule.non_resource_urls.clone(),
            })
            .collect(),
        incomplete: false,
        evaluation_error: aggregate(errors),
    }
}
