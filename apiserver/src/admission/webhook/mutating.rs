//! MutatingAdmissionWebhook: the mutating webhooks that select a request are called one after
//! the other, each seeing the object as the ones before left it and patching it with the JSON
//! patch it answers; a webhook with `reinvocationPolicy: IfNeeded` is called once more when
//! later webhooks changed the object after it.

use super::{Hook, Hooks, denied, dry_run_unsupported};
use crate::admission::{Attributes, Mutator};
use crate::errors::{ApiError, Result};
use crate::registry::catalog::Catalog;
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

pub struct MutatingWebhooks {
    pub hooks: Hooks,
    /// Where the strategies that default patched objects are.
    pub catalog: Arc<Catalog>,
}

impl MutatingWebhooks {
    /// Calls one webhook (the `index`th selected, in `round` 0 or the reinvocation's 1) and
    /// applies its answer to `object`.
    async fn mutate(
        &self,
        hook: &Hook,
        (round, index): (usize, usize),
        attrs: &Attributes<'_>,
        object: &mut Value,
    ) -> Result<()> {
        if attrs.dry_run && !hook.dry_run_safe() {
            return Err(dry_run_unsupported(&hook.name));
        }
        let Some(answer) = hook
            .call(&self.hooks.resolver, attrs, Some(object), true)
            .await?
        else {
            attrs.annotations.add(
                format!(
                    "failed-open.mutation.webhook.admission.k8s.io/round_{round}_index_{index}"
                ),
                hook.name.clone(),
            );
            return Ok(());
        };
        answer.pass_on(hook, attrs);
        if !answer.allowed {
            return Err(denied(&hook.name, &answer.status));
        }
        let mutated = answer.patch.as_ref().is_some_and(|p| !p.0.is_empty());
        attrs.annotations.add(
            format!("mutation.webhook.admission.k8s.io/round_{round}_index_{index}"),
            serde_json::json!({
                "configuration": hook.configuration,
                "webhook": hook.name,
                "mutated": mutated,
            })
            .to_string(),
        );
        let Some(patch) = answer.patch.filter(|_| mutated) else {
            return Ok(());
        };
        let mut patched = object.clone();
        // A patch that does not apply is refused whatever the failure policy, as upstream.
        json_patch::patch(&mut patched, &patch).map_err(ApiError::internal)?;
        // As upstream decodes the patched object into its type: defaults apply again (to
        // whole objects; a subresource's body is not of the resource's type).
        if attrs.subresource.is_none()
            && let Some(endpoint) =
                self.catalog
                    .endpoint(attrs.info.group, attrs.info.version, attrs.info.resource)
        {
            endpoint.strategy.default(&mut patched);
        }
        *object = patched;
        Ok(())
    }
}

#[async_trait]
impl Mutator for MutatingWebhooks {
    async fn admit(&self, attrs: &Attributes<'_>, object: &mut Value) -> Result<()> {
        let selected = self.hooks.selecting(attrs, Some(object)).await?;
        // What each webhook left the object as, to know whom later changes concern.
        let mut left = Vec::with_capacity(selected.len());
        for (index, (hooks, i)) in selected.iter().enumerate() {
            self.mutate(&hooks[*i], (0, index), attrs, object).await?;
            left.push(object.clone());
        }
        for (index, ((hooks, i), after)) in selected.iter().zip(&left).enumerate() {
            let hook = &hooks[*i];
            if super::text(&hook.spec, "/reinvocationPolicy") == "IfNeeded" && after != object {
                self.mutate(hook, (1, index), attrs, object).await?;
            }
        }
        Ok(())
    }
}
