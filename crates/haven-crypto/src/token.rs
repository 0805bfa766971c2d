//! Bearer secrets (session cookies, single-use links): 256 random bits shown once as URL-safe
//! base64, stored only as their SHA-256, compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::{CryptoError, Rng, rng::random_array, sha256};

/// A freshly made token: the secret to hand out once and the hash to store.
pub struct NewToken {
    pub secret: Zeroizing<String>,
    pub hash: [u8; 32],
}

pub fn new_token(rng: &dyn Rng) -> Result<NewToken, CryptoError> {
    let raw = Zeroizing::new(random_array::<32>(rng)?);
    let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()));
    let hash = hash_token(&secret);
    Ok(NewToken { secret, hash })
}

/// The stored form of a presented token. Tokens are high-entropy, so a plain hash suffices.
pub fn hash_token(secret: &str) -> [u8; 32] {
    sha256(secret.as_bytes())
}

/// Whether a presented string has the shape of a token (cheap pre-check before any lookup).
pub fn looks_like_token(secret: &str) -> bool {
    secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn tokens_are_distinct_and_hash_to_their_stored_form() {
        let rng = SystemRng::new();
        let a = new_token(&rng).unwrap();
        let b = new_token(&rng).unwrap();
        assert_ne!(*a.secret, *b.secret);
        assert_eq!(hash_token(&a.secret), a.hash);
        assert!(looks_like_token(&a.secret));
        assert!(!looks_like_token("../etc/passwd"));
    }
}
