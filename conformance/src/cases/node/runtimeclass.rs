//! `[sig-node] RuntimeClass` API cases (upstream `test/e2e/common/node/runtimeclass.go`): the
//! node.k8s.io RuntimeClass API and the RuntimeClass admission plugin rejecting pods that name
//! a missing class. The cases that schedule pods need a scheduler and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::poll;
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, api, discovery};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("runtimeclass").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `wait.ForeverTestTimeout`.
const FOREVER_TEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-node] RuntimeClass should reject a Pod requesting a non-existent RuntimeClass [NodeConformance] [Conformance]",
            case_fn!(reject_nonexistent),
        ),
        D.case(
            "[sig-node] RuntimeClass should reject a Pod requesting a deleted RuntimeClass [NodeConformance] [Conformance]",
            case_fn!(reject_deleted),
        ),
        D.case(
            "[sig-node] RuntimeClass should support RuntimeClasses API operations [Conformance]",
            case_fn!(api_operations),
        ),
    ]
}

fn runtime_class(name: &str, handler: &str) -> RuntimeClass {
    RuntimeClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        handler: handler.into(),
        ..Default::default()
    }
}

/// Upstream's `e2eruntimeclass.NewRuntimeClassPod`.
fn runtime_class_pod(class: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("test-runtimeclass-{class}-")),
            ..Default::default()
        },
        spec: Some(PodSpec {
            runtime_class_name: Some(class.into()),
            containers: vec![Container {
                name: "test".into(),
                image: Some("registry.k8s.io/e2e-test-images/busybox:1.37.0-1".into()),
                command: Some(vec!["true".into()]),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Upstream's `expectPodRejection`: creating the pod must fail with 403 Forbidden.
async fn expect_pod_rejection(f: &Framework, pod: &Pod) -> Result<()> {
    match f.api::<Pod>().create(&PostParams::default(), pod).await {
        Err(e) if api::is_forbidden(&e) => Ok(()),
        Err(e) => bail!("expected forbidden error, got {}", api::describe(&e)),
        Ok(p) => bail!("should be forbidden: pod {:?} was created", p.metadata.name),
    }
}

async fn reject_nonexistent(f: &Framework) -> Result<()> {
    let class = format!("{}-nonexistent", f.ns());
    expect_pod_rejection(f, &runtime_class_pod(&class)).await
}

async fn reject_deleted(f: &Framework) -> Result<()> {
    let rcs = f.api_all::<RuntimeClass>();
    let name = format!("{}-delete-me", f.ns());
    rcs.create(&PostParams::default(), &runtime_class(&name, "runc"))
        .await
        .context("failed to create RuntimeClass resource")?;

    f.step(format!("Deleting RuntimeClass {name}"));
    rcs.delete(&name, &DeleteParams::default())
        .await
        .with_context(|| format!("failed to delete RuntimeClass {name}"))?;
    f.step("Waiting for the RuntimeClass to disappear");
    poll(
        Duration::from_secs(2),
        Duration::from_secs(60),
        async || match rcs.get(&name).await {
            Err(e) if api::is_not_found(&e) => Ok(true),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(false),
        },
    )
    .await?;

    expect_pod_rejection(f, &runtime_class_pod(&name)).await
}

async fn api_operations(f: &Framework) -> Result<()> {
    let rcs = f.api_all::<RuntimeClass>();
    let unique = f.ns();
    let selector = format!("test={unique}");
    let labelled = |name: String, handler: String| {
        let mut rc = runtime_class(&name, &handler);
        rc.metadata.labels = Some(BTreeMap::from([("test".into(), unique.to_string())]));
        rc
    };
    // Upstream's helper takes (name, handler); the test passes the "-handler" string first.
    let rc = labelled(
        format!("{unique}-handler"),
        format!("{unique}-conformance-runtime-class"),
    );
    let rc2 = labelled(
        format!("{unique}-handler2"),
        format!("{unique}-conformance-runtime-class2"),
    );
    let rc3 = labelled(
        format!("{unique}-handler3"),
        format!("{unique}-conformance-runtime-class3"),
    );
    for r in [&rc, &rc2, &rc3] {
        f.defer_delete(rcs.clone(), r.metadata.name.as_deref().unwrap_or_default());
    }

    discovery::expect_served(f, "node.k8s.io", "v1", &["runtimeclasses"]).await?;

    f.step("creating");
    let pp = PostParams::default();
    let created = rcs
        .create(&pp, &rc)
        .await
        .context("creating a RuntimeClass")?;
    match rcs.create(&pp, &rc).await {
        Err(e) if api::is_already_exists(&e) => {}
        other => bail!(
            "expected 409, got {:?}",
            other.map_err(|e| api::describe(&e))
        ),
    }
    rcs.create(&pp, &rc2)
        .await
        .context("creating a second RuntimeClass")?;

    f.step("watching");
    let mut w = Watch::start(&rcs, "", Some(&selector), None).await?;
    rcs.create(&pp, &rc3)
        .await
        .context("creating a third RuntimeClass")?;

    f.step("getting");
    let name = created.metadata.name.clone().unwrap_or_default();
    let got = rcs.get(&name).await.context("getting the RuntimeClass")?;
    ensure!(
        got.metadata.uid == created.metadata.uid,
        "got a different uid"
    );

    f.step("listing");
    let list = rcs.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() == 3,
        "filtered list should have 3 items, got {}",
        list.items.len()
    );

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = rcs
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching the RuntimeClass")?;
    let annotation = |rc: &RuntimeClass, k: &str| {
        rc.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(k))
            .cloned()
    };
    ensure!(
        annotation(&patched, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let mut to_update = patched.clone();
    to_update
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert("updated".into(), "true".into());
    let updated = rcs
        .replace(&name, &pp, &to_update)
        .await
        .context("updating the RuntimeClass")?;
    ensure!(
        annotation(&updated, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.log("waiting for watch events with expected annotations");
    // Upstream's loop ends at the first of: an ADDED event, or a MODIFIED one carrying either
    // annotation.
    w.until(FOREVER_TEST_TIMEOUT, |e| {
        Ok(match e.kind {
            EventType::Added => true,
            EventType::Modified => e.object.as_ref().is_some_and(|rc| {
                annotation(rc, "patched").as_deref() == Some("true")
                    || annotation(rc, "updated").as_deref() == Some("true")
            }),
            _ => false,
        })
    })
    .await
    .context("timed out waiting for watch event")?;
    drop(w);

    f.step("deleting");
    rcs.delete(&name, &DeleteParams::default())
        .await
        .context("deleting the RuntimeClass")?;
    api::expect_not_found(rcs.get(&name).await, "the deleted RuntimeClass")?;
    let list = rcs.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() == 2,
        "filtered list should have 2 items, got {}",
        list.items.len()
    );

    f.step("deleting a collection");
    rcs.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .context("deleting the collection")?;
    let list = rcs.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.is_empty(),
        "filtered list should have 0 items, got {}",
        list.items.len()
    );
    Ok(())
}
