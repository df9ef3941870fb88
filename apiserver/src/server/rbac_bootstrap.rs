//! The bootstrap RBAC policy, reconciled on every start as upstream's `rbac/bootstrap-roles`
//! post-start hook does: missing roles and bindings are created, stored ones gain what the
//! policy adds (never losing what an administrator added), bindings whose roleRef changed
//! are recreated, and objects annotated `rbac.authorization.kubernetes.io/autoupdate:
//! "false"` are left alone.

use super::State;
use super::bootstrap::{context, prepare};
use crate::authz::bootstrap_policy::{self, Reconcile};
use crate::errors::{ApiError, Result};
use crate::registry::store::DeleteOptions;
use crate::storage::ReadAt;
use serde_json::Value;

const GROUP: &str = "rbac.authorization.k8s.io";

pub async fn run(state: &State) -> Result<()> {
    let policy = bootstrap_policy::policy();
    let lists: [(&str, &[Value]); 4] = [
        ("clusterroles", &policy.cluster_roles),
        ("roles", &policy.roles),
        ("clusterrolebindings", &policy.cluster_role_bindings),
        ("rolebindings", &policy.role_bindings),
    ];
    for (resource, objects) in lists {
        for wanted in objects {
            reconcile(state, resource, wanted).await?;
        }
    }
    Ok(())
}

async fn reconcile(state: &State, resource: &str, wanted: &Value) -> Result<()> {
    let Some(endpoint) = state.catalog.endpoint(GROUP, "v1", resource) else {
        return Ok(());
    };
    let namespace = apimachinery::meta::namespace(wanted).to_string();
    let name = apimachinery::meta::name(wanted).to_string();
    let store = &endpoint.store;
    let stored = match store.get(&namespace, &name, ReadAt::Latest).await {
        Ok(o) => Some(o.value().map_err(ApiError::internal)?),
        Err(e) if e.code == 404 => None,
        Err(e) => return Err(e),
    };
    let decide = |stored: Option<&Value>| {
        if resource.ends_with("bindings") {
            bootstrap_policy::reconcile_binding(stored, wanted)
        } else {
            bootstrap_policy::reconcile_role(stored, wanted)
        }
    };
    let mut ctx = context(&namespace);
    ctx.api_version = endpoint.info.group_version();
    let create = |obj: Value| async {
        let Some((_, value)) = prepare(state, GROUP, "v1", resource, obj)? else {
            return Ok(());
        };
        match store.create(&ctx, value).await {
            Ok(_) => Ok(()),
            // Another apiserver of the cluster got there first.
            Err(e) if e.reason == "AlreadyExists" => Ok(()),
            Err(e) => Err(e),
        }
    };
    match decide(stored.as_ref()) {
        Reconcile::Keep => Ok(()),
        Reconcile::Create(obj) => create(obj).await,
        Reconcile::Update(_) => store
            .update(&ctx, &name, None, false, |old| match decide(old) {
                Reconcile::Update(obj) => Ok(obj),
                _ => Ok(old.cloned().unwrap_or_default()),
            })
            .await
            .map(|_| ()),
        Reconcile::Recreate(obj) => {
            match store.delete(&ctx, &name, &DeleteOptions::default()).await {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
            create(obj).await
        }
    }
}
