//! The `continue` token of paginated lists, in upstream's format: base64 of
//! `{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<key after the prefix>"}`, so a page can be
//! resumed at the first page's revision.

use super::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// A decoded continue token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    #[serde(rename = "v")]
    pub api_version: String,
    #[serde(rename = "rv")]
    pub rv: i64,
    /// The key to resume at, relative to the list's prefix.
    pub start: String,
}

const VERSION: &str = "meta.k8s.io/v1";

/// The revision of a token that continues at the latest revision (handed out when a token
/// expired), as upstream's `-1`; `0` stays invalid so a token without a revision is caught.
pub const LATEST: i64 = -1;

pub fn encode(rv: i64, start: &str) -> String {
    let token = Token {
        api_version: VERSION.to_string(),
        rv,
        start: start.to_string(),
    };
    let json = serde_json::to_vec(&token).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode(s: &str) -> Result<Token> {
    let bad = |why: &str| Error::InvalidContinue(format!("continue key is not valid: {why}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(s))
        .map_err(|e| bad(&e.to_string()))?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
    if token.api_version != VERSION {
        return Err(bad(&format!(
            "incorrect encoded start resourceVersion (version {})",
            token.api_version
        )));
    }
    if token.rv == 0 || token.rv < LATEST {
        return Err(bad(&format!(
            "incorrect encoded start resourceVersion (version {VERSION})"
        )));
    }
    if token.start.is_empty() {
        return Err(bad("encoded start key empty"));
    }
    if token.start.contains("..") || token.start.starts_with('/') {
        return Err(bad("path traversal attempt detected"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = encode(42, "ns/name\u{0}");
        let d = decode(&t).unwrap();
        assert_eq!(d.rv, 42);
        assert_eq!(d.start, "ns/name\u{0}");
        assert!(decode("not-base64!").is_err());
        assert!(
            decode(&URL_SAFE_NO_PAD.encode(br#"{"v":"meta.k8s.io/v1","rv":1,"start":"../x"}"#))
                .is_err()
        );
    }
}
