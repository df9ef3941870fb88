//! ValidatingAdmissionWebhook: every validating webhook that selects a request is called at
//! once; the request goes ahead only if all allow it (or fail open).

use super::{Hooks, denied, dry_run_unsupported};
use crate::admission::{Attributes, Validator};
use crate::errors::Result;
use async_trait::async_trait;

pub struct ValidatingWebhooks(pub Hooks);

#[async_trait]
impl Validator for ValidatingWebhooks {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let selected = self.0.selecting(attrs, attrs.object).await?;
        if selected.is_empty() {
            return Ok(());
        }
        let calls = selected
            .iter()
            .enumerate()
            .map(|(index, (hooks, i))| async move {
                let hook = &hooks[*i];
                if attrs.dry_run && !hook.dry_run_safe() {
                    return Err(dry_run_unsupported(&hook.name));
                }
                let answer = hook
                    .call(&self.0.resolver, attrs, attrs.object, false)
                    .await?;
                if answer.is_none() {
                    attrs.annotations.add(
                        format!(
                            "failed-open.validating.webhook.admission.k8s.io/round_0_index_{index}"
                        ),
                        hook.name.clone(),
                    );
                }
                Ok((hook, answer))
            });
        let mut first_error = None;
        for result in futures::future::join_all(calls).await {
            match result {
                Ok((hook, Some(answer))) => {
                    answer.pass_on(hook, attrs);
                    if !answer.allowed && first_error.is_none() {
                        first_error = Some(denied(&hook.name, &answer.status));
                    }
                }
                Ok((_, None)) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
