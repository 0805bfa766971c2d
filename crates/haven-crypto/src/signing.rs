//! Ed25519 signatures (audit checkpoints). The key file holds the 32-byte seed.

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::{CryptoError, Rng, rng::random_array};

pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// A new random seed, to be stored by the caller (mode 0600).
    pub fn generate_seed(rng: &dyn Rng) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        Ok(Zeroizing::new(random_array::<32>(rng)?))
    }

    pub fn from_seed(seed: &[u8]) -> Result<Self, CryptoError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| CryptoError::Key("Ed25519 seed"))?;
        Ok(SigningKey { pair })
    }

    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key).verify(message, signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let seed = SigningKey::generate_seed(&SystemRng::new()).unwrap();
        let key = SigningKey::from_seed(seed.as_ref()).unwrap();
        let sig = key.sign(b"checkpoint");
        assert!(verify(&key.public_key(), b"checkpoint", &sig));
        assert!(!verify(&key.public_key(), b"checkpoinT", &sig));
    }
}
