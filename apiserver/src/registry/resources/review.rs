//! The kinds that are asked and answered rather than stored (TokenReview, the access
//! reviews, SelfSubjectReview): create-only resources whose body is checked against the
//! generated type; the handlers in `handlers::reviews` and `handlers::access_reviews`
//! answer them.

use crate::registry::strategy::{Decoded, Strategy};
use crate::registry::{Resource, ResourceInfo, typed};
use serde_json::Value;

struct Review<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Strategy for Review<T>
where
    T: k8s_openapi::Resource + serde::de::DeserializeOwned + serde::Serialize + 'static,
{
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<T>(body)
    }
}

/// The create-only resource of review kind `T`; `singular` is its lower-case kind.
pub fn resource<T>(singular: &'static str, namespaced: bool) -> Resource
where
    T: k8s_openapi::Resource + serde::de::DeserializeOwned + serde::Serialize + 'static,
{
    Resource::new(
        ResourceInfo::new(
            T::GROUP,
            T::VERSION,
            T::URL_PATH_SEGMENT,
            T::KIND,
            singular,
            namespaced,
        )
        .verbs(&["create"]),
        Review::<T>(std::marker::PhantomData),
    )
}
