//! The `authorization.k8s.io` group: the access reviews, asked and answered by the server's
//! authorizers (`handlers::access_reviews`), never stored.

use super::review;
use crate::registry::Resource;
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
};

pub fn resources() -> Vec<Resource> {
    vec![
        review::resource::<LocalSubjectAccessReview>("localsubjectaccessreview", true),
        review::resource::<SelfSubjectAccessReview>("selfsubjectaccessreview", false),
        review::resource::<SelfSubjectRulesReview>("selfsubjectrulesreview", false),
        review::resource::<SubjectAccessReview>("subjectaccessreview", false),
    ]
}
