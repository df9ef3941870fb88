//! Encryption at rest: upstream kube-apiserver's `--encryption-provider-config`, with upstream's
//! wire formats, so an etcd written by either apiserver reads in the other (as long as the
//! plaintext inside is JSON: upstream's `--storage-media-type=application/json`).
//!
//! [`config`] parses and validates the `EncryptionConfiguration` file into
//! [`ResourceTransformers`]: for each configured resource a [`Transformer`], the resource's
//! providers in order. Storage ([`crate::storage::etcd`] and the watch cache's hub) calls
//! [`write`] on every value it puts and [`read`] on every value it gets, lists or watches, so
//! everything above storage sees plaintext JSON.
//!
//! A stored value is either plaintext (JSON starts with `{`) or
//! `k8s:enc:<provider>:v1:<key name>:<ciphertext>`:
//!
//! - writes use the first provider, and its first key (`identity` writes plaintext);
//! - reads use the provider whose prefix the value carries, then the key the value names; a
//!   value read with anything but the first provider's first key is *stale*: an update must
//!   rewrite it even if nothing changed, which is how `kubectl replace` rotates keys;
//! - `identity` reads plaintext only: an encrypted value falls through to the providers after
//!   it, so `[identity, aescbc]` reads old encrypted values while writing plaintext;
//! - resources no rule names (and every resource when no file is given) get no transformer
//!   at all: values pass through untouched, only checked not to be encrypted.
//!
//! ```
//! use apiserver::storage::encryption::{ResourceTransformers, read, write};
//! let config = br#"{"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
//!   "resources": [{"resources": ["secrets"], "providers": [
//!     {"aescbc": {"keys": [{"name": "key1", "secret": "c2VjcmV0IGlzIHNlY3VyZSwgSSB0aGluayBzbyEhISE="}]}}]}]}"#;
//! let transformers = ResourceTransformers::parse(config, "inline").unwrap();
//! let secrets = transformers.transformer_for("", "secrets");
//! let key = b"/registry/secrets/default/s1";
//! let stored = write(secrets.as_deref(), key, br#"{"kind":"Secret"}"#).unwrap();
//! assert!(stored.starts_with(b"k8s:enc:aescbc:v1:key1:"));
//! let plain = read(secrets.as_deref(), key, &stored).unwrap();
//! assert_eq!(&*plain.bytes, br#"{"kind":"Secret"}"#);
//! assert!(transformers.transformer_for("", "configmaps").is_none());
//! ```

mod aescbc;
mod aesgcm;
pub mod config;
mod secretbox;

pub use config::ConfigError;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// What every encrypted value starts with, and no JSON (or protobuf) value does.
pub const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";

/// Why a value could not be encrypted or decrypted. The messages follow upstream's, so an
/// operator's searches find the same answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The value is shorter than the IV or nonce (and tag) its provider puts first.
    #[error("the stored data was shorter than the required size")]
    TooShort,
    /// An aescbc value whose ciphertext is not whole blocks.
    #[error("the stored data is not a multiple of the block size")]
    NotBlockAligned,
    /// An aescbc value whose last byte is no padding length: usually the wrong key.
    #[error("invalid PKCS7 data (empty or not padded)")]
    InvalidPkcs7Data,
    /// An aescbc value whose padding bytes disagree: usually the wrong key.
    #[error("invalid padding on input")]
    InvalidPadding,
    /// An aesgcm or secretbox value that does not authenticate: the wrong key, a tampered
    /// value, or (aesgcm) a value moved to another etcd key.
    #[error("message authentication failed")]
    Authentication,
    /// An encrypted value where only plaintext is read (no provider, or `identity` alone).
    #[error("identity transformer tried to read encrypted data")]
    EncryptedForIdentity,
    /// A value of a configured provider that names a key the provider does not list.
    #[error("no matching key was found for the provided {family} transformer{}", written_with(.key))]
    NoMatchingKey {
        /// `AES` or `Secretbox`, as upstream words it.
        family: &'static str,
        /// The key name the value carries, when it is readable.
        key: Option<String>,
    },
    /// A value no configured provider's prefix matches.
    #[error("no matching prefix found")]
    NoMatchingPrefix,
    /// The operating system's random source failed.
    #[error("unable to read sufficient random bytes: {0}")]
    Random(String),
    /// The cipher refused to encrypt (it never does for values of any realistic size).
    #[error("encryption failed")]
    Encrypt,
    /// A key of a size the cipher does not take (configuration validation prevents it).
    #[error("invalid key size {0}")]
    KeySize(usize),
    /// Several providers shared the value's prefix and each failed.
    #[error("{}", aggregate_message(.0))]
    Several(Vec<TransformError>),
}

/// Which key a value names, after upstream's "no matching key" message (which does not say).
fn written_with(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" (the value was written with key {k:?})"))
        .unwrap_or_default()
}

/// Upstream's aggregate error text: one message alone, several (deduplicated) in brackets.
fn aggregate_message(errors: &[TransformError]) -> String {
    // Nested aggregates are flattened, as Go's `Aggregate` visits them.
    fn visit(errors: &[TransformError], seen: &mut Vec<String>) {
        for e in errors {
            match e {
                TransformError::Several(inner) => visit(inner, seen),
                e => {
                    let m = e.to_string();
                    if !seen.contains(&m) {
                        seen.push(m);
                    }
                }
            }
        }
    }
    let mut seen = Vec::new();
    visit(errors, &mut seen);
    match seen.as_slice() {
        [one] => one.clone(),
        _ => format!("[{}]", seen.join(", ")),
    }
}

fn aggregate(mut errors: Vec<TransformError>) -> Option<TransformError> {
    match errors.len() {
        0 => None,
        1 => errors.pop(),
        _ => Some(TransformError::Several(errors)),
    }
}

/// `N` bytes from the operating system's random source, as upstream reads `crypto/rand`.
fn random<const N: usize>() -> Result<[u8; N], TransformError> {
    use rand::TryRngCore;
    let mut out = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut out)
        .map_err(|e| TransformError::Random(e.to_string()))?;
    Ok(out)
}

/// The encrypting providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    AesCbc,
    AesGcm,
    Secretbox,
}

impl Kind {
    /// The prefix of this provider's values (the key name and `:` follow).
    fn prefix(self) -> &'static [u8] {
        match self {
            Self::AesCbc => b"k8s:enc:aescbc:v1:",
            Self::AesGcm => b"k8s:enc:aesgcm:v1:",
            Self::Secretbox => b"k8s:enc:secretbox:v1:",
        }
    }

    /// The provider's name in the configuration file.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::AesCbc => "aescbc",
            Self::AesGcm => "aesgcm",
            Self::Secretbox => "secretbox",
        }
    }

    /// How upstream's "no matching key" error names the provider.
    fn family(self) -> &'static str {
        match self {
            Self::AesCbc | Self::AesGcm => "AES",
            Self::Secretbox => "Secretbox",
        }
    }

    /// The key sizes the provider takes, in bytes.
    pub(crate) fn key_sizes(self) -> &'static [usize] {
        match self {
            Self::AesCbc | Self::AesGcm => &[16, 24, 32],
            Self::Secretbox => &[32],
        }
    }
}

/// One key's cipher.
#[derive(Clone)]
enum Cipher {
    /// Boxed: expanded AES keys are large, and key lists are short.
    AesCbc(Box<aescbc::AesCbc>),
    AesGcm(aesgcm::AesGcmKey),
    Secretbox(secretbox::Secretbox),
}

impl Cipher {
    fn new(kind: Kind, secret: &[u8]) -> Result<Self, TransformError> {
        Ok(match kind {
            Kind::AesCbc => Self::AesCbc(Box::new(aescbc::AesCbc::new(secret)?)),
            Kind::AesGcm => Self::AesGcm(aesgcm::AesGcmKey::new(secret)?),
            Kind::Secretbox => Self::Secretbox(secretbox::Secretbox::new(secret)?),
        })
    }

    /// Appends the encrypted `plaintext` to `out`; `aad` is the etcd key.
    fn seal(&self, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), TransformError> {
        match self {
            Self::AesCbc(c) => c.seal(plaintext, out),
            Self::AesGcm(c) => c.seal(aad, plaintext, out),
            Self::Secretbox(c) => c.seal(plaintext, out),
        }
    }

    fn open(&self, aad: &[u8], data: &[u8]) -> Result<Vec<u8>, TransformError> {
        match self {
            Self::AesCbc(c) => c.open(data),
            Self::AesGcm(c) => c.open(aad, data),
            Self::Secretbox(c) => c.open(data),
        }
    }
}

/// A named key of a provider.
#[derive(Clone)]
pub(crate) struct Key {
    name: String,
    cipher: Cipher,
}

impl Key {
    pub(crate) fn new(kind: Kind, name: &str, secret: &[u8]) -> Result<Self, TransformError> {
        Ok(Self {
            name: name.to_string(),
            cipher: Cipher::new(kind, secret)?,
        })
    }
}

/// One entry of a resource rule's `providers`.
pub(crate) enum Provider {
    Identity,
    Keyed { kind: Kind, keys: Vec<Key> },
}

impl fmt::Debug for Provider {
    /// Names and key names only: key material never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Identity => f.write_str("identity"),
            Self::Keyed { kind, keys } => {
                let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
                write!(f, "{}{names:?}", kind.name())
            }
        }
    }
}

impl Provider {
    /// Opens a value whose provider prefix has been stripped with the key it names; returns
    /// the plaintext and the index of the key.
    fn open(&self, aad: &[u8], rest: &[u8]) -> Result<(Vec<u8>, usize), TransformError> {
        let Self::Keyed { kind, keys } = self else {
            return Err(TransformError::NoMatchingPrefix);
        };
        let mut errors = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let Some(data) = rest
                .strip_prefix(key.name.as_bytes())
                .and_then(|r| r.strip_prefix(b":"))
            else {
                continue;
            };
            match key.cipher.open(aad, data) {
                Ok(plain) => return Ok((plain, i)),
                // Key names may prefix one another ("a" and "a:b"): keep trying.
                Err(e) => errors.push(e),
            }
        }
        Err(
            aggregate(errors).unwrap_or_else(|| TransformError::NoMatchingKey {
                family: kind.family(),
                key: key_name_of(rest),
            }),
        )
    }
}

/// The key name a value carries (what precedes the next `:`), when it reads as one.
fn key_name_of(rest: &[u8]) -> Option<String> {
    let end = rest.iter().take(256).position(|b| *b == b':')?;
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    (!name.is_empty() && name.chars().all(|c| !c.is_control())).then(|| name.to_string())
}

/// One resource's providers, in the order the configuration lists them (rules naming the
/// same resource contribute theirs in file order).
#[derive(Debug)]
pub struct Transformer {
    providers: Vec<Arc<Provider>>,
}

/// A value read from storage.
#[derive(Debug)]
pub struct Plain<'a> {
    /// The plaintext: borrowed from the stored value when it was stored as plaintext.
    pub bytes: Cow<'a, [u8]>,
    /// Read with something other than the write provider's write key: an update must rewrite
    /// the value even when the object is unchanged.
    pub stale: bool,
}

impl Transformer {
    pub(crate) fn new(providers: Vec<Arc<Provider>>) -> Self {
        Self { providers }
    }

    /// The value to store for `plaintext` under the etcd key `aad`.
    pub fn to_storage<'a>(
        &self,
        aad: &[u8],
        plaintext: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, TransformError> {
        let Some(Provider::Keyed { kind, keys }) = self.providers.first().map(|p| &**p) else {
            return Ok(Cow::Borrowed(plaintext));
        };
        // Validation refuses a provider without keys.
        let Some(key) = keys.first() else {
            return Err(TransformError::NoMatchingKey {
                family: kind.family(),
                key: None,
            });
        };
        let prefix = kind.prefix();
        let mut out = Vec::with_capacity(prefix.len() + key.name.len() + plaintext.len() + 64);
        out.extend_from_slice(prefix);
        out.extend_from_slice(key.name.as_bytes());
        out.push(b':');
        key.cipher.seal(aad, plaintext, &mut out)?;
        Ok(Cow::Owned(out))
    }

    /// The plaintext of a value stored under the etcd key `aad`.
    pub fn from_storage<'a>(
        &self,
        aad: &[u8],
        stored: &'a [u8],
    ) -> Result<Plain<'a>, TransformError> {
        let mut errors = Vec::new();
        for (i, provider) in self.providers.iter().enumerate() {
            match &**provider {
                Provider::Identity => {
                    // Identity matches anything but must not pass ciphertext off as JSON: an
                    // encrypted value goes on to the providers after it. This is how one
                    // migrates away from encryption (`[identity, aescbc]`).
                    if stored.starts_with(ENCRYPTED_PREFIX) {
                        continue;
                    }
                    return Ok(Plain {
                        bytes: Cow::Borrowed(stored),
                        stale: i != 0,
                    });
                }
                Provider::Keyed { kind, .. } => {
                    let Some(rest) = stored.strip_prefix(kind.prefix()) else {
                        continue;
                    };
                    match provider.open(aad, rest) {
                        Ok((plain, key)) => {
                            return Ok(Plain {
                                bytes: Cow::Owned(plain),
                                stale: i != 0 || key != 0,
                            });
                        }
                        // Several providers may share a prefix (rotating from one aescbc entry
                        // to another): a failure here does not stop the later ones.
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        Err(aggregate(errors).unwrap_or(TransformError::NoMatchingPrefix))
    }
}

/// A group and resource as the configuration names them: `secrets` is `("", "secrets")`,
/// `deployments.apps` is `("apps", "deployments")`, `*.` is `("", "*")`, `*.*` is `("*", "*")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    /// Splits at the first dot, as upstream's `schema.ParseGroupResource`.
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((resource, group)) => Self {
                group: group.to_string(),
                resource: resource.to_string(),
            },
            None => Self {
                group: String::new(),
                resource: s.to_string(),
            },
        }
    }

    fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

impl fmt::Display for GroupResource {
    /// The form the configuration file uses (`*.` for every core resource).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.group.as_str(), self.resource.as_str()) {
            ("", "*") => f.write_str("*."),
            ("", r) => f.write_str(r),
            (g, r) => write!(f, "{r}.{g}"),
        }
    }
}

/// The transformers of an `EncryptionConfiguration`, by group and resource.
#[derive(Debug, Default)]
pub struct ResourceTransformers {
    by_resource: HashMap<GroupResource, Arc<Transformer>>,
}

impl ResourceTransformers {
    /// Reads, validates and builds the configuration file of `--encryption-provider-config`.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        config::load(path)
    }

    /// Parses a configuration (YAML or JSON); `origin` names it in errors.
    pub fn parse(data: &[u8], origin: &str) -> Result<Self, ConfigError> {
        config::parse(data, origin)
    }

    /// The transformer of a resource (`""` is the core group): its own rule, else its
    /// group's `*.<group>`, else `*.*`; `None` when no rule covers it, so it is stored as
    /// plaintext at no cost.
    pub fn transformer_for(&self, group: &str, resource: &str) -> Option<Arc<Transformer>> {
        [
            GroupResource::new(group, resource),
            GroupResource::new(group, "*"),
            GroupResource::new("*", "*"),
        ]
        .iter()
        .find_map(|gr| self.by_resource.get(gr).cloned())
    }

    /// The configured rules, for the startup log.
    pub fn describe(&self) -> String {
        let mut rules: Vec<String> = self
            .by_resource
            .iter()
            .map(|(gr, t)| format!("{gr}: {:?}", t.providers))
            .collect();
        rules.sort();
        rules.join("; ")
    }
}

/// Storage's read of a value under the etcd key `key`: the plaintext, or an internal error
/// naming the key, in upstream's words. Without a transformer the value passes through
/// borrowed, only checked not to be encrypted (upstream's default identity transformer).
pub fn read<'a>(
    transformer: Option<&Transformer>,
    key: &[u8],
    stored: &'a [u8],
) -> crate::storage::Result<Plain<'a>> {
    let result = match transformer {
        None if stored.starts_with(ENCRYPTED_PREFIX) => Err(TransformError::EncryptedForIdentity),
        None => {
            return Ok(Plain {
                bytes: Cow::Borrowed(stored),
                stale: false,
            });
        }
        Some(t) => t.from_storage(key, stored),
    };
    result.map_err(|e| transform_failed(key, &e))
}

/// Storage's write of `plaintext` under the etcd key `key`: the bytes to put.
pub fn write<'a>(
    transformer: Option<&Transformer>,
    key: &[u8],
    plaintext: &'a [u8],
) -> crate::storage::Result<Cow<'a, [u8]>> {
    match transformer {
        None => Ok(Cow::Borrowed(plaintext)),
        Some(t) => t
            .to_storage(key, plaintext)
            .map_err(|e| transform_failed(key, &e)),
    }
}

fn transform_failed(key: &[u8], e: &TransformError) -> crate::storage::Error {
    crate::storage::Error::Internal(format!(
        "unable to transform key {:?}: {e}",
        String::from_utf8_lossy(key)
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The plaintext of the providers' known-answer tests.
    pub(crate) const KAT_PLAINTEXT: &[u8] =
        br#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s1"},"data":{"k":"dg=="}}"#;

    /// Key bytes 0, 1, 2, ...: what the known answers were computed with.
    pub(crate) fn key_of(size: usize) -> Vec<u8> {
        (0..size as u8).collect()
    }

    pub(crate) fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const KEY: &[u8] = b"/registry/secrets/default/s1";
    const PLAIN: &[u8] = br#"{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}"#;

    fn keyed(kind: Kind, keys: &[(&str, u8)]) -> Arc<Provider> {
        let size = kind.key_sizes()[kind.key_sizes().len() - 1];
        Arc::new(Provider::Keyed {
            kind,
            keys: keys
                .iter()
                .map(|(name, fill)| Key::new(kind, name, &vec![*fill; size]).unwrap())
                .collect(),
        })
    }

    fn chain(providers: Vec<Arc<Provider>>) -> Transformer {
        Transformer::new(providers)
    }

    #[test]
    fn every_provider_round_trips_with_its_prefix() {
        for kind in [Kind::AesCbc, Kind::AesGcm, Kind::Secretbox] {
            let t = chain(vec![keyed(kind, &[("key1", 1)])]);
            let stored = t.to_storage(KEY, PLAIN).unwrap();
            let prefix = format!("k8s:enc:{}:v1:key1:", kind.name());
            assert!(stored.starts_with(prefix.as_bytes()), "{kind:?}");
            assert!(!stored.windows(8).any(|w| w == b"password"));
            let read = t.from_storage(KEY, &stored).unwrap();
            assert_eq!(&*read.bytes, PLAIN);
            assert!(!read.stale);
        }
    }

    #[test]
    fn rotation_writes_the_first_key_and_reads_the_others_as_stale() {
        let old = chain(vec![keyed(Kind::AesCbc, &[("key1", 1)])]);
        let written_before = old.to_storage(KEY, PLAIN).unwrap().into_owned();
        // key2 first within one provider...
        let rotated = chain(vec![keyed(Kind::AesCbc, &[("key2", 2), ("key1", 1)])]);
        let read = rotated.from_storage(KEY, &written_before).unwrap();
        assert_eq!(&*read.bytes, PLAIN);
        assert!(read.stale);
        let rewritten = rotated.to_storage(KEY, &read.bytes).unwrap();
        assert!(rewritten.starts_with(b"k8s:enc:aescbc:v1:key2:"));
        assert!(!rotated.from_storage(KEY, &rewritten).unwrap().stale);
        // ...or as two providers sharing a prefix: the first one's failure is not final.
        let two = chain(vec![
            keyed(Kind::AesCbc, &[("key2", 2)]),
            keyed(Kind::AesCbc, &[("key1", 1)]),
        ]);
        let read = two.from_storage(KEY, &written_before).unwrap();
        assert_eq!(&*read.bytes, PLAIN);
        assert!(read.stale);
        // Another provider entirely.
        let moved = chain(vec![
            keyed(Kind::Secretbox, &[("sb", 3)]),
            keyed(Kind::AesCbc, &[("key1", 1)]),
        ]);
        assert!(moved.from_storage(KEY, &written_before).unwrap().stale);
        assert!(
            moved
                .to_storage(KEY, PLAIN)
                .unwrap()
                .starts_with(b"k8s:enc:secretbox:v1:sb:")
        );
    }

    #[test]
    fn identity_first_reads_plaintext_and_encrypted_values() {
        let encrypted = chain(vec![keyed(Kind::AesGcm, &[("key1", 1)])])
            .to_storage(KEY, PLAIN)
            .unwrap()
            .into_owned();
        let t = chain(vec![
            Arc::new(Provider::Identity),
            keyed(Kind::AesGcm, &[("key1", 1)]),
        ]);
        let plain = t.from_storage(KEY, PLAIN).unwrap();
        assert!(matches!(plain.bytes, Cow::Borrowed(_)), "no copy");
        assert!(!plain.stale);
        let read = t.from_storage(KEY, &encrypted).unwrap();
        assert_eq!(&*read.bytes, PLAIN);
        assert!(read.stale, "to be rewritten as plaintext");
        assert_eq!(&*t.to_storage(KEY, PLAIN).unwrap(), PLAIN);
        // Plaintext under an encrypting-first config is stale too (encrypt on next write).
        let enc_first = chain(vec![
            keyed(Kind::AesGcm, &[("key1", 1)]),
            Arc::new(Provider::Identity),
        ]);
        assert!(enc_first.from_storage(KEY, PLAIN).unwrap().stale);
    }

    #[test]
    fn values_no_key_matches_fail_naming_what_is_missing() {
        let written = chain(vec![keyed(Kind::AesCbc, &[("key3", 3)])])
            .to_storage(KEY, PLAIN)
            .unwrap()
            .into_owned();
        let t = chain(vec![keyed(Kind::AesCbc, &[("key1", 1)])]);
        let err = t.from_storage(KEY, &written).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matching key was found for the provided AES transformer (the value was written with key \"key3\")"
        );
        let sb = chain(vec![keyed(Kind::Secretbox, &[("key1", 1)])]);
        assert_eq!(
            sb.from_storage(KEY, &written).unwrap_err(),
            TransformError::NoMatchingPrefix
        );
        // Plaintext where only encryption is configured.
        assert_eq!(
            t.from_storage(KEY, PLAIN).unwrap_err(),
            TransformError::NoMatchingPrefix
        );
        // The right key name with the wrong secret.
        let wrong = chain(vec![keyed(Kind::AesGcm, &[("key1", 9)])]);
        let good = chain(vec![keyed(Kind::AesGcm, &[("key1", 1)])])
            .to_storage(KEY, PLAIN)
            .unwrap()
            .into_owned();
        assert_eq!(
            wrong.from_storage(KEY, &good).unwrap_err(),
            TransformError::Authentication
        );
        // Two providers sharing the prefix, both failing: upstream's aggregate.
        let both = chain(vec![
            keyed(Kind::AesGcm, &[("key1", 9)]),
            keyed(Kind::AesGcm, &[("key2", 2)]),
        ]);
        assert_eq!(
            both.from_storage(KEY, &good).unwrap_err().to_string(),
            "[message authentication failed, no matching key was found for the provided AES transformer (the value was written with key \"key1\")]"
        );
    }

    #[test]
    fn storage_helpers_pass_plaintext_through_and_name_the_etcd_key() {
        let plain = read(None, KEY, PLAIN).unwrap();
        assert!(matches!(plain.bytes, Cow::Borrowed(_)));
        assert!(matches!(write(None, KEY, PLAIN).unwrap(), Cow::Borrowed(_)));
        let err = read(None, KEY, b"k8s:enc:aescbc:v1:key1:xyz").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to transform key \"/registry/secrets/default/s1\": identity transformer tried to read encrypted data"
        );
        let t = chain(vec![keyed(Kind::AesCbc, &[("key1", 1)])]);
        let stored = write(Some(&t), KEY, PLAIN).unwrap();
        assert_eq!(&*read(Some(&t), KEY, &stored).unwrap().bytes, PLAIN);
    }

    #[test]
    fn group_resources_parse_and_print_as_the_file_writes_them() {
        for (s, group, resource) in [
            ("secrets", "", "secrets"),
            ("deployments.apps", "apps", "deployments"),
            ("*.", "", "*"),
            ("*.apps", "apps", "*"),
            ("*.*", "*", "*"),
            ("widgets.example.com", "example.com", "widgets"),
        ] {
            let gr = GroupResource::parse(s);
            assert_eq!((gr.group.as_str(), gr.resource.as_str()), (group, resource));
            assert_eq!(gr.to_string(), s);
        }
    }

    #[test]
    fn debug_output_shows_key_names_but_never_secrets() {
        let t = chain(vec![
            keyed(Kind::AesCbc, &[("key1", 0x41)]),
            Arc::new(Provider::Identity),
        ]);
        let shown = format!("{t:?}");
        assert!(shown.contains("aescbc[\"key1\"]"), "{shown}");
        assert!(shown.contains("identity"));
        assert!(!shown.contains("65") && !shown.contains("AAAA"), "{shown}");
    }
}
