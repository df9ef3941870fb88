//! The controllers inside `ferrokube up`, against a real etcd and apiserver: the namespace
//! controller empties and releases deleted namespaces, and the root CA publisher keeps
//! `kube-root-ca.crt` in every namespace. Needs `etcd` on PATH.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// `ferrokube up` in a temporary state directory, killed when dropped.
struct Cluster {
    _child: Child,
    dir: tempfile::TempDir,
    client: kube::Client,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Cluster {
    async fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let log = std::fs::File::create(dir.path().join("up.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
            .arg("up")
            .arg("--state-dir")
            .arg(dir.path())
            .arg("--port")
            .arg(free_port()?.to_string())
            .arg("--bind-address")
            .arg("127.0.0.1")
            .env("FERROKUBE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting ferrokube up")?;
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let path = kubeconfig.clone();
        eventually(
            "admin.kubeconfig is written",
            Duration::from_secs(90),
            || {
                let exists = path.exists();
                async move { Ok(exists.then_some(())) }
            },
        )
        .await
        .with_context(|| log_of(dir.path()))?;
        let kc = Kubeconfig::read_from(&kubeconfig)?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        let client = kube::Client::try_from(config)?;
        Ok(Self {
            _child: child,
            dir,
            client,
        })
    }

    fn log(&self) -> String {
        log_of(self.dir.path())
    }
}

fn log_of(dir: &Path) -> String {
    format!(
        "ferrokube up log:\n{}",
        std::fs::read_to_string(dir.join("up.log")).unwrap_or_default()
    )
}

fn namespace(name: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn config_map(name: &str, finalizers: &[&str]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
            ..Default::default()
        },
        data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    }
}

async fn published_ca(api: &Api<ConfigMap>) -> Result<Option<String>> {
    Ok(api
        .get_opt("kube-root-ca.crt")
        .await?
        .and_then(|cm| cm.data)
        .and_then(|d| d.get("ca.crt").cloned()))
}

#[tokio::test]
async fn namespaces_are_emptied_and_get_the_root_ca() -> Result<()> {
    let cluster = Cluster::start().await?;
    let result = scenario(&cluster).await;
    result.with_context(|| cluster.log())
}

async fn scenario(cluster: &Cluster) -> Result<()> {
    let client = &cluster.client;
    let ca = std::fs::read_to_string(cluster.dir.path().join("pki/ca.crt"))?;
    let namespaces: Api<Namespace> = Api::all(client.clone());

    // A new namespace gets the cluster CA, with upstream's description.
    namespaces
        .create(&PostParams::default(), &namespace("itest"))
        .await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "itest");
    let published = eventually("kube-root-ca.crt appears", Duration::from_secs(30), || {
        published_ca(&cms)
    })
    .await?;
    assert_eq!(published, ca);
    let cm = cms.get("kube-root-ca.crt").await?;
    assert!(
        cm.metadata
            .annotations
            .unwrap_or_default()
            .get("kubernetes.io/description")
            .is_some_and(|d| d.starts_with("Contains a CA bundle"))
    );

    // Deleted or changed, it comes back.
    cms.delete("kube-root-ca.crt", &DeleteParams::default())
        .await?;
    eventually(
        "kube-root-ca.crt is recreated",
        Duration::from_secs(30),
        || published_ca(&cms),
    )
    .await?;
    cms.patch(
        "kube-root-ca.crt",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"ca.crt": "tampered"}})),
    )
    .await?;
    eventually(
        "kube-root-ca.crt is restored",
        Duration::from_secs(30),
        || {
            let cms = cms.clone();
            let ca = ca.clone();
            async move { Ok(published_ca(&cms).await?.filter(|c| *c == ca)) }
        },
    )
    .await?;

    // Deleting the namespace deletes its configmaps, then the namespace itself.
    for name in ["a", "b"] {
        cms.create(&PostParams::default(), &config_map(name, &[]))
            .await?;
    }
    let rv = namespaces
        .get("itest")
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut events = namespaces
        .watch(&WatchParams::default().fields("metadata.name=itest"), &rv)
        .await?
        .boxed();
    namespaces.delete("itest", &DeleteParams::default()).await?;
    let mut saw_conditions = false;
    let deadline = Duration::from_secs(60);
    loop {
        let event = tokio::time::timeout(deadline, events.try_next())
            .await
            .context("waiting for namespace itest to go")??
            .context("the watch ended")?;
        match event {
            WatchEvent::Modified(ns) => {
                let conditions = ns.status.and_then(|s| s.conditions).unwrap_or_default();
                saw_conditions |= conditions.iter().any(|c| {
                    c.type_ == "NamespaceContentRemaining"
                        && c.status == "False"
                        && c.message.as_deref() == Some("All content successfully removed")
                });
            }
            WatchEvent::Deleted(_) => break,
            WatchEvent::Error(e) => bail!("watch error: {e:?}"),
            _ => {}
        }
    }
    assert!(saw_conditions, "the deletion conditions were set");
    assert!(namespaces.get_opt("itest").await?.is_none());
    assert!(cms.list(&Default::default()).await?.items.is_empty());

    // An object held by a finalizer keeps its namespace until it goes.
    namespaces
        .create(&PostParams::default(), &namespace("held"))
        .await?;
    let held: Api<ConfigMap> = Api::namespaced(client.clone(), "held");
    held.create(
        &PostParams::default(),
        &config_map("held", &["example.com/hold"]),
    )
    .await?;
    namespaces.delete("held", &DeleteParams::default()).await?;
    eventually(
        "namespace held reports the finalizer",
        Duration::from_secs(30),
        || {
            let namespaces = namespaces.clone();
            async move {
                let ns = namespaces.get("held").await?;
                Ok(ns
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|c| {
                        c.type_ == "NamespaceFinalizersRemaining"
                            && c.message.as_deref()
                                == Some(
                                    "Some finalizers are remaining: example.com/hold in 1 \
                                     resource instances",
                                )
                    }))
            }
        },
    )
    .await?;
    assert!(namespaces.get_opt("held").await?.is_some());
    held.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    eventually("namespace held is gone", Duration::from_secs(60), || {
        let namespaces = namespaces.clone();
        async move { Ok(namespaces.get_opt("held").await?.is_none().then_some(())) }
    })
    .await?;
    Ok(())
}
