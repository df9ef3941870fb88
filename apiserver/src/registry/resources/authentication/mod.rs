//! The `authentication.k8s.io` group: TokenReviews and SelfSubjectReviews, asked and
//! answered by the server's authenticators (`handlers::reviews`), never stored.
//! (TokenRequests are the `serviceaccounts/token` subresource of the core group.)

use super::review;
use crate::registry::Resource;
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenReview};

pub fn resources() -> Vec<Resource> {
    vec![
        review::resource::<SelfSubjectReview>("selfsubjectreview", false),
        review::resource::<TokenReview>("tokenreview", false),
    ]
}
