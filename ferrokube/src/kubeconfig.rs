//! Writing kubeconfig files with embedded certificates.

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::path::Path;

/// Writes a kubeconfig for `user` (a client certificate) talking to `server`, trusting `ca`.
pub fn write(
    path: &Path,
    server: &str,
    ca: &Path,
    cert: &Path,
    key: &Path,
    user: &str,
) -> Result<()> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "ferrokube", "cluster": {
            "server": server,
            "certificate-authority-data": STANDARD.encode(read(ca)?),
        }}],
        "users": [{"name": user, "user": {
            "client-certificate-data": STANDARD.encode(read(cert)?),
            "client-key-data": STANDARD.encode(read(key)?),
        }}],
        "contexts": [{"name": "ferrokube", "context": {"cluster": "ferrokube", "user": user}}],
        "current-context": "ferrokube",
        "preferences": {},
    });
    let yaml = serde_yaml::to_string(&config).context("encoding the kubeconfig")?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(yaml.as_bytes())?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
