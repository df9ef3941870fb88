//! `[sig-instrumentation] Events` (upstream `test/e2e/instrumentation/core_events.go`): the
//! core/v1 Event API.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::poll;
use crate::framework::{Framework, PodSecurityLevel, compare};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Event, EventSeries, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("events").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-instrumentation] Events should manage the lifecycle of an event [Conformance]",
            case_fn!(lifecycle),
        ),
        D.case(
            "[sig-instrumentation] Events should delete a collection of events [Conformance]",
            case_fn!(delete_collection),
        ),
    ]
}

/// The time upstream stamps its test events with.
pub(crate) fn some_time() -> Result<MicroTime> {
    Ok(MicroTime(
        Timestamp::from_second(1_505_828_956).context("building a timestamp")?,
    ))
}

fn test_event(f: &Framework, name: &str, label: &str, message: &str) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(label.into(), "true".into())])),
            ..Default::default()
        },
        message: Some(message.into()),
        reason: Some("Test".into()),
        type_: Some("Normal".into()),
        count: Some(1),
        involved_object: ObjectReference {
            namespace: Some(f.ns().into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn contains(list: &[Event], name: &str, ns: &str) -> bool {
    list.iter().any(|e| {
        e.metadata.name.as_deref() == Some(name) && e.metadata.namespace.as_deref() == Some(ns)
    })
}

async fn lifecycle(f: &Framework) -> Result<()> {
    let name = "event-test";
    let events = f.api::<Event>();
    let all = f.api_all::<Event>();
    let selector = ListParams::default().labels("testevent-constant=true");

    f.step("creating a test event");
    events
        .create(
            &PostParams::default(),
            &test_event(f, name, "testevent-constant", "This is a test event"),
        )
        .await
        .context("failed to create test event")?;

    f.step("listing all events in all namespaces");
    let list = all
        .list(&selector)
        .await
        .context("failed list all events")?;
    ensure!(
        contains(&list.items, name, f.ns()),
        "unable to find test event {name} in namespace {}",
        f.ns()
    );

    f.step("patching the test event");
    let patched_message = "This is a test event - patched";
    events
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Strategic(serde_json::json!({"message": patched_message})),
        )
        .await
        .context("failed to patch the test event")?;

    f.step("fetching the test event");
    let event = events
        .get(name)
        .await
        .context("failed to fetch the test event")?;
    ensure!(
        event.message.as_deref() == Some(patched_message),
        "test event message does not match patch message: {:?}",
        event.message
    );

    f.step("updating the test event");
    let mut test_event = events.get(name).await.context("failed to get test event")?;
    test_event.series = Some(EventSeries {
        count: Some(100),
        last_observed_time: Some(some_time()?),
    });
    // Cleared as upstream clears them: both are set by the control plane.
    test_event.metadata.resource_version = None;
    test_event.metadata.managed_fields = None;
    events
        .replace(name, &PostParams::default(), &test_event)
        .await
        .context("failed to update the test event")?;

    f.step("getting the test event");
    let mut event = events.get(name).await.context("failed to get test event")?;
    event.metadata.resource_version = None;
    event.metadata.managed_fields = None;
    if !compare::semantic_eq(&test_event, &event) {
        bail!(
            "test event wasn't properly updated: {}",
            compare::diff(&test_event, &event)
        );
    }

    f.step("deleting the test event");
    events
        .delete(name, &DeleteParams::default())
        .await
        .context("failed to delete the test event")?;

    f.step("listing all events in all namespaces");
    let list = all
        .list(&selector)
        .await
        .context("fail to list all events")?;
    ensure!(
        !contains(&list.items, name, f.ns()),
        "Should not have found test event {name} in namespace {}",
        f.ns()
    );
    Ok(())
}

async fn delete_collection(f: &Framework) -> Result<()> {
    let events = f.api::<Event>();
    let names = ["test-event-1", "test-event-2", "test-event-3"];
    f.step("Create set of events");
    for name in names {
        events
            .create(
                &PostParams::default(),
                &test_event(f, name, "testevent-set", &format!("This is {name}")),
            )
            .await
            .context("failed to create event")?;
        f.log(format!("created {name}"));
    }

    f.step("get a list of Events with a label in the current namespace");
    let selector = ListParams::default().labels("testevent-set=true");
    let list = events
        .list(&selector)
        .await
        .context("failed to get a list of events")?;
    ensure!(
        list.items.len() == names.len(),
        "looking for expected number of events: got {}",
        list.items.len()
    );

    f.step("delete collection of events");
    events
        .delete_collection(&DeleteParams::default(), &selector)
        .await
        .context("failed to delete the test event")?;

    f.step("check that the list of events matches the requested quantity");
    poll(
        Duration::from_secs(1),
        Duration::from_secs(60),
        async || Ok(events.list(&selector).await?.items.is_empty()),
    )
    .await
    .context("failed to count required events")
}
