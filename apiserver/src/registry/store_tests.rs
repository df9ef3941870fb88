//! Updates that start from the watch cache's copy: a stale copy must never decide the outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use super::*;
use crate::registry::resources::core::configmaps;
use crate::storage::{Error as StorageError, Result as StorageResult, etcd::with_rv};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A compare-and-swap store whose "watch cache" answers with a copy the test chooses, and
/// which counts the reads that go to the store itself.
#[derive(Default)]
struct Lagging {
    objects: Mutex<(i64, BTreeMap<String, Object>)>,
    cache: Mutex<Option<Object>>,
    latest_reads: AtomicUsize,
}

impl Lagging {
    fn write(&self, key: &str, mut v: Value) -> Object {
        let mut g = self.objects.lock().unwrap();
        g.0 += 1;
        let o = with_rv(key, &mut v, g.0).unwrap();
        g.1.insert(key.to_string(), o.clone());
        o
    }

    fn current(&self, key: &str) -> Option<Object> {
        self.objects.lock().unwrap().1.get(key).cloned()
    }
}

#[async_trait]
impl Storage for Lagging {
    async fn create(&self, key: &str, obj: &Value) -> StorageResult<Object> {
        if self.current(key).is_some() {
            return Err(StorageError::AlreadyExists { key: key.into() });
        }
        Ok(self.write(key, obj.clone()))
    }

    async fn get(&self, key: &str, _: ReadAt) -> StorageResult<Object> {
        self.latest_reads.fetch_add(1, Ordering::SeqCst);
        self.current(key)
            .ok_or(StorageError::NotFound { key: key.into() })
    }

    async fn update(&self, key: &str, expected_rv: i64, obj: &Value) -> StorageResult<Object> {
        match self.current(key) {
            None => Err(StorageError::NotFound { key: key.into() }),
            Some(o) if o.rv != expected_rv => Err(StorageError::Conflict { key: key.into() }),
            Some(_) => Ok(self.write(key, obj.clone())),
        }
    }

    async fn delete(&self, key: &str, _: i64) -> StorageResult<Object> {
        Err(StorageError::Internal(format!("delete {key}")))
    }

    async fn list(&self, _: &ListRequest) -> StorageResult<ListPage> {
        Err(StorageError::Internal("list".into()))
    }

    async fn watch(&self, _: &WatchRequest) -> StorageResult<WatchStream> {
        Err(StorageError::Internal("watch".into()))
    }

    async fn current_revision(&self) -> StorageResult<i64> {
        Ok(self.objects.lock().unwrap().0)
    }

    fn cached(&self, _: &str) -> Option<Object> {
        self.cache.lock().unwrap().clone()
    }
}

const KEY: &str = "/registry/configmaps/ns/cm";

fn cm(data: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "cm", "namespace": "ns", "uid": "u1",
                        "creationTimestamp": "2026-01-01T00:00:00Z"},
           "data": {"k": data}})
}

fn ctx() -> OpContext {
    OpContext {
        namespace: "ns".into(),
        user: UserInfo::default(),
        dry_run: false,
        field_manager: "test".into(),
        api_version: "v1".into(),
        admission: admission::Chain::new(vec![], vec![]),
        applied: false,
        schemas: None,
        warnings: Default::default(),
        annotations: Default::default(),
    }
}

/// A store whose cache holds `data=v1` at the first revision while storage moved on to
/// `data=v2`.
fn lagging_store() -> (Store, Arc<Lagging>, Object) {
    let storage = Arc::new(Lagging::default());
    let stale = storage.write(KEY, cm("v1"));
    storage.write(KEY, cm("v2"));
    *storage.cache.lock().unwrap() = Some(stale.clone());
    let resource = configmaps::resource();
    let store = Store::new(
        resource.info,
        resource.strategy,
        storage.clone(),
        "/registry/configmaps/".into(),
    );
    (store, storage, stale)
}

fn data(v: &Value) -> &str {
    v["data"]["k"].as_str().unwrap()
}

#[tokio::test]
async fn a_put_of_the_latest_version_succeeds_while_the_cache_lags() {
    let (store, storage, _) = lagging_store();
    let mut body = cm("v3");
    meta::set(&mut body, "resourceVersion", Some(json!("2")));
    let written = store
        .update(&ctx(), "cm", None, false, |_| Ok(body.clone()))
        .await
        .unwrap();
    assert_eq!(data(&written.object), "v3");
    assert_eq!(meta::resource_version(&written.object), "3");
    assert_eq!(data(&storage.current(KEY).unwrap().value().unwrap()), "v3");
}

#[tokio::test]
async fn a_put_of_the_cached_version_conflicts_when_storage_moved_on() {
    let (store, storage, _) = lagging_store();
    let mut body = cm("v3");
    meta::set(&mut body, "resourceVersion", Some(json!("1")));
    let err = store
        .update(&ctx(), "cm", None, false, |_| Ok(body.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code, 409, "{err:?}");
    assert_eq!(data(&storage.current(KEY).unwrap().value().unwrap()), "v2");
}

#[tokio::test]
async fn a_change_the_stale_copy_already_shows_is_still_written() {
    let (store, storage, _) = lagging_store();
    // Sets data back to v1: nothing to do by the cached copy, a real change by storage's.
    let written = store
        .update(&ctx(), "cm", None, false, |old| {
            let mut new = old.unwrap().clone();
            new["data"]["k"] = json!("v1");
            Ok(new)
        })
        .await
        .unwrap();
    assert_eq!(meta::resource_version(&written.object), "3");
    assert_eq!(data(&storage.current(KEY).unwrap().value().unwrap()), "v1");
}

#[tokio::test]
async fn an_update_from_a_current_cache_reads_storage_only_when_it_must() {
    let (store, storage, _) = lagging_store();
    *storage.cache.lock().unwrap() = storage.current(KEY);
    let bump = |old: Option<&Value>| {
        let mut new = old.unwrap().clone();
        new["data"]["k"] = json!("v3");
        Ok(new)
    };
    store.update(&ctx(), "cm", None, false, bump).await.unwrap();
    assert_eq!(storage.latest_reads.load(Ordering::SeqCst), 0);
    // Now the cache lags by one write: the guess loses the race and storage is read once.
    let written = store
        .update(&ctx(), "cm", None, false, |old| {
            let mut new = old.unwrap().clone();
            new["data"]["k"] = json!("v4");
            Ok(new)
        })
        .await
        .unwrap();
    assert_eq!(storage.latest_reads.load(Ordering::SeqCst), 1);
    assert_eq!(meta::resource_version(&written.object), "4");
    // A dry run reads storage, as upstream's does.
    let mut dry = ctx();
    dry.dry_run = true;
    store.update(&dry, "cm", None, false, bump).await.unwrap();
    assert_eq!(storage.latest_reads.load(Ordering::SeqCst), 2);
}
