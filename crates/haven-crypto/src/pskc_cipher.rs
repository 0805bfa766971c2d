//! The legacy primitives of PSKC files (RFC 6030): AES-CBC with the IV prepended (XML
//! Encryption), and HMAC over the ciphertext. Only for reading seed files vendors ship; Haven's own
//! encryption is AES-GCM (`keys`).

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use ring::hmac;
use zeroize::Zeroizing;

use crate::CryptoError;

fn bad(why: &str) -> CryptoError {
    CryptoError::Format { what: "PSKC encrypted value", why: why.into() }
}

/// Decrypt `iv ‖ ciphertext` with AES-CBC and PKCS#7 padding; the key length picks AES-128/192/256.
pub fn aes_cbc_decrypt(key: &[u8], iv_and_ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if iv_and_ciphertext.len() < 32 || !iv_and_ciphertext.len().is_multiple_of(16) {
        return Err(bad("the ciphertext is not whole AES blocks after a 16-byte IV"));
    }
    let (iv, ct) = iv_and_ciphertext.split_at(16);
    let mut buf = Zeroizing::new(ct.to_vec());
    let len = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| bad("key"))?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(|_| bad("wrong key or corrupt data (bad padding)"))?
            .len(),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(|_| bad("key"))?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(|_| bad("wrong key or corrupt data (bad padding)"))?
            .len(),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| bad("key"))?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(|_| bad("wrong key or corrupt data (bad padding)"))?
            .len(),
        _ => return Err(CryptoError::Key("a PSKC pre-shared key has 16, 24 or 32 bytes")),
    };
    buf.truncate(len);
    Ok(buf)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacAlgorithm {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl MacAlgorithm {
    /// From an XML-DSig algorithm URI.
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri.trim() {
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1" => Some(MacAlgorithm::HmacSha1),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256" => Some(MacAlgorithm::HmacSha256),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384" => Some(MacAlgorithm::HmacSha384),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512" => Some(MacAlgorithm::HmacSha512),
            _ => None,
        }
    }
}

/// Check `mac` over `data` in constant time.
pub fn hmac_verify(alg: MacAlgorithm, key: &[u8], data: &[u8], mac: &[u8]) -> bool {
    let ring_alg = match alg {
        MacAlgorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
        MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
        MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
    };
    hmac::verify(&hmac::Key::new(ring_alg, key), data, mac).is_ok()
}
