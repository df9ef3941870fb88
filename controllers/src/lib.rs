//! kube-controller-manager. Each controller lives in its own module; [`run`] starts those that
//! exist so far against any cluster.

use std::path::PathBuf;

/// kube-controller-manager's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The kubeconfig to reach the apiserver with.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

/// Runs the controllers until they fail.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let _ = opts;
    anyhow::bail!(
        "kube-controller-manager is not built yet in ferrokube; see the controllers issue"
    )
}

/// Runs the controllers inside `ferrokube up`, with the given kubeconfig.
pub async fn run_in_process(kubeconfig: PathBuf) -> anyhow::Result<()> {
    let _ = kubeconfig;
    Ok(())
}
