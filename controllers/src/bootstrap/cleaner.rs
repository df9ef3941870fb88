//! The token cleaner (upstream "token-cleaner-controller"): deletes bootstrap token Secrets
//! whose `expiration` has passed, each looked at again when it expires.

use super::expiration;
use crate::client;
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, feed, key_of, process};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use std::time::Duration;

/// The controller's name (upstream `names.TokenCleanerController`).
pub const NAME: &str = "token-cleaner-controller";

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let informer = informers.get::<Secret>();
    let changes = informer.changes();
    informer.ready().await;
    let secrets = informer.store();
    let queue = WorkQueue::new("token_cleaner");
    tracing::info!("Starting {NAME}.");
    for s in secrets.state() {
        if expiration(&s).is_some() {
            queue.add(key_of(&s.metadata));
        }
    }
    feed(&queue, changes, |change| match change {
        Change::Applied { new, .. } if expiration(&new).is_some() => vec![key_of(&new.metadata)],
        _ => Vec::new(),
    });
    let ctx = Arc::new((client, secrets, queue.clone()));
    process(queue, 1, "the bootstrap token", move |key| {
        let ctx = ctx.clone();
        async move {
            let (client, secrets, queue) = &*ctx;
            sync(client, secrets, queue, &key).await
        }
    })
    .await;
}

async fn sync(
    client: &kube::Client,
    secrets: &Store<Secret>,
    queue: &Arc<WorkQueue<String>>,
    key: &str,
) -> Result<(), String> {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(secret) = secrets.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(());
    };
    let Some(expires) = expiration(&secret) else {
        return Ok(());
    };
    let now = Timestamp::now();
    if expires > now {
        let left = Duration::try_from(expires.duration_since(now)).unwrap_or_default();
        queue.add_after(key.to_string(), left + Duration::from_millis(100));
        return Ok(());
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: secret.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            tracing::info!("The {NAME} deleted the expired bootstrap token {key}.");
            Ok(())
        }
        Err(e) if client::is_not_found(&e) || client::is_conflict(&e) => Ok(()),
        Err(e) => Err(format!("deleting {key}: {}", client::message(&e))),
    }
}
