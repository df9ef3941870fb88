//! kube-scheduler's flags, under their upstream names. As upstream, the leader election and
//! `--kubeconfig` flags override the `--config` file only when given on the command line.

use crate::config::{Config, parse_duration};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The path to the configuration file (a KubeSchedulerConfiguration,
    /// kubescheduler.config.k8s.io/v1).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Path to kubeconfig file with authorization and master location information (overrides
    /// clientConnection.kubeconfig).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Start a leader election client and gain leadership before executing the main loop
    /// (default true).
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: Option<bool>,
    /// The duration that non-leader candidates will wait after observing a leadership renewal
    /// until attempting to acquire leadership of a led but unrenewed leader slot (default 15s).
    #[arg(long, value_parser = parse_duration)]
    pub leader_elect_lease_duration: Option<Duration>,
    /// The interval between attempts by the acting master to renew a leadership slot before it
    /// stops leading (default 10s).
    #[arg(long, value_parser = parse_duration)]
    pub leader_elect_renew_deadline: Option<Duration>,
    /// The duration the clients should wait between attempting acquisition and renewal of a
    /// leadership (default 2s).
    #[arg(long, value_parser = parse_duration)]
    pub leader_elect_retry_period: Option<Duration>,
    /// The type of resource object that is used for locking during leader election; only
    /// `leases` is supported.
    #[arg(long)]
    pub leader_elect_resource_lock: Option<String>,
    /// The name of resource object that is used for locking during leader election (default
    /// kube-scheduler).
    #[arg(long)]
    pub leader_elect_resource_name: Option<String>,
    /// The namespace of resource object that is used for locking during leader election
    /// (default kube-system).
    #[arg(long)]
    pub leader_elect_resource_namespace: Option<String>,
    /// The port on which to serve HTTPS (`/healthz`, `/livez`, `/readyz`, `/metrics`); 0
    /// disables it.
    #[arg(long, default_value_t = 10259)]
    pub secure_port: u16,
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: std::net::IpAddr,
    /// File containing the default x509 certificate for HTTPS.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// The candidate's identity; `<hostname>_<uuid>` when unset. `ferrokube up` keeps one
    /// across restarts, so a restarted cluster schedules again at once instead of waiting for
    /// its previous lease to expire.
    #[arg(skip)]
    pub leader_elect_identity: Option<String>,
}

impl Options {
    /// The configuration: the `--config` file (or upstream's defaults) with the flags given on
    /// the command line applied over it.
    pub fn config(&self) -> Result<Config, crate::config::Error> {
        let mut cfg = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(k) = &self.kubeconfig {
            cfg.kubeconfig = Some(k.clone());
        }
        let le = &mut cfg.leader_election;
        if let Some(v) = self.leader_elect {
            le.leader_elect = v;
        }
        if let Some(v) = self.leader_elect_lease_duration {
            le.lease_duration = v;
        }
        if let Some(v) = self.leader_elect_renew_deadline {
            le.renew_deadline = v;
        }
        if let Some(v) = self.leader_elect_retry_period {
            le.retry_period = v;
        }
        if let Some(v) = &self.leader_elect_resource_name {
            le.resource_name = v.clone();
        }
        if let Some(v) = &self.leader_elect_resource_namespace {
            le.resource_namespace = v.clone();
        }
        if let Some(lock) = self.leader_elect_resource_lock.as_deref()
            && lock != "leases"
        {
            return Err(crate::config::Error::Invalid {
                path: "--leader-elect-resource-lock".to_string(),
                message: format!("Unsupported value: {lock:?}: supported values: \"leases\""),
            });
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        options: Options,
    }

    #[test]
    fn flags_override_the_file_only_when_given() {
        let dir = std::env::temp_dir().join(format!("sched-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.yaml");
        std::fs::write(
            &file,
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nleaderElection: {leaderElect: false, retryPeriod: 5s}\nclientConnection: {kubeconfig: /from/file}\n",
        )
        .unwrap();
        let cli = Cli::parse_from(["x", "--config", file.to_str().unwrap()]);
        let cfg = cli.options.config().unwrap();
        assert!(!cfg.leader_election.leader_elect);
        assert_eq!(cfg.leader_election.retry_period, Duration::from_secs(5));
        assert_eq!(cfg.kubeconfig, Some(PathBuf::from("/from/file")));
        let cli = Cli::parse_from([
            "x",
            "--config",
            file.to_str().unwrap(),
            "--leader-elect",
            "--kubeconfig",
            "/from/flag",
            "--leader-elect-retry-period",
            "1s",
        ]);
        let cfg = cli.options.config().unwrap();
        assert!(cfg.leader_election.leader_elect);
        assert_eq!(cfg.leader_election.retry_period, Duration::from_secs(1));
        assert_eq!(cfg.kubeconfig, Some(PathBuf::from("/from/flag")));
        let cli = Cli::parse_from(["x", "--leader-elect=false"]);
        assert_eq!(cli.options.leader_elect, Some(false));
        assert_eq!(cli.options.secure_port, 10259);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
