//! The `aesgcm` provider: AES-GCM with a random 96-bit nonce, as upstream's
//! `storage/value/encrypt/aes` GCM transformer writes it.
//!
//! Wire form (after the `k8s:enc:aesgcm:v1:<key name>:` prefix): the 12-byte nonce, then the
//! sealed plaintext with its 16-byte tag appended. The additional authenticated data is the
//! value's etcd key, so a value copied to another key does not decrypt. Random nonces make a
//! collision likely after about 2^32 writes with one key: rotate keys well before that, as
//! upstream's documentation says.

use super::{TransformError, random};
use aes::Aes192;
use aes_gcm::aead::consts::U12;
use aes_gcm::{AeadInPlace, Aes128Gcm, Aes256Gcm, AesGcm, KeyInit, Nonce, Tag};

/// The nonce size upstream's Go `cipher.NewGCM` uses; every stored value depends on it.
const NONCE: usize = 12;
const TAG: usize = 16;

type Aes192Gcm = AesGcm<Aes192, U12>;

/// One AES-GCM key.
#[derive(Clone)]
pub(super) enum AesGcmKey {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<Aes192Gcm>),
    Aes256(Box<Aes256Gcm>),
}

impl AesGcmKey {
    /// A cipher for a 16-, 24- or 32-byte key (config validation has checked the size).
    pub(super) fn new(key: &[u8]) -> Result<Self, TransformError> {
        let invalid = |_| TransformError::KeySize(key.len());
        Ok(match key.len() {
            16 => Self::Aes128(Box::new(Aes128Gcm::new_from_slice(key).map_err(invalid)?)),
            24 => Self::Aes192(Box::new(Aes192Gcm::new_from_slice(key).map_err(invalid)?)),
            32 => Self::Aes256(Box::new(Aes256Gcm::new_from_slice(key).map_err(invalid)?)),
            n => return Err(TransformError::KeySize(n)),
        })
    }

    /// Appends a random nonce and `plaintext` sealed with `aad` (the etcd key) to `out`.
    pub(super) fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        self.seal_with_nonce(&random::<NONCE>()?, aad, plaintext, out)
    }

    fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        out.reserve(NONCE + plaintext.len() + TAG);
        out.extend_from_slice(nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let nonce = Nonce::<U12>::from_slice(nonce);
        let buffer = &mut out[start..];
        let tag = match self {
            Self::Aes128(c) => c.encrypt_in_place_detached(nonce, aad, buffer),
            Self::Aes192(c) => c.encrypt_in_place_detached(nonce, aad, buffer),
            Self::Aes256(c) => c.encrypt_in_place_detached(nonce, aad, buffer),
        }
        .map_err(|_| TransformError::Encrypt)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Opens a nonce-prefixed value sealed with `aad`.
    pub(super) fn open(&self, aad: &[u8], data: &[u8]) -> Result<Vec<u8>, TransformError> {
        if data.len() < NONCE {
            return Err(TransformError::TooShort);
        }
        let (nonce, sealed) = data.split_at(NONCE);
        // Shorter than a tag cannot be authentic, as Go's Open answers.
        if sealed.len() < TAG {
            return Err(TransformError::Authentication);
        }
        let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG);
        let nonce = Nonce::<U12>::from_slice(nonce);
        let tag = Tag::from_slice(tag);
        let mut plain = ciphertext.to_vec();
        match self {
            Self::Aes128(c) => c.decrypt_in_place_detached(nonce, aad, &mut plain, tag),
            Self::Aes192(c) => c.decrypt_in_place_detached(nonce, aad, &mut plain, tag),
            Self::Aes256(c) => c.decrypt_in_place_detached(nonce, aad, &mut plain, tag),
        }
        .map_err(|_| TransformError::Authentication)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::encryption::tests::{KAT_PLAINTEXT, hex, key_of};

    const AAD: &[u8] = b"/registry/secrets/default/s1";

    /// Known answers computed independently (Python's `cryptography` AESGCM) for key bytes
    /// 0, 1, 2, ..., nonce bytes c0, c1, ... and the etcd key above as associated data.
    const KAT: [(usize, &str); 3] = [
        (
            16,
            "c0c1c2c3c4c5c6c7c8c9cacbc406be6238739d2f1eadaff9847de62b66e1a23bf50fcb96ecd41262513232d4c2c7ff2387cc40dc8d392cf6a8d37b8a288cc200e9beab83aa7f2ad237c36194303d191f0f982503f23d3e510942305c9e962ac22f65e46f9e6112c2a707eed0",
        ),
        (
            24,
            "c0c1c2c3c4c5c6c7c8c9cacbc3fc279bbd1db64d290daf31f0e58049b7afe2d1a77b055aced6192e527bb143770c8bb32819e37305418596767f3147b95f8f9ce8c37641514cb836cd3aeef17386b7901ea6fbfaf3f97c1d5ff2418ce26c78fbe103c88b8f5891bb1dea00c6",
        ),
        (
            32,
            "c0c1c2c3c4c5c6c7c8c9cacb7b6a4c0e191cb464ba8a98c140c99c746051824f55b47ac859aa246415475dc08db4bb851fbe3162ac2c2078dbfe1eabe304b21ff0f7826ab50753fcc0835a696c0eb146cbad5e9640f17f21c97562fb96935fb334bd1a0f9bf59508e2cd910e",
        ),
    ];

    #[test]
    fn known_answers_match_both_ways() {
        let nonce: [u8; NONCE] = std::array::from_fn(|i| 0xc0 + i as u8);
        for (size, expected) in KAT {
            let c = AesGcmKey::new(&key_of(size)).unwrap();
            let mut out = Vec::new();
            c.seal_with_nonce(&nonce, AAD, KAT_PLAINTEXT, &mut out)
                .unwrap();
            assert_eq!(hex(&out), expected, "{size}-byte key");
            assert_eq!(c.open(AAD, &out).unwrap(), KAT_PLAINTEXT);
        }
    }

    #[test]
    fn round_trips_with_fresh_nonces() {
        let c = AesGcmKey::new(&key_of(32)).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        c.seal(AAD, b"", &mut a).unwrap();
        c.seal(AAD, b"", &mut b).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), NONCE + TAG);
        assert_eq!(c.open(AAD, &a).unwrap(), b"");
    }

    #[test]
    fn the_etcd_key_and_the_key_are_authenticated() {
        let c = AesGcmKey::new(&key_of(16)).unwrap();
        let mut sealed = Vec::new();
        c.seal(AAD, KAT_PLAINTEXT, &mut sealed).unwrap();
        // Moved to another etcd key: refused.
        assert_eq!(
            c.open(b"/registry/secrets/default/s2", &sealed),
            Err(TransformError::Authentication)
        );
        // Another key: refused.
        let other = AesGcmKey::new(&[9; 16]).unwrap();
        assert_eq!(
            other.open(AAD, &sealed),
            Err(TransformError::Authentication)
        );
        // Tampered: refused.
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(c.open(AAD, &sealed), Err(TransformError::Authentication));
        assert_eq!(c.open(AAD, &[0; 5]), Err(TransformError::TooShort));
        assert_eq!(
            c.open(AAD, &[0; NONCE + 3]),
            Err(TransformError::Authentication)
        );
    }
}
