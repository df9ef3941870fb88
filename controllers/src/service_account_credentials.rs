//! `--use-service-account-credentials`: each controller talks to the apiserver as its own
//! service account in kube-system (`system:serviceaccount:kube-system:deployment-controller`,
//! ...), which upstream's bootstrap policy binds to the `system:controller:<name>` role, as
//! upstream's SA client builder does. The manager's own identity only creates the accounts,
//! requests their tokens and watches (its role grants list/watch on everything).
//!
//! Tokens come from the TokenRequest API, live an hour and are renewed at 80% of their life;
//! they stay in memory and go out in each request's `Authorization` header.

use crate::{Error, Result, client};
use http::HeaderValue;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ObjectMeta, PostParams};
use std::sync::{Arc, RwLock};
use std::time::Duration;

const NAMESPACE: &str = "kube-system";
const TOKEN_SECONDS: i64 = 3600;

/// Builds controller clients that authenticate with their service account's tokens.
pub struct Credentials {
    config: kube::Config,
    accounts: Api<ServiceAccount>,
}

impl Credentials {
    /// `config` is the manager's own (its certificate or token creates accounts and tokens).
    pub fn new(config: &kube::Config) -> Result<Self> {
        let root = client::for_controller(config, "tokens")?;
        Ok(Self {
            config: config.clone(),
            accounts: Api::namespaced(root, NAMESPACE),
        })
    }

    /// A client for `controller` acting as service account `account`, whose token is kept
    /// fresh for as long as the process runs. Waits until the account has a token.
    pub async fn client(&self, controller: &str, account: &str) -> Result<kube::Client> {
        let token = Arc::new(RwLock::new(self.token_until_issued(account).await));
        let renewer = Renewer {
            accounts: self.accounts.clone(),
            account: account.to_string(),
            token: token.clone(),
        };
        tokio::spawn(renewer.run());
        let mut config = self.config.clone();
        // Only the bearer token speaks for the controller: no client certificate, no other
        // credentials of the manager's.
        config.auth_info = Default::default();
        config
            .headers
            .retain(|(name, _)| name != http::header::USER_AGENT);
        if let Ok(agent) = client::user_agent(controller).parse() {
            config.headers.push((http::header::USER_AGENT, agent));
        }
        let layer =
            tower::util::MapRequestLayer::new(move |mut req: http::Request<kube::client::Body>| {
                let value = token.read().unwrap_or_else(|p| p.into_inner()).clone();
                req.headers_mut().insert(http::header::AUTHORIZATION, value);
                req
            });
        Ok(kube::client::ClientBuilder::try_from(config)
            .map_err(Error::Client)?
            .with_layer(&layer)
            .build())
    }

    /// The first token of `account`, retried until the apiserver gives one (at start-up the
    /// policy that lets the manager ask may still be on its way).
    async fn token_until_issued(&self, account: &str) -> HeaderValue {
        let mut delay = Duration::from_millis(100);
        loop {
            match issue(&self.accounts, account).await {
                Ok(token) => return token,
                Err(e) => {
                    tracing::warn!(
                        "Getting a token for service account {NAMESPACE}/{account} failed, retrying: {e}"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

/// Renews one account's token before it expires.
struct Renewer {
    accounts: Api<ServiceAccount>,
    account: String,
    token: Arc<RwLock<HeaderValue>>,
}

impl Renewer {
    async fn run(self) {
        let renew_after = Duration::from_secs((TOKEN_SECONDS as u64) * 4 / 5);
        loop {
            tokio::time::sleep(renew_after).await;
            let mut retry = Duration::from_secs(1);
            loop {
                match issue(&self.accounts, &self.account).await {
                    Ok(token) => {
                        *self.token.write().unwrap_or_else(|p| p.into_inner()) = token;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(
                            "Renewing the token of service account {NAMESPACE}/{} failed, retrying: {e}",
                            self.account
                        );
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(Duration::from_secs(60));
                    }
                }
            }
        }
    }
}

/// Creates the account when missing (as upstream's builder does) and requests a token for
/// it, as an `Authorization` header value.
async fn issue(accounts: &Api<ServiceAccount>, account: &str) -> Result<HeaderValue, String> {
    if accounts
        .get_opt(account)
        .await
        .map_err(|e| format!("reading the account: {e}"))?
        .is_none()
    {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(account.to_string()),
                namespace: Some(NAMESPACE.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match accounts.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(format!("creating the account: {e}")),
        }
    }
    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(TOKEN_SECONDS),
            ..Default::default()
        },
        ..Default::default()
    };
    let issued = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .map_err(|e| format!("requesting a token: {e}"))?;
    let token = issued.status.map(|s| s.token).unwrap_or_default();
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| format!("unusable token: {e}"))?;
    value.set_sensitive(true);
    Ok(value)
}
