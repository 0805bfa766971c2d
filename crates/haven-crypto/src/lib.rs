//! Haven's cryptography. Pure functions and small state machines over byte slices: no I/O but the
//! operating system's random source behind [`rng::SystemRng`]. One provider throughout (ring), so
//! the build carries a single implementation of AES-GCM, SHA-256 and Ed25519.

pub mod audit_chain;
pub mod codes;
pub mod error;
pub mod keys;
pub mod object;
pub mod otp;
pub mod password;
pub mod peer;
pub mod pskc_cipher;
pub mod rng;
pub mod signing;
pub mod token;

pub use error::CryptoError;
pub use rng::{Rng, SystemRng};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Incremental SHA-256 for streams; a clone carries on from the same state.
#[derive(Clone)]
pub struct Sha256(ring::digest::Context);

impl Sha256 {
    pub fn new() -> Self {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// A digest a client names for what it sends (tus `Upload-Checksum`): SHA-1 (which the
/// protocol makes mandatory; it checks transmission, not authenticity) or SHA-256.
pub struct WireDigest(ring::digest::Context);

impl WireDigest {
    pub fn sha1() -> Self {
        WireDigest(ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY))
    }
    pub fn sha256() -> Self {
        WireDigest(ring::digest::Context::new(&ring::digest::SHA256))
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// Whether the digest equals `expected` (compared in constant time).
    pub fn matches(self, expected: &[u8]) -> bool {
        ct_eq(self.0.finish().as_ref(), expected)
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}
