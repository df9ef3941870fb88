//! Events expire (`--event-ttl`) through etcd leases against a real etcd: an event is gone,
//! with a DELETED watch event, once the TTL has passed since its last write; a write renews
//! it; other resources never expire; writes close together share a lease.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use apiserver::storage::leases::LeaseManager;
use common::{Etcd, Server, ServerOptions};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const EVENTS: &str = "/api/v1/namespaces/default/events";
const NEW_EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn core_event(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Testing", "message": "first", "type": "Normal",
        "source": {"component": "event-ttl-test"},
    })
}

async fn start(ttl: Duration) -> Server {
    Server::start_on(Etcd::start(), ServerOptions::default(), &move |o| {
        o.event_ttl = ttl;
    })
    .await
}

/// The lease the object's key in etcd is attached to (0: none).
async fn lease_of(s: &Server, key: &str) -> i64 {
    let mut client = s.etcd.client().await;
    let resp = client.get(key, None).await.unwrap();
    resp.kvs().first().expect("the key in etcd").lease()
}

async fn status_of(s: &Server, path: &str) -> u16 {
    s.call("GET", path, None).await.0
}

/// Waits until `path` answers 404; fails after `limit`. etcd revokes expired leases every half
/// second, so objects of leases granted moments apart can go at different checks.
async fn wait_gone(s: &Server, path: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while status_of(s, path).await != 404 {
        assert!(Instant::now() < deadline, "{path} never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn events_expire_after_their_last_write_and_other_objects_stay() {
    let s = start(Duration::from_secs(4)).await;
    let (code, created) = s.call("POST", EVENTS, Some(core_event("old"))).await;
    assert_eq!(code, 201, "{created}");
    let started = Instant::now();
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    let (code, _) = s.call("POST", EVENTS, Some(core_event("renewed"))).await;
    assert_eq!(code, 201);
    let new_event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "new-api"},
        "eventTime": "2026-11-29T06:00:00.000000Z",
        "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Testing", "action": "Testing", "note": "n", "type": "Normal",
        "reportingController": "example.com/test", "reportingInstance": "test-1",
    });
    let (code, body) = s.call("POST", NEW_EVENTS, Some(new_event)).await;
    assert_eq!(code, 201, "{body}");
    let (code, _) = s
        .call(
            "POST",
            CMS,
            Some(json!({"metadata": {"name": "kept"}, "data": {"a": "b"}})),
        )
        .await;
    assert_eq!(code, 201);
    assert_ne!(lease_of(&s, "/registry/events/default/old").await, 0);
    assert_ne!(lease_of(&s, "/registry/events/default/new-api").await, 0);
    assert_eq!(lease_of(&s, "/registry/configmaps/default/kept").await, 0);

    let watch = s
        .http
        .get(s.url(&format!(
            "{EVENTS}?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dold"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status().as_u16(), 200);

    // Half way, a write renews "renewed" for the whole TTL again.
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(started.elapsed())).await;
    let (code, body) = s
        .call_with(
            "PATCH",
            &format!("{EVENTS}/renewed"),
            Some(json!({"message": "second"})),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(code, 200, "{body}");

    // "old" goes by etcd's lease expiry: the watch sees it deleted, reads find nothing.
    let mut stream = watch.bytes_stream();
    let mut buf = Vec::new();
    let deleted = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("the expired event's DELETED in time")
            .expect("watch open")
            .unwrap();
        buf.extend_from_slice(&chunk);
        let Some(pos) = buf.iter().position(|b| *b == b'\n') else {
            continue;
        };
        let line: Vec<u8> = buf.drain(..=pos).collect();
        let ev: Value = serde_json::from_slice(&line).unwrap();
        break ev;
    };
    assert_eq!(deleted["type"], "DELETED", "{deleted}");
    assert_eq!(deleted["object"]["metadata"]["name"], "old");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "expired after {:?}, before its TTL",
        started.elapsed()
    );
    wait_gone(&s, &format!("{EVENTS}/old"), Duration::from_secs(2)).await;

    // "renewed" outlives its first TTL: it expires 4 s after the patch, not the create.
    let (code, body) = s.call("GET", &format!("{EVENTS}/renewed"), None).await;
    assert_eq!(code, 200, "renewed gone after {:?}", started.elapsed());
    assert_eq!(body["message"], "second");
    wait_gone(&s, &format!("{NEW_EVENTS}/new-api"), Duration::from_secs(2)).await;
    wait_gone(&s, &format!("{EVENTS}/renewed"), Duration::from_secs(20)).await;
    assert_eq!(status_of(&s, &format!("{CMS}/kept")).await, 200);
    s.stop().await;
}

#[tokio::test]
async fn a_zero_ttl_keeps_events() {
    let s = start(Duration::ZERO).await;
    let (code, _) = s.call("POST", EVENTS, Some(core_event("forever"))).await;
    assert_eq!(code, 201);
    assert_eq!(lease_of(&s, "/registry/events/default/forever").await, 0);
    s.stop().await;
}

#[tokio::test]
async fn writes_close_together_share_a_lease_granted_for_the_ttl_and_the_window() {
    let etcd = Etcd::start();
    let client = etcd.client().await;
    // An hour, as upstream's default: reused for a minute, granted for an hour and a minute.
    let leases = LeaseManager::new(client.clone(), Duration::from_secs(3600));
    let first = leases.lease().await.unwrap();
    for _ in 0..10 {
        assert_eq!(leases.lease().await.unwrap(), first);
    }
    let granted = client
        .lease_client()
        .time_to_live(first, None)
        .await
        .unwrap()
        .granted_ttl();
    assert_eq!(granted, 3660);
    // Over a thousand writes, a new lease: one expiry never deletes more than that.
    for _ in 10..999 {
        leases.lease().await.unwrap();
    }
    assert_ne!(leases.lease().await.unwrap(), first);
}
