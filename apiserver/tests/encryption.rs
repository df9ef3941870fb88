//! Encryption at rest (`--encryption-provider-config`) against a real etcd: what lands in etcd
//! is upstream's ciphertext, everything read through the API (get, list, watch) is plaintext,
//! keys rotate by rewriting across restarts, and a bad configuration stops the apiserver.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use apiserver::storage::encryption::ResourceTransformers;
use apiserver::storage::etcd::EtcdStorage;
use apiserver::storage::predicate::metadata_attrs;
use apiserver::storage::{
    EventType, ListRequest, ReadAt, Storage, WatchFrom, WatchItem, WatchRequest,
};
use common::{Etcd, Server, ServerOptions};
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const CMS: &str = "/api/v1/namespaces/default/configmaps";
/// base64 of "hunter2-is-my-password": what must not show in etcd.
const PASSWORD_B64: &str = "aHVudGVyMi1pcy1teS1wYXNzd29yZA==";

/// 32-byte keys, base64.
const KEY1: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";
const KEY2: &str = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=";

/// An EncryptionConfiguration with one rule per `(resources, providers)`.
fn config(rules: &[(&[&str], Value)]) -> String {
    let resources: Vec<Value> = rules
        .iter()
        .map(|(resources, providers)| json!({"resources": resources, "providers": providers}))
        .collect();
    serde_json::to_string_pretty(&json!({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": resources,
    }))
    .unwrap()
}

fn aescbc(keys: &[(&str, &str)]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(name, secret)| json!({"name": name, "secret": secret}))
        .collect();
    json!({"aescbc": {"keys": keys}})
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(etcd: Etcd, config: &Path) -> Server {
    let config = config.to_path_buf();
    Server::start_on(etcd, ServerOptions::default(), &move |o| {
        o.encryption_provider_config = Some(config.clone());
    })
    .await
}

async fn etcd_value(s: &Server, key: &str) -> Vec<u8> {
    let mut client = s.etcd.client().await;
    let resp = client.get(key, None).await.unwrap();
    resp.kvs()
        .first()
        .expect("the key in etcd")
        .value()
        .to_vec()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn secret(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
           "data": {"password": PASSWORD_B64}})
}

async fn create(s: &Server, path: &str, body: Value) -> Value {
    let (code, created) = s.call("POST", path, Some(body)).await;
    assert_eq!(code, 201, "{created}");
    created
}

fn rv(obj: &Value) -> &str {
    obj["metadata"]["resourceVersion"].as_str().unwrap()
}

/// The first event of a watch, as the API sends it.
async fn first_event(s: &Server, path: &str) -> Value {
    let mut resp = s.http.get(s.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut buf = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("a watch event within 10s")
            .unwrap()
            .expect("the watch to stay open");
        buf.extend_from_slice(&chunk);
        if let Some(end) = buf.iter().position(|b| *b == b'\n') {
            return serde_json::from_slice(&buf[..end]).unwrap();
        }
    }
}

#[tokio::test]
async fn secrets_are_encrypted_in_etcd_and_plain_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "enc.yaml",
        &config(&[(
            &["secrets"],
            json!([aescbc(&[("key1", KEY1)]), {"identity": {}}]),
        )]),
    );
    let s = start(Etcd::start(), &path).await;
    let (_, before) = s.call("GET", SECRETS, None).await;
    let list_rv = rv(&before).to_string();

    let created = create(&s, SECRETS, secret("s1")).await;
    assert_eq!(created["data"]["password"], PASSWORD_B64);
    let stored = etcd_value(&s, "/registry/secrets/default/s1").await;
    assert!(
        stored.starts_with(b"k8s:enc:aescbc:v1:key1:"),
        "{}",
        String::from_utf8_lossy(&stored)
    );
    assert!(!contains(&stored, PASSWORD_B64) && !contains(&stored, "\"kind\""));

    // get (a consistent read from etcd), list (the watch cache), watch (the cache's events).
    let (code, got) = s.call("GET", &format!("{SECRETS}/s1"), None).await;
    assert_eq!(code, 200, "{got}");
    assert_eq!(got["data"]["password"], PASSWORD_B64);
    assert_eq!(rv(&got), rv(&created));
    let (_, list) = s.call("GET", SECRETS, None).await;
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "s1")
        .expect("s1 listed");
    assert_eq!(item["data"]["password"], PASSWORD_B64);
    let (_, cached) = s
        .call("GET", &format!("{SECRETS}/s1?resourceVersion=0"), None)
        .await;
    assert_eq!(cached["data"]["password"], PASSWORD_B64);
    let event = first_event(
        &s,
        &format!("{SECRETS}?watch=1&resourceVersion={list_rv}&timeoutSeconds=5"),
    )
    .await;
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["metadata"]["name"], "s1");
    assert_eq!(event["object"]["data"]["password"], PASSWORD_B64);

    // An update is encrypted too, and its event carries the plaintext.
    let mut changed = got.clone();
    changed["data"]["other"] = json!("eA==");
    let (code, updated) = s.call("PUT", &format!("{SECRETS}/s1"), Some(changed)).await;
    assert_eq!(code, 200, "{updated}");
    let event = first_event(
        &s,
        &format!(
            "{SECRETS}?watch=1&resourceVersion={}&timeoutSeconds=5",
            rv(&got)
        ),
    )
    .await;
    assert_eq!(event["type"], "MODIFIED");
    assert_eq!(event["object"]["data"]["other"], "eA==");
    let stored = etcd_value(&s, "/registry/secrets/default/s1").await;
    assert!(stored.starts_with(b"k8s:enc:aescbc:v1:key1:"));

    // ConfigMaps are not configured: plaintext JSON.
    create(
        &s,
        CMS,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"},
               "data": {"k": "visible-value"}}),
    )
    .await;
    let stored = etcd_value(&s, "/registry/configmaps/default/c1").await;
    assert!(stored.starts_with(b"{"));
    assert!(contains(&stored, "visible-value"));

    // A delete reads the encrypted last state (to check preconditions and finalizers).
    let (code, deleted) = s.call("DELETE", &format!("{SECRETS}/s1"), None).await;
    assert_eq!(code, 200, "{deleted}");
    let (code, _) = s.call("GET", &format!("{SECRETS}/s1"), None).await;
    assert_eq!(code, 404);
    s.stop().await;
}

#[tokio::test]
async fn keys_rotate_by_rewriting_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let only_key1 = write_config(
        dir.path(),
        "key1.yaml",
        &config(&[(&["secrets"], json!([aescbc(&[("key1", KEY1)])]))]),
    );
    let s = start(Etcd::start(), &only_key1).await;
    create(&s, SECRETS, secret("s1")).await;
    create(&s, SECRETS, secret("s2")).await;
    let etcd = s.stop_keeping_etcd().await;

    // key2 first: old values read with key1, writes use key2.
    let key2_first = write_config(
        dir.path(),
        "key2.yaml",
        &config(&[(
            &["secrets"],
            json!([aescbc(&[("key2", KEY2), ("key1", KEY1)])]),
        )]),
    );
    let s = start(etcd, &key2_first).await;
    let (code, old) = s.call("GET", &format!("{SECRETS}/s1"), None).await;
    assert_eq!(code, 200, "{old}");
    assert_eq!(old["data"]["password"], PASSWORD_B64);
    assert!(
        etcd_value(&s, "/registry/secrets/default/s1")
            .await
            .starts_with(b"k8s:enc:aescbc:v1:key1:")
    );
    // `kubectl get secrets -o json | kubectl replace -f -`: the unchanged object is written
    // anyway, because it was read with a key writes no longer use.
    let (_, list) = s.call("GET", SECRETS, None).await;
    for item in list["items"].as_array().unwrap() {
        let name = item["metadata"]["name"].as_str().unwrap();
        // As `kubectl get -o json` prints list items: with their kind.
        let mut body = item.clone();
        body["apiVersion"] = json!("v1");
        body["kind"] = json!("Secret");
        let (code, replaced) = s
            .call("PUT", &format!("{SECRETS}/{name}"), Some(body))
            .await;
        assert_eq!(code, 200, "{replaced}");
        assert_ne!(rv(&replaced), rv(item), "{name} rewritten");
        assert_eq!(replaced["data"]["password"], PASSWORD_B64);
        let stored = etcd_value(&s, &format!("/registry/secrets/default/{name}")).await;
        assert!(
            stored.starts_with(b"k8s:enc:aescbc:v1:key2:"),
            "{name}: {}",
            String::from_utf8_lossy(&stored)
        );
    }
    // Now current: replacing it unchanged writes nothing, as always.
    let (_, current) = s.call("GET", &format!("{SECRETS}/s1"), None).await;
    let (code, again) = s
        .call("PUT", &format!("{SECRETS}/s1"), Some(current.clone()))
        .await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(rv(&again), rv(&current));
    let etcd = s.stop_keeping_etcd().await;

    // Identity first: encrypted values still read; new and rewritten ones are plaintext.
    let identity_first = write_config(
        dir.path(),
        "identity.yaml",
        &config(&[(
            &["secrets"],
            json!([{"identity": {}}, aescbc(&[("key2", KEY2)])]),
        )]),
    );
    let s = start(etcd, &identity_first).await;
    let (code, got) = s.call("GET", &format!("{SECRETS}/s2"), None).await;
    assert_eq!(code, 200, "{got}");
    assert_eq!(got["data"]["password"], PASSWORD_B64);
    let (_, list) = s.call("GET", SECRETS, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    create(&s, SECRETS, secret("s3")).await;
    assert!(
        etcd_value(&s, "/registry/secrets/default/s3")
            .await
            .starts_with(b"{")
    );
    let (code, replaced) = s
        .call("PUT", &format!("{SECRETS}/s2"), Some(got.clone()))
        .await;
    assert_eq!(code, 200, "{replaced}");
    assert_ne!(rv(&replaced), rv(&got));
    assert!(
        etcd_value(&s, "/registry/secrets/default/s2")
            .await
            .starts_with(b"{")
    );
    let etcd = s.stop_keeping_etcd().await;

    // A key nobody configured any more: an internal error naming the etcd key and the key.
    let other_key = write_config(
        dir.path(),
        "other.yaml",
        &config(&[(&["secrets"], json!([aescbc(&[("key3", KEY1)])]))]),
    );
    let s = start(etcd, &other_key).await;
    let (code, status) = s.call("GET", &format!("{SECRETS}/s1"), None).await;
    assert_eq!(code, 500, "{status}");
    assert_eq!(status["reason"], "InternalError");
    assert_eq!(
        status["message"],
        "Internal error occurred: unable to transform key \"/registry/secrets/default/s1\": no matching key was found for the provided AES transformer (the value was written with key \"key2\")"
    );
    // Plaintext where only aescbc is configured.
    let (code, status) = s.call("GET", &format!("{SECRETS}/s3"), None).await;
    assert_eq!(code, 500, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .ends_with("/registry/secrets/default/s3\": no matching prefix found"),
        "{status}"
    );
    s.stop().await;
}

#[tokio::test]
async fn aesgcm_secretbox_and_custom_resources_round_trip_through_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "enc.yaml",
        &config(&[
            (
                &["secrets"],
                json!([{"aesgcm": {"keys": [{"name": "gcm", "secret": "MDEyMzQ1Njc4OWFiY2RlZg=="}]}}]),
            ),
            (
                &["configmaps"],
                json!([{"secretbox": {"keys": [{"name": "box", "secret": KEY1}]}}]),
            ),
            (
                &["*.example.com"],
                json!([{"aesgcm": {"keys": [{"name": "crs", "secret": KEY2}]}}]),
            ),
        ]),
    );
    let s = start(Etcd::start(), &path).await;
    create(&s, SECRETS, secret("s1")).await;
    create(
        &s,
        CMS,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"},
               "data": {"k": "hidden-value"}}),
    )
    .await;
    let stored = etcd_value(&s, "/registry/secrets/default/s1").await;
    assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:gcm:"));
    let boxed = etcd_value(&s, "/registry/configmaps/default/c1").await;
    assert!(boxed.starts_with(b"k8s:enc:secretbox:v1:box:"));
    assert!(!contains(&boxed, "hidden-value"));
    let (_, got) = s.call("GET", &format!("{SECRETS}/s1"), None).await;
    assert_eq!(got["data"]["password"], PASSWORD_B64);
    let (_, got) = s.call("GET", &format!("{CMS}/c1"), None).await;
    assert_eq!(got["data"]["k"], "hidden-value");
    let (_, list) = s.call("GET", CMS, None).await;
    assert_eq!(list["items"][0]["data"]["k"], "hidden-value");

    // AES-GCM authenticates the etcd key: the same bytes under another key do not decrypt.
    let mut client = s.etcd.client().await;
    client
        .put("/registry/secrets/default/copied", stored, None)
        .await
        .unwrap();
    let (code, status) = s.call("GET", &format!("{SECRETS}/copied"), None).await;
    assert_eq!(code, 500, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .ends_with("message authentication failed"),
        "{status}"
    );

    // Custom resources, whose storage the CRD controller builds while the server runs.
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    create(
        &s,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd,
    )
    .await;
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                        "metadata": {"name": "w1"}, "spec": {"color": "secret-blue"}});
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = s.call("POST", widgets, Some(widget.clone())).await;
        if code == 201 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{code}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = etcd_value(&s, "/registry/example.com/widgets/default/w1").await;
    assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:crs:"));
    assert!(!contains(&stored, "secret-blue"));
    let (_, list) = s.call("GET", widgets, None).await;
    assert_eq!(list["items"][0]["spec"]["color"], "secret-blue");
    s.stop().await;
}

#[tokio::test]
async fn etcd_storage_transforms_every_read_and_write_path() {
    // The uncached storage: create, get, list, update, the uncached watch (with previous
    // values), and the last state a delete returns.
    let etcd = Etcd::start();
    let config = config(&[(&["configmaps"], json!([aescbc(&[("key1", KEY1)])]))]);
    let transformers = ResourceTransformers::parse(config.as_bytes(), "inline").unwrap();
    let storage = EtcdStorage::new(etcd.client().await, Arc::new(metadata_attrs))
        .with_transformer(transformers.transformer_for("", "configmaps"));
    let key = "/registry/configmaps/ns/a";
    let cm = |v: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "a", "namespace": "ns", "labels": {"l": v}}, "data": {"k": v}})
    };
    let mut watch = storage
        .watch(&WatchRequest {
            prefix: "/registry/configmaps/ns/".into(),
            from: WatchFrom::Latest,
            predicate: Default::default(),
            allow_bookmarks: false,
            send_initial_events: None,
        })
        .await
        .unwrap();
    let created = storage.create(key, &cm("one")).await.unwrap();
    let mut client = etcd.client().await;
    let raw = client.get(key, None).await.unwrap();
    assert!(raw.kvs()[0].value().starts_with(b"k8s:enc:aescbc:v1:key1:"));
    let got = storage.get(key, ReadAt::Latest).await.unwrap();
    assert_eq!(got.value().unwrap()["data"]["k"], "one");
    assert!(!got.stale);
    let page = storage
        .list(&ListRequest {
            prefix: "/registry/configmaps/ns/".into(),
            read: ReadAt::Latest,
            limit: None,
            continue_from: None,
            predicate: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(page.items[0].value().unwrap()["data"]["k"], "one");
    let updated = storage.update(key, created.rv, &cm("two")).await.unwrap();
    let deleted = storage.delete(key, updated.rv).await.unwrap();
    assert_eq!(deleted.value().unwrap()["data"]["k"], "two");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let item = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("an event")
            .expect("open")
            .expect("no error");
        if let WatchItem::Event(ev) = item {
            seen.push((ev.typ, ev.object.value().unwrap()["data"]["k"].clone()));
        }
    }
    assert_eq!(
        seen,
        vec![
            (EventType::Added, json!("one")),
            (EventType::Modified, json!("two")),
            (EventType::Deleted, json!("two")),
        ]
    );

    // The same etcd read with the new key first: stale, so an unchanged update rewrites it.
    storage.create(key, &cm("three")).await.unwrap();
    let rotated = ResourceTransformers::parse(
        config_of_keys(&[("key2", KEY2), ("key1", KEY1)]).as_bytes(),
        "inline",
    )
    .unwrap();
    let storage2 = EtcdStorage::new(etcd.client().await, Arc::new(metadata_attrs))
        .with_transformer(rotated.transformer_for("", "configmaps"));
    let old = storage2.get(key, ReadAt::Latest).await.unwrap();
    assert!(old.stale);
    let rewritten = apiserver::storage::write_if_unchanged(
        &storage2,
        key,
        Some(&old),
        &apiserver::storage::UpdateAction::Unchanged,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(rewritten.rv > old.rv);
    let raw = client.get(key, None).await.unwrap();
    assert!(raw.kvs()[0].value().starts_with(b"k8s:enc:aescbc:v1:key2:"));
    let fresh = storage2.get(key, ReadAt::Latest).await.unwrap();
    assert!(!fresh.stale);
    assert_eq!(fresh.value().unwrap()["data"]["k"], "three");
}

fn config_of_keys(keys: &[(&str, &str)]) -> String {
    config(&[(&["configmaps"], json!([aescbc(keys)]))])
}

#[tokio::test]
async fn an_invalid_configuration_stops_the_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            config(&[(&["secrets"], json!([aescbc(&[("key1", "MDEyMzQ1Njc=")])]))]),
            "resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 8, expected one of [16 24 32]",
        ),
        (
            config(&[(
                &["secrets"],
                json!([{"kms": {"apiVersion": "v2", "name": "k", "endpoint": "unix:///k.sock"}}]),
            )]),
            "KMS providers are not supported",
        ),
        (
            config(&[(&["secrets", "secrets"], json!([{"identity": {}}]))]),
            "the same resource cannot be specified multiple times",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = write_config(dir.path(), &format!("bad{i}.yaml"), text);
        let opts = apiserver::Options {
            // Never reached: the configuration is refused first.
            etcd_servers: vec!["http://127.0.0.1:1".into()],
            secure_port: common::free_port(),
            bind_address: "127.0.0.1".parse().unwrap(),
            encryption_provider_config: Some(path.clone()),
            ..Default::default()
        };
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            apiserver::run(opts, std::future::pending()),
        )
        .await
        .expect("refused at once");
        let message = result.expect_err("refused").to_string();
        assert!(
            message.starts_with("--encryption-provider-config: error validating"),
            "{message}"
        );
        assert!(message.contains(expected), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
    let missing = apiserver::Options {
        etcd_servers: vec!["http://127.0.0.1:1".into()],
        encryption_provider_config: Some(dir.path().join("missing.yaml")),
        ..Default::default()
    };
    let message = apiserver::run(missing, std::future::pending())
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        message.contains("error reading encryption provider configuration file"),
        "{message}"
    );
}
