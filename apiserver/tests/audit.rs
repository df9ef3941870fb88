//! Audit logging (`--audit-policy-file`, `--audit-log-*`) against a real etcd: the events a
//! policy selects land in the log as upstream writes them (levels, stages, user, objectRef,
//! bodies, authorization annotations, `Audit-Id`), and the log rotates as upstream's does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Etcd, Server, ServerOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const CMS: &str = "/api/v1/namespaces/default/configmaps";
const SAS: &str = "/api/v1/namespaces/default/serviceaccounts";

const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets"]
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["configmaps"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["serviceaccounts"]
    omitStages: ["RequestReceived"]
  - level: None
"#;

/// Every event in the log and its rotated backups.
fn events(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn of_request(dir: &Path, audit_id: &str) -> Vec<Value> {
    events(dir)
        .into_iter()
        .filter(|e| e["auditID"] == audit_id)
        .collect()
}

fn stages(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect()
}

/// Waits for events written after the response (a watch's ResponseComplete).
async fn wait_for(dir: &Path, audit_id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let evs = of_request(dir, audit_id);
        if evs.len() >= n {
            return evs;
        }
        assert!(Instant::now() < deadline, "only {evs:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a request; returns status, body and the `Audit-Id` header.
async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value, String) {
    let mut req = server.http.request(method, server.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let id = resp
        .headers()
        .get("audit-id")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, id)
}

fn is_micro_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    // 2006-01-02T15:04:05.000000Z
    s.len() == 27 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

#[tokio::test]
async fn audit_log_records_what_the_policy_selects() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let log_path = logs.join("audit.log");
    let server = Server::start_on(Etcd::start(), ServerOptions::default(), &|o| {
        o.audit_policy_file = Some(policy.clone());
        o.audit_log_path = Some(log_path.clone());
        o.audit_log_maxsize = 1;
        o.audit_log_maxbackup = 1;
    })
    .await;
    let logs = logs.as_path();
    use reqwest::Method;

    // A secret, at Metadata: no bodies, but the name the body gave.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"},
                        "stringData": {"password": "hunter2"}});
    let (code, _, id) = send(&server, Method::POST, SECRETS, Some(secret), &[]).await;
    assert_eq!(code, 201);
    assert_eq!(id.len(), 36, "a UUID: {id}");
    // Blocking mode: the events are written before the response is sent.
    let evs = of_request(logs, &id);
    assert_eq!(
        stages(&evs),
        ["RequestReceived", "ResponseComplete"],
        "{evs:#?}"
    );
    for e in &evs {
        assert_eq!(e["kind"], "Event");
        assert_eq!(e["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(e["level"], "Metadata");
        assert_eq!(e["verb"], "create");
        assert_eq!(e["requestURI"], SECRETS);
        assert_eq!(e["user"]["username"], "admin");
        assert_eq!(e["user"]["uid"], "1");
        assert!(
            e["user"]["groups"]
                .as_array()
                .unwrap()
                .contains(&json!("system:masters"))
        );
        assert_eq!(e["sourceIPs"], json!(["127.0.0.1"]));
        assert_eq!(e["userAgent"], "ferrokube-test/v0.0.0 (linux/amd64)");
        assert!(e.get("requestObject").is_none(), "{e}");
        assert!(e.get("responseObject").is_none(), "{e}");
        assert!(e.get("impersonatedUser").is_none());
        assert!(is_micro_time(&e["requestReceivedTimestamp"]), "{e}");
        assert!(is_micro_time(&e["stageTimestamp"]), "{e}");
    }
    let (received, complete) = (&evs[0], &evs[1]);
    assert_eq!(
        received["stageTimestamp"],
        received["requestReceivedTimestamp"]
    );
    assert!(received.get("responseStatus").is_none());
    // Authorization comes after RequestReceived, as upstream's filters run.
    assert!(received.get("annotations").is_none(), "{received}");
    assert_eq!(
        complete["objectRef"],
        json!({"resource": "secrets", "namespace": "default", "name": "s1", "apiVersion": "v1"})
    );
    assert_eq!(
        complete["responseStatus"],
        json!({"metadata": {}, "code": 201})
    );
    assert_eq!(
        complete["annotations"],
        json!({"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""})
    );
    assert!(complete["stageTimestamp"].as_str() >= complete["requestReceivedTimestamp"].as_str());
    assert!(
        !std::fs::read_to_string(&log_path)
            .unwrap()
            .contains("hunter2"),
        "secret data never reaches the log at Metadata"
    );

    // A configmap, at RequestResponse: both bodies.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"},
                    "data": {"k": "v"}});
    let (code, created, id) = send(&server, Method::POST, CMS, Some(cm.clone()), &[]).await;
    assert_eq!(code, 201);
    let evs = of_request(logs, &id);
    assert_eq!(
        stages(&evs),
        ["RequestReceived", "ResponseComplete"],
        "{evs:#?}"
    );
    assert!(
        evs[0].get("requestObject").is_none(),
        "read after RequestReceived"
    );
    let e = &evs[1];
    assert_eq!(e["level"], "RequestResponse");
    assert_eq!(e["requestObject"], cm);
    assert_eq!(e["responseObject"], created);
    assert_eq!(e["responseObject"]["metadata"]["name"], "c1");
    assert_eq!(
        e["objectRef"],
        json!({"resource": "configmaps", "namespace": "default", "name": "c1", "apiVersion": "v1"})
    );

    // A get at RequestResponse: the object read, and the name from the path.
    let (code, got, id) = send(&server, Method::GET, &format!("{CMS}/c1"), None, &[]).await;
    assert_eq!(code, 200);
    let evs = of_request(logs, &id);
    assert_eq!(evs[1]["verb"], "get");
    assert_eq!(evs[1]["responseObject"], got);
    assert!(evs[1].get("requestObject").is_none());

    // Level None: nothing written, the header still there.
    let (code, _, id) = send(&server, Method::GET, "/api/v1/namespaces", None, &[]).await;
    assert_eq!(code, 200);
    assert_eq!(id.len(), 36);
    assert!(of_request(logs, &id).is_empty());

    // A client's own Audit-ID is used, as upstream does.
    let (_, _, id) = send(
        &server,
        Method::GET,
        &format!("{SECRETS}/s1"),
        None,
        &[("Audit-ID", "my-own-audit-id")],
    )
    .await;
    assert_eq!(id, "my-own-audit-id");
    assert_eq!(of_request(logs, &id).len(), 2);

    // omitStages on the rule: no RequestReceived.
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa1"}});
    let (code, _, id) = send(&server, Method::POST, SAS, Some(sa), &[]).await;
    assert_eq!(code, 201);
    assert_eq!(stages(&of_request(logs, &id)), ["ResponseComplete"]);

    // Forbidden, through impersonation: the requester is the user, the impersonated user is
    // recorded, the decision is forbid and the status upstream's.
    let (code, _, id) = send(
        &server,
        Method::GET,
        &format!("{SECRETS}/s1"),
        None,
        &[("Impersonate-User", "jane")],
    )
    .await;
    assert_eq!(code, 403);
    let evs = of_request(logs, &id);
    assert_eq!(
        stages(&evs),
        ["RequestReceived", "ResponseComplete"],
        "{evs:#?}"
    );
    assert!(
        evs[0].get("impersonatedUser").is_none(),
        "impersonation comes after"
    );
    let e = &evs[1];
    assert_eq!(e["user"]["username"], "admin");
    assert_eq!(e["impersonatedUser"]["username"], "jane");
    assert_eq!(
        e["impersonatedUser"]["groups"],
        json!(["system:authenticated"])
    );
    assert_eq!(e["annotations"]["authorization.k8s.io/decision"], "forbid");
    assert!(
        e["annotations"]
            .get("authorization.k8s.io/reason")
            .is_some()
    );
    let status = &e["responseStatus"];
    assert_eq!(status["code"], 403);
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(status["metadata"], json!({}));
    assert!(
        status["message"].as_str().unwrap().starts_with(
            "secrets \"s1\" is forbidden: User \"jane\" cannot get resource \"secrets\""
        ),
        "{status}"
    );

    // Refused credentials: upstream's single ResponseStarted event without a user.
    let (code, _, id) = send(
        &server,
        Method::GET,
        SECRETS,
        None,
        &[("Authorization", "Bearer not-a-token")],
    )
    .await;
    assert_eq!(code, 401);
    let evs = of_request(logs, &id);
    assert_eq!(stages(&evs), ["ResponseStarted"], "{evs:#?}");
    assert_eq!(evs[0]["user"], json!({}));
    assert_eq!(evs[0]["verb"], "list");
    assert_eq!(
        evs[0]["responseStatus"],
        json!({"metadata": {}, "message": "Authentication failed, attempted: bearer", "code": 401})
    );

    // A watch is long-running: ResponseStarted when it starts, ResponseComplete when it ends.
    let (code, _, id) = send(
        &server,
        Method::GET,
        &format!("{CMS}?watch=true&timeoutSeconds=1"),
        None,
        &[],
    )
    .await;
    assert_eq!(code, 200);
    let evs = wait_for(logs, &id, 3).await;
    assert_eq!(
        stages(&evs),
        ["RequestReceived", "ResponseStarted", "ResponseComplete"],
        "{evs:#?}"
    );
    for e in &evs[1..] {
        assert_eq!(e["verb"], "watch");
        assert_eq!(e["responseStatus"], json!({"metadata": {}, "code": 200}));
        assert!(
            e.get("responseObject").is_none(),
            "watch events are not recorded"
        );
    }

    // Rotation: --audit-log-maxsize=1 (MB) and --audit-log-maxbackup=1. Each ResponseComplete
    // carries two copies of 300 kB.
    let big = "x".repeat(300_000);
    for i in 0..5 {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("big{i}")}, "data": {"k": big}});
        let (code, _, _) = send(&server, Method::POST, CMS, Some(cm), &[]).await;
        assert_eq!(code, 201);
    }
    let mut names: Vec<String> = std::fs::read_dir(logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "the log and one backup: {names:?}");
    assert_eq!(names[1], "audit.log");
    let backup = &names[0];
    // audit-2006-01-02T15-04-05.000.log
    assert!(
        backup.starts_with("audit-") && backup.ends_with(".log") && backup.len() == 33,
        "{backup}"
    );
    assert!(chrono::NaiveDateTime::parse_from_str(&backup[6..29], "%Y-%m-%dT%H-%M-%S%.3f").is_ok());
    for name in &names {
        let size = std::fs::metadata(logs.join(name)).unwrap().len();
        assert!(size <= 1024 * 1024, "{name} is {size} bytes");
    }
    // Every line of both files is one whole event.
    let last = events(logs);
    assert!(
        last.iter()
            .any(|e| e["objectRef"]["name"] == "big4" && e["stage"] == "ResponseComplete")
    );

    server.stop().await;
}

#[tokio::test]
async fn an_invalid_policy_stops_the_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n",
    )
    .unwrap();
    let opts = apiserver::Options {
        // Never reached: the policy is refused first.
        etcd_servers: vec!["http://127.0.0.1:1".into()],
        audit_policy_file: Some(policy.clone()),
        audit_log_path: Some(dir.path().join("audit.log")),
        ..Default::default()
    };
    let message = tokio::time::timeout(
        Duration::from_secs(10),
        apiserver::run(opts, std::future::pending()),
    )
    .await
    .expect("refused at once")
    .expect_err("refused")
    .to_string();
    assert_eq!(
        message,
        format!(
            "loading audit policy file: rules[0].level: Unsupported value: \"Everything\": supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\": from file {}",
            policy.display()
        )
    );
    let legacy = apiserver::Options {
        etcd_servers: vec!["http://127.0.0.1:1".into()],
        audit_policy_file: Some(policy),
        audit_log_path: Some(dir.path().join("audit.log")),
        audit_log_format: "legacy".into(),
        ..Default::default()
    };
    let message = apiserver::run(legacy, std::future::pending())
        .await
        .expect_err("refused")
        .to_string();
    assert!(message.contains("legacy"), "{message}");
}

/// Admission leaves its marks on the request's event: a policy binding's Audit action
/// (`validation.policy.admission.k8s.io/validation_failure`), a policy's auditAnnotations
/// (`<policy>/<key>`), and a webhook that failed open.
#[tokio::test]
async fn admission_annotates_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n  resources:\n  - group: \"\"\n    resources: [configmaps]\n- level: None\n",
    )
    .unwrap();
    let logs = dir.path().join("logs");
    let server = Server::start_on(Etcd::start(), ServerOptions::default(), &|o| {
        o.audit_policy_file = Some(policy.clone());
        o.audit_log_path = Some(logs.join("audit.log"));
    })
    .await;
    use reqwest::Method;
    let admission = "/apis/admissionregistration.k8s.io/v1";
    let rules = json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}]);
    for (path, body) in [
        (
            format!("{admission}/validatingadmissionpolicies"),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                   "metadata": {"name": "audited"},
                   "spec": {"matchConstraints": {"resourceRules": rules},
                            "validations": [{"expression": "object.data.x == 'y'", "message": "x must be y"}],
                            "auditAnnotations": [{"key": "who", "valueExpression": "request.userInfo.username"}]}}),
        ),
        (
            format!("{admission}/validatingadmissionpolicybindings"),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                   "metadata": {"name": "audited"},
                   "spec": {"policyName": "audited", "validationActions": ["Audit"]}}),
        ),
        (
            format!("{admission}/validatingwebhookconfigurations"),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                   "metadata": {"name": "gone"},
                   "webhooks": [{"name": "gone.example.com", "rules": rules, "failurePolicy": "Ignore",
                                 "sideEffects": "None", "admissionReviewVersions": ["v1"],
                                 "clientConfig": {"url": "https://127.0.0.1:1/nothing"}}]}),
        ),
    ] {
        let (status, body, _) = send(&server, Method::POST, &path, Some(body), &[]).await;
        assert_eq!(status, 201, "{body}");
    }

    let (status, body, id) = send(
        &server,
        Method::POST,
        CMS,
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "audited"}, "data": {"x": "z"}})),
        &[],
    )
    .await;
    assert_eq!(status, 201, "the Audit action does not refuse: {body}");
    let events = wait_for(&logs, &id, 1).await;
    let event = &events[0];
    let annotations = &event["annotations"];
    let failure: Value = serde_json::from_str(
        annotations["validation.policy.admission.k8s.io/validation_failure"]
            .as_str()
            .unwrap_or_else(|| panic!("no validation failure in {event:#}")),
    )
    .unwrap();
    assert_eq!(
        failure,
        json!([{"message": "x must be y", "policy": "audited", "binding": "audited",
                "expressionIndex": 0, "validationActions": ["Audit"]}])
    );
    assert_eq!(
        annotations["audited/who"], event["user"]["username"],
        "{event:#}"
    );
    assert_eq!(
        annotations["failed-open.validating.webhook.admission.k8s.io/round_0_index_0"],
        "gone.example.com",
        "{event:#}"
    );
}
