//! The conformance runner.

use std::path::PathBuf;

/// `ferrokube conformance` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The cluster to test.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let _ = opts;
    anyhow::bail!("not built yet")
}
