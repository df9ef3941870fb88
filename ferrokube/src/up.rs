//! `ferrokube up`: a whole cluster in one process. Starts etcd (unless `--etcd-servers` names
//! one), the apiserver with a PKI from the state directory, writes `admin.kubeconfig` once the
//! apiserver is ready, then runs the controller manager and the scheduler (and simulated
//! nodes when asked) until Ctrl-C or SIGTERM, then stops everything in order.

use crate::etcd_process::EtcdProcess;
use crate::kubeconfig;
use crate::pki::Pki;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The service account token issuer, as kubeadm configures it.
const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Where etcd data, the PKI and kubeconfigs live [default: /var/lib/ferrokube as root,
    /// ~/.local/share/ferrokube otherwise].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// The apiserver's HTTPS port.
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Use these etcd servers instead of starting one (comma separated; plain http or https
    /// with the apiserver-etcd-client certificate of the state directory's PKI).
    #[arg(long, value_delimiter = ',')]
    pub etcd_servers: Option<Vec<String>>,
    /// The address the apiserver listens on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// The range ClusterIPs are allocated from.
    #[arg(long, default_value = "10.0.0.0/24")]
    pub service_cluster_ip_range: String,
    /// The range node pod CIDRs (a /24 each) are cut from.
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: String,
    /// Simulate this many nodes in process (`sim-0`, `sim-1`, ...: registered, Ready, running
    /// the pods bound to them without containers), as `ferrokube simulate-nodes` does.
    #[arg(long, default_value_t = 0)]
    pub simulated_nodes: u32,
    /// Do not run the scheduler (as k3s's flag of that name), for running another one.
    #[arg(long)]
    pub disable_scheduler: bool,
}

fn default_state_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/ferrokube");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/ferrokube")
}

/// The addresses of this host other nodes may reach the apiserver at.
fn host_addresses() -> Vec<IpAddr> {
    // Connecting a UDP socket sends nothing; it reveals the address of the default route.
    let mut out = Vec::new();
    if let Ok(s) = std::net::UdpSocket::bind("0.0.0.0:0")
        && s.connect("10.255.255.255:1").is_ok()
        && let Ok(a) = s.local_addr()
        && !a.ip().is_unspecified()
    {
        out.push(a.ip());
    }
    out
}

async fn wait_ready(port: u16, pki: &Pki, deadline: Instant) -> Result<()> {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca.cert)?)?;
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("https://127.0.0.1:{port}/readyz");
    loop {
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the apiserver did not become ready at {url}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn prepare_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))
}

pub async fn run(args: UpArgs) -> Result<()> {
    let started = Instant::now();
    let dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    prepare_dir(&dir)?;
    let service_ip = args
        .service_cluster_ip_range
        .split('/')
        .next()
        .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
        .map(|ip| IpAddr::from(std::net::Ipv4Addr::from(u32::from(ip) + 1)))
        .context("--service-cluster-ip-range must be an IPv4 CIDR")?;
    let mut ips = host_addresses();
    ips.push(service_ip);
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .into_iter()
        .collect::<Vec<_>>();
    let pki = Pki::ensure(&dir.join("pki"), &ips, &hostname)?;
    let (etcd, etcd_servers) = match &args.etcd_servers {
        Some(servers) => (None, servers.clone()),
        None => {
            let e = EtcdProcess::start(&dir, &pki).await?;
            let url = e.client_url.clone();
            (Some(e), vec![url])
        }
    };
    let tls_etcd = etcd_servers.iter().any(|s| s.starts_with("https://"));
    let opts = apiserver::Options {
        etcd_servers,
        etcd_cafile: tls_etcd.then(|| pki.ca.cert.clone()),
        etcd_certfile: tls_etcd.then(|| pki.apiserver_etcd_client.cert.clone()),
        etcd_keyfile: tls_etcd.then(|| pki.apiserver_etcd_client.key.clone()),
        etcd_compaction_interval: Duration::from_secs(300),
        secure_port: args.port,
        bind_address: args.bind_address,
        advertise_address: ips.first().copied().filter(|ip| *ip != service_ip),
        tls_cert_file: Some(pki.apiserver.cert.clone()),
        tls_private_key_file: Some(pki.apiserver.key.clone()),
        client_ca_file: Some(pki.ca.cert.clone()),
        service_account_issuer: vec![SERVICE_ACCOUNT_ISSUER.to_string()],
        service_account_key_file: vec![pki.service_account_pub.clone()],
        service_account_signing_key_file: Some(pki.service_account_key.clone()),
        enable_bootstrap_token_auth: true,
        service_cluster_ip_range: args.service_cluster_ip_range.clone(),
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut apiserver = tokio::spawn(apiserver::run(opts, async move {
        let _ = stop_rx.await;
    }));
    let ready = tokio::select! {
        r = wait_ready(args.port, &pki, Instant::now() + Duration::from_secs(60)) => r,
        r = &mut apiserver => Err(match r {
            Ok(Ok(())) => anyhow::anyhow!("the apiserver stopped before it was ready"),
            Ok(Err(e)) => anyhow::Error::new(e).context("the apiserver failed to start"),
            Err(e) => anyhow::Error::new(e).context("the apiserver task failed"),
        }),
    };
    if let Err(e) = ready {
        if let Some(etcd) = etcd {
            let _ = etcd.stop().await;
        }
        return Err(e);
    }
    let server = format!("https://127.0.0.1:{}", args.port);
    let admin = dir.join("admin.kubeconfig");
    kubeconfig::write(
        &admin,
        &server,
        &pki.ca.cert,
        &pki.admin.cert,
        &pki.admin.key,
        "admin",
    )?;
    let cm_config = dir.join("controller-manager.kubeconfig");
    kubeconfig::write(
        &cm_config,
        &server,
        &pki.ca.cert,
        &pki.controller_manager.cert,
        &pki.controller_manager.key,
        "system:kube-controller-manager",
    )?;
    let scheduler_config = dir.join("scheduler.kubeconfig");
    kubeconfig::write(
        &scheduler_config,
        &server,
        &pki.ca.cert,
        &pki.scheduler.cert,
        &pki.scheduler.key,
        "system:kube-scheduler",
    )?;
    let scheduler = (!args.disable_scheduler)
        .then(|| tokio::spawn(scheduler::run_in_process(scheduler_config)));
    let controllers = tokio::spawn(controllers::run_in_process(controllers::InProcessOptions {
        kubeconfig: cm_config.clone(),
        root_ca_file: pki.ca.cert.clone(),
        service_account_private_key_file: Some(pki.service_account_key.clone()),
        cluster_signing_cert_file: Some(pki.ca.cert.clone()),
        cluster_signing_key_file: Some(pki.ca.key.clone()),
        cluster_cidr: Some(args.cluster_cidr.clone()),
        service_cluster_ip_range: args.service_cluster_ip_range.clone(),
    }));
    let cidrs = args
        .cluster_cidr
        .split_once('/')
        .and_then(|(_, len)| len.parse::<u32>().ok())
        .filter(|len| *len <= 24)
        .map(|len| 1u64 << (24 - len));
    if let Some(cidrs) = cidrs
        && u64::from(args.simulated_nodes) > cidrs
    {
        tracing::warn!(
            "--cluster-cidr {} holds {cidrs} node pod CIDRs (a /24 each), fewer than the {} \
             simulated nodes; pass a larger range such as --cluster-cidr 100.64.0.0/10.",
            args.cluster_cidr,
            args.simulated_nodes
        );
    }
    let simulator = if args.simulated_nodes > 0 {
        grant_node_simulator(&admin).await?;
        let config = dir.join("node-simulator.kubeconfig");
        kubeconfig::write(
            &config,
            &server,
            &pki.ca.cert,
            &pki.node_simulator.cert,
            &pki.node_simulator.key,
            "system:node-simulator",
        )?;
        let options = kubelet::simulated::Options::new(Some(config), args.simulated_nodes);
        Some(tokio::spawn(async move {
            if let Err(e) = kubelet::simulated::run(options, std::future::pending()).await {
                tracing::error!(error = %e, "The node simulator stopped: {e}.");
            }
        }))
    } else {
        None
    };
    println!(
        "ferrokube is up ({:.1}s). To use it:\n",
        started.elapsed().as_secs_f64()
    );
    println!("  export KUBECONFIG={}", admin.display());
    println!("  kubectl get namespaces\n");
    if args.simulated_nodes > 0 {
        println!(
            "{} simulated nodes run in this process (sim-0 to sim-{}).\n",
            args.simulated_nodes,
            args.simulated_nodes - 1
        );
    }
    println!("Press Ctrl-C to stop.");
    tokio::select! {
        _ = shutdown_signal() => {}
        r = &mut apiserver => {
            tracing::error!(result = ?r.map(|r| r.map_err(|e| e.to_string())), "The apiserver stopped.");
        }
    }
    println!("Stopping.");
    controllers.abort();
    if let Some(scheduler) = scheduler {
        scheduler.abort();
    }
    if let Some(simulator) = simulator {
        simulator.abort();
    }
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), apiserver).await;
    if let Some(etcd) = etcd {
        etcd.stop().await?;
    }
    Ok(())
}

/// Binds the `system:node` role to the node simulator's identity. Real kubelets are
/// `system:node:<name>` in `system:nodes`, which the Node authorizer serves; the simulator
/// speaks for all of its nodes under one name, so RBAC grants it what a kubelet may do.
async fn grant_node_simulator(admin: &Path) -> Result<()> {
    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
    let config = controllers::client::load_config(Some(admin)).await?;
    let client = kube::Client::try_from(config).context("building the admin client")?;
    let binding = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some("ferrokube:node-simulator".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "system:node".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            name: "system:node-simulator".into(),
            ..Default::default()
        }]),
    };
    let api: kube::Api<ClusterRoleBinding> = kube::Api::all(client);
    match api
        .create(&kube::api::PostParams::default(), &binding)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => {
            Err(anyhow::Error::new(e).context("granting the node simulator the system:node role"))
        }
    }
}
