//! The `bindings` collection: `POST /api/v1/namespaces/<ns>/bindings` with a Binding naming a
//! pod binds it, as `pods/<name>/binding` does. Nothing is stored under this resource; the
//! binding handler writes the pod.

use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use k8s_openapi::api::core::v1::Binding;
use serde_json::Value;

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "bindings", "Binding", "binding", true).verbs(&["create"]),
        Bindings,
    )
}

pub struct Bindings;

impl Strategy for Bindings {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<Binding>(body)
    }
}
