//! The `aescbc` provider: AES in CBC mode with PKCS#7 padding, as upstream's
//! `storage/value/encrypt/aes` CBC transformer writes it.
//!
//! Wire form (after the `k8s:enc:aescbc:v1:<key name>:` prefix): a random 16-byte IV, then the
//! padded plaintext encrypted under the key. Padding always adds 1 to 16 bytes, so the
//! ciphertext is a whole number of blocks. CBC authenticates nothing: a wrong key is noticed
//! only through the padding check (or, rarely, not at all and the JSON fails to parse), which
//! is why upstream recommends the other providers.

use super::{TransformError, random};
use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{
    BlockCipher, BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit,
    generic_array::GenericArray,
};

/// The AES block size, which is also the IV size.
const BLOCK: usize = 16;

/// One AES key, expanded once and reused for every value.
#[derive(Clone)]
pub(super) enum AesCbc {
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
}

impl AesCbc {
    /// A cipher for a 16-, 24- or 32-byte key (config validation has checked the size).
    pub(super) fn new(key: &[u8]) -> Result<Self, TransformError> {
        let invalid = |_| TransformError::KeySize(key.len());
        Ok(match key.len() {
            16 => Self::Aes128(Aes128::new_from_slice(key).map_err(invalid)?),
            24 => Self::Aes192(Aes192::new_from_slice(key).map_err(invalid)?),
            32 => Self::Aes256(Aes256::new_from_slice(key).map_err(invalid)?),
            n => return Err(TransformError::KeySize(n)),
        })
    }

    /// Appends a random IV and the encrypted, padded `plaintext` to `out`.
    pub(super) fn seal(&self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), TransformError> {
        self.seal_with_iv(&random::<BLOCK>()?, plaintext, out)
    }

    fn seal_with_iv(
        &self,
        iv: &[u8; BLOCK],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        let padding = BLOCK - plaintext.len() % BLOCK;
        out.reserve(BLOCK + plaintext.len() + padding);
        out.extend_from_slice(iv);
        let start = out.len();
        out.extend_from_slice(plaintext);
        out.resize(start + plaintext.len() + padding, padding as u8);
        let blocks = &mut out[start..];
        match self {
            Self::Aes128(c) => encrypt(c, iv, blocks),
            Self::Aes192(c) => encrypt(c, iv, blocks),
            Self::Aes256(c) => encrypt(c, iv, blocks),
        }
    }

    /// Decrypts an IV-prefixed value and strips its padding.
    pub(super) fn open(&self, data: &[u8]) -> Result<Vec<u8>, TransformError> {
        if data.len() < BLOCK {
            return Err(TransformError::TooShort);
        }
        let (iv, ciphertext) = data.split_at(BLOCK);
        if ciphertext.len() % BLOCK != 0 {
            return Err(TransformError::NotBlockAligned);
        }
        let mut plain = ciphertext.to_vec();
        match self {
            Self::Aes128(c) => decrypt(c, iv, &mut plain)?,
            Self::Aes192(c) => decrypt(c, iv, &mut plain)?,
            Self::Aes256(c) => decrypt(c, iv, &mut plain)?,
        }
        // Upstream's check, kept as lenient as upstream's so every value upstream reads, we
        // read: the last byte says how many bytes of padding there are, each equal to it.
        let Some(&last) = plain.last() else {
            return Err(TransformError::InvalidPkcs7Data);
        };
        let padding = usize::from(last);
        if padding == 0 || padding > plain.len() {
            return Err(TransformError::InvalidPkcs7Data);
        }
        let size = plain.len() - padding;
        if plain[size..].iter().any(|b| *b != last) {
            return Err(TransformError::InvalidPadding);
        }
        plain.truncate(size);
        Ok(plain)
    }
}

fn encrypt<C>(cipher: &C, iv: &[u8], blocks: &mut [u8]) -> Result<(), TransformError>
where
    C: BlockEncryptMut + BlockCipher + Clone,
{
    let len = blocks.len();
    cbc::Encryptor::<C>::inner_iv_init(cipher.clone(), GenericArray::from_slice(iv))
        .encrypt_padded_mut::<NoPadding>(blocks, len)
        .map(|_| ())
        .map_err(|_| TransformError::Encrypt)
}

fn decrypt<C>(cipher: &C, iv: &[u8], blocks: &mut [u8]) -> Result<(), TransformError>
where
    C: BlockDecryptMut + BlockCipher + Clone,
{
    cbc::Decryptor::<C>::inner_iv_init(cipher.clone(), GenericArray::from_slice(iv))
        .decrypt_padded_mut::<NoPadding>(blocks)
        .map(|_| ())
        .map_err(|_| TransformError::NotBlockAligned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::encryption::tests::{KAT_PLAINTEXT, hex, key_of};

    /// Known answers computed independently (Python's `cryptography`, AES-CBC + PKCS7) for key
    /// bytes 0, 1, 2, ... and IV bytes a0, a1, ...: the wire form upstream writes.
    const KAT: [(usize, &str); 3] = [
        (
            16,
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeafc15858287920aa138bca2074cc32f9c1f6ab1bf20b189049ed34234cb4e33651a46cdcffd10babc125581b5e4184b9009e08fd4cddf54f48aaeaab14ae4ef05aad4de97715d3bd7baa627fb676d2402af2d8466483f0350ab4fdc9569999c944",
        ),
        (
            24,
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeafaad927e76d38554214533452481a0b86956d36dcbae0bac1a3ec94fd9e76f0a724b149ba9c6174052a739e50fc8ca8893642c38d237401eefc9ab29613695c6eccdeef4ac29fdb0c0a6f771606d7e4ca285ee44cc29cdce4267fad495ad309ff",
        ),
        (
            32,
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeafda54e881eafae68f34aa2ddb00e56b52372721a55a897321873ece06f719cdc86edf6e6f0765b15f45e8e9b2c532d312434820bbc1cb60a6fd6c2da399f3b7574219ead34e9c669debcb2d21245ebef215a0c1a74aff21a3542d41d9e325b35d",
        ),
    ];

    fn iv() -> [u8; BLOCK] {
        std::array::from_fn(|i| 0xa0 + i as u8)
    }

    #[test]
    fn known_answers_match_both_ways() {
        for (size, expected) in KAT {
            let c = AesCbc::new(&key_of(size)).unwrap();
            let mut out = Vec::new();
            c.seal_with_iv(&iv(), KAT_PLAINTEXT, &mut out).unwrap();
            assert_eq!(hex(&out), expected, "{size}-byte key");
            assert_eq!(c.open(&out).unwrap(), KAT_PLAINTEXT);
        }
    }

    #[test]
    fn round_trips_every_length_with_fresh_ivs() {
        let c = AesCbc::new(&key_of(32)).unwrap();
        for len in [0, 1, 15, 16, 17, 100] {
            let plain = vec![b'x'; len];
            let (mut a, mut b) = (Vec::new(), Vec::new());
            c.seal(&plain, &mut a).unwrap();
            c.seal(&plain, &mut b).unwrap();
            assert_ne!(a, b, "a fresh IV per value");
            assert_eq!(a.len(), BLOCK + (len / BLOCK + 1) * BLOCK);
            assert_eq!(c.open(&a).unwrap(), plain);
        }
    }

    #[test]
    fn rejects_short_unaligned_and_wrongly_keyed_values() {
        let c = AesCbc::new(&key_of(16)).unwrap();
        assert_eq!(c.open(&[0; 10]), Err(TransformError::TooShort));
        assert_eq!(c.open(&[0; 20]), Err(TransformError::NotBlockAligned));
        assert_eq!(c.open(&[0; 16]), Err(TransformError::InvalidPkcs7Data));
        let mut sealed = Vec::new();
        c.seal(KAT_PLAINTEXT, &mut sealed).unwrap();
        let other = AesCbc::new(&[7; 16]).unwrap();
        // With the wrong key the padding is garbage (or, rarely, valid and the bytes are).
        assert_ne!(other.open(&sealed).ok().as_deref(), Some(KAT_PLAINTEXT));
        assert!(AesCbc::new(&[0; 20]).is_err());
    }
}
