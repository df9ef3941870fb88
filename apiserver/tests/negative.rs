//! Bad input: malformed JSON and YAML, oversized bodies, wrong content types, names that try
//! to leave their path segment, invalid names and label values, huge label selectors. Each
//! gets upstream's 4xx and leaves etcd as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Server;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// Every key under the ConfigMaps prefix, with its revision: what "nothing changed" means.
async fn configmaps_in_etcd(s: &Server) -> Vec<(Vec<u8>, i64)> {
    let mut client = s.etcd.client().await;
    let resp = client
        .get(
            "/registry/configmaps/",
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    resp.kvs()
        .iter()
        .map(|kv| (kv.key().to_vec(), kv.mod_revision()))
        .collect()
}

async fn raw(
    s: &Server,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = s
        .http
        .request(m, s.url(path))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let s = Server::start().await;
    let (code, _) = s
        .call(
            "POST",
            CMS,
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"}})),
        )
        .await;
    assert_eq!(code, 201);
    let before = configmaps_in_etcd(&s).await;

    // (what, method, content type, body, status code, reason)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Vec<u8>,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        ("malformed JSON", "POST", "application/json", b"{\"apiVersion\": \"v1\", ".to_vec(), 400, "BadRequest"),
        ("malformed YAML", "POST", "application/yaml", b"metadata: [unclosed\n  name: x".to_vec(), 400, "BadRequest"),
        ("not an object", "POST", "application/json", b"[1, 2, 3]".to_vec(), 400, "BadRequest"),
        ("wrong content type", "POST", "text/plain", b"name=x".to_vec(), 415, "UnsupportedMediaType"),
        (
            "oversized body",
            "POST",
            "application/json",
            format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"x\":\"{}\"}}}}",
                "a".repeat(4 * 1024 * 1024)
            )
            .into_bytes(),
            413,
            "RequestEntityTooLarge",
        ),
        (
            "a name leaving its segment",
            "POST",
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"../secrets"}}"#.to_vec(),
            422,
            "Invalid",
        ),
        (
            "an invalid name",
            "POST",
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_A_Name"}}"#.to_vec(),
            422,
            "Invalid",
        ),
        (
            "an invalid label value",
            "POST",
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"labelled","labels":{"app":"has spaces!"}}}"#.to_vec(),
            422,
            "Invalid",
        ),
        (
            "a kind that is not the resource's",
            "POST",
            "application/json",
            br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"wrong-kind"}}"#.to_vec(),
            400,
            "BadRequest",
        ),
    ];
    for (what, method, content_type, body, code, reason) in cases {
        let (got, status) = raw(&s, method, CMS, content_type, body).await;
        assert_eq!(got, code, "{what}: {status}");
        assert_eq!(status["kind"], "Status", "{what}: {status}");
        assert_eq!(status["reason"], reason, "{what}: {status}");
    }
    let (code, status) = s
        .call(
            "PUT",
            &format!("{CMS}/keep"),
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}})),
        )
        .await;
    assert_eq!(code, 400, "{status}");

    // A name in the path that is not one segment. (Literal `..` segments never reach a
    // server: HTTP clients resolve them, as Go's do.)
    let path = format!("{CMS}/..%2Fsecrets");
    let (code, status) = s.call("DELETE", &path, None).await;
    assert!((400..500).contains(&code), "{path}: {code} {status}");

    // A huge selector is answered (here: refused as malformed), and quickly enough that the
    // server is still there for the next request.
    // (HTTP clients refuse URIs past 64 KiB, so "huge" stays under that.)
    let huge = "a in (".repeat(2_000);
    let (code, status) = s
        .call(
            "GET",
            &format!("{CMS}?labelSelector={}", urlencode(&huge)),
            None,
        )
        .await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(status["reason"], "BadRequest");
    let many: Vec<String> = (0..3000).map(|i| format!("k{i}=v")).collect();
    let (code, list) = s
        .call(
            "GET",
            &format!("{CMS}?labelSelector={}", urlencode(&many.join(","))),
            None,
        )
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["items"], json!([]));

    assert_eq!(configmaps_in_etcd(&s).await, before, "etcd changed");
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Accepts any server certificate: the test apiserver's is self-signed.
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client that sends half its headers and then nothing is cut off after the header read
/// timeout, instead of holding its connection for ever.
#[tokio::test]
async fn slow_header_writers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start().await;
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(std::sync::Arc::new(AnyCertificate))
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let addr = s.base.trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /version HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(
        apiserver::server::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(15),
        tls.read(&mut buf),
    )
    .await
    .expect("the server kept the half-sent request open");
    // Closed (or answered with an error status) once the timeout passed, not before.
    if let Ok(n) = read {
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert!(
        started.elapsed()
            >= apiserver::server::HEADER_READ_TIMEOUT - std::time::Duration::from_secs(1)
    );
    s.stop().await;
}
