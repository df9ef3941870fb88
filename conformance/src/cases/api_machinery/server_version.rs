//! `[sig-api-machinery] server version` (upstream `test/e2e/apimachinery/server_version.go`).

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel};
use anyhow::{Context, Result, ensure};

const D: Describe = Describe::new("server-version").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-api-machinery] server version should find the server version [Conformance]",
        case_fn!(find_server_version),
    )]
}

/// Upstream's checks: the major version is a single non-zero digit, and the minor version is
/// its first run of digits once everything else is stripped (so `33+` passes, `3x3` fails).
fn check_version(major: &str, minor: &str) -> Result<()> {
    let first_major = major.chars().find(|c| ('1'..='9').contains(c));
    ensure!(
        first_major.map(String::from).unwrap_or_default() == major,
        "unable to find major version: {major:?}"
    );
    let clean_minor: String = minor.chars().filter(char::is_ascii_digit).collect();
    let first_run: String = minor
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    ensure!(
        first_run == clean_minor,
        "unable to find minor version: {minor:?}"
    );
    Ok(())
}

async fn find_server_version(f: &Framework) -> Result<()> {
    f.step("Request ServerVersion");
    let v = f
        .client
        .apiserver_version()
        .await
        .context("Fail to access ServerVersion")?;
    f.step("Confirm major version");
    f.log(format!("Major version: {}", v.major));
    f.step("Confirm minor version");
    f.log(format!("Minor version: {}", v.minor));
    check_version(&v.major, &v.minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_upstream_accepts_and_rejects() {
        assert!(check_version("1", "33").is_ok());
        assert!(check_version("1", "33+").is_ok());
        assert!(check_version("1", "").is_ok());
        assert!(check_version("0", "33").is_err());
        assert!(check_version("12", "33").is_err());
        assert!(check_version("1", "3x3").is_err());
    }
}
