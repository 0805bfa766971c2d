//! Password (and PIN, security answer, code) hashing with argon2id. The parameters are OWASP's
//! minimum for argon2id (19 MiB, 2 passes, 1 lane): strong enough to make offline guessing costly
//! while letting a 2-core server answer many sign-ins a second. Callers run these off the async
//! threads: each call takes tens of milliseconds on purpose.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::{CryptoError, Rng, rng::random_array};

fn hasher() -> Result<Argon2<'static>, CryptoError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| CryptoError::Password(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `secret`.
pub fn hash_password(secret: &str, rng: &dyn Rng) -> Result<String, CryptoError> {
    let salt_bytes = random_array::<16>(rng)?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| CryptoError::Password(e.to_string()))?;
    let hash = hasher()?.hash_password(secret.as_bytes(), &salt).map_err(|e| CryptoError::Password(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `secret` matches `phc`. A malformed stored hash never matches.
pub fn verify_password(phc: &str, secret: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(argon) = hasher() else { return false };
    argon.verify_password(secret.as_bytes(), &parsed).is_ok()
}

/// Memory (KiB), passes and lanes of [`passphrase_key`]: far above the sign-in hash's, as a
/// key backup may sit on a disk for years and is opened once in a while, not on every request.
pub const PASSPHRASE_KDF: (u32, u32, u32) = (256 * 1024, 3, 1);

/// A key from a passphrase and a 16-byte salt (argon2id with [`PASSPHRASE_KDF`]): what encrypts
/// the deployment's keys in a backup.
pub fn passphrase_key(passphrase: &[u8], salt: &[u8; 16]) -> Result<crate::keys::Key256, CryptoError> {
    let (m, t, p) = PASSPHRASE_KDF;
    let params = Params::new(m, t, p, Some(32)).map_err(|e| CryptoError::Password(e.to_string()))?;
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|e| CryptoError::Password(e.to_string()))?;
    crate::keys::Key256::from_bytes(out.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn hash_verifies_only_its_own_password() {
        let rng = SystemRng::new();
        let phc = hash_password("correct horse battery staple", &rng).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(&phc, "correct horse battery staple"));
        assert!(!verify_password(&phc, "Correct horse battery staple"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn a_passphrase_gives_one_key_per_salt() {
        let a = passphrase_key(b"violet harbour ledger", &[1; 16]).unwrap();
        assert_eq!(a.expose(), passphrase_key(b"violet harbour ledger", &[1; 16]).unwrap().expose());
        assert_ne!(a.expose(), passphrase_key(b"violet harbour ledger", &[2; 16]).unwrap().expose());
        assert_ne!(a.expose(), passphrase_key(b"violet harbour ledgeR", &[1; 16]).unwrap().expose());
    }
}
