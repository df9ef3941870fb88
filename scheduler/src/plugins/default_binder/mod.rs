//! DefaultBinder (Bind): binds the pod through the `pods/binding` subresource, as
//! `kubectl`-visible `spec.nodeName` plus the PodScheduled condition the apiserver sets.

use crate::framework::{BindPlugin, CycleState, Plugin, Status};
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use std::sync::Arc;

pub const NAME: &str = "DefaultBinder";

/// How many bindings may be in flight at once. Scheduling outpaces binding, and each request
/// beyond what the pooled HTTP/1.1 connections carry opens another TLS connection (a handshake
/// on both ends) and makes the apiserver slower still; upstream's client multiplexes its
/// requests over one HTTP/2 connection instead.
const MAX_IN_FLIGHT: usize = 64;

pub fn new(client: Option<kube::Client>) -> Result<Arc<dyn Plugin>, String> {
    let client = client.ok_or_else(|| "DefaultBinder needs an API client".to_string())?;
    Ok(Arc::new(DefaultBinder {
        client,
        in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
    }))
}

struct DefaultBinder {
    client: kube::Client,
    in_flight: tokio::sync::Semaphore,
}

/// The Binding a scheduler posts for `pod` on `node`.
pub fn binding(pod: &Pod, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference {
            kind: Some("Node".to_string()),
            name: Some(node.to_string()),
            ..Default::default()
        },
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl BindPlugin for DefaultBinder {
    async fn bind(&self, _state: &CycleState, pod: &Pod, node: &str) -> Status {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self.in_flight.acquire().await;
        let result: Result<serde_json::Value, kube::Error> = api
            .create_subresource("binding", name, &PostParams::default(), &binding(pod, node))
            .await;
        match result {
            Ok(_) => Status::success(),
            Err(e) => Status::error(controllers::client::message(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::pod;

    #[test]
    fn binding_targets_the_node_and_pins_the_uid() {
        let b = binding(&pod("p", &[&[]]), "n1");
        assert_eq!(b.metadata.name.as_deref(), Some("p"));
        assert_eq!(b.metadata.uid.as_deref(), Some("uid-p"));
        assert_eq!(b.target.kind.as_deref(), Some("Node"));
        assert_eq!(b.target.name.as_deref(), Some("n1"));
    }
}
