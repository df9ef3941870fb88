//! The storage suite: the same behaviour checked against etcd directly and through the watch
//! cache, on a real etcd.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use apimachinery::labels::Selector;
use apiserver::storage::cacher::{Cacher, Hub};
use apiserver::storage::etcd::EtcdStorage;
use apiserver::storage::predicate::metadata_attrs;
use apiserver::storage::{
    AttrsFn, Error, EventType, ListRequest, Predicate, ReadAt, Storage, WatchFrom, WatchItem,
    WatchRequest, WatchStream, continue_token,
};
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PREFIX: &str = "/registry/configmaps/";

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "ns", "labels": labels}, "data": {"k": name}})
}

fn key(name: &str) -> String {
    format!("{PREFIX}ns/{name}")
}

fn attrs() -> AttrsFn {
    Arc::new(metadata_attrs)
}

async fn etcd_storage(etcd: &common::Etcd) -> Arc<dyn Storage> {
    Arc::new(EtcdStorage::new(etcd.client().await, attrs()))
}

async fn cached_storage(etcd: &common::Etcd) -> (Arc<dyn Storage>, Arc<Hub>) {
    let client = etcd.client().await;
    let hub = Hub::new(client.clone(), "/registry");
    let cacher = Cacher::new(
        EtcdStorage::new(client, attrs()),
        hub.clone(),
        PREFIX,
        attrs(),
    );
    hub.start().await.unwrap();
    (Arc::new(cacher), hub)
}

fn list(read: ReadAt, limit: Option<i64>, predicate: Predicate) -> ListRequest {
    ListRequest {
        prefix: format!("{PREFIX}ns/"),
        read,
        limit,
        continue_from: None,
        predicate,
    }
}

fn names(items: &[apiserver::storage::Object]) -> Vec<String> {
    items
        .iter()
        .map(|o| {
            o.value().unwrap()["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn next_event(w: &mut WatchStream) -> (EventType, String, i64) {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .expect("an event within 10s")
            .expect("stream open")
            .expect("no error");
        if let WatchItem::Event(ev) = item {
            let v = ev.object.value().unwrap();
            return (
                ev.typ,
                v["metadata"]["name"].as_str().unwrap().to_string(),
                ev.object.rv,
            );
        }
    }
}

async fn crud(s: &dyn Storage) {
    let a = s.create(&key("a"), &cm("a", json!({}))).await.unwrap();
    assert!(a.rv > 0);
    assert_eq!(
        a.value().unwrap()["metadata"]["resourceVersion"],
        a.rv.to_string()
    );
    assert!(matches!(
        s.create(&key("a"), &cm("a", json!({}))).await,
        Err(Error::AlreadyExists { .. })
    ));
    let got = s.get(&key("a"), ReadAt::Latest).await.unwrap();
    assert_eq!(got.rv, a.rv);
    let b = s
        .update(&key("a"), a.rv, &cm("a", json!({"v": "2"})))
        .await
        .unwrap();
    assert!(b.rv > a.rv);
    // A write based on the old revision loses.
    assert!(matches!(
        s.update(&key("a"), a.rv, &cm("a", json!({}))).await,
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        s.delete(&key("a"), a.rv).await,
        Err(Error::Conflict { .. })
    ));
    let gone = s.delete(&key("a"), b.rv).await.unwrap();
    assert!(
        gone.rv > b.rv,
        "a deletion carries the revision of the deletion"
    );
    assert!(matches!(
        s.get(&key("a"), ReadAt::Latest).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.update(&key("a"), b.rv, &cm("a", json!({}))).await,
        Err(Error::NotFound { .. })
    ));
}

async fn pagination_is_a_snapshot(s: &dyn Storage) {
    for n in ["p1", "p2", "p3", "p4", "p5"] {
        s.create(&key(n), &cm(n, json!({}))).await.unwrap();
    }
    let first = s
        .list(&list(ReadAt::Latest, Some(2), Predicate::default()))
        .await
        .unwrap();
    assert_eq!(names(&first.items), ["p1", "p2"]);
    assert_eq!(first.remaining, Some(3));
    let token = first.continue_token.clone().expect("more pages");
    // Writes between pages do not show: the continuation reads the first page's revision.
    s.create(&key("p0"), &cm("p0", json!({}))).await.unwrap();
    let p4 = s.get(&key("p4"), ReadAt::Latest).await.unwrap();
    s.delete(&key("p4"), p4.rv).await.unwrap();
    let mut req = list(ReadAt::Latest, Some(2), Predicate::default());
    req.continue_from = Some(continue_token::decode(&token).unwrap());
    let second = s.list(&req).await.unwrap();
    assert_eq!(names(&second.items), ["p3", "p4"]);
    assert_eq!(second.rv, first.rv);
    let mut req = list(ReadAt::Latest, Some(2), Predicate::default());
    req.continue_from =
        Some(continue_token::decode(second.continue_token.as_ref().unwrap()).unwrap());
    let third = s.list(&req).await.unwrap();
    assert_eq!(names(&third.items), ["p5"]);
    assert!(third.continue_token.is_none());
}

async fn selectors(s: &dyn Storage) {
    s.create(
        &key("web1"),
        &cm("web1", json!({"app": "web", "tier": "front"})),
    )
    .await
    .unwrap();
    s.create(&key("web2"), &cm("web2", json!({"app": "web"})))
        .await
        .unwrap();
    s.create(&key("db"), &cm("db", json!({"app": "db"})))
        .await
        .unwrap();
    let p = Predicate {
        label: Selector::parse("app=web,!tier").unwrap(),
        ..Default::default()
    };
    let page = s.list(&list(ReadAt::Latest, None, p)).await.unwrap();
    assert_eq!(names(&page.items), ["web2"]);
    let p = Predicate {
        field: apimachinery::fields::Selector::parse("metadata.name!=db").unwrap(),
        label: Selector::parse("app in (web,db)").unwrap(),
    };
    let page = s
        .list(&list(ReadAt::Latest, None, p.clone()))
        .await
        .unwrap();
    assert_eq!(names(&page.items), ["web1", "web2"]);
    // With a selector, pages still fill up to the limit from later keys.
    let page = s.list(&list(ReadAt::Latest, Some(1), p)).await.unwrap();
    assert_eq!(names(&page.items), ["web1"]);
    assert!(page.continue_token.is_some());
}

async fn watch_from_revision(s: &dyn Storage) {
    let a = s
        .create(&key("wa"), &cm("wa", json!({"app": "x"})))
        .await
        .unwrap();
    let mut w = s
        .watch(&WatchRequest {
            prefix: format!("{PREFIX}ns/"),
            from: WatchFrom::After(a.rv),
            predicate: Predicate::default(),
            allow_bookmarks: false,
            send_initial_events: None,
        })
        .await
        .unwrap();
    let b = s.create(&key("wb"), &cm("wb", json!({}))).await.unwrap();
    let a2 = s
        .update(&key("wa"), a.rv, &cm("wa", json!({"app": "y"})))
        .await
        .unwrap();
    s.delete(&key("wb"), b.rv).await.unwrap();
    assert_eq!(
        next_event(&mut w).await,
        (EventType::Added, "wb".into(), b.rv)
    );
    assert_eq!(
        next_event(&mut w).await,
        (EventType::Modified, "wa".into(), a2.rv)
    );
    let (t, n, _) = next_event(&mut w).await;
    assert_eq!((t, n.as_str()), (EventType::Deleted, "wb"));

    // A filtered watcher sees an object leaving its selector as a deletion.
    let mut w = s
        .watch(&WatchRequest {
            prefix: format!("{PREFIX}ns/"),
            from: WatchFrom::After(a2.rv),
            predicate: Predicate {
                label: Selector::parse("app=y").unwrap(),
                ..Default::default()
            },
            allow_bookmarks: false,
            send_initial_events: None,
        })
        .await
        .unwrap();
    s.update(&key("wa"), a2.rv, &cm("wa", json!({"app": "z"})))
        .await
        .unwrap();
    let (t, n, _) = next_event(&mut w).await;
    assert_eq!((t, n.as_str()), (EventType::Deleted, "wa"));
}

async fn initial_state_then_changes(s: &dyn Storage) {
    s.create(&key("i1"), &cm("i1", json!({}))).await.unwrap();
    let mut w = s
        .watch(&WatchRequest {
            prefix: format!("{PREFIX}ns/"),
            from: WatchFrom::Latest,
            predicate: Predicate::default(),
            allow_bookmarks: true,
            send_initial_events: None,
        })
        .await
        .unwrap();
    let (t, n, _) = next_event(&mut w).await;
    assert_eq!((t, n.as_str()), (EventType::Added, "i1"));
    s.create(&key("i2"), &cm("i2", json!({}))).await.unwrap();
    let (t, n, _) = next_event(&mut w).await;
    assert_eq!((t, n.as_str()), (EventType::Added, "i2"));
}

macro_rules! suite {
    ($name:ident, $check:ident) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn etcd() {
                let e = common::Etcd::start();
                $check(&*etcd_storage(&e).await).await;
            }

            #[tokio::test]
            async fn cacher() {
                let e = common::Etcd::start();
                let (s, _hub) = cached_storage(&e).await;
                $check(&*s).await;
            }
        }
    };
}

suite!(crud_suite, crud);
suite!(pagination_suite, pagination_is_a_snapshot);
suite!(selector_suite, selectors);
suite!(watch_suite, watch_from_revision);
suite!(initial_state_suite, initial_state_then_changes);

#[tokio::test]
async fn cache_serves_consistent_reads_of_writes_it_has_not_seen_yet() {
    let e = common::Etcd::start();
    let (s, _hub) = cached_storage(&e).await;
    // Write behind the cache's back, then read: the list must wait for the cache to catch up.
    let direct = etcd_storage(&e).await;
    for i in 0..20 {
        let n = format!("c{i:02}");
        direct.create(&key(&n), &cm(&n, json!({}))).await.unwrap();
        let page = s
            .list(&list(ReadAt::Latest, None, Predicate::default()))
            .await
            .unwrap();
        assert_eq!(
            page.items.len(),
            i + 1,
            "a consistent list sees every acknowledged write"
        );
    }
}

#[tokio::test]
async fn compaction_makes_old_revisions_gone() {
    let e = common::Etcd::start();
    let (cached, hub) = cached_storage(&e).await;
    let direct = etcd_storage(&e).await;
    let first = direct
        .create(&key("old"), &cm("old", json!({})))
        .await
        .unwrap();
    let mut last = first.clone();
    for i in 0..3 {
        last = direct
            .update(
                &key("old"),
                last.rv,
                &cm("old", json!({"i": i.to_string()})),
            )
            .await
            .unwrap();
    }
    let page = direct
        .list(&list(ReadAt::Latest, Some(1), Predicate::default()))
        .await
        .unwrap();
    let mut client = e.client().await;
    client.compact(last.rv, None).await.unwrap();
    hub.compacted(last.rv);
    for s in [&direct, &cached] {
        let w = s
            .watch(&WatchRequest {
                prefix: format!("{PREFIX}ns/"),
                from: WatchFrom::After(first.rv),
                predicate: Predicate::default(),
                allow_bookmarks: false,
                send_initial_events: None,
            })
            .await;
        let err = match w {
            Err(e) => e,
            Ok(mut stream) => stream.next().await.expect("an item").expect_err("too old"),
        };
        assert!(
            matches!(err, Error::TooOldResourceVersion { .. }),
            "{err:?}"
        );
    }
    let mut req = list(ReadAt::Exact(first.rv), None, Predicate::default());
    assert!(matches!(
        direct.list(&req).await,
        Err(Error::TooOldResourceVersion { .. })
    ));
    // A continue token from before the compaction has expired.
    req = list(ReadAt::Latest, Some(1), Predicate::default());
    let mut token = continue_token::decode(&continue_token::encode(page.rv, "old\u{0}")).unwrap();
    token.rv = first.rv;
    req.continue_from = Some(token);
    let Err(Error::ContinueExpired {
        inconsistent_continue: Some(fresh),
    }) = direct.list(&req).await
    else {
        panic!("an expired continue token");
    };
    // The token handed back continues at the latest revision, from the same key.
    let mut req = list(ReadAt::Latest, Some(1), Predicate::default());
    req.continue_from = Some(continue_token::decode(&fresh).unwrap());
    let page = direct.list(&req).await.unwrap();
    assert!(page.rv >= last.rv);
}
