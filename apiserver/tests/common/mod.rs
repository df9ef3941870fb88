//! Test harness: a real etcd on free ports in a temporary directory, and an apiserver served
//! in-process on a free port with a static bearer token.
#![allow(dead_code)] // each test binary uses a different part of the harness
#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness fails loudly, like the tests

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throwaway etcd; killed when dropped.
pub struct Etcd {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Etcd {
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let child = Command::new("etcd")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("etcd on PATH (install etcd-server)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
            assert!(Instant::now() < deadline, "etcd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Etcd { child, url, dir }
    }

    pub async fn client(&self) -> etcd_client::Client {
        etcd_client::Client::connect([self.url.as_str()], None)
            .await
            .unwrap()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const TOKEN: &str = "test-admin-token";

/// An apiserver on its own etcd, stopped when dropped.
pub struct Server {
    pub etcd: Etcd,
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

pub struct ServerOptions {
    pub compaction_interval: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            compaction_interval: Duration::ZERO,
        }
    }
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(o: ServerOptions) -> Server {
        let etcd = Etcd::start();
        let dir = tempfile::tempdir().unwrap();
        let tokens: PathBuf = dir.path().join("tokens.csv");
        std::fs::write(&tokens, format!("{TOKEN},admin,1,system:masters\n")).unwrap();
        let port = free_port();
        let opts = apiserver::Options {
            etcd_servers: vec![etcd.url.clone()],
            etcd_compaction_interval: o.compaction_interval,
            secure_port: port,
            bind_address: "127.0.0.1".parse().unwrap(),
            token_auth_file: Some(tokens),
            ..Default::default()
        };
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            apiserver::run(opts, async move {
                let _ = rx.await;
            })
            .await
            .expect("apiserver runs");
        });
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let http = reqwest::Client::builder()
            .user_agent("ferrokube-test/v0.0.0 (linux/amd64)")
            .danger_accept_invalid_certs(true)
            .default_headers(headers)
            .build()
            .unwrap();
        let base = format!("https://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "apiserver did not become ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Server {
            etcd,
            base,
            http,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional JSON body; returns status and parsed JSON body (Null if
    /// the body is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.call_with(method, path, body, "application/json").await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        content_type: &str,
    ) -> (u16, serde_json::Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, self.url(path));
        if let Some(b) = body {
            req = req
                .header("Content-Type", content_type)
                .body(serde_json::to_vec(&b).unwrap());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}
