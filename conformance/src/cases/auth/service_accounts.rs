//! `[sig-auth] ServiceAccounts` API cases (upstream `test/e2e/auth/service_accounts.go`): the
//! ServiceAccount API, its `token` subresource and TokenReview. The cases that mount tokens
//! into running pods need a kubelet and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::retry_on_conflict;
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, rand_string};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{
    DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchParams,
};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("svcaccounts").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-auth] ServiceAccounts should run through the lifecycle of a ServiceAccount [Conformance]",
            case_fn!(lifecycle),
        ),
        D.case(
            "[sig-auth] ServiceAccounts should update a ServiceAccount [Conformance]",
            case_fn!(update),
        ),
        D.case(
            "[sig-auth] ServiceAccounts should create a serviceAccountToken and ensure a successful TokenReview [Conformance]",
            case_fn!(token_and_review),
        ),
    ]
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let ns = f.ns();
    let api = f.api::<ServiceAccount>();
    let name = "testserviceaccount";
    let selector = "test-serviceaccount-static=true";

    f.step("creating a ServiceAccount");
    let created = api
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(BTreeMap::from([(
                        "test-serviceaccount-static".into(),
                        "true".into(),
                    )])),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .context("failed to create a ServiceAccount")?;
    let got = api
        .get(name)
        .await
        .context("failed to fetch the created ServiceAccount")?;
    ensure!(
        created.metadata.uid == got.metadata.uid,
        "uid {:?} of the created ServiceAccount differs from {:?}",
        created.metadata.uid,
        got.metadata.uid
    );

    f.step("watching for the ServiceAccount to be added");
    // Upstream's watch: from "now" with the current state first, closed by the server after
    // 180 seconds.
    const WATCH_TIMEOUT: Duration = Duration::from_secs(180);
    let mut w = Watch::start_with(
        &api,
        "",
        WatchParams {
            label_selector: Some(selector.into()),
            timeout: Some(WATCH_TIMEOUT.as_secs() as u32),
            bookmarks: false,
            ..WatchParams::default()
        },
    )
    .await
    .context("failed to setup watch on newly created ServiceAccount")?;
    w.wait_for(EventType::Added, None, WATCH_TIMEOUT)
        .await?
        .context("failed to find ADDED event")?;

    f.step("patching the ServiceAccount");
    let patch = serde_json::json!({"automountServiceAccountToken": false});
    api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .context("failed to patch the ServiceAccount")?;
    w.wait_for(EventType::Modified, None, WATCH_TIMEOUT)
        .await?
        .context("failed to find MODIFIED event")?;

    f.step("finding ServiceAccount in list of all ServiceAccounts (by LabelSelector)");
    let list = f
        .api_all::<ServiceAccount>()
        .list(&ListParams::default().labels(selector))
        .await
        .context("failed to list ServiceAccounts by LabelSelector")?;
    let found = list.items.iter().any(|sa| {
        sa.metadata.name.as_deref() == Some(name)
            && sa.metadata.namespace.as_deref() == Some(ns)
            && sa.automount_service_account_token == Some(false)
    });
    ensure!(found, "failed to find the created ServiceAccount");

    f.step("deleting the ServiceAccount");
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .context("failed to delete the ServiceAccount by Collection")?;
    w.wait_for(EventType::Deleted, None, WATCH_TIMEOUT)
        .await?
        .context("failed to find DELETED event")?;
    Ok(())
}

async fn update(f: &Framework) -> Result<()> {
    let api = f.api::<ServiceAccount>();
    let name = format!("e2e-sa-{}", rand_string(5));
    f.step(format!("Creating ServiceAccount {name:?} "));
    let created = api
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..Default::default()
                },
                automount_service_account_token: Some(false),
                ..Default::default()
            },
        )
        .await
        .context("creating the ServiceAccount")?;
    ensure!(
        created.automount_service_account_token == Some(false),
        "Failed to set AutomountServiceAccountToken: {:?}",
        created.automount_service_account_token
    );

    f.step(format!("Updating ServiceAccount {name:?} "));
    let updated = retry_on_conflict(async || {
        let mut sa = api
            .get(&name)
            .await
            .with_context(|| format!("Unable to get ServiceAccount {name:?}"))?;
        sa.automount_service_account_token = Some(true);
        Ok(api.replace(&name, &PostParams::default(), &sa).await?)
    })
    .await
    .context("Failed to update ServiceAccount")?;
    ensure!(
        updated.automount_service_account_token == Some(true),
        "Failed to set AutomountServiceAccountToken: {:?}",
        updated.automount_service_account_token
    );
    Ok(())
}

async fn token_and_review(f: &Framework) -> Result<()> {
    let ns = f.ns();
    let api = f.api::<ServiceAccount>();
    let name = format!("e2e-sa-{}", rand_string(5));
    f.step(format!(
        "Creating a Serviceaccount {name:?} in namespace {ns:?}"
    ));
    api.create(
        &PostParams::default(),
        &ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .with_context(|| format!("Unable to create serviceaccount {name:?}"))?;

    f.step(format!(
        "Creating a ServiceaccountToken {name:?} in namespace {ns:?}"
    ));
    let response: TokenRequest = api
        .create_subresource(
            "token",
            &name,
            &PostParams::default(),
            &TokenRequest::default(),
        )
        .await
        .context("Unable to create serviceAccountToken")?;
    let token = response.status.map(|s| s.token).unwrap_or_default();
    ensure!(!token.is_empty(), "confirm that a Token has been created");

    f.step(format!(
        "Creating a TokenReview for {name:?} in namespace {ns:?}"
    ));
    let review = f
        .api_all::<TokenReview>()
        .create(
            &PostParams::default(),
            &TokenReview {
                spec: TokenReviewSpec {
                    token: Some(token),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .context("failed to create a TokenReview")?;
    let status = review.status.unwrap_or_default();
    ensure!(
        status.authenticated == Some(true),
        "expect that the TokenReview is authenticated: {status:?}"
    );
    ensure!(
        status.error.as_deref().unwrap_or_default().is_empty(),
        "confirm that there are no TokenReview errors: {:?}",
        status.error
    );
    Ok(())
}
