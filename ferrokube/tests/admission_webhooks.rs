//! Admission and CRD conversion webhooks end to end with kubectl: a webhook server this test
//! runs on the host (HTTPS with a certificate from a test CA) is reached by URL and through a
//! Service whose EndpointSlice points at the host's address; it denies, mutates, warns, hangs,
//! and converts custom resources between versions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use base64::Engine;
use common::{Cluster, Kubectl, kubectls};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A webhook server on all addresses of the host, answering AdmissionReviews by path.
struct WebhookServer {
    port: u16,
    ca_bundle: String,
    _runtime: tokio::runtime::Runtime,
}

/// A ConversionReview's answer: `v1` keeps `spec.value`, `v2` has it under `spec.wrapped`.
fn convert(review: &Value, fail: bool) -> Value {
    let request = &review["request"];
    let desired = request["desiredAPIVersion"].as_str().unwrap_or_default();
    let converted: Vec<Value> = request["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let mut o = o.clone();
            let value = o["spec"]["value"]
                .as_str()
                .or(o["spec"]["wrapped"]["value"].as_str())
                .unwrap_or_default()
                .to_string();
            o["spec"] = if desired.ends_with("/v2") {
                json!({"wrapped": {"value": value}})
            } else {
                json!({"value": value})
            };
            o["apiVersion"] = json!(desired);
            o
        })
        .collect();
    let result = if fail {
        json!({"status": "Failure", "message": "the converter is broken"})
    } else {
        json!({"status": "Success"})
    };
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "response": {
        "uid": request["uid"], "convertedObjects": converted, "result": result,
    }})
}

/// The answer to a review, by the path it was sent to.
fn answer(path: &str, review: &Value) -> Value {
    if path == "/convert" || path == "/convert-broken" {
        return convert(review, path == "/convert-broken");
    }
    let request = &review["request"];
    let uid = request["uid"].clone();
    let object = &request["object"];
    let allowed = |extra: Value| {
        let mut response = json!({"uid": uid, "allowed": true});
        if let (Some(r), Some(e)) = (response.as_object_mut(), extra.as_object()) {
            r.extend(e.clone());
        }
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
    };
    match path {
        "/deny-configmap" => {
            if object["data"]["webhook-e2e-test"] == "webhook-disallow" {
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
                    "uid": uid, "allowed": false,
                    "status": {"reason": "the configmap contains unwanted key and value"},
                }})
            } else {
                allowed(json!({}))
            }
        }
        "/mutate-configmap" => {
            let patch = if object["data"].is_object() {
                json!([{"op": "add", "path": "/data/mutation-stage-1", "value": "yes"}])
            } else {
                json!([{"op": "add", "path": "/data", "value": {"mutation-stage-1": "yes"}}])
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
            allowed(json!({"patchType": "JSONPatch", "patch": encoded}))
        }
        "/warn" => allowed(json!({"warnings": ["configmaps are watched"]})),
        "/deny-all" => {
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
                "uid": uid, "allowed": false,
                "status": {"code": 403, "reason": "Forbidden", "message": "this webhook denies all requests"},
            }})
        }
        // Uid taken from another review: the answer is not for this request.
        "/wrong-uid" => {
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
                "uid": "not-the-request", "allowed": true,
            }})
        }
        _ => allowed(json!({})),
    }
}

async fn serve(stream: tokio::net::TcpStream, acceptor: tokio_rustls::TlsAcceptor) {
    let Ok(mut tls) = acceptor.accept(stream).await else {
        return;
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let Ok(n) = tls.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let Ok(n) = tls.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = target.split('?').next().unwrap_or("/").to_string();
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    let review: Value = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    let body = answer(&path, &review).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(response.as_bytes()).await;
    let _ = tls.shutdown().await;
}

impl WebhookServer {
    fn start(host_ip: IpAddr) -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "webhook-test-ca");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![
            "localhost".to_string(),
            "webhook.webhook-svc.svc".to_string(),
        ])
        .unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(host_ip));
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
                [0, 0, 0, 0],
                0,
            ))))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, acceptor.clone()));
            }
        });
        WebhookServer {
            port,
            ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca.pem()),
            _runtime: runtime,
        }
    }
}

/// The host's first non-loopback IPv4 address: what an EndpointSlice may point at.
fn host_ip() -> IpAddr {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .expect("running hostname -I");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .find(|a| a.is_ipv4() && !a.is_loopback())
        .expect("the host has a non-loopback IPv4 address")
}

/// A webhook entry of a configuration, selecting configmaps in namespaces labelled `label`.
fn hook(name: &str, client_config: &str, label: &str, extra: &str) -> String {
    format!(
        "- name: {name}\n  clientConfig:\n{client_config}  rules:\n  - apiGroups: ['']\n    apiVersions: [v1]\n    operations: [CREATE, UPDATE]\n    resources: [configmaps]\n  namespaceSelector:\n    matchLabels: {{{label}: \"true\"}}\n  sideEffects: None\n  admissionReviewVersions: [v1]\n{extra}"
    )
}

fn url_config(server: &WebhookServer, path: &str) -> String {
    format!(
        "    url: https://127.0.0.1:{}{path}\n    caBundle: {}\n",
        server.port, server.ca_bundle
    )
}

fn configuration(kind: &str, name: &str, hooks: &[String]) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: {name}\nwebhooks:\n{}",
        hooks.concat()
    )
}

fn labelled_namespace(k: &Kubectl<'_>, ns: &str) {
    k.ok(&["create", "namespace", ns]);
    k.ok(&["label", "namespace", ns, &format!("{ns}=true")]);
}

fn configmap(name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  {key}: \"{value}\"\n"
    )
}

/// A validating webhook reached by URL denies what it does not want, with upstream's words,
/// and only in the namespaces its selector picks; its warnings reach kubectl.
#[test]
fn validating_webhooks_deny_and_warn() {
    let cluster = Cluster::up();
    let server = WebhookServer::start(host_ip());
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("wh-deny-{i}");
        labelled_namespace(&k, &ns);
        k.ok_stdin(
            &["apply", "-f", "-"],
            &configuration(
                "ValidatingWebhookConfiguration",
                &format!("deny-{i}"),
                &[
                    hook(
                        "deny.example.com",
                        &url_config(&server, "/deny-configmap"),
                        &ns,
                        "",
                    ),
                    hook("warn.example.com", &url_config(&server, "/warn"), &ns, ""),
                ],
            ),
        );
        let refused = k.run_stdin(
            &["create", "-n", &ns, "-f", "-"],
            Some(&configmap(
                "unwanted",
                "webhook-e2e-test",
                "webhook-disallow",
            )),
        );
        assert!(!refused.ok);
        assert!(
            refused.stderr.contains(
                "admission webhook \"deny.example.com\" denied the request: the configmap contains unwanted key and value"
            ),
            "{}",
            refused.stderr
        );
        assert!(!k.run(&["get", "configmap", "-n", &ns, "unwanted"]).ok);
        let allowed = k.run_stdin(
            &["create", "-n", &ns, "-f", "-"],
            Some(&configmap("wanted", "a", "b")),
        );
        assert!(allowed.ok, "{}", allowed.stderr);
        assert!(
            allowed.stderr.contains("Warning: configmaps are watched"),
            "{}",
            allowed.stderr
        );
        // Updates are sent too; other namespaces are not.
        let refused = k.fails(&[
            "patch",
            "configmap",
            "-n",
            &ns,
            "wanted",
            "-p",
            "{\"data\":{\"webhook-e2e-test\":\"webhook-disallow\"}}",
        ]);
        assert!(
            refused.contains("the configmap contains unwanted key and value"),
            "{refused}"
        );
        k.ok_stdin(
            &["create", "-n", "default", "-f", "-"],
            &configmap(&format!("free-{i}"), "webhook-e2e-test", "webhook-disallow"),
        );
        k.ok(&[
            "delete",
            "validatingwebhookconfiguration",
            &format!("deny-{i}"),
        ]);
    }
}

/// A mutating webhook reached through a Service (its EndpointSlice points at the host)
/// patches what is created; match conditions leave some objects alone.
#[test]
fn mutating_webhooks_patch_through_a_service() {
    let cluster = Cluster::up();
    let host = host_ip();
    let server = WebhookServer::start(host);
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok(&["create", "namespace", "webhook-svc"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: webhook\n  namespace: webhook-svc\nspec:\n  ports:\n  - name: https\n    port: 8443\n    targetPort: {port}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: webhook-1\n  namespace: webhook-svc\n  labels:\n    kubernetes.io/service-name: webhook\naddressType: IPv4\nports:\n- name: https\n  port: {port}\n  protocol: TCP\nendpoints:\n- addresses: ['{host}']\n  conditions:\n    ready: true\n",
            port = server.port
        ),
    );
    labelled_namespace(&k, "wh-mutate");
    let service = format!(
        "    service:\n      namespace: webhook-svc\n      name: webhook\n      path: /mutate-configmap\n      port: 8443\n    caBundle: {}\n",
        server.ca_bundle
    );
    k.ok_stdin(
        &["apply", "-f", "-"],
        &configuration(
            "MutatingWebhookConfiguration",
            "mutate",
            &[hook(
                "mutate.example.com",
                &service,
                "wh-mutate",
                "  matchConditions:\n  - name: not-skip-me\n    expression: object.metadata.name != 'skip-me'\n",
            )],
        ),
    );
    k.ok_stdin(
        &["create", "-n", "wh-mutate", "-f", "-"],
        &configmap("mutated", "mutation-start", "yes"),
    );
    let data = k.ok(&[
        "get",
        "configmap",
        "-n",
        "wh-mutate",
        "mutated",
        "-o",
        "jsonpath={.data}",
    ]);
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap(),
        json!({"mutation-start": "yes", "mutation-stage-1": "yes"})
    );
    k.ok_stdin(
        &["create", "-n", "wh-mutate", "-f", "-"],
        &configmap("skip-me", "mutation-start", "yes"),
    );
    let data = k.ok(&[
        "get",
        "configmap",
        "-n",
        "wh-mutate",
        "skip-me",
        "-o",
        "jsonpath={.data}",
    ]);
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap(),
        json!({"mutation-start": "yes"})
    );
}

/// Webhooks that cannot be reached, answer too late or answer wrongly refuse the request
/// under `failurePolicy: Fail` (500, upstream's words) and let it through under Ignore;
/// webhook configurations themselves are never sent to webhooks.
#[test]
fn failing_webhooks_follow_their_failure_policy() {
    let cluster = Cluster::up();
    let server = WebhookServer::start(host_ip());
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    labelled_namespace(&k, "wh-fail");
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let unreachable = format!(
        "    url: https://127.0.0.1:{closed_port}/nothing\n    caBundle: {}\n",
        server.ca_bundle
    );
    let cases = [
        (
            unreachable.clone(),
            "",
            format!(
                "Internal error occurred: failed calling webhook \"case.example.com\": failed to call webhook: Post \"https://127.0.0.1:{closed_port}/nothing?timeout=10s\": dial tcp 127.0.0.1:{closed_port}: connect: connection refused"
            ),
        ),
        (
            url_config(&server, "/slow"),
            "  timeoutSeconds: 1\n",
            format!(
                "failed calling webhook \"case.example.com\": failed to call webhook: Post \"https://127.0.0.1:{}/slow?timeout=1s\": context deadline exceeded",
                server.port
            ),
        ),
        (
            url_config(&server, "/wrong-uid"),
            "",
            "failed calling webhook \"case.example.com\": received invalid webhook response: expected response.uid=".to_string(),
        ),
        (
            format!("    url: https://127.0.0.1:{}/allow\n", server.port),
            "",
            "tls: failed to verify certificate".to_string(),
        ),
    ];
    for (i, (client_config, extra, want)) in cases.iter().enumerate() {
        for policy in ["Fail", "Ignore"] {
            k.ok_stdin(
                &["apply", "-f", "-"],
                &configuration(
                    "ValidatingWebhookConfiguration",
                    "case",
                    &[hook(
                        "case.example.com",
                        client_config,
                        "wh-fail",
                        &format!("{extra}  failurePolicy: {policy}\n"),
                    )],
                ),
            );
            let name = format!("cm-{i}-{}", policy.to_lowercase());
            let run = k.run_stdin(
                &["create", "-n", "wh-fail", "-f", "-"],
                Some(&configmap(&name, "a", "b")),
            );
            if policy == "Fail" {
                assert!(!run.ok, "case {i} was admitted");
                assert!(
                    run.stderr.contains("Error from server (InternalError)")
                        && run.stderr.contains(want),
                    "case {i}: want {want:?} in {}",
                    run.stderr
                );
            } else {
                assert!(run.ok, "case {i} under Ignore: {}", run.stderr);
            }
        }
    }

    // A webhook denying everything, configurations included, is not asked about them.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &configuration(
            "ValidatingWebhookConfiguration",
            "case",
            &[hook("case.example.com", &url_config(&server, "/deny-all"), "wh-fail", "")
                .replace(
                    "resources: [configmaps]",
                    "resources: ['*']\n  - apiGroups: [admissionregistration.k8s.io]\n    apiVersions: [v1]\n    operations: ['*']\n    resources: ['*']",
                )
                .replace(
                    "  namespaceSelector:\n    matchLabels: {wh-fail: \"true\"}\n",
                    "",
                )],
        ),
    );
    let refused = k.run_stdin(
        &["create", "-n", "wh-fail", "-f", "-"],
        Some(&configmap("denied", "a", "b")),
    );
    assert!(
        refused.stderr.contains(
            "Error from server (Forbidden): error when creating \"STDIN\": admission webhook \"case.example.com\" denied the request: this webhook denies all requests"
        ),
        "{}",
        refused.stderr
    );
    k.ok_stdin(
        &["apply", "-f", "-"],
        &configuration(
            "MutatingWebhookConfiguration",
            "another",
            &[hook(
                "another.example.com",
                &url_config(&server, "/allow"),
                "wh-fail",
                "",
            )],
        ),
    );
    k.ok(&["delete", "mutatingwebhookconfiguration", "another"]);
    k.ok(&["delete", "validatingwebhookconfiguration", "case"]);
}

/// A CRD converting by webhook serves every version: objects written in one are stored in the
/// storage version and read back in any, converted by the webhook; a failing webhook fails
/// the reads it would convert, with upstream's message.
#[test]
fn custom_resources_convert_through_their_webhook() {
    let cluster = Cluster::up();
    let server = WebhookServer::start(host_ip());
    let bins = kubectls();
    let crd = |path: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: wraps.webhook.example.com\nspec:\n  group: webhook.example.com\n  scope: Namespaced\n  names: {{plural: wraps, singular: wrap, kind: Wrap}}\n  conversion:\n    strategy: Webhook\n    webhook:\n      conversionReviewVersions: [v1]\n      clientConfig:\n        url: https://127.0.0.1:{}{path}\n        caBundle: {}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              value: {{type: string}}\n  - name: v2\n    served: true\n    storage: false\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              wrapped:\n                type: object\n                properties:\n                  value: {{type: string}}\n",
            server.port, server.ca_bundle
        )
    };
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok_stdin(&["apply", "-f", "-"], &crd("/convert"));
    let wrap_v2 = "apiVersion: webhook.example.com/v2\nkind: Wrap\nmetadata:\n  name: w\n  namespace: default\nspec:\n  wrapped:\n    value: hello\n";
    let mut created = false;
    for _ in 0..100 {
        if k.run_stdin(&["apply", "-f", "-"], Some(wrap_v2)).ok {
            created = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(created, "the v2 object was never created");
    for bin in &bins {
        let k = cluster.kubectl(bin);
        let v1 = k.ok(&["get", "wraps.v1.webhook.example.com", "w", "-o", "json"]);
        let v1: Value = serde_json::from_str(&v1).unwrap();
        assert_eq!(v1["apiVersion"], "webhook.example.com/v1");
        assert_eq!(v1["spec"], json!({"value": "hello"}));
        let v2 = k.ok(&["get", "wraps.v2.webhook.example.com", "-o", "json"]);
        let v2: Value = serde_json::from_str(&v2).unwrap();
        assert_eq!(v2["items"][0]["apiVersion"], "webhook.example.com/v2");
        assert_eq!(
            v2["items"][0]["spec"],
            json!({"wrapped": {"value": "hello"}})
        );
        assert_eq!(v2["items"][0]["metadata"]["uid"], v1["metadata"]["uid"]);
    }
    k.ok_stdin(&["apply", "-f", "-"], &crd("/convert-broken"));
    let mut message = String::new();
    for _ in 0..100 {
        let run = k.run(&["get", "wraps.v2.webhook.example.com", "w", "-o", "json"]);
        if !run.ok {
            message = run.stderr;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        message.contains(
            "conversion webhook for webhook.example.com/v1, Kind=Wrap failed: the converter is broken"
        ),
        "{message}"
    );
    // The storage version needs no conversion.
    k.ok(&["get", "wraps.v1.webhook.example.com", "w"]);
}
