//! Reaching the apiserver: the client configuration from a kubeconfig (or the environment), one
//! client per controller with upstream's User-Agent, the CA to publish when no
//! `--root-ca-file` is given, and predicates on the `Status` errors the controllers react to.

use crate::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Status;
use std::path::Path;

/// The version this controller manager reports, as the apiserver's `gitVersion` does.
pub const VERSION: &str = concat!("v1.33.0+ferrokube-", env!("CARGO_PKG_VERSION"));

/// The status cause an apiserver adds when a create is refused because the namespace is being
/// deleted.
pub const NAMESPACE_TERMINATING_CAUSE: &str = "NamespaceTerminating";

/// The client configuration from `kubeconfig`, or inferred (in-cluster, then
/// `$KUBECONFIG`/`~/.kube/config`) when none is given.
pub async fn load_config(kubeconfig: Option<&Path>) -> Result<kube::Config> {
    match kubeconfig {
        Some(path) => {
            let wrap = |source| Error::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kc = Kubeconfig::read_from(path).map_err(wrap)?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(wrap)
        }
        None => kube::Config::infer().await.map_err(Error::InferConfig),
    }
}

/// upstream's User-Agent for a controller's client: `kube-controller-manager/<version>
/// (<os>/<arch>) kubernetes/<commit>/<controller>`. The apiserver derives the field manager
/// (`kube-controller-manager`) from it.
pub fn user_agent(controller: &str) -> String {
    component_user_agent("kube-controller-manager", controller)
}

/// A client of its own for `controller`, so the apiserver can tell the controllers apart.
pub fn for_controller(config: &kube::Config, controller: &str) -> Result<kube::Client> {
    with_user_agent(config, &user_agent(controller))
}

/// upstream's User-Agent for another component's client (`kube-scheduler`, ...):
/// `<component>/<version> (<os>/<arch>) kubernetes/<commit>/<name>`.
pub fn component_user_agent(component: &str, name: &str) -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!(
        "{component}/{VERSION} ({}/{arch}) kubernetes/ferrokube/{name}",
        std::env::consts::OS
    )
}

/// A client sending `agent` as its User-Agent.
pub fn with_user_agent(config: &kube::Config, agent: &str) -> Result<kube::Client> {
    let mut config = config.clone();
    config
        .headers
        .retain(|(name, _)| name != http::header::USER_AGENT);
    if let Ok(value) = agent.parse() {
        config.headers.push((http::header::USER_AGENT, value));
    }
    kube::Client::try_from(config).map_err(Error::Client)
}

/// The CA bundle (PEM) the client configuration trusts: the kubeconfig's own bytes when there is
/// one (as upstream publishes its rest config's `CAData`), else the configured roots re-encoded.
pub fn root_ca(kubeconfig: Option<&Path>, config: &kube::Config) -> Result<Option<Vec<u8>>> {
    if let Some(path) = kubeconfig
        && let Some(ca) = kubeconfig_ca(path)?
    {
        return Ok(Some(ca));
    }
    Ok(config.root_cert.as_ref().map(|certs| pem_bundle(certs)))
}

/// The CA of the kubeconfig's current context: `certificate-authority-data`, or the
/// `certificate-authority` file (relative to the kubeconfig).
fn kubeconfig_ca(path: &Path) -> Result<Option<Vec<u8>>> {
    let kc = Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
        path: path.display().to_string(),
        source,
    })?;
    let Some(context) = kc.current_context.as_deref().and_then(|name| {
        kc.contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.as_ref())
    }) else {
        return Ok(None);
    };
    let Some(cluster) = kc
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
    else {
        return Ok(None);
    };
    if let Some(data) = &cluster.certificate_authority_data {
        return Ok(STANDARD.decode(data.trim()).ok());
    }
    if let Some(file) = &cluster.certificate_authority {
        let file = path
            .parent()
            .map(|dir| dir.join(file))
            .unwrap_or_else(|| file.into());
        return std::fs::read(&file)
            .map(Some)
            .map_err(|source| Error::Read {
                path: file.display().to_string(),
                source,
            });
    }
    Ok(None)
}

/// DER certificates as one PEM bundle.
fn pem_bundle(certs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = String::new();
    for der in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = STANDARD.encode(der);
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

/// The `Status` the apiserver answered with, if the error is one.
pub fn status(err: &kube::Error) -> Option<&Status> {
    match err {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

pub fn is_not_found(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 404)
}

pub fn is_conflict(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 409 && s.reason == "Conflict")
}

pub fn is_already_exists(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 409 && s.reason == "AlreadyExists")
}

pub fn is_method_not_supported(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 405)
}

/// Whether the `Status` lists a cause of type `cause`.
pub fn has_cause(err: &kube::Error, cause: &str) -> bool {
    status(err)
        .and_then(|s| s.details.as_ref())
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == cause))
}

/// The error as a person reads it: the apiserver's message for a `Status`, as client-go's
/// `StatusError` prints it, and the error itself otherwise.
pub fn message(err: &kube::Error) -> String {
    match status(err) {
        Some(s) if !s.message.is_empty() => s.message.clone(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! `Status` errors as an apiserver answers them, for the controllers' unit tests.

    use kube::core::Status;
    use kube::core::response::{StatusCause, StatusDetails};

    pub fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    pub fn not_found(what: &str) -> kube::Error {
        api_error(404, "NotFound", &format!("{what} not found"))
    }

    pub fn terminating(namespace: &str) -> kube::Error {
        let status = Status::failure(
            &format!(
                "unable to create new content in namespace {namespace} because it is being \
                 terminated"
            ),
            "Forbidden",
        )
        .with_code(403)
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                reason: super::NAMESPACE_TERMINATING_CAUSE.to_string(),
                message: format!("namespace {namespace} is being terminated"),
                field: "metadata.namespace".to_string(),
            }],
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            retry_after_seconds: 0,
        });
        kube::Error::Api(status.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn classifies_statuses() {
        assert!(is_not_found(&not_found("x")));
        assert!(is_already_exists(&api_error(409, "AlreadyExists", "x")));
        assert!(!is_conflict(&api_error(409, "AlreadyExists", "x")));
        assert!(is_conflict(&api_error(409, "Conflict", "x")));
        assert!(is_method_not_supported(&api_error(
            405,
            "MethodNotAllowed",
            "x"
        )));
        assert!(has_cause(&terminating("a"), NAMESPACE_TERMINATING_CAUSE));
        assert!(!has_cause(&not_found("a"), NAMESPACE_TERMINATING_CAUSE));
        assert_eq!(
            message(&not_found("configmaps \"a\"")),
            "configmaps \"a\" not found"
        );
    }

    #[test]
    fn user_agent_names_the_controller() {
        let ua = user_agent("namespace-controller");
        assert!(ua.starts_with("kube-controller-manager/v1.33.0"));
        assert!(ua.ends_with("/namespace-controller"));
    }

    #[test]
    fn pem_bundle_wraps_at_64_columns() {
        let pem = String::from_utf8(pem_bundle(&[vec![0u8; 60]])).unwrap();
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 16);
        assert_eq!(lines[3], "-----END CERTIFICATE-----");
    }

    #[test]
    fn ca_comes_from_the_current_context() {
        let dir = std::env::temp_dir().join(format!("kcm-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kubeconfig");
        let ca = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  \
                 cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: {}\n\
                 contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\nusers:\n- name: u\n  \
                 user: {{}}\n",
                STANDARD.encode(ca)
            ),
        )
        .unwrap();
        assert_eq!(kubeconfig_ca(&path).unwrap().unwrap(), ca.as_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
