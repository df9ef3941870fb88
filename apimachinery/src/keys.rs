//! Service account token keys: the private key that signs (`--service-account-signing-key-file`)
//! and the public keys that verify (`--service-account-key-file`), in the PEM forms upstream
//! reads (PKCS#8, PKCS#1 RSA and SEC1 EC private keys; PKIX public keys; certificates). RSA
//! keys sign RS256, P-256 keys ES256 and P-384 keys ES384. A key's ID is upstream's: the
//! unpadded base64url SHA-256 of its PKIX (SubjectPublicKeyInfo) DER, so tokens and the JWKS
//! document name keys as an upstream server would.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use rustls_pemfile::Item;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Key { path: String, reason: String },
}

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// A DER element: tag, definite length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

/// The PKIX DER of a public key given as an algorithm identifier and the key bits.
fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    sequence(&[algorithm, &der(0x03, &bits)])
}

fn rsa_algorithm() -> Vec<u8> {
    sequence(&[&der(0x06, RSA_ENCRYPTION), &der(0x05, &[])])
}

fn ec_algorithm(curve: &[u8]) -> Vec<u8> {
    sequence(&[&der(0x06, EC_PUBLIC_KEY), &der(0x06, curve)])
}

/// A public key that verifies tokens, parsed once.
#[derive(Clone)]
pub struct VerifyKey {
    pub kid: String,
    /// The JWS algorithm it verifies.
    pub alg: &'static str,
    material: Material,
}

#[derive(Clone)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { point: Vec<u8> },
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyKey({} {})", self.alg, self.kid)
    }
}

fn trim_zeros(b: &[u8]) -> Vec<u8> {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[first..].to_vec()
}

impl VerifyKey {
    /// Parses a PKIX (SubjectPublicKeyInfo) DER public key.
    pub fn from_spki(der: &[u8]) -> Result<Self, String> {
        let (_, info) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| format!("not a PKIX public key: {e}"))?;
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(info.raw));
        let parsed = info
            .parsed()
            .map_err(|e| format!("unreadable public key: {e}"))?;
        let (alg, material) = match parsed {
            PublicKey::RSA(rsa) => (
                "RS256",
                Material::Rsa {
                    n: trim_zeros(rsa.modulus),
                    e: trim_zeros(rsa.exponent),
                },
            ),
            PublicKey::EC(point) => {
                let alg = match point.data().len() {
                    65 => "ES256",
                    97 => "ES384",
                    n => return Err(format!("unsupported EC key ({n}-byte point)")),
                };
                (
                    alg,
                    Material::Ec {
                        point: point.data().to_vec(),
                    },
                )
            }
            _ => return Err("unsupported public key type (want RSA or ECDSA)".into()),
        };
        Ok(Self { kid, alg, material })
    }

    /// Checks a JWS signature over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            Material::Ec { point } => {
                let alg = if self.alg == "ES384" {
                    &signature::ECDSA_P384_SHA384_FIXED
                } else {
                    &signature::ECDSA_P256_SHA256_FIXED
                };
                signature::UnparsedPublicKey::new(alg, point)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }

    /// The key as a JSON Web Key, as `/openid/v1/jwks` lists it.
    pub fn jwk(&self) -> Value {
        match &self.material {
            Material::Rsa { n, e } => json!({
                "use": "sig",
                "kty": "RSA",
                "kid": self.kid,
                "alg": self.alg,
                "n": URL_SAFE_NO_PAD.encode(n),
                "e": URL_SAFE_NO_PAD.encode(e),
            }),
            Material::Ec { point } => {
                let half = (point.len() - 1) / 2;
                json!({
                    "use": "sig",
                    "kty": "EC",
                    "kid": self.kid,
                    "crv": if self.alg == "ES384" { "P-384" } else { "P-256" },
                    "alg": self.alg,
                    "x": URL_SAFE_NO_PAD.encode(&point[1..1 + half]),
                    "y": URL_SAFE_NO_PAD.encode(&point[1 + half..]),
                })
            }
        }
    }
}

enum Private {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// The private key that signs tokens.
pub struct SigningKey {
    key: Private,
    public: VerifyKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?})", self.public)
    }
}

impl SigningKey {
    pub fn load(path: &Path) -> Result<Self, Error> {
        let pem = read(path)?;
        Self::from_pem(&pem).map_err(|reason| Error::Key {
            path: path.display().to_string(),
            reason,
        })
    }

    /// The first private key in `pem`.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        for item in rustls_pemfile::read_all(&mut &pem[..]) {
            let item = item.map_err(|e| format!("not PEM: {e:?}"))?;
            let rng = SystemRandom::new();
            let key = match item {
                Item::Pkcs8Key(k) => private_from_pkcs8(k.secret_pkcs8_der(), &rng)?,
                Item::Pkcs1Key(k) => Private::Rsa(
                    RsaKeyPair::from_der(k.secret_pkcs1_der())
                        .map_err(|e| format!("unusable RSA key: {e}"))?,
                ),
                Item::Sec1Key(k) => ec_from_sec1(k.secret_sec1_der(), &rng)?,
                _ => continue,
            };
            let public = match &key {
                Private::Rsa(k) => spki(&rsa_algorithm(), k.public_key().as_ref()),
                Private::Ec(k) => {
                    let curve = if k.public_key().as_ref().len() == 97 {
                        P384
                    } else {
                        P256
                    };
                    spki(&ec_algorithm(curve), k.public_key().as_ref())
                }
            };
            return Ok(Self {
                key,
                public: VerifyKey::from_spki(&public)?,
                rng,
            });
        }
        Err("no private key found (want a PEM RSA or ECDSA private key)".into())
    }

    pub fn public(&self) -> &VerifyKey {
        &self.public
    }

    /// Signs `message` with the key's JWS algorithm.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.key {
            Private::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            Private::Ec(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
        }
    }
}

fn private_from_pkcs8(der: &[u8], rng: &SystemRandom) -> Result<Private, String> {
    if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
        return Ok(Private::Rsa(k));
    }
    for alg in [
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    ] {
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(alg, der, rng) {
            return Ok(Private::Ec(k));
        }
    }
    Err("unusable PKCS#8 key (want RSA of 2048 bits or more, or ECDSA P-256/P-384)".into())
}

/// ring reads EC keys only as PKCS#8: wrap the SEC1 key in the PKCS#8 envelope of each curve
/// until one fits.
fn ec_from_sec1(sec1: &[u8], rng: &SystemRandom) -> Result<Private, String> {
    for (curve, alg) in [
        (P256, &signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        (P384, &signature::ECDSA_P384_SHA384_FIXED_SIGNING),
    ] {
        let pkcs8 = sequence(&[&der(0x02, &[0]), &ec_algorithm(curve), &der(0x04, sec1)]);
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(alg, &pkcs8, rng) {
            return Ok(Private::Ec(k));
        }
    }
    Err("unusable EC key (want P-256 or P-384)".into())
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Every public key in a `--service-account-key-file`: public keys, certificates' keys, and
/// the public halves of private keys.
pub fn load_public(path: &Path) -> Result<Vec<VerifyKey>, Error> {
    let pem = read(path)?;
    let bad = |reason: String| Error::Key {
        path: path.display().to_string(),
        reason,
    };
    let mut keys = Vec::new();
    for item in rustls_pemfile::read_all(&mut &pem[..]) {
        let item = item.map_err(|e| bad(format!("not PEM: {e:?}")))?;
        let key = match item {
            Item::SubjectPublicKeyInfo(k) => VerifyKey::from_spki(k.as_ref()).map_err(bad)?,
            Item::X509Certificate(c) => {
                let (_, cert) = X509Certificate::from_der(c.as_ref())
                    .map_err(|e| bad(format!("unreadable certificate: {e}")))?;
                VerifyKey::from_spki(cert.public_key().raw).map_err(bad)?
            }
            Item::Pkcs8Key(_) | Item::Pkcs1Key(_) | Item::Sec1Key(_) => {
                let pem_item = match &item {
                    Item::Pkcs8Key(k) => pem_of("PRIVATE KEY", k.secret_pkcs8_der()),
                    Item::Pkcs1Key(k) => pem_of("RSA PRIVATE KEY", k.secret_pkcs1_der()),
                    Item::Sec1Key(k) => pem_of("EC PRIVATE KEY", k.secret_sec1_der()),
                    _ => continue,
                };
                SigningKey::from_pem(pem_item.as_bytes())
                    .map_err(bad)?
                    .public()
                    .clone()
            }
            _ => continue,
        };
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(bad("no public key found".into()));
    }
    Ok(keys)
}

fn pem_of(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec_pem() -> String {
        rcgen::KeyPair::generate().unwrap().serialize_pem()
    }

    #[test]
    fn ec_keys_sign_what_their_public_half_verifies() {
        let pem = ec_pem();
        let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(key.public().alg, "ES256");
        let sig = key.sign(b"hello").unwrap();
        assert!(key.public().verify(b"hello", &sig));
        assert!(!key.public().verify(b"hellO", &sig));
        let jwk = key.public().jwk();
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["kid"], key.public().kid);
    }

    #[test]
    fn public_key_files_name_the_same_key_id() {
        let kp = rcgen::KeyPair::generate().unwrap();
        let signing = SigningKey::from_pem(kp.serialize_pem().as_bytes()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sa.pub");
        std::fs::write(&path, kp.public_key_pem()).unwrap();
        let public = load_public(&path).unwrap();
        assert_eq!(public[0].kid, signing.public().kid);
        // The kid is the base64url SHA-256 of the PKIX DER, as upstream's keyIDFromPublicKey.
        assert_eq!(
            public[0].kid,
            URL_SAFE_NO_PAD.encode(Sha256::digest(kp.public_key_der()))
        );
        let private = dir.path().join("sa.key");
        std::fs::write(&private, kp.serialize_pem()).unwrap();
        assert_eq!(load_public(&private).unwrap()[0].kid, signing.public().kid);
    }

    #[test]
    fn rsa_keys_sign_rs256() {
        let key = SigningKey::from_pem(include_bytes!("testdata/rsa.pem")).unwrap();
        assert_eq!(key.public().alg, "RS256");
        let sig = key.sign(b"hello").unwrap();
        assert_eq!(sig.len(), 256);
        assert!(key.public().verify(b"hello", &sig));
        let jwk = key.public().jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
    }

    #[test]
    fn der_lengths_use_the_long_form_past_127_bytes() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}
