//! `ferrokube`: one binary for every component. Invoked through a symlink named after an
//! upstream component (`kube-apiserver`, `kubelet`, ...) it behaves as that component.

mod etcd_process;
mod kubeconfig;
mod pki;
mod up;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::Path;

#[derive(Debug, Parser)]
#[command(
    name = "ferrokube",
    version,
    about = "A Rust reimplementation of Kubernetes' control plane and node agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a whole cluster (etcd, apiserver and every component) in the foreground.
    Up(up::UpArgs),
    /// Run kube-apiserver.
    Apiserver(Box<ApiserverArgs>),
    /// Run kube-controller-manager.
    ControllerManager(Box<controllers::Options>),
    /// Run kube-scheduler.
    Scheduler(Box<scheduler::Options>),
    /// Run the kubelet.
    Kubelet,
    /// Run kube-proxy.
    Proxy,
    /// Run the cluster DNS server.
    Dns,
    /// Run the conformance cases against a cluster.
    Conformance(conformance::Options),
    /// Simulate N nodes (what kwok does): register them, renew their Leases and run the pods
    /// bound to them, without containers.
    SimulateNodes(Box<kubelet::simulated::Options>),
}

#[derive(Debug, clap::Args)]
struct ApiserverArgs {
    #[command(flatten)]
    options: apiserver::Options,
}

/// The subcommand a symlink name stands for.
fn component_of(argv0: &str) -> Option<&'static str> {
    let base = Path::new(argv0).file_name()?.to_str()?;
    Some(match base {
        "kube-apiserver" => "apiserver",
        "kube-controller-manager" => "controller-manager",
        "kube-scheduler" => "scheduler",
        "kubelet" => "kubelet",
        "kube-proxy" => "proxy",
        _ => return None,
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERROKUBE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Every component allocates and frees small JSON values per request and per event; glibc's
/// malloc spent a third of the apiserver's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Worker threads' stack size. Deeply nested futures (a controller's reconcile inside
/// kube-runtime's scheduler, the apiserver's handlers) need more than the 2 MiB default in debug
/// builds, where a stack overflow aborts every component of the process at once.
const THREAD_STACK: usize = 8 << 20;

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK)
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> Result<()> {
    init_logging();
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(component) = args.first().and_then(|a| component_of(a)) {
        args.insert(1, component.to_string());
    }
    // kube-apiserver accepts upstream flags it does not implement, with a warning.
    if args.get(1).map(String::as_str) == Some("apiserver") {
        let (known, unknown) = apiserver::options::split_unknown(&args[2..]);
        if !unknown.is_empty() {
            tracing::warn!(flags = ?unknown, "Ignoring kube-apiserver flags ferrokube does not implement yet.");
        }
        args.truncate(2);
        args.extend(known);
    }
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Up(a) => up::run(a).await,
        Command::Apiserver(a) => apiserver::run(a.options, shutdown_signal())
            .await
            .context("kube-apiserver"),
        Command::ControllerManager(o) => controllers::run(*o)
            .await
            .context("kube-controller-manager"),
        Command::Scheduler(o) => scheduler::run(*o).await.context("kube-scheduler"),
        Command::Kubelet => kubelet::run().context("kubelet"),
        Command::Proxy => proxy::run().context("kube-proxy"),
        Command::Dns => dns::run().context("dns"),
        Command::Conformance(o) => conformance::run(o).await,
        Command::SimulateNodes(o) => kubelet::simulated::run(*o, shutdown_signal())
            .await
            .context("simulate-nodes"),
    }
}
