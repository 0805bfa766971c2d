//! The randomness port. Everything that needs random bytes takes a `&dyn Rng`, so tests can make
//! codes and keys reproducible; production uses [`SystemRng`].

use crate::CryptoError;

pub trait Rng: Send + Sync {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError>;
}

/// The operating system's CSPRNG (getrandom), through ring.
pub struct SystemRng(ring::rand::SystemRandom);

impl SystemRng {
    #[allow(clippy::disallowed_methods)] // the one adapter allowed to reach the OS random source
    pub fn new() -> Self {
        SystemRng(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRng {
    fn default() -> Self {
        Self::new()
    }
}

impl Rng for SystemRng {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        use ring::rand::SecureRandom;
        self.0.fill(dest).map_err(|_| CryptoError::Random)
    }
}

/// Fixed-size random array.
pub fn random_array<const N: usize>(rng: &dyn Rng) -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    rng.fill(&mut out)?;
    Ok(out)
}
