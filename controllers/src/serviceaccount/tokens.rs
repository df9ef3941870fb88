//! The token controller (upstream `pkg/controller/serviceaccount/tokens_controller.go`):
//! Secrets of type `kubernetes.io/service-account-token` naming a service account
//! (`kubernetes.io/service-account.name`) get a legacy token for it, signed with
//! `--service-account-private-key-file`, the cluster CA (`ca.crt`) and their namespace; the
//! account's uid is recorded on them. A Secret whose account is gone, or is another account
//! by now, is deleted.
//!
//! It runs with the controller manager's own credentials, as upstream's, since the accounts
//! it serves may be the other controllers' own.

use crate::client;
use crate::queue::{self, Backoff};
use apimachinery::keys::SigningKey;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use std::sync::Arc;
use tracing::Instrument;

/// The controller's name (upstream `names.ServiceAccountTokenController`).
pub const NAME: &str = "serviceaccount-token-controller";

pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
pub const NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
pub const UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading ServiceAccount {namespace}/{name}: {}", client::message(.source))]
    Get {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing Secret {namespace}/{name}: {}", client::message(.source))]
    Write {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("signing a token for Secret {namespace}/{name}: {reason}")]
    Sign {
        namespace: String,
        name: String,
        reason: String,
    },
}

struct Context {
    client: kube::Client,
    key: Arc<SigningKey>,
    root_ca: Vec<u8>,
    backoff: Backoff,
}

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, key: Arc<SigningKey>, root_ca: Vec<u8>) {
    let ctx = Arc::new(Context {
        client: client.clone(),
        key,
        root_ca,
        backoff: Backoff::default(),
    });
    let controller = Controller::new(
        Api::<Secret>::all(client.clone()),
        watcher::Config::default(),
    );
    let secrets = controller.store();
    // A service account that goes (or comes back) brings its token Secrets up for a sync.
    let stream = controller
        .watches(
            Api::<ServiceAccount>::all(client),
            watcher::Config::default(),
            move |sa| {
                let namespace = sa.metadata.namespace.clone().unwrap_or_default();
                let name = sa.metadata.name.clone().unwrap_or_default();
                secrets
                    .state()
                    .iter()
                    .filter(|s| {
                        s.metadata.namespace.as_deref() == Some(namespace.as_str())
                            && annotation(s, NAME_ANNOTATION) == name
                    })
                    .map(|s| ObjectRef::from_obj(&**s))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(controller::Config::default().concurrency(1))
        .run(reconcile, error_policy, ctx);
    queue::drive(NAME, stream).await;
}

fn annotation<'a>(secret: &'a Secret, key: &str) -> &'a str {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
        .unwrap_or_default()
}

/// The Secret as it should be for `sa`, when it is not already.
fn filled(
    secret: &Secret,
    sa: &ServiceAccount,
    key: &SigningKey,
    root_ca: &[u8],
) -> Result<Option<Secret>, Error> {
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let uid = sa.metadata.uid.clone().unwrap_or_default();
    let data = secret.data.clone().unwrap_or_default();
    let has = |k: &str, want: Option<&[u8]>| {
        data.get(k)
            .is_some_and(|v| !v.0.is_empty() && want.is_none_or(|w| v.0 == w))
    };
    let complete = has("token", None)
        && has("ca.crt", Some(root_ca))
        && has("namespace", Some(namespace.as_bytes()))
        && annotation(secret, UID_ANNOTATION) == uid;
    if complete {
        return Ok(None);
    }
    let mut new = secret.clone();
    let data = new.data.get_or_insert_with(Default::default);
    if !has("token", None) {
        let account = annotation(secret, NAME_ANNOTATION);
        let token = apimachinery::jwt::sign(
            key,
            &apimachinery::jwt::legacy_claims(&namespace, &name, account, &uid),
        )
        .map_err(|reason| Error::Sign {
            namespace: namespace.clone(),
            name: name.clone(),
            reason,
        })?;
        data.insert("token".to_string(), ByteString(token.into_bytes()));
    }
    data.insert("ca.crt".to_string(), ByteString(root_ca.to_vec()));
    data.insert(
        "namespace".to_string(),
        ByteString(namespace.clone().into_bytes()),
    );
    new.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(UID_ANNOTATION.to_string(), uid);
    Ok(Some(new))
}

async fn reconcile(secret: Arc<Secret>, ctx: Arc<Context>) -> Result<Action, Error> {
    if secret.type_.as_deref() != Some(TOKEN_TYPE) || secret.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let span =
        tracing::info_span!("reconcile", controller = NAME, namespace = %namespace, name = %name);
    async move {
        let account = annotation(&secret, NAME_ANNOTATION);
        let sa = Api::<ServiceAccount>::namespaced(ctx.client.clone(), &namespace)
            .get_opt(account)
            .await
            .map_err(|source| Error::Get {
                namespace: namespace.clone(),
                name: account.to_string(),
                source,
            })?;
        let recorded_uid = annotation(&secret, UID_ANNOTATION);
        let secrets = Api::<Secret>::namespaced(ctx.client.clone(), &namespace);
        let write_error = |source| Error::Write {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        };
        let sa = match sa {
            Some(sa)
                if recorded_uid.is_empty()
                    || sa.metadata.uid.as_deref() == Some(recorded_uid) =>
            {
                sa
            }
            _ => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: secret.metadata.uid.clone(),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match secrets.delete(&name, &params).await {
                    Ok(_) => tracing::info!(
                        "Deleted Secret {namespace}/{name}: its service account {account:?} is gone."
                    ),
                    Err(e) if client::is_not_found(&e) => {}
                    Err(source) => return Err(write_error(source)),
                }
                return Ok(Action::await_change());
            }
        };
        if let Some(new) = filled(&secret, &sa, &ctx.key, &ctx.root_ca)? {
            secrets
                .replace(&name, &PostParams::default(), &new)
                .await
                .map_err(write_error)?;
        }
        ctx.backoff.forget(&format!("{namespace}/{name}"));
        Ok(Action::await_change())
    }
    .instrument(span)
    .await
}

fn error_policy(secret: Arc<Secret>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}",
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default()
    );
    let delay = ctx.backoff.next_delay(&key);
    tracing::warn!("Syncing token Secret {key} failed: {err}. Retrying in {delay:?}.");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_upstreams_legacy_ones() {
        let c = apimachinery::jwt::legacy_claims("ns", "s", "sa", "u");
        assert_eq!(c["iss"], "kubernetes/serviceaccount");
        assert_eq!(c["sub"], "system:serviceaccount:ns:sa");
        assert_eq!(c["kubernetes.io/serviceaccount/secret.name"], "s");
        assert_eq!(c["kubernetes.io/serviceaccount/service-account.uid"], "u");
    }

    #[test]
    fn a_filled_secret_is_left_alone() {
        let key = SigningKey::from_pem(
            rcgen::KeyPair::generate()
                .unwrap()
                .serialize_pem()
                .as_bytes(),
        )
        .unwrap();
        let sa = ServiceAccount {
            metadata: kube::api::ObjectMeta {
                uid: Some("u".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("s".into()),
                namespace: Some("ns".into()),
                annotations: Some([(NAME_ANNOTATION.to_string(), "sa".to_string())].into()),
                ..Default::default()
            },
            type_: Some(TOKEN_TYPE.into()),
            ..Default::default()
        };
        let new = filled(&secret, &sa, &key, b"ca").unwrap().unwrap();
        let data = new.data.clone().unwrap();
        assert_eq!(data["ca.crt"].0, b"ca");
        assert_eq!(data["namespace"].0, b"ns");
        let token = String::from_utf8(data["token"].0.clone()).unwrap();
        let parsed = apimachinery::jwt::parse(&token).unwrap();
        assert_eq!(
            parsed.claims["kubernetes.io/serviceaccount/service-account.uid"],
            "u"
        );
        assert_eq!(annotation(&new, UID_ANNOTATION), "u");
        assert!(filled(&new, &sa, &key, b"ca").unwrap().is_none());
    }
}
