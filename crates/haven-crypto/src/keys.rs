//! The key hierarchy: a master key wraps project keys, a project key wraps object keys
//! (ARCHITECTURE.md, "Keys and data at rest"). Wrapping is AES-256-GCM with a random nonce and
//! associated data that names what the key is for, so a wrapped key moved to another row or
//! another project does not unwrap. Rotation rewraps keys; data is never re-encrypted.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, Rng, rng::random_array};

const WRAP_VERSION: u8 = 1;
/// version ‖ nonce ‖ sealed key ‖ tag
pub const WRAPPED_LEN: usize = 1 + 12 + 32 + 16;

/// A 256-bit secret key, wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key256([u8; 32]);

impl Key256 {
    pub fn generate(rng: &dyn Rng) -> Result<Self, CryptoError> {
        Ok(Key256(random_array::<32>(rng)?))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Key("a key is exactly 32 bytes"))?;
        Ok(Key256(arr))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn aead(&self) -> Result<LessSafeKey, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| CryptoError::Key("AES-256 key"))?;
        Ok(LessSafeKey::new(unbound))
    }
}

impl std::fmt::Debug for Key256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key256(<redacted>)")
    }
}

/// Wrap `key` under `kek`, bound to `context` (for example `project-key/<id>/v<n>`).
pub fn wrap_key(kek: &Key256, key: &Key256, context: &[u8], rng: &dyn Rng) -> Result<Vec<u8>, CryptoError> {
    let nonce = random_array::<12>(rng)?;
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(key.expose());
    let tag = kek
        .aead()?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut out[13..])
        .map_err(|_| CryptoError::Authentication)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Unwrap a key made by [`wrap_key`] with the same `kek` and `context`.
pub fn unwrap_key(kek: &Key256, wrapped: &[u8], context: &[u8]) -> Result<Key256, CryptoError> {
    if wrapped.len() != WRAPPED_LEN || wrapped[0] != WRAP_VERSION {
        return Err(CryptoError::Format { what: "wrapped key", why: "wrong length or version".into() });
    }
    let nonce: [u8; 12] =
        wrapped[1..13].try_into().map_err(|_| CryptoError::Format { what: "wrapped key", why: "nonce".into() })?;
    let mut body = zeroize::Zeroizing::new(wrapped[13..].to_vec());
    let plain = kek
        .aead()?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(context), body.as_mut_slice())
        .map_err(|_| CryptoError::Authentication)?;
    Key256::from_bytes(plain)
}

/// Encrypt a small secret (an OTP seed, say) under `key`, bound to `context`:
/// version ‖ nonce ‖ ciphertext ‖ tag.
pub fn seal_secret(key: &Key256, secret: &[u8], context: &[u8], rng: &dyn Rng) -> Result<Vec<u8>, CryptoError> {
    let nonce = random_array::<12>(rng)?;
    let mut out = Vec::with_capacity(1 + 12 + secret.len() + 16);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(secret);
    let tag = key
        .aead()?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut out[13..])
        .map_err(|_| CryptoError::Authentication)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Decrypt what [`seal_secret`] made with the same `key` and `context`.
pub fn open_secret(key: &Key256, sealed: &[u8], context: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < 1 + 12 + 16 || sealed[0] != WRAP_VERSION {
        return Err(CryptoError::Format { what: "sealed secret", why: "wrong length or version".into() });
    }
    let nonce: [u8; 12] =
        sealed[1..13].try_into().map_err(|_| CryptoError::Format { what: "sealed secret", why: "nonce".into() })?;
    let mut body = zeroize::Zeroizing::new(sealed[13..].to_vec());
    let len = kek_open(key, nonce, context, body.as_mut_slice())?;
    body.truncate(len);
    Ok(body)
}

fn kek_open(key: &Key256, nonce: [u8; 12], context: &[u8], body: &mut [u8]) -> Result<usize, CryptoError> {
    key.aead()?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(context), body)
        .map(|plain| plain.len())
        .map_err(|_| CryptoError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn wrap_round_trips_and_binds_context() {
        let rng = SystemRng::new();
        let kek = Key256::generate(&rng).unwrap();
        let key = Key256::generate(&rng).unwrap();
        let wrapped = wrap_key(&kek, &key, b"project-key/p1/v1", &rng).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_LEN);
        let back = unwrap_key(&kek, &wrapped, b"project-key/p1/v1").unwrap();
        assert_eq!(back.expose(), key.expose());
        assert_eq!(unwrap_key(&kek, &wrapped, b"project-key/p2/v1").unwrap_err(), CryptoError::Authentication);
        let other = Key256::generate(&rng).unwrap();
        assert!(unwrap_key(&other, &wrapped, b"project-key/p1/v1").is_err());
        let mut flipped = wrapped.clone();
        flipped[20] ^= 1;
        assert!(unwrap_key(&kek, &flipped, b"project-key/p1/v1").is_err());
    }

    #[test]
    fn sealed_secrets_round_trip_and_bind_context() {
        let rng = SystemRng::new();
        let key = Key256::generate(&rng).unwrap();
        let sealed = seal_secret(&key, b"twenty byte seed....", b"otp-seed/T1", &rng).unwrap();
        assert_eq!(open_secret(&key, &sealed, b"otp-seed/T1").unwrap().as_slice(), b"twenty byte seed....");
        assert!(open_secret(&key, &sealed, b"otp-seed/T2").is_err());
        assert!(open_secret(&key, &sealed[..20], b"otp-seed/T1").is_err());
    }
}
