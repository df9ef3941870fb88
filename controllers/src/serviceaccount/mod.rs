//! The serviceaccount controller (upstream `pkg/controller/serviceaccount`,
//! `serviceaccounts_controller.go`): every active namespace has a `default` ServiceAccount, and
//! one that is deleted is created again.
//!
//! Where the apiserver does not serve serviceaccounts, its watch and its creates fail; it logs
//! that and retries with backoff, and the other controllers carry on.

pub mod tokens;

use crate::client::{self, NAMESPACE_TERMINATING_CAUSE, has_cause, is_already_exists};
use crate::queue::{self, Backoff};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use std::sync::Arc;
use tracing::Instrument;

/// The controller's name (upstream `names.ServiceAccountController`).
pub const NAME: &str = "serviceaccount-controller";

/// The ServiceAccount every namespace gets.
pub const DEFAULT: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading ServiceAccount {namespace}/{name}: {}", client::message(.source))]
    Get {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("creating ServiceAccount {namespace}/{name}: {}", client::message(.source))]
    Create {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    client: kube::Client,
    /// Reads go through the watch identity, as upstream's read listers: the controller's
    /// own role only lets it write.
    reader: kube::Client,
    backoff: Backoff,
}

/// Runs the controller until the process stops.
/// Runs the controller; it writes through `client` and watches through `watch`.
pub async fn run(client: kube::Client, watch: kube::Client) {
    let ctx = Arc::new(Context {
        client,
        reader: watch.clone(),
        backoff: Backoff::default(),
    });
    let accounts = watcher::Config::default().fields(&format!("metadata.name={DEFAULT}"));
    let stream = Controller::new(
        Api::<Namespace>::all(watch.clone()),
        watcher::Config::default(),
    )
    // A deleted `default` ServiceAccount brings its namespace back for a sync.
    .watches(Api::<ServiceAccount>::all(watch), accounts, |sa| {
        sa.metadata.namespace.as_deref().map(ObjectRef::new)
    })
    .with_config(controller::Config::default().concurrency(1))
    .run(reconcile, error_policy, ctx);
    queue::drive(NAME, stream).await;
}

/// Whether ServiceAccounts belong in `ns`: only active namespaces get new content.
pub fn wants_accounts(ns: &Namespace) -> bool {
    ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Active")
}

/// Whether a failed create still leaves the namespace as it should be: the account exists
/// already, or the namespace is being deleted and will not need one.
pub fn create_error_is_harmless(err: &kube::Error) -> bool {
    is_already_exists(err) || has_cause(err, NAMESPACE_TERMINATING_CAUSE)
}

/// The ServiceAccount to create in `namespace`.
pub fn account(namespace: &str, name: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = crate::metrics::WorkTimer::start("serviceaccount");
    let namespace = ns.metadata.name.clone().unwrap_or_default();
    let span = tracing::info_span!(
        "reconcile",
        controller = NAME,
        namespace = %namespace,
        name = %DEFAULT,
    );
    async move {
        if !wants_accounts(&ns) {
            return Ok(Action::await_change());
        }
        let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &namespace);
        let existing = Api::<ServiceAccount>::namespaced(ctx.reader.clone(), &namespace)
            .get_opt(DEFAULT)
            .await
            .map_err(|source| Error::Get {
                namespace: namespace.clone(),
                name: DEFAULT.to_string(),
                source,
            })?;
        if existing.is_none() {
            match api
                .create(&PostParams::default(), &account(&namespace, DEFAULT))
                .await
            {
                Ok(_) => tracing::info!("Created ServiceAccount {namespace}/{DEFAULT}."),
                Err(e) if create_error_is_harmless(&e) => {}
                Err(source) => {
                    return Err(Error::Create {
                        namespace,
                        name: DEFAULT.to_string(),
                        source,
                    });
                }
            }
        }
        ctx.backoff.forget(&namespace);
        Ok(Action::await_change())
    }
    .instrument(span)
    .await
}

fn error_policy(ns: Arc<Namespace>, err: &Error, ctx: Arc<Context>) -> Action {
    let namespace = ns.metadata.name.as_deref().unwrap_or_default();
    let delay = ctx.backoff.next_delay(namespace);
    tracing::warn!("Syncing namespace {namespace} failed: {err}. Retrying in {delay:?}.");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::{api_error, not_found, terminating};
    use k8s_openapi::api::core::v1::NamespaceStatus;

    fn ns(phase: Option<&str>) -> Namespace {
        Namespace {
            status: Some(NamespaceStatus {
                phase: phase.map(str::to_string),
                conditions: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_active_namespaces_get_accounts() {
        assert!(wants_accounts(&ns(Some("Active"))));
        assert!(!wants_accounts(&ns(Some("Terminating"))));
        assert!(!wants_accounts(&ns(None)));
        assert!(!wants_accounts(&Namespace::default()));
    }

    #[test]
    fn existing_accounts_and_terminating_namespaces_are_not_failures() {
        assert!(create_error_is_harmless(&api_error(
            409,
            "AlreadyExists",
            "serviceaccounts \"default\" already exists"
        )));
        assert!(create_error_is_harmless(&terminating("x")));
        // A plain Forbidden is a failure, and so is a server without serviceaccounts.
        assert!(!create_error_is_harmless(&api_error(
            403,
            "Forbidden",
            "no"
        )));
        assert!(!create_error_is_harmless(&not_found(
            "the server could not find the requested resource"
        )));
    }

    #[test]
    fn creates_a_bare_default_account() {
        let sa = account("x", DEFAULT);
        assert_eq!(sa.metadata.name.as_deref(), Some("default"));
        assert_eq!(sa.metadata.namespace.as_deref(), Some("x"));
        assert!(sa.secrets.is_none() && sa.automount_service_account_token.is_none());
    }

    #[test]
    fn errors_name_the_account() {
        let e = Error::Create {
            namespace: "x".to_string(),
            name: DEFAULT.to_string(),
            source: api_error(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        };
        assert_eq!(
            e.to_string(),
            "creating ServiceAccount x/default: the server could not find the requested resource"
        );
    }
}
