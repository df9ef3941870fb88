//! `[sig-api-machinery] Servers with support for API chunking` (upstream
//! `test/e2e/apimachinery/chunking.go`): paging through 400 PodTemplates with `limit` and
//! `continue`, consistently and after the first page's revision was compacted.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Context, Result, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplate, PodTemplateSpec};
use kube::api::{ListParams, ObjectMeta, PostParams};
use std::time::{Duration, Instant};

const D: Describe = Describe::new("chunking").with_pod_security(PodSecurityLevel::Privileged);

const TOTAL: usize = 400;

/// Upstream's `storagebackend.DefaultCompactInterval`.
const DEFAULT_COMPACT_INTERVAL: Duration = Duration::from_secs(300);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] Servers with support for API chunking should return chunks of results for list calls [Conformance]",
            case_fn!(chunks_of_results),
        ),
        D.case(
            "[sig-api-machinery] Servers with support for API chunking should support continue listing from the last key if the original version has been compacted away, though the list is inconsistent [Slow] [Conformance]",
            case_fn!(continue_after_compaction),
        ),
    ]
}

fn template_name(i: usize) -> String {
    format!("template-{i:04}")
}

/// The Describe's BeforeEach: 400 PodTemplates, created 20 at a time, each retried 3 times.
async fn create_templates(f: &Framework) -> Result<()> {
    f.step("creating a large number of resources");
    let api = f.api::<PodTemplate>();
    futures::stream::iter(0..TOTAL)
        .map(|i| {
            let api = api.clone();
            async move {
                let pt = PodTemplate {
                    metadata: ObjectMeta {
                        name: Some(template_name(i)),
                        ..Default::default()
                    },
                    template: Some(PodTemplateSpec {
                        spec: Some(PodSpec {
                            containers: vec![Container {
                                name: "test".into(),
                                image: Some("test2".into()),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                };
                let mut last = None;
                for _ in 0..4 {
                    match api.create(&PostParams::default(), &pt).await {
                        Ok(_) => return Ok(()),
                        Err(e) => last = Some(e),
                    }
                }
                Err(anyhow::anyhow!(
                    "Unable to create template {i}, exiting: {}",
                    last.map(|e| api::describe(&e)).unwrap_or_default()
                ))
            }
        })
        .buffer_unordered(20)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Checks one page: `remainingItemCount` present exactly when there is a continue token, and
/// adding up to the total; names in order from `found`.
fn check_page(list: &kube::core::ObjectList<PodTemplate>, found: &mut usize) -> Result<()> {
    let token = list.metadata.continue_.as_deref().unwrap_or_default();
    let remaining = list.metadata.remaining_item_count;
    if token.is_empty() {
        ensure!(
            remaining.is_none(),
            "remainingItemCount must be unset on the last page, got {remaining:?}"
        );
    } else {
        let remaining = remaining.context("remainingItemCount must be set when continue is")?;
        ensure!(
            usize::try_from(remaining)
                .ok()
                .map(|r| r + list.items.len() + *found)
                == Some(TOTAL),
            "remainingItemCount {remaining} + {} items + {} found so far is not {TOTAL}",
            list.items.len(),
            *found
        );
    }
    for item in &list.items {
        let name = item.metadata.name.as_deref().unwrap_or_default();
        ensure!(
            name == template_name(*found),
            "expected {} at position {}, got {name}",
            template_name(*found),
            *found
        );
        *found += 1;
    }
    Ok(())
}

async fn chunks_of_results(f: &Framework) -> Result<()> {
    create_templates(f).await?;
    let api = f.api::<PodTemplate>();
    f.step("retrieving those results in paged fashion several times");
    for _ in 0..3 {
        let mut params = ListParams::default().limit(17);
        let mut found = 0;
        let mut last_rv = String::new();
        loop {
            let list = api.list(&params).await.with_context(|| {
                format!(
                    "failed to list pod templates in namespace: {}, given limit: 17",
                    f.ns()
                )
            })?;
            let rv = list.metadata.resource_version.clone().unwrap_or_default();
            f.log(format!(
                "Retrieved {}/17 results with rv {rv} and continue {:?}",
                list.items.len(),
                list.metadata.continue_
            ));
            ensure!(
                list.items.len() <= 17,
                "got {} items with limit 17",
                list.items.len()
            );
            if last_rv.is_empty() {
                last_rv.clone_from(&rv);
            }
            ensure!(
                rv == last_rv,
                "page resource version {rv} differs from the first page's {last_rv}"
            );
            check_page(&list, &mut found)?;
            match list.metadata.continue_.as_deref() {
                None | Some("") => break,
                Some(token) => params = params.continue_token(token),
            }
        }
        ensure!(found == TOTAL, "found {found} of {TOTAL} pod templates");
    }

    f.step("retrieving those results all at once");
    let all = api
        .list(&ListParams::default().limit(TOTAL as u32 + 1))
        .await
        .context("failed to list pod templates")?;
    ensure!(
        all.items.len() == TOTAL,
        "expected {TOTAL} items, got {}",
        all.items.len()
    );
    Ok(())
}

async fn continue_after_compaction(f: &Framework) -> Result<()> {
    create_templates(f).await?;
    let api = f.api::<PodTemplate>();
    let one_tenth = (TOTAL / 10) as u32;

    f.step("retrieving the first page");
    let mut params = ListParams::default().limit(one_tenth);
    let list = api
        .list(&params)
        .await
        .context("failed to list pod templates")?;
    let first_token = list.metadata.continue_.clone().unwrap_or_default();
    let first_rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut found = 0;
    check_page(&list, &mut found)?;

    f.step("retrieving the second page until the token expires");
    params = params.continue_token(&first_token);
    let deadline = Instant::now() + 2 * DEFAULT_COMPACT_INTERVAL;
    let inconsistent_token = loop {
        tokio::time::sleep(Duration::from_secs(20)).await;
        match api.list(&params).await {
            Ok(_) => f.log(format!("Token {first_token} has not expired yet")),
            Err(e) if api::is_resource_expired(&e) => {
                f.log(format!("got error {}", api::describe(&e)));
                let kube::Error::Api(status) = &e else {
                    bail!(
                        "expect error to implement the APIStatus interface, got {}",
                        api::describe(&e)
                    );
                };
                let token = status
                    .metadata
                    .as_ref()
                    .and_then(|m| m.continue_.clone())
                    .unwrap_or_default();
                ensure!(!token.is_empty(), "expect non empty continue token");
                break token;
            }
            Err(e) => return Err(e).context("listing the second page"),
        }
        ensure!(
            Instant::now() < deadline,
            "the continue token did not expire within {:?}",
            2 * DEFAULT_COMPACT_INTERVAL
        );
    };

    f.step("retrieving the second page again with the token received with the error message");
    params = params.continue_token(&inconsistent_token);
    let list = api.list(&params).await.with_context(|| {
        format!(
            "failed to list pod templates given inconsistent continue token {inconsistent_token}"
        )
    })?;
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    ensure!(
        rv != first_rv,
        "the inconsistent page must not be at the first page's revision {first_rv}"
    );
    ensure!(
        list.items.len() == one_tenth as usize,
        "expected {one_tenth} items, got {}",
        list.items.len()
    );
    check_page(&list, &mut found)?;

    f.step("retrieving all remaining pages");
    let last_rv = rv;
    let mut token = list.metadata.continue_.clone().unwrap_or_default();
    while !token.is_empty() {
        params = params.continue_token(&token);
        let list = api
            .list(&params)
            .await
            .context("failed to list pod templates")?;
        check_page(&list, &mut found)?;
        ensure!(
            list.items.len() <= one_tenth as usize,
            "page larger than the limit"
        );
        let rv = list.metadata.resource_version.clone().unwrap_or_default();
        ensure!(
            rv == last_rv,
            "page resource version {rv} differs from {last_rv}"
        );
        token = list.metadata.continue_.clone().unwrap_or_default();
    }
    ensure!(found == TOTAL, "found {found} of {TOTAL} pod templates");
    Ok(())
}
