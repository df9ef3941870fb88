//! Audit logging, as upstream kube-apiserver's `--audit-policy-file` and `--audit-log-*`:
//! every request the policy selects is recorded as `audit.k8s.io/v1` events, one per stage,
//! in a JSON-lines log.
//!
//! - [`policy`]: the `Policy` file, validated and evaluated as upstream's checker.
//! - [`event`]: the `Event` as upstream writes it.
//! - [`filter`]: the request side: the filter around the handler chain, the hooks the chain
//!   calls (authenticated, impersonated, authorized, panicked), body capture.
//! - [`log`] and [`rotate`]: the log backend and its lumberjack-style rotation.
//!
//! Without both a policy file and a log path there is no [`Auditor`], and the server's
//! `Option` check is all auditing costs.

pub mod event;
pub mod filter;
pub mod log;
pub mod policy;
pub mod rotate;

pub use filter::{
    AUDIT_ID_HEADER, ClientAddr, Recorder, authenticated, authorized, impersonated, panicked,
};

use crate::options::Options;
use std::path::PathBuf;
use std::sync::Arc;

/// Why the audit flags were refused; the apiserver does not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy file could not be read.
    #[error("loading audit policy file: {0}")]
    PolicyRead(#[source] policy::Error),
    /// The policy file is not a valid policy.
    #[error("loading audit policy file: {source}: from file {}", path.display())]
    Policy {
        path: PathBuf,
        #[source]
        source: policy::Error,
    },
    #[error(
        "--audit-log-format=legacy: the legacy one-line text format is not supported; use json (the default)"
    )]
    LegacyFormat,
    #[error("invalid audit log format {0}, allowed formats are \"legacy,json\"")]
    Format(String),
    #[error("invalid audit log mode {0}, allowed modes are \"batch,blocking,blocking-strict\"")]
    Mode(String),
    #[error("invalid audit batch log buffer size {0}, must be a positive number")]
    BufferSize(usize),
    #[error(
        "--audit-log-version={0}: invalid group version, allowed versions are [audit.k8s.io/v1]"
    )]
    Version(String),
    #[error("--audit-log-path: {0}")]
    Log(#[from] log::Error),
}

/// The policy and where its events go; shared by every request.
pub struct Auditor {
    policy: policy::Policy,
    sink: Arc<dyn log::Sink>,
    /// blocking-strict: a request whose first event cannot be written fails.
    strict: bool,
}

impl Auditor {
    pub fn new(policy: policy::Policy, sink: Arc<dyn log::Sink>, strict: bool) -> Self {
        Self {
            policy,
            sink,
            strict,
        }
    }

    /// The auditor the flags describe, `None` when auditing is off. As upstream: the log
    /// flags are checked only with a log path, and a policy without a backend (or the other
    /// way round) records nothing.
    pub fn from_options(opts: &Options) -> Result<Option<Arc<Self>>, Error> {
        let path = opts
            .audit_log_path
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty());
        let mode = match path {
            Some(_) => Some(check_log_flags(opts)?),
            None => None,
        };
        let policy = match opts
            .audit_policy_file
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        {
            Some(file) => Some(policy::Policy::load(file).map_err(|source| match source {
                policy::Error::Read { .. } => Error::PolicyRead(source),
                source => Error::Policy {
                    path: file.clone(),
                    source,
                },
            })?),
            None => None,
        };
        let (policy, path, mode) = match (policy, path, mode) {
            (Some(policy), Some(path), Some(mode)) => (policy, path, mode),
            (Some(_), None, _) => {
                tracing::info!("An audit policy without --audit-log-path records nothing.");
                return Ok(None);
            }
            (None, Some(_), _) => {
                tracing::info!(
                    "No audit policy file provided; no events will be recorded for the log backend."
                );
                return Ok(None);
            }
            _ => return Ok(None),
        };
        let limits = rotate::Limits::from_flags(
            opts.audit_log_maxsize,
            opts.audit_log_maxbackup,
            opts.audit_log_maxage,
        );
        let log = log::Log::start(path, limits, mode, opts.audit_log_batch_buffer_size)?;
        tracing::info!(
            path = %path.display(),
            rules = policy.rules.len(),
            mode = ?mode,
            "Writing audit events."
        );
        Ok(Some(Arc::new(Self::new(
            policy,
            Arc::new(log),
            mode == log::Mode::BlockingStrict,
        ))))
    }
}

fn check_log_flags(opts: &Options) -> Result<log::Mode, Error> {
    match opts.audit_log_format.as_str() {
        "json" => {}
        "legacy" => return Err(Error::LegacyFormat),
        other => return Err(Error::Format(other.to_string())),
    }
    let mode = log::Mode::parse(&opts.audit_log_mode)
        .ok_or_else(|| Error::Mode(opts.audit_log_mode.clone()))?;
    if mode == log::Mode::Batch && opts.audit_log_batch_buffer_size == 0 {
        return Err(Error::BufferSize(0));
    }
    if opts.audit_log_version != "audit.k8s.io/v1" {
        return Err(Error::Version(opts.audit_log_version.clone()));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &std::path::Path, f: impl FnOnce(&mut Options)) -> Options {
        let policy = dir.join("policy.yaml");
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n",
        )
        .unwrap();
        let mut o = Options {
            audit_policy_file: Some(policy),
            audit_log_path: Some(dir.join("audit.log")),
            ..Default::default()
        };
        f(&mut o);
        o
    }

    fn refused(o: &Options) -> String {
        match Auditor::from_options(o) {
            Err(e) => e.to_string(),
            Ok(a) => panic!("accepted: {}", a.is_some()),
        }
    }

    #[test]
    fn on_only_with_a_policy_and_a_log() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Auditor::from_options(&opts(dir.path(), |_| {}))
                .unwrap()
                .is_some()
        );
        let no_path = opts(dir.path(), |o| o.audit_log_path = None);
        assert!(Auditor::from_options(&no_path).unwrap().is_none());
        let empty_path = opts(dir.path(), |o| o.audit_log_path = Some(PathBuf::new()));
        assert!(Auditor::from_options(&empty_path).unwrap().is_none());
        let no_policy = opts(dir.path(), |o| o.audit_policy_file = None);
        assert!(Auditor::from_options(&no_policy).unwrap().is_none());
        assert!(
            Auditor::from_options(&Options::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_flags_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(
            refused(&opts(d, |o| o.audit_log_format = "legacy".into()))
                .contains("legacy one-line text format is not supported")
        );
        assert_eq!(
            refused(&opts(d, |o| o.audit_log_format = "xml".into())),
            "invalid audit log format xml, allowed formats are \"legacy,json\""
        );
        assert_eq!(
            refused(&opts(d, |o| o.audit_log_mode = "async".into())),
            "invalid audit log mode async, allowed modes are \"batch,blocking,blocking-strict\""
        );
        assert!(
            refused(&opts(d, |o| o.audit_log_version = "audit.k8s.io/v1beta1".into()))
                .starts_with("--audit-log-version=audit.k8s.io/v1beta1")
        );
        let missing = d.join("missing.yaml");
        let m = refused(&opts(d, |o| o.audit_policy_file = Some(missing.clone())));
        assert!(
            m.starts_with("loading audit policy file: failed to read file path"),
            "{m}"
        );
        let bad = d.join("bad.yaml");
        std::fs::write(
            &bad,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n",
        )
        .unwrap();
        assert_eq!(
            refused(&opts(d, |o| o.audit_policy_file = Some(bad.clone()))),
            format!(
                "loading audit policy file: loaded illegal policy with 0 rules: from file {}",
                bad.display()
            )
        );
        // Without a log path the log flags are not looked at, as upstream.
        assert!(
            Auditor::from_options(&opts(d, |o| {
                o.audit_log_path = None;
                o.audit_log_mode = "async".into();
            }))
            .unwrap()
            .is_none()
        );
    }
}
