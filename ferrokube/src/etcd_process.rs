//! The etcd child process of `ferrokube up`: mutual TLS on loopback, data under the state
//! directory, the same ports across restarts when they are still free. A port another process
//! takes between choosing it and etcd binding it makes etcd exit; then it starts again on
//! other ports.

use crate::pki::Pki;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Ports {
    client: u16,
    peer: u16,
}

/// A loopback port nobody listens on now.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// How often etcd is started on fresh ports after finding one taken.
const PORT_ATTEMPTS: usize = 5;

fn ports(dir: &Path) -> Result<Ports> {
    let file = dir.join("etcd-ports.json");
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Ok(p) = serde_json::from_str::<Ports>(&text)
        && port_free(p.client)
        && port_free(p.peer)
    {
        return Ok(p);
    }
    let p = Ports {
        client: free_port()?,
        peer: free_port()?,
    };
    std::fs::write(&file, serde_json::to_string(&p)?)
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(p)
}

enum Started {
    Running(Box<EtcdProcess>),
    PortTaken,
}

pub struct EtcdProcess {
    child: Child,
    pub client_url: String,
}

impl EtcdProcess {
    /// Starts etcd from PATH with its data in `dir/etcd` and its log in `dir/etcd.log`.
    pub async fn start(dir: &Path, pki: &Pki) -> Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::start_once(dir, pki).await? {
                Started::Running(etcd) => return Ok(*etcd),
                Started::PortTaken if attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                    // Forget the ports so fresh ones are chosen.
                    let _ = std::fs::remove_file(dir.join("etcd-ports.json"));
                }
                Started::PortTaken => bail!(
                    "etcd found its ports taken {PORT_ATTEMPTS} times; see {}",
                    dir.join("etcd.log").display()
                ),
            }
        }
    }

    async fn start_once(dir: &Path, pki: &Pki) -> Result<Started> {
        let ports = ports(dir)?;
        let data = dir.join("etcd");
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))?;
        }
        let log = std::fs::File::create(dir.join("etcd.log")).context("creating etcd.log")?;
        let client_url = format!("https://127.0.0.1:{}", ports.client);
        let peer_url = format!("http://127.0.0.1:{}", ports.peer);
        let child = Command::new("etcd")
            .arg("--name=default")
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .arg(format!("--cert-file={}", pki.etcd_server.cert.display()))
            .arg(format!("--key-file={}", pki.etcd_server.key.display()))
            .arg(format!("--trusted-ca-file={}", pki.ca.cert.display()))
            .arg("--client-cert-auth")
            .arg("--snapshot-count=10000")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting etcd (is the etcd-server package installed?)")?;
        let mut etcd = Self { child, client_url };
        // Wait until its own log says it serves (a connection could reach another process
        // on a port taken meanwhile), or report its early exit.
        let log_path = dir.join("etcd.log");
        for _ in 0..400 {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(status) = etcd.child.try_wait()? {
                if log.contains("address already in use") {
                    return Ok(Started::PortTaken);
                }
                bail!("etcd exited with {status}; see {}", log_path.display());
            }
            if log.contains("ready to serve client requests") {
                return Ok(Started::Running(Box::new(etcd)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("etcd did not start listening on {}", etcd.client_url)
    }

    /// Stops etcd: SIGTERM, then SIGKILL if it has not exited after ten seconds.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(r) => {
                r.context("waiting for etcd")?;
            }
            Err(_) => {
                self.child.kill().await.context("killing etcd")?;
            }
        }
        Ok(())
    }
}
