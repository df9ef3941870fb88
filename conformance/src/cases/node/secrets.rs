//! `[sig-node] Secrets` API cases (upstream `test/e2e/common/node/secrets.go`). The cases that
//! consume Secrets from pods need a kubelet and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api, new_uuid};
use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

const D: Describe = Describe::new("secrets").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-node] Secrets should fail to create secret due to empty secret key [Conformance]",
            case_fn!(empty_key),
        ),
        D.case(
            "[sig-node] Secrets should patch a secret [Conformance]",
            case_fn!(patch_secret),
        ),
    ]
}

async fn empty_key(f: &Framework) -> Result<()> {
    let name = format!("secret-emptykey-test-{}", new_uuid());
    f.step(format!(
        "Creating projection with secret that has name {name}"
    ));
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            String::new(),
            ByteString(b"value-1\n".to_vec()),
        )])),
        ..Default::default()
    };
    match f
        .api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
    {
        Err(_) => Ok(()),
        Ok(_) => bail!(
            "created secret {name:?} with empty key in namespace {:?}",
            f.ns()
        ),
    }
}

fn found_in(list: &[Secret], name: &str, ns: &str) -> bool {
    list.iter().any(|s| {
        s.metadata.name.as_deref() == Some(name) && s.metadata.namespace.as_deref() == Some(ns)
    })
}

async fn patch_secret(f: &Framework) -> Result<()> {
    let api = f.api::<Secret>();
    let name = format!("test-secret-{}", new_uuid());
    f.step("creating a secret");
    let created = api
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(BTreeMap::from([(
                        "testsecret-constant".into(),
                        "true".into(),
                    )])),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([(
                    "key".into(),
                    ByteString(b"value".to_vec()),
                )])),
                type_: Some("Opaque".into()),
                ..Default::default()
            },
        )
        .await
        .context("failed to create secret")?;
    api::expect_valid_resource_version(&created.metadata)?;

    f.step("listing secrets in all namespaces to ensure that there are more than zero");
    let all = f.api_all::<Secret>();
    let list = all
        .list(&ListParams::default().labels("testsecret-constant=true"))
        .await
        .context("failed to list secrets")?;
    ensure!(!list.items.is_empty(), "no secrets found");
    ensure!(
        found_in(&list.items, &name, f.ns()),
        "unable to find secret {}/{name} by name",
        f.ns()
    );

    f.step("patching the secret");
    // Upstream marshals the base64 text as []byte, so the stored value is the base64 text of
    // "value1" and the test decodes it once more after reading it back.
    let new_data = STANDARD.encode("value1");
    let patch = serde_json::json!({
        "metadata": {"labels": {"testsecret": "true"}},
        "data": {"key": STANDARD.encode(&new_data)},
    });
    api.patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .context("failed to patch secret")?;
    let secret = api.get(&name).await.context("failed to get secret")?;
    api::expect_newer_resource_version(&created.metadata, &secret.metadata)?;
    let stored = secret
        .data
        .as_ref()
        .and_then(|d| d.get("key"))
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let decoded = STANDARD
        .decode(&stored)
        .context("failed to decode secret from Base64")?;
    ensure!(
        decoded == b"value1",
        "found secret, but the data wasn't updated from the patch: {:?}",
        String::from_utf8_lossy(&decoded)
    );

    f.step("deleting the secret using a LabelSelector");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("testsecret=true"),
    )
    .await
    .context("failed to delete patched secret")?;

    f.step("listing secrets in all namespaces, searching for label name and value in patch");
    let list = all
        .list(&ListParams::default().labels("testsecret-constant=true"))
        .await
        .context("failed to list secrets")?;
    ensure!(
        !found_in(&list.items, &name, f.ns()),
        "secret {}/{name} was not deleted successfully",
        f.ns()
    );
    Ok(())
}
