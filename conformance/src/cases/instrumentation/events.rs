//! `[sig-instrumentation] Events API` (upstream `test/e2e/instrumentation/events.go`): the
//! events.k8s.io/v1 Event API, and its field selectors on both API versions.

use super::core_events::some_time;
use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, compare};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

const D: Describe = Describe::new("events");

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-instrumentation] Events API should ensure that an event can be fetched, patched, deleted, and listed [Conformance]",
            case_fn!(fetch_patch_delete_list),
        ),
        D.case(
            "[sig-instrumentation] Events API should delete a collection of events [Conformance]",
            case_fn!(delete_collection),
        ),
    ]
}

fn new_test_event(namespace: &str, name: &str, label: &str) -> Result<Event> {
    Ok(Event {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(label.into(), "true".into())])),
            ..Default::default()
        },
        regarding: Some(ObjectReference {
            namespace: Some(namespace.into()),
            ..Default::default()
        }),
        event_time: Some(some_time()?),
        note: Some(format!("This is {name}")),
        action: Some("Do".into()),
        reason: Some("Test".into()),
        type_: Some("Normal".into()),
        reporting_controller: Some("test-controller".into()),
        reporting_instance: Some("test-node".into()),
        ..Default::default()
    })
}

async fn event_exists(api: &Api<Event>, namespace: &str, name: &str) -> Result<bool> {
    let list = api
        .list(&ListParams::default().labels("testevent-constant=true"))
        .await
        .context("failed to list events")?;
    Ok(list.items.iter().any(|e| {
        e.metadata.name.as_deref() == Some(name)
            && e.metadata.namespace.as_deref() == Some(namespace)
    }))
}

async fn fetch_patch_delete_list(f: &Framework) -> Result<()> {
    let name = "event-test";
    let client = f.api::<Event>();
    let all = f.api_all::<Event>();
    let core = f.api::<k8s_openapi::api::core::v1::Event>();

    f.step("creating a test event");
    client
        .create(
            &PostParams::default(),
            &new_test_event(f.ns(), name, "testevent-constant")?,
        )
        .await
        .context("failed to create test event")?;

    f.step("listing events in all namespaces");
    ensure!(
        event_exists(&all, f.ns(), name).await?,
        "failed to find test event in list with cluster scope"
    );
    f.step("listing events in test namespace");
    ensure!(
        event_exists(&client, f.ns(), name).await?,
        "failed to find test event in list with namespace scope"
    );

    f.step("listing events with field selection filtering on source");
    let filtered = core
        .list(&ListParams::default().fields("source=test-controller"))
        .await
        .context("failed to get filtered list")?;
    ensure!(
        filtered.items.len() == 1 && filtered.items[0].metadata.name.as_deref() == Some(name),
        "expected single event, got {:?}",
        filtered
            .items
            .iter()
            .map(|e| &e.metadata.name)
            .collect::<Vec<_>>()
    );

    f.step("listing events with field selection filtering on reportingController");
    let filtered = client
        .list(&ListParams::default().fields("reportingController=test-controller"))
        .await
        .context("failed to get filtered list")?;
    ensure!(
        filtered.items.len() == 1 && filtered.items[0].metadata.name.as_deref() == Some(name),
        "expected single event, got {:?}",
        filtered
            .items
            .iter()
            .map(|e| &e.metadata.name)
            .collect::<Vec<_>>()
    );

    f.step("getting the test event");
    let mut test_event = client.get(name).await.context("failed to get test event")?;

    f.step("patching the test event");
    let patched_note = "This is a test event - patched";
    client
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Strategic(serde_json::json!({"note": patched_note})),
        )
        .await
        .context("failed to patch the test event")?;

    f.step("getting the test event");
    let mut event = client.get(name).await.context("failed to get test event")?;
    // Set by the control plane on every write; cleared as upstream clears them.
    event.metadata.resource_version = None;
    test_event.metadata.resource_version = None;
    event.metadata.managed_fields = None;
    test_event.metadata.managed_fields = None;
    test_event.note = Some(patched_note.into());
    if !compare::semantic_eq(&test_event, &event) {
        bail!(
            "test event wasn't properly patched: {}",
            compare::diff(&test_event, &event)
        );
    }

    f.step("updating the test event");
    test_event.series = Some(EventSeries {
        count: 100,
        last_observed_time: some_time()?,
    });
    client
        .replace(name, &PostParams::default(), &test_event)
        .await
        .context("failed to update the test event")?;

    f.step("getting the test event");
    let mut event = client.get(name).await.context("failed to get test event")?;
    event.metadata.resource_version = None;
    event.metadata.managed_fields = None;
    if !compare::semantic_eq(&test_event, &event) {
        bail!(
            "test event wasn't properly updated: {}",
            compare::diff(&test_event, &event)
        );
    }

    f.step("deleting the test event");
    client
        .delete(name, &DeleteParams::default())
        .await
        .context("failed to delete the test event")?;

    f.step("listing events in all namespaces");
    ensure!(
        !event_exists(&all, f.ns(), name).await?,
        "should not have found test event after deletion"
    );
    f.step("listing events in test namespace");
    ensure!(
        !event_exists(&client, f.ns(), name).await?,
        "should not have found test event after deletion"
    );
    Ok(())
}

async fn delete_collection(f: &Framework) -> Result<()> {
    let client = f.api::<Event>();
    let names = ["test-event-1", "test-event-2", "test-event-3"];
    f.step("Create set of events");
    for name in names {
        client
            .create(
                &PostParams::default(),
                &new_test_event(f.ns(), name, "testevent-set")?,
            )
            .await
            .context("failed to create event")?;
    }

    f.step("get a list of Events with a label in the current namespace");
    let selector = ListParams::default().labels("testevent-set=true");
    let list = client
        .list(&selector)
        .await
        .context("failed to get a list of events")?;
    ensure!(
        list.items.len() == names.len(),
        "unexpected event list: {} items",
        list.items.len()
    );

    f.step("delete a list of events");
    client
        .delete_collection(&DeleteParams::default(), &selector)
        .await
        .context("failed to delete the test event")?;

    f.step("check that the list of events matches the requested quantity");
    let list = client
        .list(&selector)
        .await
        .context("failed to get a list of events")?;
    ensure!(
        list.items.is_empty(),
        "unexpected event list: {} items",
        list.items.len()
    );
    Ok(())
}
