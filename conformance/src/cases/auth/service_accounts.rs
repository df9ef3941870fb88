//! `[sig-auth] ServiceAccounts` API cases (upstream `test/e2e/auth/service_accounts.go`): the
//! ServiceAccount API, its `token` subresource and TokenReview, and the `kube-root-ca.crt`
//! ConfigMap kept in every namespace, and the token volume admission gives (or, opted out,
//! does not give) new pods. The cases that read tokens inside running pods need a kubelet and
//! are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, rand_string};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodSpec, ServiceAccount};
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
        D.case(
            "[sig-auth] ServiceAccounts should guarantee kube-root-ca.crt exist in any namespace [Conformance]",
            case_fn!(root_ca_everywhere),
        ),
        D.case(
            "[sig-auth] ServiceAccounts should allow opting out of API token automount [Conformance]",
            case_fn!(automount_opt_out),
        ),
    ]
}

/// Where admission mounts a pod's service account token (upstream `DefaultAPITokenMountPath`).
const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Upstream's `imageutils.GetE2EImage(imageutils.Agnhost)`; nothing runs it here.
const AGNHOST_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

async fn automount_opt_out(f: &Framework) -> Result<()> {
    let accounts = f.api::<ServiceAccount>();
    for (name, automount) in [("mount", true), ("nomount", false)] {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            automount_service_account_token: Some(automount),
            ..Default::default()
        };
        accounts
            .create(&PostParams::default(), &sa)
            .await
            .with_context(|| format!("creating service account {name}"))?;
    }
    // Pod name, account, the pod's own choice, and whether a token volume is expected: the
    // pod's choice wins over the account's, which wins over the default (mount).
    let cases: [(&str, &str, Option<bool>, bool); 9] = [
        ("pod-service-account-defaultsa", "default", None, true),
        ("pod-service-account-mountsa", "mount", None, true),
        ("pod-service-account-nomountsa", "nomount", None, false),
        (
            "pod-service-account-defaultsa-mountspec",
            "default",
            Some(true),
            true,
        ),
        (
            "pod-service-account-mountsa-mountspec",
            "mount",
            Some(true),
            true,
        ),
        (
            "pod-service-account-nomountsa-mountspec",
            "nomount",
            Some(true),
            true,
        ),
        (
            "pod-service-account-defaultsa-nomountspec",
            "default",
            Some(false),
            false,
        ),
        (
            "pod-service-account-mountsa-nomountspec",
            "mount",
            Some(false),
            false,
        ),
        (
            "pod-service-account-nomountsa-nomountspec",
            "nomount",
            Some(false),
            false,
        ),
    ];
    let pods = f.api::<Pod>();
    for (pod_name, account, automount, expect_volume) in cases {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some(pod_name.into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "token-test".into(),
                    image: Some(AGNHOST_IMAGE.into()),
                    ..Default::default()
                }],
                restart_policy: Some("Never".into()),
                service_account_name: Some(account.into()),
                automount_service_account_token: automount,
                ..Default::default()
            }),
            status: None,
        };
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .with_context(|| format!("creating pod {pod_name}"))?;
        let mounted = created
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.volume_mounts.iter().flatten())
            .any(|m| m.mount_path == TOKEN_MOUNT_PATH);
        ensure!(
            mounted == expect_volume,
            "{pod_name}: expected volume={expect_volume}, got {mounted} ({created:?})"
        );
        f.log(format!(
            "pod {pod_name} service account token volume mount: {mounted}"
        ));
    }
    Ok(())
}

/// The ConfigMap the root CA publisher keeps in every namespace.
const ROOT_CA: &str = "kube-root-ca.crt";

/// Waits (upstream's `wait.ForeverTestTimeout`, 30 s) until `done` holds for the namespace's
/// root CA ConfigMap.
async fn wait_for_root_ca(
    f: &Framework,
    done: impl Fn(&ConfigMap) -> bool,
    what: &str,
) -> Result<()> {
    let api = f.api::<ConfigMap>();
    poll(
        Duration::from_millis(500),
        Duration::from_secs(30),
        async || match api.get_opt(ROOT_CA).await? {
            Some(cm) if done(&cm) => Ok(true),
            Some(_) => {
                f.step("root ca configmap is not reconciled yet, retrying");
                Ok(false)
            }
            None => {
                f.step("root ca configmap not found, retrying");
                Ok(false)
            }
        },
    )
    .await
    .with_context(|| format!("waiting for {what}"))
}

async fn root_ca_everywhere(f: &Framework) -> Result<()> {
    let ns = f.ns();
    wait_for_root_ca(f, |_| true, "the root ca configmap").await?;
    f.log(format!("Got root ca configmap in namespace {ns:?}"));

    let api = f.api::<ConfigMap>();
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    api.delete(ROOT_CA, &now)
        .await
        .context("deleting the root ca configmap")?;
    f.log(format!("Deleted root ca configmap in namespace {ns:?}"));
    f.step("waiting for a new root ca configmap created");
    wait_for_root_ca(f, |_| true, "a new root ca configmap").await?;
    f.log(format!("Recreated root ca configmap in namespace {ns:?}"));

    let emptied = ConfigMap {
        metadata: ObjectMeta {
            name: Some(ROOT_CA.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("ca.crt".to_string(), String::new())])),
        ..Default::default()
    };
    api.replace(ROOT_CA, &PostParams::default(), &emptied)
        .await
        .context("updating the root ca configmap")?;
    f.log(format!("Updated root ca configmap in namespace {ns:?}"));
    f.step("waiting for the root ca configmap reconciled");
    let reconciled = |cm: &ConfigMap| {
        cm.data
            .as_ref()
            .and_then(|d| d.get("ca.crt"))
            .is_some_and(|v| !v.is_empty())
    };
    wait_for_root_ca(f, reconciled, "the root ca configmap reconciled").await?;
    f.log(format!("Reconciled root ca configmap in namespace {ns:?}"));
    Ok(())
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
