//! The `secretbox` provider: NaCl's secretbox (XSalsa20-Poly1305), as upstream's
//! `storage/value/encrypt/secretbox` writes it with Go's `golang.org/x/crypto/nacl/secretbox`.
//!
//! Wire form (after the `k8s:enc:secretbox:v1:<key name>:` prefix): a random 24-byte nonce,
//! then NaCl's box: the 16-byte Poly1305 tag first, then the ciphertext. Keys are 32 bytes.
//! Unlike aesgcm, upstream authenticates no associated data here, so neither do we.

use super::{TransformError, random};
use crypto_secretbox::{AeadInPlace, KeyInit, Nonce, Tag, XSalsa20Poly1305};

const NONCE: usize = 24;
const TAG: usize = 16;

/// One secretbox key.
#[derive(Clone)]
pub(super) struct Secretbox(XSalsa20Poly1305);

impl Secretbox {
    /// A cipher for a 32-byte key (config validation has checked the size).
    pub(super) fn new(key: &[u8]) -> Result<Self, TransformError> {
        XSalsa20Poly1305::new_from_slice(key)
            .map(Self)
            .map_err(|_| TransformError::KeySize(key.len()))
    }

    /// Appends a random nonce and the boxed `plaintext` to `out`.
    pub(super) fn seal(&self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), TransformError> {
        self.seal_with_nonce(&random::<NONCE>()?, plaintext, out)
    }

    fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        out.reserve(NONCE + TAG + plaintext.len());
        out.extend_from_slice(nonce);
        let tag_at = out.len();
        // NaCl puts the tag before the ciphertext: leave room for it, encrypt after it.
        out.resize(tag_at + TAG, 0);
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", &mut out[tag_at + TAG..])
            .map_err(|_| TransformError::Encrypt)?;
        out[tag_at..tag_at + TAG].copy_from_slice(&tag);
        Ok(())
    }

    /// Opens a nonce-prefixed box.
    pub(super) fn open(&self, data: &[u8]) -> Result<Vec<u8>, TransformError> {
        if data.len() < NONCE + TAG {
            return Err(TransformError::TooShort);
        }
        let (nonce, rest) = data.split_at(NONCE);
        let (tag, ciphertext) = rest.split_at(TAG);
        let mut plain = ciphertext.to_vec();
        self.0
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                b"",
                &mut plain,
                Tag::from_slice(tag),
            )
            .map_err(|_| TransformError::Authentication)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::encryption::tests::{KAT_PLAINTEXT, hex, key_of};

    /// Computed independently with libsodium (PyNaCl's `SecretBox.encrypt`, NaCl's combined
    /// nonce || tag || ciphertext form, which is what Go's `secretbox.Seal(nonce[:], ...)`
    /// returns) for key bytes 0, 1, 2, ... and nonce bytes d0, d1, ...
    const KAT: &str = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7a4091f00b6552de0e654685faf6a7f22f0db8da4318ab475ff025b898c01f2a12bf5b4e93fe8f22e9efbaebc3901a16fcb6e0a8e0bf97ad7a0a92aab89e26453a8ca00a6e0af0c0e3b0c45225f36c37d30938228c3971358f7c065bd11ef86b8";

    #[test]
    fn known_answer_matches_both_ways() {
        let c = Secretbox::new(&key_of(32)).unwrap();
        let nonce: [u8; NONCE] = std::array::from_fn(|i| 0xd0 + i as u8);
        let mut out = Vec::new();
        c.seal_with_nonce(&nonce, KAT_PLAINTEXT, &mut out).unwrap();
        assert_eq!(hex(&out), KAT);
        assert_eq!(c.open(&out).unwrap(), KAT_PLAINTEXT);
    }

    #[test]
    fn round_trips_and_refuses_other_keys_and_tampering() {
        let c = Secretbox::new(&key_of(32)).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        c.seal(KAT_PLAINTEXT, &mut a).unwrap();
        c.seal(KAT_PLAINTEXT, &mut b).unwrap();
        assert_ne!(a, b);
        assert_eq!(c.open(&a).unwrap(), KAT_PLAINTEXT);
        let other = Secretbox::new(&[1; 32]).unwrap();
        assert_eq!(other.open(&a), Err(TransformError::Authentication));
        a[NONCE + TAG] ^= 1;
        assert_eq!(c.open(&a), Err(TransformError::Authentication));
        assert_eq!(c.open(&[0; 39]), Err(TransformError::TooShort));
        assert!(Secretbox::new(&[0; 16]).is_err());
    }
}
