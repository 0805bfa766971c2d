//! A cheap argon2id hasher for tests: the same algorithm and PHC strings as production (so the
//! production `verify_password` checks them), at the smallest cost argon2 allows. Production
//! parameters take tens of milliseconds per hash on purpose; a test suite that signs in hundreds
//! of times should not. One test (`haven-web/tests/security.rs`) keeps the production hasher.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use haven_core::CoreError;
use haven_core::identity::Hasher;
use zeroize::Zeroizing;

#[derive(Default)]
pub struct CheapHasher;

#[async_trait]
impl Hasher for CheapHasher {
    async fn hash(&self, secret: Zeroizing<String>) -> Result<String, CoreError> {
        // 8 KiB, 1 pass, 1 lane: argon2's minimum.
        let params = Params::new(8, 1, 1, None).map_err(|e| CoreError::Unavailable(e.to_string()))?;
        let salt = haven_crypto::rng::random_array::<16>(&haven_crypto::SystemRng::new())?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| CoreError::Unavailable(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let hash = argon.hash_password(secret.as_bytes(), &salt).map_err(|e| CoreError::Unavailable(e.to_string()))?;
        Ok(hash.to_string())
    }

    async fn verify(&self, phc: String, secret: Zeroizing<String>) -> bool {
        haven_crypto::password::verify_password(&phc, &secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cheap_hashes_are_argon2id_that_production_verifies() {
        let h = CheapHasher;
        let phc = h.hash(Zeroizing::new("correct horse".into())).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert!(haven_crypto::password::verify_password(&phc, "correct horse"));
        assert!(!h.verify(phc, Zeroizing::new("wrong".into())).await);
    }
}
