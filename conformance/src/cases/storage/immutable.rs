//! `[sig-storage] ConfigMap` and `[sig-storage] Secrets` immutability (upstream
//! `test/e2e/common/storage/configmap_volume.go` and `secrets_volume.go`): once `immutable` is
//! set, data and the flag itself are frozen while metadata stays writable.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Context, Result, ensure};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;

const CONFIGMAP: Describe =
    Describe::new("configmap").with_pod_security(PodSecurityLevel::Baseline);
const SECRETS: Describe = Describe::new("secrets").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![
        CONFIGMAP.case(
            "[sig-storage] ConfigMap should be immutable if `immutable` field is set [Conformance]",
            case_fn!(configmap_immutable),
        ),
        SECRETS.case(
            "[sig-storage] Secrets should be immutable if `immutable` field is set [Conformance]",
            case_fn!(secret_immutable),
        ),
    ]
}

/// What the shared flow needs from a ConfigMap or a Secret.
trait Immutable:
    kube::Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug
{
    const KIND: &'static str;
    fn add_data(&mut self, key: &str, value: &str);
    fn set_immutable(&mut self, value: bool);
    fn immutable(&self) -> Option<bool>;
}

impl Immutable for ConfigMap {
    const KIND: &'static str = "config map";
    fn add_data(&mut self, key: &str, value: &str) {
        self.data
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
    }
    fn set_immutable(&mut self, value: bool) {
        self.immutable = Some(value);
    }
    fn immutable(&self) -> Option<bool> {
        self.immutable
    }
}

impl Immutable for Secret {
    const KIND: &'static str = "secret";
    fn add_data(&mut self, key: &str, value: &str) {
        self.data
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), ByteString(value.as_bytes().to_vec()));
    }
    fn set_immutable(&mut self, value: bool) {
        self.immutable = Some(value);
    }
    fn immutable(&self) -> Option<bool> {
        self.immutable
    }
}

async fn immutability<K: Immutable>(api: &Api<K>, object: K, name: &str, ns: &str) -> Result<()> {
    let kind = K::KIND;
    let pp = PostParams::default();
    let mut current = api
        .create(&pp, &object)
        .await
        .with_context(|| format!("Failed to create {kind} {name:?} in namespace {ns:?}"))?;

    current.add_data("data-4", "value-4\n");
    let mut current = api
        .replace(name, &pp, &current)
        .await
        .with_context(|| format!("Failed to update {kind} {name:?} in namespace {ns:?}"))?;

    current.set_immutable(true);
    let mut current = api.replace(name, &pp, &current).await.with_context(|| {
        format!("Failed to mark {kind} {name:?} in namespace {ns:?} as immutable")
    })?;

    current.add_data("data-5", "value-5\n");
    api::expect_invalid(api.replace(name, &pp, &current).await, "when changing data")?;

    let mut current = api
        .get(name)
        .await
        .with_context(|| format!("Failed to get {kind} {name:?} in namespace {ns:?}"))?;
    ensure!(
        current.immutable() == Some(true),
        "{kind} {name} can be switched from immutable to mutable"
    );
    current.set_immutable(false);
    api::expect_invalid(
        api.replace(name, &pp, &current).await,
        "when clearing immutable",
    )?;

    let mut current = api
        .get(name)
        .await
        .with_context(|| format!("Failed to get {kind} {name:?} in namespace {ns:?}"))?;
    current.meta_mut().labels = Some(BTreeMap::from([("label1".into(), "value1".into())]));
    api.replace(name, &pp, &current)
        .await
        .with_context(|| format!("Failed to update {kind} {name:?} in namespace {ns:?}"))?;

    api.delete(name, &DeleteParams::default())
        .await
        .with_context(|| format!("Failed to delete {kind} {name:?} in namespace {ns:?}"))?;
    Ok(())
}

async fn configmap_immutable(f: &Framework) -> Result<()> {
    let name = "immutable";
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(f.ns().into()),
            ..Default::default()
        },
        data: Some(
            [
                ("data-1", "value-1"),
                ("data-2", "value-2"),
                ("data-3", "value-3"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ),
        ..Default::default()
    };
    immutability(&f.api::<ConfigMap>(), cm, name, f.ns()).await
}

async fn secret_immutable(f: &Framework) -> Result<()> {
    let name = "immutable";
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(f.ns().into()),
            ..Default::default()
        },
        data: Some(
            [
                ("data-1", "value-1\n"),
                ("data-2", "value-2\n"),
                ("data-3", "value-3\n"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
        ),
        ..Default::default()
    };
    immutability(&f.api::<Secret>(), secret, name, f.ns()).await
}
