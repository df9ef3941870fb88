//! Compact JWS (the `header.claims.signature` form of a JWT): signing, and parsing with
//! signature checks against a set of public keys.

use crate::keys::{SigningKey, VerifyKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The issuer of legacy service account tokens (those kept in Secrets of type
/// `kubernetes.io/service-account-token`).
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// The claims of a legacy token for service account `account` (uid `uid`) written into
/// Secret `secret`, as upstream's token generator writes them.
pub fn legacy_claims(namespace: &str, secret: &str, account: &str, uid: &str) -> Value {
    json!({
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": secret,
        "kubernetes.io/serviceaccount/service-account.name": account,
        "kubernetes.io/serviceaccount/service-account.uid": uid,
        "sub": format!("system:serviceaccount:{namespace}:{account}"),
    })
}

/// A signed token for `claims`, with the key's algorithm and ID in the header.
pub fn sign(key: &SigningKey, claims: &Value) -> Result<String, String> {
    let header = json!({"alg": key.public().alg, "kid": key.public().kid});
    let encode = |v: &Value| {
        serde_json::to_vec(v)
            .map(|b| URL_SAFE_NO_PAD.encode(b))
            .map_err(|e| e.to_string())
    };
    let input = format!("{}.{}", encode(&header)?, encode(claims)?);
    let sig = key.sign(input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// A token split into its parts; the signature is not checked yet.
pub struct Parsed<'a> {
    pub header: Value,
    pub claims: Value,
    signing_input: &'a str,
    signature: Vec<u8>,
}

/// Splits and decodes a compact JWS; `None` when `token` is not one.
pub fn parse(token: &str) -> Option<Parsed<'_>> {
    let (input, sig) = token.rsplit_once('.')?;
    let (header, claims) = input.split_once('.')?;
    let decode = |part: &str| -> Option<Value> {
        let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
    };
    Some(Parsed {
        header: decode(header)?,
        claims: decode(claims)?,
        signing_input: input,
        signature: URL_SAFE_NO_PAD.decode(sig).ok()?,
    })
}

impl Parsed<'_> {
    /// Whether one of `keys` of the header's algorithm made the signature. `alg: none` and
    /// algorithms no key has never verify.
    pub fn verified_by(&self, keys: &[VerifyKey]) -> bool {
        let alg = self.header.get("alg").and_then(Value::as_str);
        keys.iter()
            .filter(|k| Some(k.alg) == alg)
            .any(|k| k.verify(self.signing_input.as_bytes(), &self.signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let key = SigningKey::from_pem(
            rcgen::KeyPair::generate()
                .unwrap()
                .serialize_pem()
                .as_bytes(),
        )
        .unwrap();
        let token = sign(&key, &json!({"sub": "alice"})).unwrap();
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.claims["sub"], "alice");
        assert_eq!(parsed.header["kid"], key.public().kid);
        assert!(parsed.verified_by(std::slice::from_ref(key.public())));

        let (_, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#);
        let header = token.split('.').next().unwrap();
        let forged = format!("{header}.{forged_claims}.{sig}");
        assert!(
            !parse(&forged)
                .unwrap()
                .verified_by(std::slice::from_ref(key.public()))
        );

        let other = SigningKey::from_pem(
            rcgen::KeyPair::generate()
                .unwrap()
                .serialize_pem()
                .as_bytes(),
        )
        .unwrap();
        assert!(!parsed.verified_by(std::slice::from_ref(other.public())));
        assert!(parse("not.a-token").is_none());
    }
}
