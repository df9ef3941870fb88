//! `[sig-api-machinery] Watchers` (upstream `test/e2e/apimachinery/watch.go`): watches on
//! ConfigMaps by label selector, from past resource versions, across restarts, and concurrent
//! watches agreeing on order.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::Framework;
use crate::framework::wait::retry_on_conflict;
use crate::framework::watch::{EventType, Watch};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("watch");

const WATCH_LABEL: &str = "watch-this-configmap";
const MULTIPLE_WATCHERS_A: &str = "multiple-watchers-A";
const MULTIPLE_WATCHERS_B: &str = "multiple-watchers-B";
const FROM_RESOURCE_VERSION: &str = "from-resource-version";
const WATCH_RESTARTED: &str = "watch-closed-and-restarted";
const TO_BE_CHANGED: &str = "label-changed-and-restored";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] Watchers should observe add, update, and delete watch notifications on configmaps [Conformance]",
            case_fn!(observe_add_update_delete),
        ),
        D.case(
            "[sig-api-machinery] Watchers should be able to start watching from a specific resource version [Conformance]",
            case_fn!(start_from_resource_version),
        ),
        D.case(
            "[sig-api-machinery] Watchers should be able to restart watching from the last resource version observed by the previous watch [Conformance]",
            case_fn!(restart_from_last_observed),
        ),
        D.case(
            "[sig-api-machinery] Watchers should observe an object deletion if it stops meeting the requirements of the selector [Conformance]",
            case_fn!(deletion_when_selector_stops_matching),
        ),
        D.case(
            "[sig-api-machinery] Watchers should receive events on concurrent watches in same order [Conformance]",
            case_fn!(concurrent_watches_same_order),
        ),
    ]
}

/// `watchConfigMaps`: a watch on the namespace's ConfigMaps whose label is one of `values`.
async fn watch_config_maps(
    f: &Framework,
    resource_version: &str,
    values: &[&str],
) -> Result<Watch<ConfigMap>> {
    let selector = format!("{WATCH_LABEL} in ({})", values.join(","));
    Watch::start(
        &f.api::<ConfigMap>(),
        resource_version,
        Some(&selector),
        None,
    )
    .await
    .with_context(|| format!("failed to create a watch on configmaps with label: {values:?}"))
}

fn labelled(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(WATCH_LABEL.into(), value.into())])),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn set_data(cm: &mut ConfigMap, key: &str, value: &str) {
    cm.data
        .get_or_insert_with(BTreeMap::new)
        .insert(key.into(), value.into());
}

/// Get, mutate and update a ConfigMap, retrying on conflicts.
async fn update_config_map(
    api: &Api<ConfigMap>,
    name: &str,
    mutate: impl Fn(&mut ConfigMap),
) -> Result<ConfigMap> {
    retry_on_conflict(async || {
        let mut cm = api.get(name).await?;
        mutate(&mut cm);
        Ok(api.replace(name, &PostParams::default(), &cm).await?)
    })
    .await
    .with_context(|| format!("failed to update configmap {name}"))
}

async fn observe_add_update_delete(f: &Framework) -> Result<()> {
    let api = f.api::<ConfigMap>();
    f.step("creating a watch on configmaps with label A");
    let mut watch_a = watch_config_maps(f, "", &[MULTIPLE_WATCHERS_A]).await?;
    f.step("creating a watch on configmaps with label B");
    let mut watch_b = watch_config_maps(f, "", &[MULTIPLE_WATCHERS_B]).await?;
    f.step("creating a watch on configmaps with label A or B");
    let mut watch_ab =
        watch_config_maps(f, "", &[MULTIPLE_WATCHERS_A, MULTIPLE_WATCHERS_B]).await?;

    f.step("creating a configmap with label A and ensuring the correct watchers observe the notification");
    let cm_a = api
        .create(
            &PostParams::default(),
            &labelled("e2e-watch-test-configmap-a", MULTIPLE_WATCHERS_A),
        )
        .await
        .context("failed to create a configmap with label multiple-watchers-A")?;
    watch_a.expect_event(EventType::Added, Some(&cm_a)).await?;
    watch_ab.expect_event(EventType::Added, Some(&cm_a)).await?;
    watch_b
        .expect_no_event(EventType::Added, Some(&cm_a))
        .await?;

    let name_a = "e2e-watch-test-configmap-a";
    for (step, value) in [
        ("modifying configmap A", "1"),
        ("modifying configmap A again", "2"),
    ] {
        f.step(format!(
            "{step} and ensuring the correct watchers observe the notification"
        ));
        let cm_a = update_config_map(&api, name_a, |cm| set_data(cm, "mutation", value)).await?;
        watch_a
            .expect_event(EventType::Modified, Some(&cm_a))
            .await?;
        watch_ab
            .expect_event(EventType::Modified, Some(&cm_a))
            .await?;
        watch_b
            .expect_no_event(EventType::Modified, Some(&cm_a))
            .await?;
    }

    f.step("deleting configmap A and ensuring the correct watchers observe the notification");
    api.delete(name_a, &DeleteParams::default())
        .await
        .context("failed to delete configmap A")?;
    watch_a.expect_event(EventType::Deleted, None).await?;
    watch_ab.expect_event(EventType::Deleted, None).await?;
    watch_b.expect_no_event(EventType::Deleted, None).await?;

    f.step("creating a configmap with label B and ensuring the correct watchers observe the notification");
    let cm_b = api
        .create(
            &PostParams::default(),
            &labelled("e2e-watch-test-configmap-b", MULTIPLE_WATCHERS_B),
        )
        .await
        .context("failed to create configmap B")?;
    watch_b.expect_event(EventType::Added, Some(&cm_b)).await?;
    watch_ab.expect_event(EventType::Added, Some(&cm_b)).await?;
    watch_a
        .expect_no_event(EventType::Added, Some(&cm_b))
        .await?;

    f.step("deleting configmap B and ensuring the correct watchers observe the notification");
    api.delete("e2e-watch-test-configmap-b", &DeleteParams::default())
        .await
        .context("failed to delete configmap B")?;
    watch_b.expect_event(EventType::Deleted, None).await?;
    watch_ab.expect_event(EventType::Deleted, None).await?;
    watch_a.expect_no_event(EventType::Deleted, None).await?;
    Ok(())
}

async fn start_from_resource_version(f: &Framework) -> Result<()> {
    let api = f.api::<ConfigMap>();
    let name = "e2e-watch-test-resource-version";
    f.step("creating a new configmap");
    api.create(
        &PostParams::default(),
        &labelled(name, FROM_RESOURCE_VERSION),
    )
    .await
    .with_context(|| format!("failed to create configmap {name}"))?;
    f.step("modifying the configmap once");
    let first = update_config_map(&api, name, |cm| set_data(cm, "mutation", "1")).await?;
    f.step("modifying the configmap a second time");
    let second = update_config_map(&api, name, |cm| set_data(cm, "mutation", "2")).await?;
    f.step("deleting the configmap");
    api.delete(name, &DeleteParams::default())
        .await
        .context("failed to delete configmap")?;

    f.step("creating a watch on configmaps from the resource version returned by the first update");
    let rv = first.metadata.resource_version.clone().unwrap_or_default();
    let mut w = watch_config_maps(f, &rv, &[FROM_RESOURCE_VERSION]).await?;
    f.step("Expecting to observe notifications for all changes to the configmap after the first update");
    w.expect_event(EventType::Modified, Some(&second)).await?;
    w.expect_event(EventType::Deleted, None).await?;
    Ok(())
}

async fn restart_from_last_observed(f: &Framework) -> Result<()> {
    let api = f.api::<ConfigMap>();
    let name = "e2e-watch-test-watch-closed";
    f.step("creating a watch on configmaps");
    let mut broken = watch_config_maps(f, "", &[WATCH_RESTARTED]).await?;
    f.step("creating a new configmap");
    let created = api
        .create(&PostParams::default(), &labelled(name, WATCH_RESTARTED))
        .await
        .with_context(|| format!("failed to create configmap {name}"))?;
    f.step("modifying the configmap once");
    update_config_map(&api, name, |cm| set_data(cm, "mutation", "1")).await?;

    f.step("closing the watch once it receives two notifications");
    broken
        .expect_event(EventType::Added, Some(&created))
        .await?;
    let last = broken
        .wait_for(EventType::Modified, None, Duration::from_secs(60))
        .await?
        .context("Timed out waiting for second watch notification")?;
    drop(broken);

    f.step("modifying the configmap a second time, while the watch is closed");
    let second = update_config_map(&api, name, |cm| set_data(cm, "mutation", "2")).await?;

    f.step("creating a new watch on configmaps from the last resource version observed by the first watch");
    let Some(last_cm) = last.object else {
        bail!("Expected last notification to refer to a configmap but got: {last:?}");
    };
    let rv = last_cm.metadata.resource_version.unwrap_or_default();
    let mut restarted = watch_config_maps(f, &rv, &[WATCH_RESTARTED]).await?;

    f.step("deleting the configmap");
    api.delete(name, &DeleteParams::default())
        .await
        .context("failed to delete configmap")?;
    f.step("Expecting to observe notifications for all changes to the configmap since the first watch closed");
    restarted
        .expect_event(EventType::Modified, Some(&second))
        .await?;
    restarted.expect_event(EventType::Deleted, None).await?;
    Ok(())
}

async fn deletion_when_selector_stops_matching(f: &Framework) -> Result<()> {
    let api = f.api::<ConfigMap>();
    let name = "e2e-watch-test-label-changed";
    f.step("creating a watch on configmaps with a certain label");
    let mut w = watch_config_maps(f, "", &[TO_BE_CHANGED]).await?;
    f.step("creating a new configmap");
    let created = api
        .create(&PostParams::default(), &labelled(name, TO_BE_CHANGED))
        .await
        .with_context(|| format!("failed to create configmap {name}"))?;
    f.step("modifying the configmap once");
    let first = update_config_map(&api, name, |cm| set_data(cm, "mutation", "1")).await?;
    f.step("changing the label value of the configmap");
    update_config_map(&api, name, |cm| {
        cm.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(WATCH_LABEL.into(), "wrong-value".into());
    })
    .await?;

    f.step("Expecting to observe a delete notification for the watched object");
    w.expect_event(EventType::Added, Some(&created)).await?;
    w.expect_event(EventType::Modified, Some(&first)).await?;
    w.expect_event(EventType::Deleted, None).await?;

    f.step("modifying the configmap a second time");
    let second = update_config_map(&api, name, |cm| set_data(cm, "mutation", "2")).await?;
    f.step("Expecting not to observe a notification because the object no longer meets the selector's requirements");
    w.expect_no_event(EventType::Modified, Some(&second))
        .await?;

    f.step("changing the label value of the configmap back");
    let restored = update_config_map(&api, name, |cm| {
        cm.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(WATCH_LABEL.into(), TO_BE_CHANGED.into());
    })
    .await?;
    f.step("modifying the configmap a third time");
    let third = update_config_map(&api, name, |cm| set_data(cm, "mutation", "3")).await?;
    f.step("deleting the configmap");
    api.delete(name, &DeleteParams::default())
        .await
        .context("failed to delete configmap")?;

    f.step("Expecting to observe an add notification for the watched object when the label value was restored");
    w.expect_event(EventType::Added, Some(&restored)).await?;
    w.expect_event(EventType::Modified, Some(&third)).await?;
    w.expect_event(EventType::Deleted, None).await?;
    Ok(())
}

/// `waitForNextConfigMapEvent`: the next notification must be about a ConfigMap and come within
/// ten seconds; returns its resource version.
async fn next_config_map_rv(w: &mut Watch<ConfigMap>) -> Result<String> {
    match w.next(Duration::from_secs(10)).await? {
        None => bail!("timed out waiting for watch event"),
        Some(e) => match e.object {
            Some(cm) => Ok(cm.metadata.resource_version.unwrap_or_default()),
            None => bail!("expected config map, got {:?}", e.kind),
        },
    }
}

async fn concurrent_watches_same_order(f: &Framework) -> Result<()> {
    const ITERATIONS: usize = 100;
    let api = f.api::<ConfigMap>();
    f.step("getting a starting resourceVersion");
    let list = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("Failed to list configmaps in the namespace {}", f.ns()))?;
    let mut resource_version = list.metadata.resource_version.unwrap_or_default();

    f.step("starting a background goroutine to produce watch events");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let producer = tokio::spawn(produce_config_map_events(
        api.clone(),
        stop_rx,
        Duration::from_millis(5),
    ));

    f.step("creating watches starting from each resource version of the events produced and verifying they all receive resource versions in the same order");
    let checked = async {
        let mut watches: Vec<Watch<ConfigMap>> = Vec::with_capacity(ITERATIONS);
        for _ in 0..ITERATIONS {
            let w = Watch::start_retrying(&api, &resource_version, None)
                .await
                .with_context(|| {
                    format!("Failed to watch configmaps in the namespace {}", f.ns())
                })?;
            watches.push(w);
            let (first, rest) = watches.split_at_mut(1);
            resource_version = next_config_map_rv(&mut first[0]).await?;
            for w in rest {
                let rv = next_config_map_rv(w).await?;
                ensure!(
                    rv == resource_version,
                    "resource version mismatch, expected {resource_version} but got {rv}"
                );
            }
        }
        Ok(())
    }
    .await;
    let _ = stop_tx.send(true);
    let produced = producer.await.context("the event producer panicked")?;
    checked?;
    produced
}

/// `produceConfigMapEvents`: creates, updates and deletes ConfigMaps at random, one operation
/// per tick, until told to stop.
async fn produce_config_map_events(
    api: Api<ConfigMap>,
    stop: tokio::sync::watch::Receiver<bool>,
    min_wait: Duration,
) -> Result<()> {
    use rand::Rng;
    let name = |i: usize| format!("cm-{i}");
    let mut existing: Vec<usize> = Vec::new();
    let mut ticker = tokio::time::interval(min_wait);
    let (mut i, mut updates) = (0usize, 0usize);
    loop {
        ticker.tick().await;
        let op = if existing.is_empty() {
            0
        } else {
            rand::rng().random_range(0..3)
        };
        match op {
            0 => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(name(i)),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                api.create(&PostParams::default(), &cm)
                    .await
                    .with_context(|| format!("Failed to create configmap {}", name(i)))?;
                existing.push(i);
                i += 1;
            }
            1 => {
                let idx = rand::rng().random_range(0..existing.len());
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(name(existing[idx])),
                        labels: Some(BTreeMap::from([("mutated".into(), updates.to_string())])),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                api.replace(&name(existing[idx]), &PostParams::default(), &cm)
                    .await
                    .with_context(|| {
                        format!("Failed to update configmap {}", name(existing[idx]))
                    })?;
                updates += 1;
            }
            _ => {
                let idx = rand::rng().random_range(0..existing.len());
                api.delete(&name(existing[idx]), &DeleteParams::default())
                    .await
                    .with_context(|| {
                        format!("Failed to delete configmap {}", name(existing[idx]))
                    })?;
                existing.remove(idx);
            }
        }
        if *stop.borrow() {
            return Ok(());
        }
    }
}
