//! Authentication: who a request comes from. As upstream's union authenticator, in order:
//! x509 client certificates signed by the client CA (CN is the user, O the groups), then
//! bearer tokens: static ones from `--token-auth-file`, service account JWTs, and bootstrap
//! tokens. A request with a token none accepts is refused (401); one with no credentials is
//! `system:anonymous` for the authorizers to judge when `--anonymous-auth` allows, else 401.

pub mod bootstrap_token;
pub mod impersonation;
pub use apimachinery::{jwt, keys};
pub mod service_account;
pub mod token_cache;
pub mod token_file;
pub mod user;
pub mod x509;

use crate::registry::catalog::Catalog;
use crate::registry::store::OpContext;
use crate::storage::read_recent;
use base64::Engine;
use http::HeaderMap;
use serde_json::Value;
use service_account::{Refusal, Tokens};
use std::collections::HashMap;
use std::sync::Arc;
use user::UserInfo;

/// The label with the day a legacy token was last used (read by the legacy token cleaner).
const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";
/// The label the legacy token cleaner sets on tokens it invalidated.
const INVALID_SINCE: &str = "kubernetes.io/legacy-token-invalid-since";

/// The group every authenticated user is in.
pub const AUTHENTICATED: &str = "system:authenticated";
/// Who a request without credentials is, with `--anonymous-auth`.
pub const ANONYMOUS: &str = "system:anonymous";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";

/// The user of requests without credentials.
pub fn anonymous() -> UserInfo {
    UserInfo {
        name: ANONYMOUS.to_string(),
        groups: vec![UNAUTHENTICATED.to_string()],
        ..Default::default()
    }
}

/// What a connection proved about itself during the TLS handshake.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The user named by a verified client certificate.
    pub certificate_user: Option<UserInfo>,
}

/// The outcome of authenticating a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    User(UserInfo),
    /// No credentials at all.
    Anonymous,
    /// Credentials that did not check out; the reason is for logs and TokenReviews.
    Refused(String),
}

/// A token's user and the audiences it was accepted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    pub user: UserInfo,
    pub audiences: Vec<String>,
}

#[derive(Default)]
pub struct Authenticator {
    tokens: HashMap<String, UserInfo>,
    pub service_accounts: Arc<Tokens>,
    bootstrap_tokens: bool,
    /// `--anonymous-auth`: requests without credentials run as [`anonymous`].
    anonymous: bool,
    /// Where bound objects and bootstrap Secrets are looked up.
    catalog: Option<Arc<Catalog>>,
    cache: token_cache::TokenCache,
}

impl Authenticator {
    pub fn new(
        tokens: HashMap<String, UserInfo>,
        service_accounts: Arc<Tokens>,
        bootstrap_tokens: bool,
        catalog: Option<Arc<Catalog>>,
    ) -> Self {
        Self {
            tokens,
            service_accounts,
            bootstrap_tokens,
            anonymous: false,
            catalog,
            cache: Default::default(),
        }
    }

    /// Requests without credentials run as [`anonymous`] (`--anonymous-auth`).
    pub fn with_anonymous(self, anonymous: bool) -> Self {
        Self { anonymous, ..self }
    }

    pub fn anonymous_allowed(&self) -> bool {
        self.anonymous
    }

    /// The user of a request. The client certificate is tried before bearer tokens and the
    /// first success wins.
    pub async fn authenticate(&self, headers: &HeaderMap, peer: &Peer) -> Outcome {
        if let Some(user) = &peer.certificate_user {
            return Outcome::User(with_authenticated(user.clone()));
        }
        let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
            return Outcome::Anonymous;
        };
        let Some(token) = auth
            .to_str()
            .ok()
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Outcome::Refused("invalid bearer token".into());
        };
        match self.authenticate_token(token, None).await {
            Ok(Some(t)) => Outcome::User(t.user),
            Ok(None) => Outcome::Refused("invalid bearer token".into()),
            Err(e) => Outcome::Refused(e),
        }
    }

    /// The user a bearer token stands for, checked against `audiences` (a TokenReview's) or
    /// else this server's API audiences. `Ok(None)`: no authenticator knows the token.
    pub async fn authenticate_token(
        &self,
        token: &str,
        audiences: Option<&[String]>,
    ) -> Result<Option<TokenUser>, String> {
        let wanted = audiences.unwrap_or(&self.service_accounts.api_audiences);
        if let Some(hit) = self.cache.get(token, wanted) {
            return Ok(Some(hit));
        }
        let found = self.authenticate_token_uncached(token, wanted).await;
        if let Ok(Some(t)) = &found {
            self.cache.put(token, wanted, t);
        }
        found
    }

    async fn authenticate_token_uncached(
        &self,
        token: &str,
        wanted: &[String],
    ) -> Result<Option<TokenUser>, String> {
        let api_audiences = &self.service_accounts.api_audiences;
        // Static and bootstrap tokens know no audience: upstream accepts them for the
        // audiences this server itself answers to.
        let agnostic = |user: UserInfo| {
            let auds: Vec<String> = if api_audiences.is_empty() {
                wanted.to_vec()
            } else {
                wanted
                    .iter()
                    .filter(|a| api_audiences.contains(a))
                    .cloned()
                    .collect()
            };
            (!auds.is_empty() || wanted.is_empty()).then(|| TokenUser {
                user: with_authenticated(user),
                audiences: auds,
            })
        };
        if let Some(user) = self.tokens.get(token) {
            return Ok(agnostic(user.clone()));
        }
        if self.bootstrap_tokens
            && let Some((id, secret)) = bootstrap_token::split(token)
        {
            let name = bootstrap_token::secret_name(id);
            let Some(stored) = self
                .lookup("secrets", bootstrap_token::NAMESPACE, &name)
                .await?
            else {
                return Ok(None);
            };
            return bootstrap_token::user(&stored, id, secret, &crate::clock::now()).map(agnostic);
        }
        match self.service_accounts.check_legacy(token) {
            Ok(legacy) => {
                self.check_legacy_secret(&legacy, token).await?;
                return Ok(agnostic(legacy.user()));
            }
            Err(Refusal::Invalid(why)) => return Err(why),
            Err(Refusal::NotOurs) => {}
        }
        let now = chrono::Utc::now().timestamp();
        let claims = match self.service_accounts.check(token, wanted, now) {
            Ok(c) => c,
            Err(Refusal::NotOurs) => return Ok(None),
            Err(Refusal::Invalid(why)) => return Err(why),
        };
        self.check_bound_objects(&claims).await?;
        Ok(Some(TokenUser {
            user: with_authenticated(claims.user()),
            audiences: claims.audiences.clone(),
        }))
    }

    /// The objects a service account token names must still exist with the same UIDs: the
    /// token dies with its service account, pod (a minute after the pod's deletion began),
    /// secret or node.
    async fn check_bound_objects(&self, c: &service_account::Claims) -> Result<(), String> {
        const INVALIDATED: &str = "service account token has been invalidated";
        let same = |obj: &Value, uid: &str| uid.is_empty() || apimachinery::meta::uid(obj) == uid;
        let sa = self
            .lookup("serviceaccounts", &c.namespace, &c.service_account.name)
            .await?;
        match sa {
            Some(sa)
                if same(&sa, &c.service_account.uid)
                    && apimachinery::meta::deletion_timestamp(&sa).is_none() => {}
            _ => return Err(INVALIDATED.into()),
        }
        if let Some(pod) = &c.pod {
            let stored = self.lookup("pods", &c.namespace, &pod.name).await?;
            let deleted_long_ago = |p: &Value| {
                apimachinery::meta::deletion_timestamp(p)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| chrono::Utc::now().timestamp() - t.timestamp() > 60)
            };
            match stored {
                Some(p) if same(&p, &pod.uid) && !deleted_long_ago(&p) => {}
                _ => return Err(INVALIDATED.into()),
            }
        }
        if let Some(secret) = &c.secret {
            match self.lookup("secrets", &c.namespace, &secret.name).await? {
                Some(s) if same(&s, &secret.uid) => {}
                _ => return Err(INVALIDATED.into()),
            }
        }
        if let Some(node) = &c.node {
            match self.lookup("nodes", "", &node.name).await? {
                Some(n) if same(&n, &node.uid) => {}
                _ => return Err(INVALIDATED.into()),
            }
        }
        Ok(())
    }

    /// A legacy token stands as long as its Secret holds it (not marked invalid by the legacy
    /// token cleaner) and its service account is the one it names; each day it is used, the
    /// Secret's `kubernetes.io/legacy-token-last-used` label says so.
    async fn check_legacy_secret(
        &self,
        c: &service_account::LegacyClaims,
        token: &str,
    ) -> Result<(), String> {
        const INVALIDATED: &str = "service account token has been invalidated";
        let Some(secret) = self.lookup("secrets", &c.namespace, &c.secret).await? else {
            return Err(INVALIDATED.into());
        };
        let held = secret
            .pointer("/data/token")
            .and_then(Value::as_str)
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok());
        if held.as_deref() != Some(token.as_bytes())
            || apimachinery::meta::deletion_timestamp(&secret).is_some()
        {
            return Err(INVALIDATED.into());
        }
        if secret
            .pointer(&format!(
                "/metadata/labels/{}",
                INVALID_SINCE.replace('/', "~1")
            ))
            .is_some()
        {
            return Err(format!(
                "the token in secret {}/{} for service account {}/{} has been marked invalid. Use tokens from the TokenRequest API or manually created secret-based tokens, or remove the '{INVALID_SINCE}' label from the secret to re-enable it",
                c.namespace, c.secret, c.namespace, c.service_account.name
            ));
        }
        match self
            .lookup("serviceaccounts", &c.namespace, &c.service_account.name)
            .await?
        {
            Some(sa)
                if apimachinery::meta::uid(&sa) == c.service_account.uid
                    && apimachinery::meta::deletion_timestamp(&sa).is_none() => {}
            _ => return Err(INVALIDATED.into()),
        }
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let last_used = secret
            .pointer(&format!(
                "/metadata/labels/{}",
                LAST_USED.replace('/', "~1")
            ))
            .and_then(Value::as_str);
        if last_used != Some(today.as_str())
            && let Some(store) = self.catalog.as_ref().and_then(|c| c.store("secrets"))
        {
            let (namespace, name) = (c.namespace.clone(), c.secret.clone());
            // Recording use must not hold up the request, nor fail it.
            tokio::spawn(async move {
                let ctx = OpContext::system(&namespace);
                let written = store
                    .update(&ctx, &name, None, false, |old| {
                        let mut new = old.cloned().ok_or_else(|| {
                            crate::errors::ApiError::internal("the secret is gone")
                        })?;
                        apimachinery::meta::nested_mut(&mut new, &["metadata", "labels"])
                            [LAST_USED] = Value::String(today.clone());
                        Ok(new)
                    })
                    .await;
                if let Err(e) = written {
                    tracing::warn!(secret = %name, namespace = %namespace, error = %e.message, "cannot record the use of a legacy token");
                }
            });
        }
        Ok(())
    }

    /// An object from the watch cache, or from etcd when the cache has not seen it yet (a
    /// token may name a pod created a moment ago).
    async fn lookup(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, String> {
        let Some(store) = self.catalog.as_ref().and_then(|c| c.store(resource)) else {
            return Ok(None);
        };
        match read_recent(&*store.storage, &store.key(namespace, name)).await {
            Ok(Some(o)) => o.value().map(Some).map_err(|e| e.to_string()),
            Ok(None) => Ok(None),
            Err(e) => Err(format!("looking up {resource} {namespace}/{name}: {e}")),
        }
    }
}

fn with_authenticated(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == AUTHENTICATED) {
        user.groups.push(AUTHENTICATED.to_string());
    }
    user
}
