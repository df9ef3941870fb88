//! The clusterrole aggregation controller (upstream `pkg/controller/clusterroleaggregation`):
//! a ClusterRole with an `aggregationRule` has its `rules` kept as the union of the rules of
//! the other ClusterRoles its `clusterRoleSelectors` select ([`rules::aggregate`]). Whatever
//! was in `rules` before, by hand or otherwise, is replaced.
//!
//! The rules are written with a forced server-side apply as the field manager [`NAME`] (so the
//! controller owns `rules` and nothing else), falling back to an update from the cache when the
//! apiserver does not speak apply (415), and only when they differ from what is stored.
//!
//! Work is keyed by the role's name. As upstream, any change to any ClusterRole queues every
//! aggregating one: there are few ClusterRoles and selectors can chain (an aggregating role
//! may itself be aggregated), so working out which roles a change reaches is not worth it.

pub mod rules;

use crate::client;
use crate::informer::Informers;
use crate::workqueue::{self, WorkQueue, feed};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;
use tracing::Instrument;

/// The controller's name (upstream `names.ClusterRoleAggregationController`), also the field
/// manager of its applies.
pub const NAME: &str = "clusterrole-aggregation-controller";

/// Upstream runs five workers, with no flag to change it.
pub const WORKERS: u16 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the aggregated rules was refused or failed.
    #[error("{action} ClusterRole {name}: {}", client::message(.source))]
    Write {
        action: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    api: Api<ClusterRole>,
    roles: Store<ClusterRole>,
}

/// The names of the roles the controller fills, each of which any change may concern.
fn aggregating(roles: &Store<ClusterRole>) -> Vec<String> {
    roles
        .state()
        .iter()
        .filter(|r| rules::aggregates(r))
        .filter_map(|r| r.metadata.name.clone())
        .collect()
}

/// Runs the controller with upstream's [`WORKERS`] workers.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let informer = informers.get::<ClusterRole>();
    // Subscribed before the first look, so nothing falls between.
    let changes = informer.changes();
    let ctx = Arc::new(Context {
        api: Api::all(client),
        roles: informer.store(),
    });
    informer.ready().await;
    tracing::info!("Starting {NAME}.");
    let queue = WorkQueue::<String>::new("ClusterRoleAggregator");
    for name in aggregating(&ctx.roles) {
        queue.add(name);
    }
    let roles = ctx.roles.clone();
    feed(&queue, changes, move |_| aggregating(&roles));
    workqueue::process(queue, WORKERS, "the rules of ClusterRole", move |name| {
        let ctx = ctx.clone();
        async move { sync(&ctx, &name).await }
    })
    .await;
}

async fn sync(ctx: &Context, name: &str) -> Result<(), Error> {
    // Gone, or no longer aggregating: nothing to fill.
    let Some(role) = ctx.roles.get(&ObjectRef::new(name)) else {
        return Ok(());
    };
    if !rules::aggregates(&role) {
        return Ok(());
    }
    let span = tracing::info_span!(
        "reconcile",
        controller = NAME,
        name = %name,
        uid = role.metadata.uid.as_deref().unwrap_or_default(),
    );
    async move {
        let wanted = rules::aggregate(&role, &ctx.roles.state());
        let current = role.rules.as_deref().unwrap_or_default();
        if rules::same_rules(&wanted, current) {
            return Ok(());
        }
        match apply(ctx, name, &wanted).await {
            Err(e) if is_unsupported_media_type(&e) => update(ctx, &role, wanted).await,
            Err(source) => Err(Error::Write {
                action: "applying the rules of",
                name: name.to_string(),
                source,
            }),
            Ok(()) => {
                tracing::debug!("Aggregated {} rules into ClusterRole {name}.", wanted.len());
                Ok(())
            }
        }
    }
    .instrument(span)
    .await
}

/// The apply configuration of `name` with `rules` and nothing else. No rules leave the field
/// out, as upstream's builder does: the apiserver then drops the rules this manager applied
/// before, but keeps rules another manager wrote while nothing was selected (as upstream; the
/// no-op apply is repeated on every ClusterRole change and writes nothing).
pub fn apply_body(name: &str, rules: &[PolicyRule]) -> serde_json::Value {
    let mut body = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
    });
    if !rules.is_empty() {
        let rules: Vec<PolicyRule> = rules.iter().map(rules::for_apply).collect();
        body["rules"] = serde_json::json!(rules);
    }
    body
}

async fn apply(ctx: &Context, name: &str, rules: &[PolicyRule]) -> Result<(), kube::Error> {
    // Forced: the rules are the controller's, whoever wrote them before.
    let params = PatchParams::apply(NAME).force();
    ctx.api
        .patch(name, &params, &Patch::Apply(apply_body(name, rules)))
        .await
        .map(drop)
}

/// The fallback for an apiserver without server-side apply: the cached role with its rules
/// replaced (a conflict is retried from a fresher cache).
async fn update(ctx: &Context, role: &ClusterRole, rules: Vec<PolicyRule>) -> Result<(), Error> {
    let name = role.metadata.name.clone().unwrap_or_default();
    let mut role = role.clone();
    role.rules = (!rules.is_empty()).then_some(rules);
    ctx.api
        .replace(&name, &PostParams::default(), &role)
        .await
        .map(drop)
        .map_err(|source| Error::Write {
            action: "updating the rules of",
            name,
            source,
        })
}

fn is_unsupported_media_type(err: &kube::Error) -> bool {
    client::status(err).is_some_and(|s| s.code == 415)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::api_error;

    #[test]
    fn apply_body_carries_only_the_rules() {
        let rule = PolicyRule {
            verbs: vec!["get".to_string()],
            resources: Some(vec!["pods".to_string()]),
            api_groups: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(
            apply_body("monitoring", &[rule]),
            serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "monitoring"},
                "rules": [{"verbs": ["get"], "resources": ["pods"]}],
            })
        );
        assert!(apply_body("monitoring", &[]).get("rules").is_none());
    }

    #[test]
    fn only_415_falls_back_to_an_update() {
        assert!(is_unsupported_media_type(&api_error(
            415,
            "UnsupportedMediaType",
            "apply not supported"
        )));
        assert!(!is_unsupported_media_type(&api_error(409, "Conflict", "x")));
    }
}
