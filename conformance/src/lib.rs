//! The conformance runner: cases named after the upstream Kubernetes v1.33 [Conformance] tests,
//! run against any cluster reachable through a kubeconfig (ferrokube or upstream Kubernetes).
//!
//! `ferrokube conformance --kubeconfig F [--focus RE] [--skip RE] [--junit FILE] [--list]
//! [--parallel N] [--no-verify-service-account]`
//! prints one line per case, ginkgo's summary line, and how much of the upstream list the cases
//! cover and pass, by SIG and by rung.
//!
//! Layout: [`upstream`] is the embedded upstream list, [`framework`] what every case runs in
//! (namespace, client, waits, watch helpers), [`cases`] the cases (one module per SIG, one file
//! per upstream test file), [`runner`] selection and execution, [`report`] and [`junit`] output.

pub mod cases;
pub mod framework;
pub mod junit;
pub mod report;
pub mod runner;
pub mod upstream;

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `ferrokube conformance` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// The cluster to test [default: $KUBECONFIG, then ~/.kube/config, then in-cluster].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Run only cases whose full name matches this regular expression (repeatable: any match).
    #[arg(long)]
    pub focus: Vec<String>,
    /// Do not run cases whose full name matches this regular expression (repeatable).
    #[arg(long)]
    pub skip: Vec<String>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// List the selected cases instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Do not wait for each test namespace's `default` ServiceAccount and `kube-root-ca.crt`
    /// ConfigMap before a case starts (upstream's `--e2e-verify-service-account=false`).
    #[arg(long)]
    pub no_verify_service_account: bool,
    /// Fail a case that runs longer than this many seconds.
    #[arg(long, default_value_t = 900)]
    pub case_timeout: u64,
    /// Run up to this many cases at once ([Serial] cases still run alone, at the end).
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// Print every step and log line of every case as it runs.
    #[arg(long, short)]
    pub verbose: bool,
    /// The kubectl binary the `[sig-cli]` cases run.
    #[arg(long, default_value = "kubectl")]
    pub kubectl_path: PathBuf,
}

async fn client(opts: &Options) -> Result<kube::Client> {
    let config = match &opts.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .with_context(|| format!("loading {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("finding a kubeconfig (pass --kubeconfig)")?,
    };
    kube::Client::try_from(config).context("building a client")
}

const NODE_SCHEDULABLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Runs the selected cases and prints the report. Fails if any case failed.
pub async fn run(opts: Options) -> Result<()> {
    let selection = runner::Selection::new(&opts.focus, &opts.skip)?;
    let cases = cases::all();
    if opts.list {
        for c in cases.iter().filter(|c| selection.selects(c.name)) {
            println!("{}", c.name);
        }
        return Ok(());
    }
    let client = client(&opts).await?;
    let settings = framework::Settings {
        verify_service_account: !opts.no_verify_service_account,
        verbose: opts.verbose,
        kubectl: opts.kubectl_path.clone(),
        kubeconfig: opts.kubeconfig.clone(),
        ..framework::Settings::default()
    };
    let config = runner::RunConfig {
        settings: Arc::new(settings),
        case_timeout: Duration::from_secs(opts.case_timeout),
        parallel: opts.parallel,
    };
    let started = Instant::now();
    // As upstream's suite set-up, first wait (up to its `--node-schedulable-timeout`, 30 min)
    // for every node to take pods.
    framework::node::wait_all_schedulable(&client, NODE_SCHEDULABLE_TIMEOUT)
        .await
        .context("waiting for all nodes to be schedulable")?;
    let results = runner::run_all(&client, &cases, &selection, &config).await;
    let elapsed = started.elapsed();
    println!();
    println!("{}", report::summary(&results, elapsed));
    println!();
    print!("{}", report::coverage(&results));
    if let Some(path) = &opts.junit {
        std::fs::write(path, junit::render(&results, elapsed))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = report::counts(&results).failed;
    if failed > 0 {
        bail!("{failed} conformance case(s) failed");
    }
    Ok(())
}
