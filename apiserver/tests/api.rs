//! The REST API end to end over HTTPS against a real etcd: status codes, `Status` reasons and
//! messages, concurrency, finalizers, watches, pagination and selectors as upstream answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Server;
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

async fn create(s: &Server, name: &str) -> Value {
    let (code, body) = s.call("POST", CMS, Some(cm(name))).await;
    assert_eq!(code, 201, "{body}");
    body
}

#[tokio::test]
async fn crud_and_errors_look_like_upstream() {
    let s = Server::start().await;
    let created = create(&s, "a").await;
    assert_eq!(created["metadata"]["namespace"], "default");
    assert!(created["metadata"]["uid"].as_str().unwrap().len() == 36);
    assert!(created["metadata"]["creationTimestamp"].is_string());
    assert!(created["metadata"].get("generation").is_none());
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "ferrokube-test"
    );

    let (code, body) = s.call("POST", CMS, Some(cm("a"))).await;
    assert_eq!(code, 409);
    assert_eq!(body["reason"], "AlreadyExists");
    assert_eq!(body["message"], "configmaps \"a\" already exists");
    assert_eq!(body["details"], json!({"name": "a", "kind": "configmaps"}));

    let (code, body) = s.call("GET", &format!("{CMS}/nope"), None).await;
    assert_eq!((code, body["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(body["message"], "configmaps \"nope\" not found");

    // Optimistic concurrency: an update from a stale read conflicts.
    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh["data"]["k"] = json!("v2");
    let (code, _) = s.call("PUT", &format!("{CMS}/a"), Some(fresh)).await;
    assert_eq!(code, 200);
    stale["data"]["k"] = json!("v3");
    let (code, body) = s.call("PUT", &format!("{CMS}/a"), Some(stale)).await;
    assert_eq!(code, 409);
    assert_eq!(
        body["message"],
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );

    let (code, body) = s.call("DELETE", &format!("{CMS}/a"), None).await;
    assert_eq!(code, 200);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["status"], "Success");
    assert_eq!(body["details"]["name"], "a");
    let (code, _) = s.call("GET", &format!("{CMS}/a"), None).await;
    assert_eq!(code, 404);
    s.stop().await;
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let s = Server::start().await;
    let raw = |body: &'static [u8], ct: &'static str| {
        let http = s.http.clone();
        let url = s.url(CMS);
        async move {
            let r = http
                .post(url)
                .header("Content-Type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (code, body) = raw(b"{not json", "application/json").await;
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));
    let (code, body) = raw(b"<xml/>", "application/xml").await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );

    let (code, body) = s
        .call(
            "POST",
            CMS,
            Some(
                json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "Bad_Name"}}),
            ),
        )
        .await;
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")));
    assert!(body["message"].as_str().unwrap().starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");

    let (code, body) = s
        .call("POST", CMS, Some(json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x", "labels": {"a": "b c"}}})))
        .await;
    assert_eq!(code, 422, "{body}");

    let (code, body) = s
        .call("POST", CMS, Some(json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x", "namespace": "other"}})))
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "the namespace of the provided object does not match the namespace sent on the request"
    );

    let (code, body) = s
        .call(
            "POST",
            CMS,
            Some(json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "x"}})),
        )
        .await;
    assert_eq!(code, 400, "{body}");

    let big = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "big"}, "data": {"k": "x".repeat(4 << 20)}});
    let (code, body) = s.call("POST", CMS, Some(big)).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );

    let (code, _) = s
        .call("GET", "/api/v1/namespaces/default/nosuchthings", None)
        .await;
    assert_eq!(code, 404);
    let (code, body) = s
        .call(
            "PATCH",
            "/api/v1/namespaces/default/configmaps",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );

    // Nothing of the above was stored.
    let (_, list) = s.call("GET", CMS, None).await;
    assert_eq!(list["items"], json!([]));

    // A create in a namespace that does not exist.
    let (code, body) = s
        .call("POST", "/api/v1/namespaces/ghost/configmaps", Some(cm("x")))
        .await;
    assert_eq!(code, 404);
    assert_eq!(body["message"], "namespaces \"ghost\" not found");
    s.stop().await;
}

#[tokio::test]
async fn field_validation_strict_and_warn() {
    let s = Server::start().await;
    let body = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "fv"}, "data": {}, "spec": {"x": 1}});
    let (code, resp) = s
        .call(
            "POST",
            &format!("{CMS}?fieldValidation=Strict"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        resp["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"spec\""
    );
    let r = s
        .http
        .post(s.url(&format!("{CMS}?fieldValidation=Warn")))
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(
        r.headers()["warning"],
        "299 - \"unknown field \\\"spec\\\"\""
    );
    let dup = br#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"d","name":"d"}}"#;
    let r = s
        .http
        .post(s.url(&format!("{CMS}?fieldValidation=Strict")))
        .header("Content-Type", "application/json")
        .body(&dup[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .ends_with("duplicate field \"metadata.name\""),
        "{v}"
    );
    // Unknown and duplicate fields are reported in the order the body has them.
    let both = br#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"o"},"data":{},"bogus":1,"data":{}}"#;
    let r = s
        .http
        .post(s.url(&format!("{CMS}?fieldValidation=Strict")))
        .header("Content-Type", "application/json")
        .body(&both[..])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .ends_with("strict decoding error: unknown field \"bogus\", duplicate field \"data\""),
        "{v}"
    );
    s.stop().await;
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let s = Server::start().await;
    let mut obj = cm("held");
    obj["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let (code, _) = s.call("POST", CMS, Some(obj)).await;
    assert_eq!(code, 201);
    let (code, body) = s.call("DELETE", &format!("{CMS}/held"), None).await;
    assert_eq!(code, 200);
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");
    let (code, got) = s.call("GET", &format!("{CMS}/held"), None).await;
    assert_eq!(code, 200);
    assert!(got["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(got["metadata"]["deletionGracePeriodSeconds"], 0);
    // Removing the finalizer lets it go.
    let patch = json!({"metadata": {"finalizers": null}});
    let r = s
        .http
        .patch(s.url(&format!("{CMS}/held")))
        .header("Content-Type", "application/merge-patch+json")
        .body(serde_json::to_vec(&patch).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (code, _) = s.call("GET", &format!("{CMS}/held"), None).await;
    assert_eq!(code, 404);

    // Preconditions.
    let created = create(&s, "pre").await;
    let opts =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "wrong"}});
    let (code, body) = s.call("DELETE", &format!("{CMS}/pre"), Some(opts)).await;
    assert_eq!(code, 409);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed: UID in precondition: wrong"),
        "{body}"
    );
    let uid = created["metadata"]["uid"].clone();
    let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}});
    let (code, _) = s.call("DELETE", &format!("{CMS}/pre"), Some(opts)).await;
    assert_eq!(code, 200);

    // Foreground deletion adds its finalizer and waits for the garbage collector.
    create(&s, "fg").await;
    let (code, body) = s
        .call(
            "DELETE",
            &format!("{CMS}/fg?propagationPolicy=Foreground"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        body["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
    s.stop().await;
}

#[tokio::test]
async fn dry_run_and_generate_name() {
    let s = Server::start().await;
    let (code, body) = s
        .call("POST", &format!("{CMS}?dryRun=All"), Some(cm("dry")))
        .await;
    assert_eq!(code, 201);
    assert_eq!(body["metadata"]["name"], "dry");
    let (code, _) = s.call("GET", &format!("{CMS}/dry"), None).await;
    assert_eq!(code, 404);
    let (code, body) = s
        .call("POST", &format!("{CMS}?dryRun=Some"), Some(cm("dry")))
        .await;
    assert_eq!(code, 422, "{body}");
    let generated =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "web-"}});
    let (code, body) = s.call("POST", CMS, Some(generated)).await;
    assert_eq!(code, 201);
    let name = body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    s.stop().await;
}

#[tokio::test]
async fn pagination_across_writes() {
    let s = Server::start().await;
    for i in 0..5 {
        create(&s, &format!("p{i}")).await;
    }
    let (_, page1) = s.call("GET", &format!("{CMS}?limit=2"), None).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    assert_eq!(page1["metadata"]["remainingItemCount"], 3);
    let token = page1["metadata"]["continue"].as_str().unwrap().to_string();
    create(&s, "p9").await;
    let (_, page2) = s
        .call("GET", &format!("{CMS}?limit=10&continue={token}"), None)
        .await;
    let names: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["p2", "p3", "p4"],
        "the second page is from the first page's snapshot"
    );
    assert_eq!(
        page2["metadata"]["resourceVersion"],
        page1["metadata"]["resourceVersion"]
    );
    let (code, body) = s
        .call(
            "GET",
            &format!("{CMS}?limit=1&continue={token}&resourceVersion=5"),
            None,
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = s
        .call("GET", &format!("{CMS}?continue=garbage"), None)
        .await;
    assert_eq!(code, 400);
    s.stop().await;
}

#[tokio::test]
async fn selectors_on_lists() {
    let s = Server::start().await;
    for (name, app) in [("s1", "web"), ("s2", "db"), ("s3", "web")] {
        let mut o = cm(name);
        o["metadata"]["labels"] = json!({"app": app});
        s.call("POST", CMS, Some(o)).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, l) = s
        .call("GET", &format!("{CMS}?labelSelector=app%3Dweb"), None)
        .await;
    assert_eq!(names(&l), ["s1", "s3"]);
    let (_, l) = s
        .call(
            "GET",
            &format!("{CMS}?labelSelector=app%20notin%20(web)"),
            None,
        )
        .await;
    assert_eq!(names(&l), ["s2"]);
    let (_, l) = s
        .call(
            "GET",
            &format!("{CMS}?fieldSelector=metadata.name%3Ds3"),
            None,
        )
        .await;
    assert_eq!(names(&l), ["s3"]);
    let (code, body) = s
        .call("GET", &format!("{CMS}?fieldSelector=spec.foo%3Dbar"), None)
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    let (code, body) = s
        .call("GET", &format!("{CMS}?labelSelector=a%20b"), None)
        .await;
    assert_eq!(code, 400, "{body}");
    s.stop().await;
}

async fn watch_lines(s: &Server, query: &str, n: usize) -> Vec<Value> {
    watch_lines_as(s, query, "application/json", n).await
}

async fn watch_lines_as(s: &Server, query: &str, accept: &str, n: usize) -> Vec<Value> {
    let resp = s
        .http
        .get(s.url(&format!("{CMS}?watch=1&{query}")))
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("watch event in time")
            .expect("stream open")
            .unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            out.push(serde_json::from_slice(&line).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn watch_from_resource_version_and_bookmarks() {
    let s = Server::start().await;
    let a = create(&s, "w1").await;
    let rv = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    create(&s, "w2").await;
    s.call("DELETE", &format!("{CMS}/w1"), None).await;
    let events = watch_lines(&s, &format!("resourceVersion={rv}"), 2).await;
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "w2");
    assert_eq!(events[1]["type"], "DELETED");
    assert_eq!(events[1]["object"]["metadata"]["name"], "w1");

    // Metadata-only watches (client-go's metadata informers, kube-rs's metadata_watcher).
    let events = watch_lines_as(
        &s,
        &format!("resourceVersion={rv}"),
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        1,
    )
    .await;
    assert_eq!(events[0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(events[0]["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(events[0]["object"]["metadata"]["name"], "w2");
    assert!(events[0]["object"].get("data").is_none());

    // watch-list: the state, then a bookmark marking its end.
    let events = watch_lines(
        &s,
        "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
        2,
    )
    .await;
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let (code, body) = s
        .call(
            "GET",
            &format!("{CMS}?watch=1&sendInitialEvents=true"),
            None,
        )
        .await;
    assert_eq!(code, 422, "{body}");

    // timeoutSeconds ends the stream.
    let started = std::time::Instant::now();
    let r = s
        .http
        .get(s.url(&format!(
            "{CMS}?watch=1&timeoutSeconds=1&resourceVersion={rv}"
        )))
        .send()
        .await
        .unwrap();
    let _ = r.bytes().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    s.stop().await;
}

#[tokio::test]
async fn compaction_answers_410() {
    let s = Server::start_with(common::ServerOptions {
        compaction_interval: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let a = create(&s, "c1").await;
    let rv = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..3 {
        create(&s, &format!("c{}", i + 2)).await;
    }
    let (_, page1) = s.call("GET", &format!("{CMS}?limit=1"), None).await;
    let token = page1["metadata"]["continue"].as_str().unwrap().to_string();
    // Two compaction rounds later everything before now is gone.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    create(&s, "c9").await;
    let events = watch_lines(&s, &format!("resourceVersion={rv}"), 1).await;
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
    assert!(
        events[0]["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too old resource version")
    );
    let (code, body) = s
        .call("GET", &format!("{CMS}?limit=1&continue={token}"), None)
        .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (410, Some("Expired")),
        "{body}"
    );
    let fresh = body["metadata"]["continue"]
        .as_str()
        .expect("a token to continue inconsistently");
    let (code, rest) = s
        .call("GET", &format!("{CMS}?limit=100&continue={fresh}"), None)
        .await;
    assert_eq!(code, 200, "{rest}");
    assert!(
        rest["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["metadata"]["name"] == "c9")
    );
    s.stop().await;
}

#[tokio::test]
async fn tables_discovery_health_and_auth() {
    let s = Server::start().await;
    create(&s, "t1").await;
    let r = s
        .http
        .get(s.url(CMS))
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Data", "Age"]);
    assert_eq!(t["rows"][0]["cells"][0], "t1");
    assert_eq!(t["rows"][0]["cells"][1], 1);
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    let r = s
        .http
        .get(s.url("/api"))
        .header(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["kind"], "APIGroupDiscoveryList");
    let (_, v1) = s.call("GET", "/api/v1", None).await;
    assert!(
        v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "configmaps" && r["shortNames"] == json!(["cm"]))
    );

    let anon = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    // Without credentials a request is system:anonymous, which RBAC does not let read
    // ConfigMaps; with a token nobody knows it is unauthenticated.
    let r = anon.get(s.url(CMS)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["reason"], "Forbidden");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("User \"system:anonymous\" cannot list resource \"configmaps\""),
        "{status}"
    );
    let r = anon
        .get(s.url(CMS))
        .bearer_auth("nobody-knows-this")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = anon.get(s.url("/readyz?verbose")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("[+]etcd ok"));
    let r = anon.get(s.url("/livez/etcd")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    let r = anon.get(s.url("/version")).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("33"))
    );
    let (_, metrics) = (
        0,
        s.http
            .get(s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        metrics.contains("apiserver_request_total{code=\"201\""),
        "{metrics}"
    );
    s.stop().await;
}

#[tokio::test]
async fn namespaces_cannot_all_be_deleted_and_terminate() {
    let s = Server::start().await;
    let (code, body) = s.call("DELETE", "/api/v1/namespaces/default", None).await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        "namespaces \"default\" is forbidden: this namespace may not be deleted"
    );
    let (code, _) = s
        .call(
            "POST",
            "/api/v1/namespaces",
            Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})),
        )
        .await;
    assert_eq!(code, 201);
    let (code, body) = s.call("DELETE", "/api/v1/namespaces/doomed", None).await;
    assert_eq!(code, 200);
    assert_eq!(body["status"]["phase"], "Terminating");
    let (code, body) = s
        .call(
            "POST",
            "/api/v1/namespaces/doomed/configmaps",
            Some(cm("late")),
        )
        .await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        "configmaps \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    // The namespace controller's last step: emptying spec.finalizers deletes it.
    let (_, mut ns) = s.call("GET", "/api/v1/namespaces/doomed", None).await;
    ns["spec"]["finalizers"] = json!([]);
    let (code, _) = s
        .call("PUT", "/api/v1/namespaces/doomed/finalize", Some(ns))
        .await;
    assert_eq!(code, 200);
    let (code, _) = s.call("GET", "/api/v1/namespaces/doomed", None).await;
    assert_eq!(code, 404);
    s.stop().await;
}

#[tokio::test]
async fn pods_are_bound_once() {
    let s = Server::start().await;
    let pods = "/api/v1/namespaces/default/pods";
    let mut created = Vec::new();
    for name in ["p1", "p2"] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        let (code, body) = s.call("POST", pods, Some(pod)).await;
        assert_eq!(code, 201, "{body}");
        created.push(body);
    }
    let binding = |pod: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}})
    };
    // Through the subresource, and through the legacy collection.
    let (code, body) = s
        .call("POST", &format!("{pods}/p1/binding"), Some(binding("p1")))
        .await;
    assert_eq!(
        (code, body["status"].as_str()),
        (201, Some("Success")),
        "{body}"
    );
    let (code, body) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/bindings",
            Some(binding("p2")),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    for (name, created) in ["p1", "p2"].into_iter().zip(&created) {
        let (_, pod) = s.call("GET", &format!("{pods}/{name}"), None).await;
        assert_eq!(pod["spec"]["nodeName"], "node-1");
        // As upstream's, a binding is written straight to storage: no managedFields entry.
        assert_eq!(
            pod["metadata"]["managedFields"], created["metadata"]["managedFields"],
            "{pod}"
        );
        let scheduled = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "PodScheduled" && c["status"] == "True");
        assert!(scheduled, "{pod}");
    }
    let (code, body) = s
        .call("POST", &format!("{pods}/p1/binding"), Some(binding("p1")))
        .await;
    assert_eq!(code, 409);
    assert_eq!(
        body["message"],
        "Operation cannot be fulfilled on pods \"p1\": pod p1 is already assigned to node \"node-1\""
    );
    s.stop().await;
}

#[tokio::test]
async fn openapi_documents_carry_schemas_and_cache_as_upstream() {
    let s = Server::start().await;
    let r = s.http.get(s.url("/openapi/v2")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let v2: Value = r.json().await.unwrap();
    assert_eq!(v2["swagger"], "2.0");
    let defs = &v2["definitions"];
    assert_eq!(
        defs["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    let containers = &defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(
        containers["items"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.Container"
    );
    let patch = &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"),
        "{patch}"
    );
    let r = s
        .http
        .get(s.url("/openapi/v2"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    // client-go asks for the protobuf form only: gnostic's Document, under the same ETag.
    let r = s
        .http
        .get(s.url("/openapi/v2"))
        .header(
            "Accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    assert_eq!(r.headers()["etag"], etag.as_str());
    let r = s
        .http
        .get(s.url("/openapi/v2"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);

    let (_, index) = s.call("GET", "/openapi/v3", None).await;
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.http.get(s.url(&url)).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "public, immutable");
    let doc: Value = r.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec"
    );
    assert!(schemas["io.k8s.api.apps.v1.DeploymentList"].is_object());
    assert!(
        schemas.get("io.k8s.api.batch.v1.Job").is_none(),
        "a group-version's document holds only what it references"
    );
    // An outdated pinned URL moves to the current one.
    let no_redirects = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(s.url("/openapi/v3/apis/apps/v1?hash=0123"))
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], url.as_str());
}

#[tokio::test]
async fn apply_options_and_conflicts_answer_as_upstream() {
    let s = Server::start().await;
    const APPLY: &str = "application/apply-patch+yaml";
    let one = format!("{CMS}/applied");
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"k": "1"}});

    let (code, body) = s
        .call_with("PATCH", &one, Some(config.clone()), APPLY)
        .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let (code, body) = s
        .call_with(
            "PATCH",
            &format!("{CMS}/applied?force=true"),
            Some(json!({})),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
    );
    let (code, _) = s.call("GET", &one, None).await;
    assert_eq!(code, 404, "bad options changed nothing");

    // An apply creates; another manager's different value conflicts, with one cause per field.
    let (code, body) = s
        .call_with(
            "PATCH",
            &format!("{one}?fieldManager=a"),
            Some(config),
            APPLY,
        )
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["metadata"]["managedFields"][0]["operation"], "Apply");
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"k": "2"}});
    let (code, body) = s
        .call_with(
            "PATCH",
            &format!("{one}?fieldManager=b"),
            Some(other.clone()),
            APPLY,
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["reason"], "Conflict");
    assert_eq!(
        body["message"],
        "Apply failed with 1 conflict: conflict with \"a\": .data.k"
    );
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"a\"", "field": ".data.k"}])
    );
    let (code, body) = s
        .call_with(
            "PATCH",
            &format!("{one}?fieldManager=b&force=true"),
            Some(other),
            APPLY,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["k"], "2");
}

/// The Priority admission plugin sets a new pod's priority unless
/// `--disable-admission-plugins` names it.
#[tokio::test]
async fn priority_admission_can_be_disabled() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    });
    for (disable, priority) in [
        (vec!["ServiceAccount"], json!(0)),
        (vec!["ServiceAccount", "Priority"], Value::Null),
    ] {
        let disable = disable.into_iter().map(String::from).collect();
        let s = Server::start_with(common::ServerOptions {
            disable_admission_plugins: disable,
            ..Default::default()
        })
        .await;
        let (code, created) = s
            .call("POST", "/api/v1/namespaces/default/pods", Some(pod.clone()))
            .await;
        assert_eq!(code, 201, "{created}");
        assert_eq!(created["spec"]["priority"], priority, "{created}");
        s.stop().await;
    }
}

/// NamespaceLifecycle runs in the mutating phase, as upstream's: a create in a missing
/// namespace reports the namespace even when the object itself is invalid.
#[tokio::test]
async fn a_missing_namespace_is_reported_before_an_invalid_object() {
    let s = Server::start().await;
    let (code, body) = s
        .call(
            "POST",
            "/api/v1/namespaces/missing/configmaps",
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}}),
            ),
        )
        .await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["message"], "namespaces \"missing\" not found");
    let (code, body) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}}),
            ),
        )
        .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (422, Some("Invalid")),
        "{body}"
    );
    s.stop().await;
}
