//! Authentication: who a request comes from. x509 client certificates signed by the client CA
//! (CN is the user, O the groups) and static bearer tokens from `--token-auth-file`; anything
//! else is anonymous, which only the health and version endpoints accept.

pub mod token_file;
pub mod user;
pub mod x509;

use http::HeaderMap;
use std::collections::HashMap;
use user::UserInfo;

/// The group every authenticated user is in.
pub const AUTHENTICATED: &str = "system:authenticated";

/// What a connection proved about itself during the TLS handshake.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The user named by a verified client certificate.
    pub certificate_user: Option<UserInfo>,
}

#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: HashMap<String, UserInfo>,
}

impl Authenticator {
    pub fn new(tokens: HashMap<String, UserInfo>) -> Self {
        Self { tokens }
    }

    /// The user of a request, or `None` for anonymous. As upstream's union authenticator, the
    /// client certificate is tried before bearer tokens and the first success wins.
    pub fn authenticate(&self, headers: &HeaderMap, peer: &Peer) -> Option<UserInfo> {
        if let Some(user) = &peer.certificate_user {
            return Some(with_authenticated(user.clone()));
        }
        let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = auth.strip_prefix("Bearer ")?.trim();
        self.tokens.get(token).cloned().map(with_authenticated)
    }
}

fn with_authenticated(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == AUTHENTICATED) {
        user.groups.push(AUTHENTICATED.to_string());
    }
    user
}
