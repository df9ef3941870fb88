//! `[sig-network] EndpointSlice` API case (upstream `test/e2e/network/endpointslice.go`). The
//! cases that need the EndpointSlice controller or traffic are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::retry_on_conflict;
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, api, discovery};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("endpointslice").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-network] EndpointSlice should support creating EndpointSlice API operations [Conformance]",
        case_fn!(api_operations),
    )]
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

async fn api_operations(f: &Framework) -> Result<()> {
    let unique = f.ns();
    let slices = f.api::<EndpointSlice>();
    let selector = format!("special-label={unique}");
    let pp = PostParams::default();
    let template = EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some("e2e-example-ing".into()),
            labels: Some(BTreeMap::from([(
                "special-label".into(),
                unique.to_string(),
            )])),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![
            Endpoint {
                addresses: vec!["1.2.3.4".into(), "5.6.7.8".into()],
                ..Default::default()
            },
            Endpoint {
                addresses: vec!["2.2.3.4".into(), "6.6.7.8".into()],
                ..Default::default()
            },
        ],
        ports: None,
    };

    discovery::expect_served(f, "discovery.k8s.io", "v1", &["endpointslices"]).await?;

    f.step("creating");
    slices
        .create(&pp, &template)
        .await
        .context("creating slice 1")?;
    slices
        .create(&pp, &template)
        .await
        .context("creating slice 2")?;
    let created = slices
        .create(&pp, &template)
        .await
        .context("creating slice 3")?;
    let name = created.metadata.name.clone().unwrap_or_default();

    f.step("getting");
    let got = slices.get(&name).await.context("getting the slice")?;
    ensure!(
        got.metadata.uid == created.metadata.uid,
        "got a different uid"
    );

    f.step("listing");
    let list = slices
        .list(&ListParams::default().labels(&selector))
        .await?;
    ensure!(
        list.items.len() == 3,
        "filtered list should have 3 items, got {}",
        list.items.len()
    );
    let list_rv = list.metadata.resource_version.clone().unwrap_or_default();

    f.step("watching");
    let mut w = Watch::start(&slices, &list_rv, Some(&selector), None).await?;

    let all = f.api_all::<EndpointSlice>();
    f.step("cluster-wide listing");
    let cluster = all.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        cluster.items.len() == 3,
        "filtered list should have 3 items, got {}",
        cluster.items.len()
    );
    f.step("cluster-wide watching");
    let _cluster_watch = Watch::start(&all, &list_rv, Some(&selector), None).await?;

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = slices
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching the slice")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut eps = slices.get(&name).await?;
        eps.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        Ok(slices.replace(&name, &pp, &eps).await?)
    })
    .await
    .context("updating the slice")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.log("waiting for watch events with expected annotations");
    w.until(Duration::from_secs(30), |e| {
        ensure!(
            e.kind == EventType::Modified,
            "expected a MODIFIED event, got {:?}",
            e.kind
        );
        Ok(e.object
            .as_ref()
            .is_some_and(|o| annotation(&o.metadata, "patched").as_deref() == Some("true")))
    })
    .await
    .context("timed out waiting for watch event")?;
    drop(w);

    f.step("deleting");
    slices
        .delete(&name, &DeleteParams::default())
        .await
        .context("deleting the slice")?;
    api::expect_not_found(slices.get(&name).await, "the deleted EndpointSlice")?;
    let list = slices
        .list(&ListParams::default().labels(&selector))
        .await?;
    ensure!(
        list.items.len() == 2,
        "filtered list should have 2 items, got {}",
        list.items.len()
    );
    ensure!(
        !list
            .items
            .iter()
            .any(|e| e.metadata.name.as_deref() == Some(name.as_str())),
        "listing after deleting createdEPS"
    );

    f.step("deleting a collection");
    slices
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&selector),
        )
        .await
        .context("deleting the collection")?;
    let list = slices
        .list(&ListParams::default().labels(&selector))
        .await?;
    ensure!(
        list.items.is_empty(),
        "filtered list should have 0 items, got {}",
        list.items.len()
    );
    Ok(())
}
