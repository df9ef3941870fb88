//! What the component benchmarks (`cargo bench` in apiserver, controllers, scheduler) share:
//! sizes from the environment, free loopback ports, child processes stopped on drop, a fresh
//! etcd and `ferrokube apiserver` with an admin client, and the CPU time and memory of a
//! process read from `/proc`. A benchmark harness fails loudly, like
//! a test, so these panic where the machine cannot give an answer at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The bearer token of the admin user of [`start_apiserver`].
pub const TOKEN: &str = "bench-token";

/// A size from the environment variable `name`, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process, killed and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh single-member etcd with its data under `dir`, serving once this returns; and its
/// client URL.
pub fn start_etcd(dir: &Path) -> (Proc, String) {
    let (c, p) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{c}");
    let peer = format!("http://127.0.0.1:{p}");
    let child = Command::new("etcd")
        .arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg(format!("--listen-client-urls={url}"))
        .arg(format!("--advertise-client-urls={url}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=default={peer}"))
        .arg("--quota-backend-bytes=8589934592")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd on PATH");
    while std::net::TcpStream::connect(("127.0.0.1", c)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    (Proc(child), url)
}

/// `binary apiserver` on `etcd_url`, on a free port, with [`TOKEN`] for an admin user; and a
/// kubeconfig for that user under `dir`. [`client`] waits for it to serve.
pub fn start_apiserver(binary: &str, dir: &Path, etcd_url: &str) -> (Proc, PathBuf) {
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},admin,1,system:masters\n")).unwrap();
    let port = free_port();
    let apiserver = Proc(
        Command::new(binary)
            .args(["apiserver", "--bind-address=127.0.0.1"])
            .arg(format!("--secure-port={port}"))
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg(format!("--token-auth-file={}", tokens.display()))
            // The benchmarks run no service account controller for pods to wait for, nor a
            // node lifecycle controller to lift new nodes' not-ready taint.
            .arg("--disable-admission-plugins=ServiceAccount,TaintNodesByCondition")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}")),
    );
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: {TOKEN}\ncontexts:\n- name: bench\n  context: {{cluster: bench, user: admin}}\ncurrent-context: bench\n"
        ),
    )
    .unwrap();
    (apiserver, kubeconfig)
}

/// A client from `kubeconfig`, once the apiserver answers.
pub async fn client(kubeconfig: &Path) -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    while client.apiserver_version().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
}

/// CPU time (user + system), in seconds, the process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime: fields 14 and 15 of /proc/pid/stat, 12 and 13 after the ')'; the
    // kernel counts them in USER_HZ, 100 on Linux.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// A `/proc/<pid>/status` size in MiB, by its field name with the colon: `VmRSS:` now,
/// `VmHWM:` the peak.
pub fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The process's resident set now, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        // Burn a little CPU so the count is not zero.
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        assert!(x > 0);
        assert!(cpu_seconds(me) > 0.0);
        assert!(rss_mib(me) > 0.0);
        assert!(status_mib(me, "VmHWM:") >= rss_mib(me) * 0.5);
        assert_eq!(status_mib(me, "NoSuchField:"), 0.0);
        assert_ne!(free_port(), 0);
        assert_eq!(env_or("BENCHKIT_SURELY_UNSET", 7), 7);
    }
}
