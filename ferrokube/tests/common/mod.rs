//! End-to-end harness: `ferrokube up` in a temporary state directory on a free port, and the
//! real kubectl binaries (1.32 and 1.33) pointed at it with their own discovery cache.
#![allow(dead_code)] // each test binary uses a different part of the harness
#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness fails loudly, like the tests

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The directory holding the versioned kubectl binaries (`kubectl.1.32`, `kubectl.1.33`).
fn kubectl_dir() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "dirname \"$(readlink -f \"$(command -v kubectl)\")\""])
        .output()
        .expect("sh");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The kubectl binaries to test with: 1.32 and 1.33, both required.
pub fn kubectls() -> Vec<PathBuf> {
    let dir = kubectl_dir();
    ["kubectl.1.32", "kubectl.1.33"]
        .iter()
        .map(|k| {
            let p = dir.join(k);
            assert!(
                p.exists(),
                "{} is missing; the tests need kubectl 1.32 and 1.33",
                p.display()
            );
            p
        })
        .collect()
}

/// Calls `f` every 200 ms until it returns a value, failing the test after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running `ferrokube up`, stopped (SIGTERM) when dropped.
pub struct Cluster {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Cluster {
    pub fn up() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        Self::up_in(dir)
    }

    /// Starts with extra `ferrokube up` flags (e.g. `--simulated-nodes 2`).
    pub fn up_with(args: &[&str]) -> Cluster {
        Self::up_in_with(tempfile::tempdir().unwrap(), args)
    }

    /// Starts on an existing state directory (to test restarts).
    pub fn up_in(dir: tempfile::TempDir) -> Cluster {
        Self::up_in_with(dir, &[])
    }

    /// Starts `ferrokube up` on a free port; when another test takes that port before the
    /// apiserver binds it, `up` exits and is started again on another.
    fn up_in_with(dir: tempfile::TempDir, args: &[&str]) -> Cluster {
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(60);
        'attempts: loop {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("up.log")).unwrap();
            let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
                .args(["up", "--state-dir"])
                .arg(dir.path())
                .args(["--port", &port.to_string(), "--bind-address", "127.0.0.1"])
                .args(args)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            loop {
                // The kubeconfig is written once the apiserver is ready; it survives
                // restarts, so also wait for the new process to print its banner.
                let log = std::fs::read_to_string(dir.path().join("up.log")).unwrap_or_default();
                if kubeconfig.exists() && log.contains("ferrokube is up") {
                    return Cluster { child, dir, port };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let taken = log.contains("Address already in use")
                        || log.contains("address already in use");
                    assert!(
                        taken && Instant::now() < deadline,
                        "ferrokube up exited with {status}:\n{log}"
                    );
                    continue 'attempts;
                }
                assert!(
                    Instant::now() < deadline,
                    "ferrokube up did not become ready:\n{log}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    /// Stops the cluster and hands back its state directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.terminate();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        std::fs::remove_file(dir.path().join("up.log")).ok();
        dir
    }

    fn terminate(&mut self) {
        // The process may be gone already (stopped before the drop).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn kubectl<'a>(&'a self, bin: &'a Path) -> Kubectl<'a> {
        Kubectl {
            cluster: self,
            bin,
            cache: tempfile::tempdir().unwrap(),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A failing test shows how the cluster ended (a crash reads as "connection refused").
        if std::thread::panicking() {
            let exited = self.child.try_wait().ok().flatten();
            let log = std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "ferrokube up ({}), last lines of its log:\n{}",
                exited.map_or("still running".to_string(), |s| format!("exited: {s}")),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.terminate();
    }
}

/// One kubectl binary with its own discovery cache.
pub struct Kubectl<'a> {
    cluster: &'a Cluster,
    bin: &'a Path,
    cache: tempfile::TempDir,
}

/// What a kubectl invocation printed.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl<'_> {
    pub fn version(&self) -> String {
        self.bin.file_name().unwrap().to_string_lossy().into_owned()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin);
        c.env("KUBECONFIG", self.cluster.kubeconfig())
            .env("KUBECACHEDIR", self.cache.path())
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut c = self.command(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().unwrap();
        Run {
            ok: status.success(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Runs with no credentials but `token` (none when empty): the cluster's address and CA
    /// only, not the admin kubeconfig.
    pub fn run_with_token(&self, token: &str, args: &[&str]) -> Run {
        let ca = self.cluster.dir.path().join("pki/ca.crt");
        let mut all = vec![
            "--kubeconfig=/dev/null".to_string(),
            format!("--server=https://127.0.0.1:{}", self.cluster.port),
            format!("--certificate-authority={}", ca.display()),
        ];
        if !token.is_empty() {
            all.push(format!("--token={token}"));
        }
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.run(&all)
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            r.ok,
            "{} {:?} failed:\n{}{}",
            self.version(),
            args,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let r = self.run_stdin(args, Some(stdin));
        assert!(
            r.ok,
            "{} {:?} failed:\n{}{}",
            self.version(),
            args,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            !r.ok,
            "{} {:?} should have failed:\n{}",
            self.version(),
            args,
            r.stdout
        );
        r.stderr
    }
}

/// Splits a kubectl table into rows of whitespace-separated cells (header included).
pub fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Columns are separated by at least two spaces in kubectl's tab writer; single
            // spaces occur inside headers such as "NOMINATED NODE".
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

/// Plays the kubelets of `nodes`: creates their Leases in `kube-node-lease` and renews them
/// every few seconds until the returned guard is dropped, so the node lifecycle controller
/// keeps them ready.
#[allow(dead_code)] // not every test binary plays kubelets
pub fn heartbeats(cluster: &Cluster, kubectl: &Path, nodes: &[&str]) -> Heartbeats {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (kubeconfig, bin) = (cluster.kubeconfig(), kubectl.to_path_buf());
    let nodes: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
    let now = || {
        k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
            .to_string()
    };
    let run = move |args: &[&str], stdin: Option<String>| {
        let mut cmd = Command::new(&bin);
        cmd.arg("--kubeconfig").arg(&kubeconfig).args(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Ok(mut child) = cmd.spawn() {
            if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
                use std::io::Write;
                let _ = input.write_all(text.as_bytes());
            }
            let _ = child.wait();
        }
    };
    for node in &nodes {
        let lease = format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {node}\n  namespace: kube-node-lease\nspec:\n  holderIdentity: {node}\n  leaseDurationSeconds: 40\n  renewTime: \"{}\"\n",
            now()
        );
        run(&["apply", "-f", "-"], Some(lease));
    }
    let task = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for node in &nodes {
                    let patch = format!(r#"{{"spec":{{"renewTime":"{}"}}}}"#, now());
                    run(
                        &[
                            "patch",
                            "lease",
                            node,
                            "-n",
                            "kube-node-lease",
                            "--type=merge",
                            "-p",
                            &patch,
                        ],
                        None,
                    );
                }
                std::thread::sleep(Duration::from_secs(5));
            }
        })
    };
    Heartbeats {
        stop,
        task: Some(task),
    }
}

/// Stops the heartbeats when dropped.
pub struct Heartbeats {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(task) = self.task.take() {
            let _ = task.join();
        }
    }
}
