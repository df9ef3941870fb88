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
    /// Starts etcd on free ports. A port another test took between [`free_port`] and etcd's
    /// bind makes etcd exit; then it starts again on other ports. Readiness is read from this
    /// etcd's own log, since a port that answers may be another test's etcd.
    pub fn start() -> Etcd {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let (client, peer) = (free_port(), free_port());
            let url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log_path = dir.path().join("etcd.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new("etcd")
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
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                if log.contains("ready to serve client requests") {
                    return Etcd { child, url, dir };
                }
                assert!(Instant::now() < deadline, "etcd did not start:\n{log}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("etcd did not start on five pairs of free ports");
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
    pub disable_admission_plugins: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            compaction_interval: Duration::ZERO,
            // No controller makes service accounts here, so pods would wait for a default
            // account that never comes (upstream's integration tests also turn it off).
            disable_admission_plugins: vec!["ServiceAccount".to_string()],
        }
    }
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(o: ServerOptions) -> Server {
        Self::start_on(Etcd::start(), o, &|_| {}).await
    }

    /// Starts an apiserver on `etcd` (which may hold another server's data: a restart), with
    /// `flags` setting what [`ServerOptions`] has no field for.
    pub async fn start_on(
        etcd: Etcd,
        o: ServerOptions,
        flags: &(dyn Fn(&mut apiserver::Options) + Sync),
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let tokens: PathBuf = dir.path().join("tokens.csv");
        // A token only this server knows, so readiness is not read from another test's
        // apiserver that holds the port this one failed to bind.
        let probe = format!(
            "probe-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        std::fs::write(
            &tokens,
            format!("{TOKEN},admin,1,system:masters\n{probe},probe,2,system:masters\n"),
        )
        .unwrap();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let http = reqwest::Client::builder()
            .user_agent("ferrokube-test/v0.0.0 (linux/amd64)")
            .danger_accept_invalid_certs(true)
            .default_headers(headers)
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let (base, stop, task) = 'attempts: loop {
            let port = free_port();
            let mut opts = apiserver::Options {
                etcd_servers: vec![etcd.url.clone()],
                etcd_compaction_interval: o.compaction_interval,
                secure_port: port,
                bind_address: "127.0.0.1".parse().unwrap(),
                token_auth_file: Some(tokens.clone()),
                disable_admission_plugins: o.disable_admission_plugins.clone(),
                ..Default::default()
            };
            flags(&mut opts);
            let (stop, rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                if let Err(e) = apiserver::run(opts, async move {
                    let _ = rx.await;
                })
                .await
                {
                    eprintln!("The test apiserver stopped: {e}");
                }
            });
            let base = format!("https://127.0.0.1:{port}");
            loop {
                if task.is_finished() {
                    // Most likely the port was taken meanwhile: try another.
                    continue 'attempts;
                }
                if let Ok(r) = http
                    .get(format!("{base}/readyz"))
                    .bearer_auth(&probe)
                    .send()
                    .await
                    && r.status().is_success()
                {
                    break 'attempts (base, stop, task);
                }
                assert!(Instant::now() < deadline, "apiserver did not become ready");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
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

    /// Stops the apiserver and hands back its etcd, for another apiserver to start on.
    pub async fn stop_keeping_etcd(self) -> Etcd {
        let Server {
            etcd, stop, task, ..
        } = self;
        if let Some(s) = stop {
            let _ = s.send(());
        }
        if let Some(t) = task {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        etcd
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
