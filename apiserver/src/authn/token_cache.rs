//! Upstream's cache of token authentications (`--authentication-token-cache-ttl`'s success
//! half): a token accepted for some audiences is accepted again for ten seconds without its
//! signature checked or its bound objects looked up. Refusals are not cached. Keys are
//! SHA-256 digests, so the cache holds no token.

use super::TokenUser;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a success is remembered (upstream's default).
pub const TTL: Duration = Duration::from_secs(10);
/// Beyond this many entries the expired ones are dropped, then everything if need be.
const CAPACITY: usize = 4096;

type Key = [u8; 32];

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<Key, (Instant, TokenUser)>>,
}

fn key(token: &str, audiences: &[String]) -> Key {
    let mut h = Sha256::new();
    h.update(token.as_bytes());
    for a in audiences {
        h.update([0]);
        h.update(a.as_bytes());
    }
    h.finalize().into()
}

impl TokenCache {
    pub fn get(&self, token: &str, audiences: &[String]) -> Option<TokenUser> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&key(token, audiences))
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, user)| user.clone())
    }

    pub fn put(&self, token: &str, audiences: &[String], user: &TokenUser) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key(token, audiences), (Instant::now(), user.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::user::UserInfo;

    #[test]
    fn successes_are_remembered_per_token_and_audiences() {
        let cache = TokenCache::default();
        let auds = vec!["api".to_string()];
        let user = TokenUser {
            user: UserInfo {
                name: "bot".into(),
                ..Default::default()
            },
            audiences: auds.clone(),
        };
        assert!(cache.get("t", &auds).is_none());
        cache.put("t", &auds, &user);
        assert_eq!(cache.get("t", &auds), Some(user));
        assert!(cache.get("t", &["vault".to_string()]).is_none());
        assert!(cache.get("u", &auds).is_none());
    }
}
