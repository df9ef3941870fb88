//! The per-case test framework, after upstream's `test/e2e/framework`: every case gets a fresh
//! namespace (labelled as upstream labels it, and by default only handed over once its
//! `default` ServiceAccount and `kube-root-ca.crt` ConfigMap exist), a client, a step log, and
//! deferred cleanups that run after the case whatever its outcome, before the namespaces it
//! created are deleted.

pub mod api;
pub mod compare;
pub mod crd;
pub mod discovery;
pub mod node;
pub mod pod;
pub mod quantity;
pub mod wait;
pub mod watch;

use anyhow::{Context, Result, bail};
use futures::future::BoxFuture;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use api::Skip;

/// Run-wide settings every case's framework shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Wait for each new namespace's `default` ServiceAccount and `kube-root-ca.crt` ConfigMap
    /// before the case starts, as upstream's `--e2e-verify-service-account` (default on) does.
    pub verify_service_account: bool,
    /// How long that wait may take (upstream's `ServiceAccountProvisionTimeout`).
    pub service_account_timeout: Duration,
    /// Labels every namespace with `e2e-run=<id>`, as upstream does with its run UUID.
    pub run_id: String,
    /// Print each step and log line as it happens.
    pub verbose: bool,
    /// The kubectl binary the `[sig-cli]` cases run (upstream's `--kubectl-path`).
    pub kubectl: std::path::PathBuf,
    /// The kubeconfig kubectl is given (otherwise kubectl finds its own, as the client did).
    pub kubeconfig: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            verify_service_account: true,
            service_account_timeout: Duration::from_secs(120),
            run_id: uuid::Uuid::new_v4().to_string(),
            verbose: false,
            kubectl: "kubectl".into(),
            kubeconfig: None,
        }
    }
}

/// The Pod Security Admission level a case's namespaces are labelled with; upstream's
/// framework defaults to `restricted` and many Describes lower it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodSecurityLevel {
    Privileged,
    Baseline,
    Restricted,
}

impl PodSecurityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

#[derive(Default)]
struct State {
    namespaces_to_delete: Vec<String>,
    cleanups: Vec<(String, BoxFuture<'static, ()>)>,
    log: Vec<String>,
}

/// One case's view of the cluster. Built by [`Framework::before_each`], torn down by
/// [`Framework::after_each`].
pub struct Framework {
    /// A client for the cluster under test.
    pub client: Client,
    /// The namespace created for this case.
    pub namespace: String,
    /// The base name of the case's Describe (`watch`, `configmap`, ...).
    pub base_name: &'static str,
    settings: Arc<Settings>,
    pod_security: PodSecurityLevel,
    started: Instant,
    state: Mutex<State>,
}

impl Framework {
    /// Creates the case's namespace and, unless disabled, waits for its service account and
    /// root CA ConfigMap, like upstream's `Framework.BeforeEach`.
    pub async fn before_each(
        client: Client,
        settings: Arc<Settings>,
        base_name: &'static str,
        pod_security: PodSecurityLevel,
    ) -> Result<Framework> {
        let mut f = Framework {
            client,
            namespace: String::new(),
            base_name,
            settings,
            pod_security,
            started: Instant::now(),
            state: Mutex::new(State::default()),
        };
        f.step(format!(
            "Building a namespace api object, basename {base_name}"
        ));
        let labels = BTreeMap::from([("e2e-framework".to_string(), base_name.to_string())]);
        let ns = f.create_namespace(base_name, labels).await?;
        f.namespace = ns.metadata.name.unwrap_or_default();
        if f.settings.verify_service_account {
            f.step("Waiting for a default service account to be provisioned in namespace");
            f.wait_for_object::<ServiceAccount>("default").await?;
            f.step("Waiting for kube-root-ca.crt to be provisioned in namespace");
            f.wait_for_object::<ConfigMap>("kube-root-ca.crt").await?;
        } else {
            f.log("Skipping waiting for service account");
        }
        Ok(f)
    }

    async fn wait_for_object<K>(&self, name: &str) -> Result<()>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Debug,
    {
        let api: Api<K> = self.api();
        let timeout = self.settings.service_account_timeout;
        wait::poll(Duration::from_millis(500), timeout, async || {
            Ok(api.get_opt(name).await?.is_some())
        })
        .await
        .with_context(|| {
            format!(
                "wait for {} {name:?} in namespace {:?} (--no-verify-service-account skips this wait)",
                K::kind(&()).to_lowercase(),
                self.namespace
            )
        })
    }

    /// Creates a namespace named `e2e-<base>-<4 digits>` (or `<base>-<4 digits>` when the base
    /// already starts with `e2e-`), labelled as upstream's `CreateTestingNS` labels it, and
    /// deletes it after the case.
    pub async fn create_namespace(
        &self,
        base: &str,
        mut labels: BTreeMap<String, String>,
    ) -> Result<Namespace> {
        labels.insert("e2e-run".into(), self.settings.run_id.clone());
        for key in ["enforce", "warn", "audit"] {
            labels.insert(
                format!("pod-security.kubernetes.io/{key}"),
                self.pod_security.as_str().into(),
            );
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let prefix = if base.starts_with("e2e-") {
            base.to_string()
        } else {
            format!("e2e-{base}")
        };
        // Upstream retries with a fresh suffix when the name is taken, rather than using
        // generateName, so that a failed call never leaves an unknown namespace behind.
        let mut last_err = None;
        for _ in 0..10 {
            let name = format!("{prefix}-{}", random_suffix());
            let ns = Namespace {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(labels.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &ns).await {
                Ok(created) => {
                    self.lock().namespaces_to_delete.push(name);
                    return Ok(created);
                }
                Err(e) if api::is_already_exists(&e) => last_err = Some(e),
                Err(e) => return Err(e).with_context(|| format!("creating namespace {name:?}")),
            }
        }
        match last_err {
            Some(e) => Err(e).context("creating a namespace: every generated name was taken"),
            None => bail!("creating a namespace failed"),
        }
    }

    /// The namespace created for this case.
    pub fn ns(&self) -> &str {
        &self.namespace
    }

    /// An API for a namespaced kind in the case's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// An API for a namespaced kind in another namespace.
    pub fn api_in<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// An API for a cluster-scoped kind, or a namespaced kind across all namespaces.
    pub fn api_all<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = ()>,
    {
        Api::all(self.client.clone())
    }

    /// Runs `cleanup` after the case (last registered runs first), whether it passed or not.
    pub fn defer(
        &self,
        what: impl Into<String>,
        cleanup: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.lock().cleanups.push((what.into(), Box::pin(cleanup)));
    }

    /// Deletes `name` through `api` after the case, ignoring errors (it may be gone already).
    pub fn defer_delete<K>(&self, api: Api<K>, name: &str)
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let name = name.to_string();
        self.defer(format!("deleting {name}"), async move {
            let _ = api.delete(&name, &DeleteParams::default()).await;
        });
    }

    /// Runs kubectl in the case's namespace, as upstream's `e2ekubectl.RunKubectlInput` does
    /// (`--kubeconfig`, `--namespace`, optional stdin): whether it exited 0, stdout, stderr.
    pub async fn kubectl_run(
        &self,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<(bool, String, String)> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(&self.settings.kubectl);
        if let Some(k) = &self.settings.kubeconfig {
            cmd.arg(format!("--kubeconfig={}", k.display()));
        }
        cmd.arg(format!("--namespace={}", self.namespace))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        self.log(format!("Running kubectl {}", args.join(" ")));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.settings.kubectl.display()))?;
        let mut input = child.stdin.take().context("kubectl's stdin")?;
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await?;
        }
        drop(input);
        let out = child.wait_with_output().await?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Runs kubectl like [`Framework::kubectl_run`] and fails unless it exits 0
    /// (upstream's `RunKubectlOrDie`); returns stdout.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let (ok, stdout, stderr) = self.kubectl_run(args, stdin).await?;
        if !ok {
            bail!("kubectl {} failed:\n{stdout}{stderr}", args.join(" "));
        }
        Ok(stdout)
    }

    /// Records a step (upstream's `ginkgo.By`).
    pub fn step(&self, msg: impl AsRef<str>) {
        self.record(format!("STEP: {}", msg.as_ref()));
    }

    /// Records a log line (upstream's `framework.Logf`).
    pub fn log(&self, msg: impl AsRef<str>) {
        self.record(msg.as_ref().to_string());
    }

    fn record(&self, line: String) {
        let line = format!("[{:7.3}s] {line}", self.started.elapsed().as_secs_f64());
        if self.settings.verbose {
            eprintln!("  {line}");
        }
        self.lock().log.push(line);
    }

    /// The steps and log lines recorded so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// Runs the deferred cleanups, then deletes the namespaces the case created. A namespace
    /// that cannot be deleted fails the case, as upstream's `AfterEach` does.
    pub async fn after_each(&self) -> Result<()> {
        let cleanups = std::mem::take(&mut self.lock().cleanups);
        for (what, cleanup) in cleanups.into_iter().rev() {
            self.log(format!("cleanup: {what}"));
            if tokio::time::timeout(Duration::from_secs(60), cleanup)
                .await
                .is_err()
            {
                self.log(format!("cleanup timed out: {what}"));
            }
        }
        let namespaces = std::mem::take(&mut self.lock().namespaces_to_delete);
        let api: Api<Namespace> = Api::all(self.client.clone());
        let mut errors = Vec::new();
        for ns in namespaces {
            self.step(format!("Destroying namespace {ns:?} for this suite."));
            match api.delete(&ns, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if api::is_not_found(&e) => {
                    self.log(format!("Namespace {ns} was already deleted"))
                }
                Err(e) => errors.push(format!("Couldn't delete ns: {ns:?}: {}", api::describe(&e))),
            }
        }
        if !errors.is_empty() {
            bail!("{}", errors.join(", "));
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked while logging; the data is fine.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Upstream's `RandomSuffix`: a number below 10000.
pub fn random_suffix() -> String {
    use rand::Rng;
    rand::rng().random_range(0..10000).to_string()
}

/// Five random lowercase alphanumerics, like upstream's `utilrand.String(5)`.
pub fn rand_string(n: usize) -> String {
    use rand::Rng;
    // Upstream's alphabet leaves out vowels and look-alikes so that names never spell words.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A random UUID string, like upstream's `uuid.NewUUID()`.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_suffix_is_at_most_four_digits() {
        for _ in 0..100 {
            let s = random_suffix();
            assert!(!s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn rand_string_is_a_valid_name_fragment() {
        let s = rand_string(5);
        assert_eq!(s.len(), 5);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
