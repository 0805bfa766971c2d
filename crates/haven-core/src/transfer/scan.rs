//! Malware scanning of arrivals: the [`Scanner`] port (clamd in `haven-store`) and the verdicts
//! an arrival can carry. Scanning fails closed: only the scanner's own word that it scanned the
//! whole file and found nothing makes an arrival `clean`; a scanner that is down or answers
//! anything else leaves it `pending`, to be tried again.

use async_trait::async_trait;

use crate::blobs::ByteStream;

/// Complete, waiting for a scan (or for the scanner to come back).
pub const PENDING: &str = "pending";
/// Scanned whole, nothing found.
pub const CLEAN: &str = "clean";
/// A signature matched: quarantined, never accepted.
pub const INFECTED: &str = "infected";
/// Not scanned whole (over the scanner's limit, or the scanner would not say): a person decides.
pub const REVIEW: &str = "review";
/// Its stored bytes failed their integrity check: never accepted; ask for it again.
pub const DAMAGED: &str = "damaged";

/// What a scanner said about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature's name.
    Infected(String),
    /// The scanner stopped at one of its limits: why.
    NotScanned(String),
}

#[derive(Debug, thiserror::Error)]
#[error("the scanner is unavailable: {0}")]
pub struct ScanError(pub String);

#[async_trait]
pub trait Scanner: Send + Sync {
    /// The engine's and its signatures' versions, recorded with each verdict.
    async fn version(&self) -> Result<String, ScanError>;
    /// Scan the plaintext of one file, streamed.
    async fn scan(&self, bytes: ByteStream) -> Result<Verdict, ScanError>;
    /// The most bytes the scanner scans whole; larger files need a person's review.
    fn max_bytes(&self) -> u64;
}
