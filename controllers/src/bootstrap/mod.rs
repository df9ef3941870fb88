//! Bootstrap tokens (upstream `pkg/controller/bootstrap`): the Secrets in `kube-system` of type
//! `bootstrap.kubernetes.io/token` that let a new node find and trust the cluster. The token
//! cleaner deletes them once their `expiration` passes ([`cleaner`]); the bootstrap signer signs
//! the `kube-public/cluster-info` ConfigMap with every token meant for signing, so a joining
//! node can check the cluster's CA with its token ([`signer`]). Both are off unless asked for,
//! as upstream.

pub mod cleaner;
pub mod signer;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;

/// The type of bootstrap token Secrets.
pub const TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";

/// A bootstrap token as its Secret holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub secret: String,
    pub expiration: Option<Timestamp>,
    pub signing: bool,
}

fn field<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    let bytes = secret.data.as_ref()?.get(key)?;
    std::str::from_utf8(&bytes.0).ok()
}

/// The token of a `kube-system` bootstrap token Secret named `bootstrap-token-<id>` whose id
/// (6) and secret (16 characters, lowercase letters and digits) are well formed.
pub fn token(secret: &Secret) -> Option<Token> {
    if secret.type_.as_deref() != Some(TOKEN_TYPE)
        || secret.metadata.namespace.as_deref() != Some("kube-system")
    {
        return None;
    }
    let id = field(secret, "token-id")?;
    let value = field(secret, "token-secret")?;
    let well_formed = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let named = secret.metadata.name.as_deref() == Some(&format!("bootstrap-token-{id}"));
    if !well_formed(id, 6) || !well_formed(value, 16) || !named {
        return None;
    }
    Some(Token {
        id: id.to_string(),
        secret: value.to_string(),
        expiration: field(secret, "expiration").and_then(|e| e.parse().ok()),
        signing: field(secret, "usage-bootstrap-signing") == Some("true"),
    })
}

/// The expiration of a bootstrap token Secret, well formed or not (the cleaner deletes any
/// expired one).
pub fn expiration(secret: &Secret) -> Option<Timestamp> {
    if secret.type_.as_deref() != Some(TOKEN_TYPE) {
        return None;
    }
    field(secret, "expiration").and_then(|e| e.parse().ok())
}

/// The detached JWS (`<header>..<signature>`, HS256 keyed with the token's secret, the
/// token's id as `kid`) over `content` that joining nodes check (upstream
/// `ComputeDetachedSignature`).
pub fn detached_signature(content: &str, token: &Token) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, token.id));
    let signing_input = format!("{header}.{}", b64.encode(content));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.secret.as_bytes());
    let tag = ring::hmac::sign(&key, signing_input.as_bytes());
    format!("{header}..{}", b64.encode(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    pub(crate) fn secret(id: &str, value: &str, extra: &[(&str, &str)]) -> Secret {
        let mut data = BTreeMap::from([
            ("token-id".to_string(), ByteString(id.as_bytes().to_vec())),
            (
                "token-secret".to_string(),
                ByteString(value.as_bytes().to_vec()),
            ),
        ]);
        for (k, v) in extra {
            data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
        }
        let mut s = Secret {
            type_: Some(TOKEN_TYPE.to_string()),
            data: Some(data),
            ..Default::default()
        };
        s.metadata.name = Some(format!("bootstrap-token-{id}"));
        s.metadata.namespace = Some("kube-system".to_string());
        s
    }

    #[test]
    fn tokens_must_be_well_formed_and_named_after_their_id() {
        let t = token(&secret(
            "abcdef",
            "0123456789abcdef",
            &[
                ("usage-bootstrap-signing", "true"),
                ("expiration", "2030-01-01T00:00:00Z"),
            ],
        ))
        .unwrap();
        assert!(t.signing);
        assert_eq!(t.expiration, Some("2030-01-01T00:00:00Z".parse().unwrap()));
        assert!(token(&secret("ABCDEF", "0123456789abcdef", &[])).is_none());
        assert!(token(&secret("abcdef", "short", &[])).is_none());
        let mut renamed = secret("abcdef", "0123456789abcdef", &[]);
        renamed.metadata.name = Some("other".to_string());
        assert!(token(&renamed).is_none());
    }

    #[test]
    fn signatures_are_detached_hs256_jws() {
        let t = token(&secret("abcdef", "0123456789abcdef", &[])).unwrap();
        let sig = detached_signature("content", &t);
        let (header, signature) = sig.split_once("..").unwrap();
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        assert_eq!(decoded, br#"{"alg":"HS256","kid":"abcdef"}"#);
        assert_eq!(signature.len(), 43, "32 bytes of HMAC-SHA256, unpadded");
        assert_eq!(sig, detached_signature("content", &t));
        assert_ne!(sig, detached_signature("other", &t));
    }
}
